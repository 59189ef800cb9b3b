# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Each use of an azure-cli / azure-core / azure-mgmt-core / requests internal (azext_aks_connection/_compat.py)
still applies on the installed versions. At run time one that no longer applies does nothing (a command must not
fail for it); here it fails loudly. `make test` runs this on the current azure-cli, `make test-mincli` on the
oldest the extension declares. tests/unit/test_arm_tls.py (the one-context adapter) and
tests/unit/test_loader.py (gc.freeze at exit, the built-in loader's arguments) run in both too."""
import inspect
import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from azext_aks_connection import _compat


class _Credential:  # pylint: disable=too-few-public-methods
    def get_token(self, *scopes, **kwargs):  # pylint: disable=unused-argument
        from azure.core.credentials import AccessToken
        return AccessToken("token", 4102444800)


def _container_service_client():
    from azure.mgmt.containerservice import ContainerServiceClient
    return ContainerServiceClient(_Credential(), "00000000-0000-0000-0000-000000000000")


def test_the_built_in_loaders_come_off_our_commands_in_azs_loader_map():
    """az's main loader keeps cmd_to_loader_map; ours must be the only loader left on our commands (else az runs
    the built-in serviceconnector module's load_arguments, ~90 ms a command)."""
    from azure.cli.core import get_default_cli
    cli = get_default_cli()
    try:
        cli.invoke(["aks", "connection", "create", "storage-blob", "-h"], out_file=io.StringIO())
    except SystemExit:
        pass
    mapping = cli.invocation.commands_loader.cmd_to_loader_map
    assert isinstance(mapping, dict)
    ours = [name for name in mapping if name.startswith("aks connection ")]
    assert "aks connection create storage-blob" in ours and "aks connection list" in ours
    loaders = {name: [type(loader).__name__ for loader in mapping[name]] for name in ours}
    assert {tuple(v) for v in loaders.values()} == {("AksConnectionCommandsLoader",)}, loaders


def test_gc_freeze_is_registered_once_at_exit(monkeypatch):
    import atexit
    import gc
    registered = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(_compat, "_EXIT", [])
    _compat.freeze_gc_at_exit()
    _compat.freeze_gc_at_exit()
    assert registered == [gc.freeze]


def test_the_pipeline_client_of_a_management_client_is_an_arm_pipeline_client():
    from azure.mgmt.core import ARMPipelineClient
    pipeline = _compat.pipeline_client(_container_service_client())
    assert isinstance(pipeline, ARMPipelineClient) and callable(pipeline.send_request)


def test_auto_registration_is_switched_off_in_the_pipeline():
    from azure.mgmt.core.policies import ARMAutoResourceProviderRegistrationPolicy
    client = _container_service_client()
    policies = client._client._pipeline._impl_policies  # pylint: disable=protected-access
    found = [p for p in policies if isinstance(p, ARMAutoResourceProviderRegistrationPolicy)]
    assert len(found) == 1, policies                 # where _compat.disable_auto_registration looks for it
    assert _compat.disable_auto_registration(client) is client
    assert "send" in vars(found[0]) and found[0].send.__qualname__.startswith("_pass_through")


@pytest.fixture(name="flaky_server")
def _flaky_server():
    """An HTTP server that drops the first connection of each path without answering, then answers 200."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # pylint: disable=arguments-differ
            pass

        def do_POST(self):  # pylint: disable=invalid-name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path)
            if seen.count(self.path) == 1:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", seen
    httpd.shutdown()


def test_post_actions_that_only_read_are_retried_after_a_dropped_connection(flaky_server):
    """azure-core asks RetryPolicy._is_method_retryable whether a request may be sent again: a POST listKeys is,
    another POST is not (azure-core's own rule)."""
    from azure.core import PipelineClient
    from azure.core.exceptions import ServiceResponseError
    from azure.core.pipeline.transport import RequestsTransport
    from azure.core.rest import HttpRequest
    url, seen = flaky_server
    policy = _compat.read_actions_retry_policy(re.compile(r"/(list[A-Za-z]*|getKeys)$", re.IGNORECASE))
    client = PipelineClient(url, policies=[policy], transport=RequestsTransport())
    answer = client.send_request(HttpRequest("POST", url + "/a/listKeys", json={}), retry_backoff_factor=0)
    assert answer.status_code == 200 and seen.count("/a/listKeys") == 2
    with pytest.raises(ServiceResponseError):
        client.send_request(HttpRequest("POST", url + "/a/create", json={}), retry_backoff_factor=0)
    assert seen.count("/a/create") == 1


def test_azure_clis_certificate_verification_settings(monkeypatch, tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.delenv("AZURE_CLI_DISABLE_CONNECTION_VERIFICATION", raising=False)
    assert _compat.ssl_verification() == {"connection_verify": str(bundle)}


def test_requests_asks_the_adapter_for_its_pool_key_attributes():
    """The one-context adapter works through HTTPAdapter.build_connection_pool_key_attributes, which requests
    calls for every request (tests/unit/test_arm_tls.py shows the shared context in use)."""
    from requests.adapters import HTTPAdapter
    assert "build_connection_pool_key_attributes" in inspect.getsource(HTTPAdapter.get_connection_with_tls_context)


def test_the_arm_polling_delay_that_sdk_polling_overrides_is_asked_for():
    """provider/retry.py sdk_polling overrides ARMPolling._extract_delay (its Backoff when an answer has no
    Retry-After): azure-core's polling loop must still ask it."""
    from azure.core.polling.base_polling import LROBasePolling
    from azure.mgmt.core.polling.arm_polling import ARMPolling
    assert callable(getattr(ARMPolling, "_extract_delay", None))
    assert "_extract_delay" in inspect.getsource(LROBasePolling._delay)  # pylint: disable=protected-access


def test_the_polling_loop_that_sdk_polling_wait_first_overrides_polls_then_delays():
    """provider/retry.py sdk_polling(wait_first=True) overrides LROBasePolling._poll to wait before its first poll
    (the firewall writes): azure-core's loop must still be run by _poll, asking update_status and _delay."""
    from azure.core.polling.base_polling import LROBasePolling
    source = inspect.getsource(LROBasePolling._poll)  # pylint: disable=protected-access
    assert "update_status" in source and "_delay" in source
    assert "_poll" in inspect.getsource(LROBasePolling.run)


def test_the_sdk_models_and_options_the_extension_relies_on_are_there():
    """What sets the minimum azure-cli (azext_metadata.json): the SDKs it ships must have what provider/identity.py
    and provider/cluster.py use. azure-mgmt-authorization 5.0.0b1 (azure-cli < 2.88) has no RoleAssignmentProperties;
    azure-mgmt-containerservice < 41 (azure-cli < 2.85) takes no ``stream`` on managed_clusters.get."""
    from azure.cli.core import get_default_cli
    from azure.cli.core.profiles import ResourceType, get_sdk
    cli = get_default_cli()
    try:
        model = get_sdk(cli, ResourceType.MGMT_AUTHORIZATION, "RoleAssignmentProperties", mod="models")
    except ValueError as exc:           # azure-cli < 2.7x: an API profile per operation group
        model = exc
    assert isinstance(model, type), f"azure-mgmt-authorization has no RoleAssignmentProperties: {model}"
    get = _container_service_client().managed_clusters.get
    assert 'kwargs.pop("stream", False)' in inspect.getsource(inspect.unwrap(get))
