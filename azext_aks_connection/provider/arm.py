# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Generic ARM calls by resource id, for the targets of the table (each with its own api-version).

Built on the pipeline azure-cli gives every management client (auth, retries, user agent, the
redacting debug logger). Calls whose answer holds a credential pass ``secret=True``: their bodies
never reach the debug log.
"""
import json
import re
import threading
from urllib.parse import urlparse

_CREDENTIAL_LOCK = threading.Lock()

ENV_TIMEOUT = "AZURE_AKS_CONNECTION_ARM_TIMEOUT"
# (connect, read) seconds of every ARM request (azure-core's own default is 300 s for both): ARM answers a
# request within a minute or fails it with a GatewayTimeout; a longer silence is a lost request, retried.
DEFAULT_TIMEOUT = (10.0, 120.0)


def timeouts(cli_ctx=None):
    """{connection_timeout, read_timeout} for an azure-core pipeline: env AZURE_AKS_CONNECTION_ARM_TIMEOUT, else
    `az config` aks_connection.arm_timeout ("<connect>,<read>" or one number for both), else DEFAULT_TIMEOUT. A
    read timeout is retried by azure-core's retry policy (GET, PUT, DELETE), a bounded number of times."""
    import os
    value = os.environ.get(ENV_TIMEOUT)
    if not value and cli_ctx is not None:
        value = cli_ctx.config.get("aks_connection", "arm_timeout", None)
    parts = DEFAULT_TIMEOUT
    if value:
        try:
            parts = [float(p) for p in str(value).replace(" ", "").split(",") if p]
            parts = parts * 2 if len(parts) == 1 else parts
            if len(parts) != 2 or min(parts) <= 0:
                raise ValueError(value)
        except ValueError:
            from azure.cli.core.azclierror import InvalidArgumentValueError
            raise InvalidArgumentValueError(
                f"aks_connection.arm_timeout '{value}' is not a timeout: give seconds, '<connect>,<read>' or one "
                "number.", recommendation="az config set aks_connection.arm_timeout=10,120") from None
    return {"connection_timeout": parts[0], "read_timeout": parts[1]}


# POST actions that only read (listKeys, listClusterUserCredential, …): safe to send again after a lost answer.
_READ_ONLY_ACTION = re.compile(r"/(list[A-Za-z]*|getKeys)$", re.IGNORECASE)


def client_kwargs(cli_ctx):
    """What every ARM client of ours is built with (SDK clients and Arm): the command's one connection pool per
    host (``shared_transport``), the timeouts, and azure-core's retry policy that also retries the POST actions
    that only read (azure-core retries no POST after a timeout or a reset connection, and a POST only on
    500/503/504)."""
    from azext_aks_connection._compat import read_actions_retry_policy
    return dict(timeouts(cli_ctx), retry_policy=read_actions_retry_policy(_READ_ONLY_ACTION),
                transport=shared_transport(cli_ctx))


def connection_error(exc, method, url, cli_ctx=None):
    """An azure-core transport error (no answer: a timeout, a reset or refused connection), after azure-core's
    retries, as an AzureConnectionError that says what did not answer and what to do."""
    from azure.cli.core.azclierror import AzureConnectionError
    from azure.core.exceptions import ServiceResponseError
    from knack.log import get_logger
    get_logger(__name__).debug("%s %s: %s", method, url, exc)       # the transport's own words, for --debug
    path = urlparse(url).path
    read = timeouts(cli_ctx)["read_timeout"]
    what = (f"no answer within {read:g} s or the connection was dropped" if isinstance(exc, ServiceResponseError)
            else "the connection could not be made")
    return AzureConnectionError(
        f"Azure Resource Manager did not answer {method} {path} ({what}).",
        recommendation="This is usually transient (the network or Azure): re-run the command, it goes on from what "
        "is already in place. If the network is slow, allow more time: az config set aks_connection.arm_timeout="
        f"10,{int(read * 2)}")


