# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Shared set-up of the ARM emulator tests: one HTTPS server over a fresh ArmState, and the pieces the
real SDK clients need to talk to it."""
import contextlib
import os
import tempfile
import time
import types

from azure.core.credentials import AccessToken

from sandbox.arm import ArmState, arm_error_response, build_arm_app
from sandbox.context import Sandbox
from sandbox.core import Faults, RequestLog, make_tls, serve


class FakeCredential:  # pylint: disable=too-few-public-methods
    def get_token(self, *scopes, **kwargs):  # pylint: disable=unused-argument
        return AccessToken("sandbox-test-token", int(time.time()) + 3600)


@contextlib.contextmanager
def arm_server(prefix, lro_seconds, retry_after_ms, seed):
    """Serve the ARM emulator; ``seed(arm_state)`` runs before the server starts.

    Yields an object with ``sb``, ``tmp``, ``ca``, ``sub``, ``cred`` and ``kw`` (the keyword arguments
    an SDK client needs: base_url and connection_verify; no polling_interval, so the emulator's
    retry-after-ms headers alone must keep the pollers quick)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    tls = make_tls(tmp)
    sb = Sandbox(RequestLog(), Faults())
    with open(os.path.join(tmp, "ca.pem"), encoding="ascii") as f:
        sb.ca_pem = f.read()
    sb.kube_url = "https://127.0.0.1:1"
    sb.lro_seconds = {"default": lro_seconds}
    sb.retry_after_ms = retry_after_ms
    sb.arm = ArmState(sb)
    seed(sb.arm)
    server = serve(build_arm_app(sb), "arm", sb.log, sb.faults, arm_error_response, ssl_context=tls)
    sb.arm_url = f"https://127.0.0.1:{server.server_port}"
    ca = os.path.join(tmp, "ca.pem")
    env = types.SimpleNamespace(sb=sb, tmp=tmp, ca=ca, sub=sb.subscription_id, cred=FakeCredential(),
                                kw={"base_url": sb.arm_url, "connection_verify": ca})
    try:
        yield env
    finally:
        server.shutdown()
