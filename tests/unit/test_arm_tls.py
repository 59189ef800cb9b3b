# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The ARM connections' TLS (_compat.one_context_adapter_class): the CA bundle is parsed once per process into one
shared context instead of once per new connection, and verification is what it was: a server whose certificate
the bundle does not vouch for is refused, with or without that shared context."""
import threading
import time

import pytest
import requests

from azext_aks_connection import _compat
from sandbox.core import RequestLog, Faults, Response, make_tls, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls")

    def app(req):
        time.sleep(0.3)                                  # concurrent requests overlap: each needs a connection
        return Response(200, {"ok": True})
    srv = serve(app, "arm", RequestLog(), Faults(),
                lambda err, req: Response(err.status, {}), ssl_context=make_tls(str(tmp)))
    other = tmp_path_factory.mktemp("other")
    make_tls(str(other))                                 # a CA that signed nothing this server has
    yield {"url": f"https://127.0.0.1:{srv.server_port}/x", "ca": str(tmp / "ca.pem"),
           "other_ca": str(other / "ca.pem")}
    srv.shutdown()


def _session():
    session = requests.Session()
    session.mount("https://", _compat.one_context_adapter_class()(pool_maxsize=8))
    return session


def test_concurrent_connections_share_one_context_and_verify(server):
    session = _session()
    answers, errors = [], []

    def get():
        try:
            answers.append(session.get(server["url"], verify=server["ca"], timeout=10).status_code)
        except Exception as exc:  # pylint: disable=broad-except  # the thread's error is asserted on below
            errors.append(exc)
    threads = [threading.Thread(target=get) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors and answers == [200] * 4, (answers, errors)
    context = _compat._TLS_CONTEXTS[server["ca"]]
    pools = list(session.get_adapter(server["url"]).poolmanager.pools._container.values())
    assert len(pools) == 1, pools                                 # one pool for the host: one context, not per call
    assert pools[0].conn_kw["ssl_context"] is context and pools[0].ca_certs is None
    assert pools[0].num_connections >= 2                          # several connections, and the bundle parsed once


def test_a_certificate_the_bundle_does_not_vouch_for_is_refused(server):
    with pytest.raises(requests.exceptions.SSLError):
        _session().get(server["url"], verify=server["other_ca"], timeout=10)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_and_default_go_requests_own_way(server):
    session = _session()
    assert session.get(server["url"], verify=False, timeout=10).status_code == 200       # no check asked for
    with pytest.raises(requests.exceptions.SSLError):          # the default bundle (certifi) does not know the CA
        session.get(server["url"], verify=True, timeout=10)