class ArmError(Exception):
    def __init__(self, status_code, code, message, headers=None):
        super().__init__(f"({code}) {message}")
        self.status_code = status_code
        self.message = message
        self.headers = headers or {}
        self.error = type("Err", (), {"code": code, "message": message})()

    @classmethod
    def of(cls, status_code, text, headers, secret=False):
        """The error of an answer with status >= 400: ARM's {"error": {code, message}}, else its text (withheld when
        the call's answer would hold a credential)."""
        parsed = _parsed(text)
        err = (parsed or {}).get("error") or {} if isinstance(parsed, dict) else {}
        return cls(status_code, err.get("code") or str(status_code),
                   err.get("message") or (text[:300] if not secret else "error body withheld"), dict(headers or {}))


def _parsed(text):
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def malformed(method, url, text, content_type=None, who="Azure Resource Manager"):
    """The error for an answer that is not what ``who`` sends (empty, cut short, an HTML page from a proxy): which
    call and what came back, never the body itself (it may be anything)."""
    from azure.cli.core.azclierror import AzureResponseError
    if text is None:        # not seen (the SDK read it): what it was is not known
        what, text = "an answer that is not its JSON (empty, cut short or a page of another kind)", ""
    elif not text.strip():
        what = "an empty body"
    elif content_type and "json" not in content_type.lower():
        what = f"a {content_type.split(';')[0]} page ({len(text)} bytes)"
    else:
        what = f"JSON that is cut short or not JSON ({len(text)} bytes)"
    return AzureResponseError(
        f"{who} answered {method} {url.split('?')[0]} with {what} where a JSON "
        "object was expected: a proxy or a dropped connection may have cut or replaced the answer. Nothing more was "
        "read or written after it.",
        recommendation="Re-run the command (every step reads first: it goes on where this one stopped); if it "
        "keeps happening, check the proxy between this machine and Azure (HTTPS_PROXY).")


class Arm:
    """Generic ARM calls by resource id: what no shipped SDK does (each target with its api-version from targets.py,
    actions an SDK lacks). Management clients of the SDKs come from azext_aks_connection._client_factory."""

    def __init__(self, cli_ctx, subscription_id=None):
        from azext_aks_connection._client_factory import arm_pipeline
        _, subscription_id = login_credential(cli_ctx, subscription_id)
        self.cli_ctx = cli_ctx
        self.subscription_id = subscription_id
        self._pipeline = arm_pipeline(cli_ctx, subscription_id)
        self._base = cli_ctx.cloud.endpoints.resource_manager.rstrip("/")

    def send(self, method, path, api_version=None, *, body=None, secret=False, headers=None):
        """(status, parsed body or None, headers). ``path`` is an ARM id (+ action) or an absolute URL."""
        from azure.core.rest import HttpRequest
        url = path if path.startswith("https://") else self._base + path
        if api_version:
            url += ("&" if "?" in url else "?") + "api-version=" + api_version
        hdrs = {"Accept": "application/json"}
        hdrs.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        request = HttpRequest(method, url, headers=hdrs, data=data)
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.exceptions import DecodeError
        try:
            response = self._pipeline.send_request(request, logging_enable=not secret)
        except DecodeError as exc:      # the pipeline's JSON decoding of an answer that says JSON and is not
            answer = getattr(exc, "response", None)
            raise malformed(method, url, answer.text() if answer is not None and not secret else "",
                            answer.headers.get("Content-Type") if answer is not None else None) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise connection_error(exc, method, url, self.cli_ctx) from None
        text = response.text()
        if response.status_code >= 400:
            raise ArmError.of(response.status_code, text, response.headers, secret)
        parsed = _parsed(text)
        # A read answers a JSON object; any answer with a body must be JSON (an empty one: a 202 or a 204).
        if (text.strip() and parsed is None) or (method == "GET" and not isinstance(parsed, dict)):
            raise malformed(method, url, text, response.headers.get("Content-Type"))
        return response.status_code, parsed, dict(response.headers)

    def get(self, resource_id, api_version):
        return self.send("GET", resource_id, api_version)[1]

    def post(self, resource_id, action, api_version, body=None, secret=False):
        """An action whose answer is read (listKeys, listConnectionStrings): a JSON object, else malformed (a bare
        200 would read as no keys at all, and fail later without naming the call)."""
        answer = self.send("POST", resource_id + "/" + action, api_version, body=body, secret=secret)[1]
        if not isinstance(answer, dict):
            raise malformed("POST", resource_id + "/" + action, "" if answer is None else None)
        return answer


