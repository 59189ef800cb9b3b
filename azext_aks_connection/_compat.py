# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Every use of an internal of azure-cli, azure-core / azure-mgmt-core or requests / urllib3: here and nowhere else.

Each one is here because a measurement justified it (the docstrings say which), and each can stop applying on
another version of the package it reaches into. At run time a use that no longer applies does nothing (a command
must not fail for it: it only gets slower, or registers providers silently as before); tests/unit/test_compat.py
has a test for each that fails loudly instead, and `make test-mincli` runs them on the oldest azure-cli the
extension declares (azext_metadata.json), `make test` on the current one.

The loader imports this module: nothing is imported here at module level but the standard library.

One more lives elsewhere: provider/arm.py ``sdk_polling`` overrides azure-mgmt-core's ARMPolling._extract_delay
(its polling code is maintained with the rest of arm.py's polling); tests/unit/test_compat.py tests it too.
"""
import threading

from knack.log import get_logger

logger = get_logger(__name__)


# --------------------------------------------------------------------------- azure-cli: the command loader

def drop_overridden_loaders(loader):
    """Our commands replace the built-in `az aks connection` ones (azure-cli's serviceconnector module) of the same
    names in az's command table, but az still runs the built-in loader's load_arguments for them: ~90 ms of work on
    every command (it registers the arguments of all 331 of its commands) for arguments of commands no longer there.
    So the built-in loaders are taken off our commands in az's main loader's ``cmd_to_loader_map`` (azure-cli
    internal; az appends ours to them right after this returns). Returns how many commands lost a loader; nothing
    happens when az's main loader is not at hand or has no such map (another azure-cli, a tool loading commands)."""
    invocation = getattr(loader.cli_ctx, "invocation", None)
    mapping = getattr(getattr(invocation, "commands_loader", None), "cmd_to_loader_map", None)
    if not isinstance(mapping, dict):
        logger.debug("az's main loader has no cmd_to_loader_map: the built-in loaders stay on our commands")
        return 0
    dropped = 0
    for name in loader.command_table:
        if mapping.get(name):
            kept = [other for other in mapping[name] if other is loader]
            dropped += len(kept) != len(mapping[name])
            mapping[name] = kept
    return dropped


_EXIT = []


def freeze_gc_at_exit():
    """At exit, move the objects of the process out of the garbage collector's reach (gc.freeze) before the
    interpreter's last collections walk them all: every module, SDK model class and request az and the SDKs made.
    That walk was 0.12-0.15 s of every command's time here, after its output was written (the process ended
    0.15 s after the last atexit handler; 0.025 s with this). Refcounting frees what it frees, as before; the
    memory goes back with the process. The atexit handlers registered before this one (azure-cli's, logging's)
    still run after it. What it gives up: finalizers of objects in reference cycles that still exist at exit,
    which Python does not promise to run either; the command's connections are closed by the process's end.
    Registered once per process, for our commands only (in-process callers: at their own exit)."""
    if not _EXIT:
        import atexit
        import gc
        atexit.register(gc.freeze)
        _EXIT.append(True)


# --------------------------------------------------------------------------- azure-mgmt-core: management clients

def pipeline_client(sdk_client):
    """The ARMPipelineClient inside a generated management SDK client (its ``_client``): the same policies
    (credential, retries, the redacting logger, user agent) for calls by resource id that no SDK method makes."""
    return sdk_client._client  # pylint: disable=protected-access


def disable_auto_registration(client):
    """Switch off azure-mgmt-core's silent provider auto-registration (a fixed 10 s sleep loop with no bound,
    see provider/registration.py) on an SDK client or its ARMPipelineClient, by making the policy in the
    pipeline's ``_impl_policies`` pass requests through; returns ``client``."""
    from azure.mgmt.core.policies import ARMAutoResourceProviderRegistrationPolicy
    pipeline = getattr(getattr(client, "_client", client), "_pipeline", None)
    found = [p for p in getattr(pipeline, "_impl_policies", None) or []
             if isinstance(p, ARMAutoResourceProviderRegistrationPolicy)]
    if not found:
        logger.debug("no auto-registration policy found in the client's pipeline: nothing switched off")
    for policy in found:
        policy.send = _pass_through(policy)
    return client


def _pass_through(policy):
    def send(request):
        return policy.next.send(request)
    return send


def read_actions_retry_policy(read_only_action):
    """azure-core's RetryPolicy that also retries the POST actions that only read (``read_only_action``: a compiled
    pattern of their paths: listKeys, listClusterUserCredential, ...): azure-core retries no POST after a timeout
    or a reset connection, and a POST only on 500/503/504. Its ``_is_method_retryable`` is what it asks."""
    from urllib.parse import urlparse
    from azure.core.pipeline.policies import RetryPolicy

    class _ReadActionsRetryPolicy(RetryPolicy):
        def _is_method_retryable(self, settings, request, response=None):
            if request.method.upper() == "POST" and read_only_action.search(urlparse(request.url).path):
                return True
            return super()._is_method_retryable(settings, request, response=response)

    return _ReadActionsRetryPolicy()


# --------------------------------------------------------------------------- azure-cli / requests: TLS

def ssl_verification():
    """azure-cli's certificate verification settings for a track-2 transport ({} or {"connection_verify": ...}:
    REQUESTS_CA_BUNDLE, AZURE_CLI_DISABLE_CONNECTION_VERIFICATION), from azure.cli.core._debug."""
    from azure.cli.core._debug import change_ssl_cert_verification_track2
    return change_ssl_cert_verification_track2()


_TLS_CONTEXTS = {}
_TLS_LOCK = threading.Lock()


def tls_context(bundle):
    """One client TLS context per CA bundle, for the process: the bundle (certifi's, or REQUESTS_CA_BUNDLE: some
    150 certificates) parsed once. requests hands urllib3 the bundle's path, and urllib3 builds a context and parses
    the file again for every new connection: 35-50 ms of CPU each on these machines, under the GIL, so the
    concurrent reads of a create waited for each other's handshakes."""
    with _TLS_LOCK:
        context = _TLS_CONTEXTS.get(bundle)
        if context is None:
            from urllib3.util.ssl_ import create_urllib3_context
            context = create_urllib3_context()          # CERT_REQUIRED, urllib3's protocol and cipher settings
            context.load_verify_locations(cafile=bundle)
            _TLS_CONTEXTS[bundle] = context
        return context


def one_context_adapter_class():
    """requests' HTTPAdapter with the CA bundle in one shared context (:func:`tls_context`) instead of a path per
    connection, as requests documents for a custom context (``build_connection_pool_key_attributes``, requests
    >= 2.32.2), and the pool's ``ca_certs`` cleared (urllib3) so the bundle is not parsed again per connection.
    Verification is unchanged: the same bundle, the same hostname check (urllib3's); ``verify=False`` and client
    certificates go requests' own way."""
    from requests.adapters import DEFAULT_CA_BUNDLE_PATH, HTTPAdapter

    class _OneContextAdapter(HTTPAdapter):
        def build_connection_pool_key_attributes(self, request, verify, cert=None):
            host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
            if verify and cert is None and host.get("scheme") == "https" and "ca_cert_dir" not in pool:
                pool.pop("ca_certs", None)
                pool["ssl_context"] = tls_context(verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH)
            return host, pool

        def cert_verify(self, conn, url, verify, cert):
            super().cert_verify(conn, url, verify, cert)
            if (getattr(conn, "conn_kw", None) or {}).get("ssl_context") in _TLS_CONTEXTS.values():
                conn.ca_certs = None            # in the context already: not parsed again per connection

    return _OneContextAdapter
