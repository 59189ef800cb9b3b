# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The ARM operations aks-connection sends, one record each, with the facts Azure's public record gives for them.

The list was derived from the sandbox's request log of one create (and delete) per target and auth type with the
local engine and one per target with ``--engine service-connector`` (see README.md). Each record names where its
facts come from (``source``): a Microsoft recording in Azure/azure-cli (``recording:``) or an example of
Azure/azure-rest-api-specs (``example:``) — or says there is none and what was checked instead. The facts are
stated here in our own words; nothing of a recording is copied.

Fields: ``key`` (the table's row), ``method``, ``path(env, ctx)`` (below the ARM host), ``api`` (the api-version the
extension or the SDK it moves to sends), ``status``, ``lro`` (``None``: a plain answer; ``"async"``:
Azure-AsyncOperation only, no Location and no Retry-After; ``"async+location+retry"``: both URLs and a Retry-After;
``"async+location"``: both URLs, no Retry-After; ``"async+retry"``: Azure-AsyncOperation and a Retry-After;
``"location+retry"``: Location and a Retry-After;
``"silent"``: no Retry-After), ``keys`` (dotted paths the extension reads in the answer),
``refusal`` ((method, path(env, ctx), api, body, status, code)), ``body``, ``setup(env) -> ctx``."""
from collections import namedtuple

Op = namedtuple("Op", "key method path api status lro keys refusal source body setup what",
                defaults=(None, None, ""))

SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
RG = SUB + "/resourceGroups/sandbox-data-rg/providers"
NOWHERE = "2019-01-01"         # an api-version none of these providers has
RECORDINGS = "src/azure-cli/azure/cli/command_modules"
SPECS = "specification"


def rec(module, name):
    return f"recording: Azure/azure-cli {RECORDINGS}/{module}/tests/latest/recordings/{name}.yaml"


def ex(path):
    return f"example: Azure/azure-rest-api-specs {SPECS}/{path}"


def t(name):
    """The id of a seeded target (up to its resource, without a child the extension does not call)."""
    return lambda env, ctx: env.seeds["targets"][name]


def under(name, tail, strip=None):
    """``tail`` below a seeded target's id (``strip``: a child segment cut off first)."""
    def path(env, ctx):
        base = env.seeds["targets"][name]
        if strip:
            base = base.split(strip, 1)[0]
        return base + tail
    return path


def bad_version(op_path, api_ok=None, method="GET", body=None):
    """Refusal: the same request with an api-version the provider does not have (400 NoRegisteredProviderFound)."""
    return (method, op_path, NOWHERE, body, 400, "NoRegisteredProviderFound")


def missing(path, method="GET", code="ResourceNotFound", status=404, body=None, api=None):
    return (method, path, api, body, status, code)


def sibling(path_fn, name):
    """The same path with its last segment replaced by ``name`` (a resource that does not exist)."""
    return lambda env, ctx: path_fn(env, ctx).rsplit("/", 1)[0] + "/" + name