def sdk_call(cli_ctx, method, path, call, *args, **kwargs):
    """``call(*args, **kwargs)``, a call of a management SDK client, failing as Arm.send does: an answer >= 400 as
    ArmError (the same code, message and headers: what errors.arm_error and the retries read), no answer as
    connection_error (``method`` and ``path`` name the request). A listing: pass ``list`` of the pager as ``call``
    (its pages are fetched here)."""
    from azure.core.exceptions import (DecodeError, DeserializationError, HttpResponseError, ServiceRequestError,
                                       ServiceResponseError)
    try:
        answer = call(*args, **kwargs)
    except (DecodeError, DeserializationError) as exc:       # the answer is not the JSON the SDK expects
        response = getattr(exc, "response", None)
        raise malformed(method, path, response.text() if response is not None else "",
                        response.headers.get("Content-Type") if response is not None else None) from None
    except HttpResponseError as exc:
        response = exc.response
        if response is None:
            raise ArmError(exc.status_code, getattr(exc.error, "code", None) or str(exc.status_code),
                           getattr(exc.error, "message", None) or exc.message) from None
        raise ArmError.of(response.status_code, response.text(), response.headers) from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise connection_error(exc, method, path, cli_ctx) from None
    except (AttributeError, TypeError, KeyError, ValueError):
        # the SDK's own deserializer choking on an answer that is not the JSON it expects (empty, not JSON): the
        # call is the SDK's alone, so this is its answer, not our code
        raise malformed(method, path, None) from None
    # a read or a write answers the resource: an empty body deserializes None (also as the first of a ``cls`` that
    # pairs the answer with its headers)
    if method in ("GET", "PUT") and (answer is None or (isinstance(answer, tuple) and answer and answer[0] is None)):
        raise malformed(method, path, "")
    return answer


def rest(model):
    """An SDK model as the REST JSON ARM sent (camelCase, "properties"): what the rest of the extension reads and the
    records keep. Typespec models (azure-mgmt-authorization 5) are that mapping already; msrest ones serialize."""
    if model is None:
        return None
    serialize = getattr(model, "serialize", None)
    return serialize(keep_readonly=True) if serialize is not None else model.as_dict()


def login_credential(cli_ctx, subscription_id=None):
    """(credential, subscription id) of the current ``az login``, made once per command and subscription.

    azure-cli's client factory makes a new credential for every client, and a managed identity credential
    keeps its token only for itself: a create that builds seven clients fetched seven tokens. Sharing one
    credential per subscription (kept on the command's ``cli_ctx``, gone with it) fetches it once."""
    from azure.cli.core._profile import Profile
    with _CREDENTIAL_LOCK:
        cache = cli_ctx.data.setdefault("aks_connection_credentials", {})
        key = (subscription_id or "").lower()
        if key not in cache:
            credential, subscription, _ = Profile(cli_ctx=cli_ctx).get_login_credentials(
                subscription_id=subscription_id)
            cache[key] = cache[subscription.lower()] = (_one_at_a_time(credential), subscription)
        return cache[key]


def caller_object_id(cli_ctx, subscription_id=None):
    """The object id of the signed-in principal (user, service principal or managed identity): the ``oid`` claim
    of the ARM token the command uses (fetched once by the shared credential); None when it cannot be told."""
    try:
        from azure.cli.core.auth.util import resource_to_scopes
        from azext_aks_connection.provider.kubeaccess import token_claims
        credential, _ = login_credential(cli_ctx, subscription_id)
        # the scopes the management clients ask for: the token they fetched already, from the credential's cache
        token = credential.get_token(*resource_to_scopes(cli_ctx.cloud.endpoints.active_directory_resource_id)).token
        return token_claims(token).get("oid")
    except Exception:  # pylint: disable=broad-except  # only a fix line's wording depends on it
        return None


POOL_MAXSIZE = 16      # connections kept per host: a create's concurrent steps each have one


def shared_transport(cli_ctx):
    """A transport for one more management client that sends through the command's one connection pool per host.

    azure-cli's client factory gives every client a transport, a requests session and a connection pool of its
    own: a create that builds seven clients opened seven TLS connections to ARM for fourteen requests. Each client
    still gets its own session (cookies, settings: as azure-core means it); the HTTP adapter behind the sessions,
    and so its urllib3 pool, is the command's one (kept on ``cli_ctx``; thread-safe). Certificate verification is
    azure-cli's (REQUESTS_CA_BUNDLE, AZURE_CLI_DISABLE_CONNECTION_VERIFICATION)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    with _CREDENTIAL_LOCK:
        shared = cli_ctx.data.get("aks_connection_http_adapter")
        if shared is None:
            from urllib3.util.retry import Retry
            from azext_aks_connection._compat import one_context_adapter_class, ssl_verification
            # No retries here: azure-core's RetryPolicy retries (as RequestsTransport's own adapter).
            shared = (one_context_adapter_class()(pool_connections=4, pool_maxsize=POOL_MAXSIZE,
                                                  max_retries=Retry(total=False, redirect=False,
                                                                    raise_on_status=False)),
                      ssl_verification())
            cli_ctx.data["aks_connection_http_adapter"] = shared
    adapter, verify = shared
    session = requests.Session()
    session.trust_env = True                # proxies and CA bundle from the environment, as azure-core does
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # The timeouts go to the transport: a client given a transport builds none, so its own timeout kwargs reach none.
    return RequestsTransport(session=session, session_owner=False, **verify, **timeouts(cli_ctx))


class _OneAtATime:
    """The shared credential, asked by one thread at a time: the first caller fetches the token, the callers
    waiting behind it find it in the credential's cache (concurrent first calls would each fetch one)."""

    def __init__(self, inner):
        self._inner = inner
        self._lock = threading.Lock()

    def get_token(self, *scopes, **kwargs):
        with self._lock:
            try:
                return self._inner.get_token(*scopes, **kwargs)
            except Exception as exc:  # pylint: disable=broad-except  # said in words below, whatever raised it
                raise token_error(exc, scopes) from None

    def __getattr__(self, name):        # get_auxiliary_tokens and anything else the SDK asks for
        return getattr(self._inner, name)


class _OneAtATimeInfo(_OneAtATime):
    """The same for a credential with get_token_info (newer azure-cli), which azure-core then prefers."""

    def get_token_info(self, *scopes, options=None):
        with self._lock:
            try:
                return self._inner.get_token_info(*scopes, options=options)
            except Exception as exc:  # pylint: disable=broad-except  # said in words below, whatever raised it
                raise token_error(exc, scopes) from None


def token_error(exc, scopes):
    """A failure to get an access token from the current login, in words: what was asked for, what the token
    endpoint said (azure-cli's own text can be 'None, None'), and how to sign in again."""
    from azure.cli.core.azclierror import AuthenticationError
    said = " ".join(str(getattr(exc, "error_msg", None) or exc).split())
    if not said or said.replace("None", "").strip(" ,.") == "":
        said = "it gave no reason (the token endpoint failed)"
    return AuthenticationError(
        f"Getting an access token for {', '.join(scopes) or 'Azure'} from the current login failed: {said}. Nothing "
        "was written after it.",
        recommendation="Sign in again: az login (a managed identity: az login --identity; a service principal: az "
        "login --service-principal ...). If it keeps failing, the token endpoint is (for a managed identity: this "
        "machine's identity endpoint): retry in a few minutes.")


def _one_at_a_time(credential):
    return (_OneAtATimeInfo if hasattr(credential, "get_token_info") else _OneAtATime)(credential)
