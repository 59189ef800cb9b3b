# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Permissions before a create writes anything: SelfSubjectAccessReviews for every verb it needs (:func:`preflight`,
:func:`preflight_create`: in one round with the create's own reads), one error listing all denials; and the 403's
fix (:func:`forbidden`): an Azure role and the exact `az role assignment create` on Azure RBAC clusters, else the
Kubernetes RBAC."""
from azext_aks_connection.provider.kubeclient import ClusterContext, api_errors
from azext_aks_connection.provider.kubereach import _context_for

REVIEW_WORKERS = 16                     # access reviews and namespace reads of a preflight, all at once
WRITER_ROLE = "Azure Kubernetes Service RBAC Writer"
CLUSTER_ADMIN_ROLE = "Azure Kubernetes Service RBAC Cluster Admin"
AZURE_DENIAL_TEXT = "access to the resource in Azure"


# --------------------------------------------------------------------------- permissions

def create_checks(store_namespace, namespace, namespace_exists, service_account, *, store_exists=True, secret=True):
    """The (verb, resource, namespace) a create needs: the store's ConfigMaps (and creating its namespace when
    missing), the Secret and the ServiceAccount (workload identity) in the target namespace, and creating the
    target namespace when missing (namespace None: cluster scope)."""
    checks = [(verb, "configmaps", store_namespace) for verb in ("get", "list", "create", "update")]
    if secret:
        checks += [(verb, "secrets", namespace) for verb in ("get", "create", "update")]
    if service_account:
        checks += [(verb, "serviceaccounts", namespace) for verb in ("get", "create", "patch")]
    if (not store_exists) or ((secret or service_account) and not namespace_exists):
        checks.append(("create", "namespaces", None))
    return checks


def _review(api, check):
    """(check, allowed, reason); the same review is made once per process when reads are shared (apply)."""
    from azext_aks_connection.provider import shared
    return shared.cached(("review", id(api), tuple(check)), lambda: _review_now(api, check), mutable=False)


def _review_now(api, check):
    verb, resource, namespace = check[:3]
    group = check[3] if len(check) > 3 else ""
    attributes = {"verb": verb, "resource": resource, "group": group}
    if namespace:
        attributes["namespace"] = namespace
    try:
        status = _create_review(api, {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                      "spec": {"resourceAttributes": attributes}}).status
    except api_errors() as exc:
        if exc.status == 404:
            return check, None, None         # the API server does not serve access reviews: nothing known
        from azext_aks_connection.provider.errors import kube_error
        raise kube_error(exc, f"Checking whether you may {verb} {resource}") from exc
    return check, bool(status.allowed), status.reason


def _create_review(api, body):
    return api.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body)


def preflight(api, cluster_ref, cluster_resource, checks, *, unreadable_namespaces=(), results=None):
    """A SelfSubjectAccessReview for every (verb, resource, namespace) of ``checks`` (at once); ONE error listing
    every denial with its fix, before anything is written. ``unreadable_namespaces``: namespaces whose existence
    could not be read (403): the error says that creating them, if missing, needs the cluster-scope right.
    ``results``: the reviews' answers when made already ([(check, allowed, reason)])."""
    from azext_aks_connection.provider.graph import pool as thread_pool
    ctx = _context_for(api, cluster_ref, cluster_resource)
    checks = list(dict.fromkeys(tuple(c) for c in checks))
    if not checks:
        return
    if results is None:
        with thread_pool(min(REVIEW_WORKERS, len(checks))) as pool:
            results = list(pool.map(lambda c: _review(api, c), checks))
    denied = [c for c, allowed, _ in results if allowed is False]
    if not denied:
        return
    azure = ctx.azure_rbac or any(AZURE_DENIAL_TEXT in (reason or "") for _, allowed, reason in results
                                  if allowed is False)
    raise forbidden(ctx, denied, azure, what="The connection cannot be created",
                    maybe_missing=[ns for ns in unreadable_namespaces if ns])


def _namespace_exists(api, namespace):
    """True / False, or None when it cannot be read (403: not known); the client remembers the answer. A namespace
    seen in this process (apply) is not read again: it exists (one being deleted was refused then)."""
    from urllib.parse import quote
    from azext_aks_connection.provider import shared
    if shared.known(("namespace", id(api), namespace)):
        api.known_namespaces[namespace] = True
        return True
    try:
        found = api.request("GET", f"/api/v1/namespaces/{quote(namespace, safe='')}")
        exists = True
        if ((found.to_dict() if found is not None else {}).get("status") or {}).get("phase") == "Terminating":
            from azext_aks_connection.provider.errors import terminating_error
            raise terminating_error(namespace)      # before anything is written
    except api_errors() as exc:
        if exc.status != 404:
            return None     # not readable (403): not known
        exists = False
    api.known_namespaces[namespace] = exists
    if exists:
        shared.remember(("namespace", id(api), namespace), True)
    return exists


def _status_of(exc):
    """The HTTP status of a Kubernetes call's error, also when it was turned into an azclierror (kube_error)."""
    return getattr(exc, "status", None) or getattr(exc.__cause__, "status", None)


def _needed(checks, proven, reads):
    """``checks`` less the reads a create's own GETs prove (and ``list``: a create GETs its own record)."""
    return [c for c in dict.fromkeys(checks) if c not in proven and not (c[0] == "list" and reads)]


def _own_results(futures, reads):
    """The own reads' answers: ({name: result}, [(check, False, why)] for each 403, the first other error)."""
    found, denied, failed = {}, [], None
    for name, future in futures.items():
        try:
            found[name] = future.result()
        except Exception as exc:  # pylint: disable=broad-except  # a 403 is a denial; the others are raised
            if _status_of(exc) == 403:
                denied.append((tuple(reads[name][1]), False, str(exc.__cause__ or exc)))
            elif failed is None:
                failed = exc
    return found, denied, failed


# pylint: disable-next=too-many-locals  # one round: namespaces, own reads and reviews side by side
def preflight_create(api, cluster_ref, cluster_resource, store_namespace, namespace, *, secret=True,
                     service_account=False, reads=None, defer=False):
    """:func:`preflight` with :func:`create_checks`, in one round: the namespaces' existence is read while every
    review runs, creating namespaces among them (its answer counts only when a namespace is missing).

    ``reads``: {name: (fn, (verb, resource, namespace))}, the create's own reads of its objects (its record, its
    Secret, its ServiceAccount), made in the same round. Their answers prove the right to read (the API server
    authorizes a GET before it looks for the object: 200 and 404 are both proof), so those verbs get no review,
    and a 403 joins the denials of the one error. Returns {name: fn()}.

    ``defer``: the reviews are not made in this round; the answer's "review" is the function that makes them (and
    raises the one error), for the caller to call before its first write, if it writes. A denied read still fails
    here, with every denial."""
    from azext_aks_connection.provider.graph import pool as thread_pool
    reads = reads or {}
    proven = {tuple(check) for _, check in reads.values()}
    every = [] if defer else _needed(create_checks(store_namespace, namespace, False, service_account,
                                                   store_exists=False, secret=secret), proven, reads)
    namespaces = list(dict.fromkeys([store_namespace, namespace]))
    with thread_pool(min(REVIEW_WORKERS, len(every) + len(namespaces) + len(reads))) as pool:
        ns_reads = [pool.submit(_namespace_exists, api, ns) for ns in namespaces]
        own = {name: pool.submit(fn) for name, (fn, _) in reads.items()}
        reviews = [pool.submit(_review, api, c) for c in every]
        exists = dict(zip(namespaces, (f.result() for f in ns_reads)))
        results = [f.result() for f in reviews]
        found, denied_reads, failed = _own_results(own, reads)
    store_exists, ns_exists = exists[store_namespace], exists[namespace]
    wanted = _needed(create_checks(store_namespace, namespace, ns_exists is not False, service_account,
                                   store_exists=store_exists is not False, secret=secret), proven, reads)
    keep = set(tuple(c) for c in wanted)

    def review(made=None):
        preflight(api, cluster_ref, cluster_resource, wanted + [c for c, _, _ in denied_reads],
                  unreadable_namespaces=[ns for ns in namespaces if exists[ns] is None], results=made)
    if defer and not denied_reads:
        found["review"] = review
    else:
        review(None if defer else [r for r in results if r[0] in keep] + denied_reads)
    if failed is not None:
        raise failed
    return found


# --------------------------------------------------------------------------- 403

def _described(check):
    verb, resource, namespace = check[:3]
    return f"{verb} {resource} " + (f"in namespace '{namespace}'" if namespace else "(cluster scope)")


def forbidden(ctx, denied, azure, *, what=None, detail=None, maybe_missing=()):  # pylint: disable=too-many-locals
    """The ForbiddenError for the ``denied`` (verb, resource, namespace) list: on Azure RBAC clusters the Azure
    role and the exact `az role assignment create` lines; otherwise the Kubernetes RBAC it needs.
    ``maybe_missing``: namespaces that could not be read; creating them, if missing, needs a cluster-scope right."""
    from azure.cli.core.azclierror import ForbiddenError
    where = f"AKS cluster '{ctx.name}'"
    listing = "; ".join(_described(c) for c in denied)
    head = f"{what}: " if what else ""
    if azure:
        cid = ctx.id or (ctx.ref.id if ctx.ref is not None else "<cluster id>")
        from azext_aks_connection.provider.catalogue import OBJECT_ID_FINDER
        assignee = ctx.principal or OBJECT_ID_FINDER
        grants = {}
        for check in denied:
            verb, resource, namespace = check[:3]
            if namespace:
                grants.setdefault((WRITER_ROLE, f"{cid}/namespaces/{namespace}"), None)
            else:
                grants.setdefault((CLUSTER_ADMIN_ROLE, cid), None)
        if maybe_missing and (CLUSTER_ADMIN_ROLE, cid) not in grants:
            grants[(CLUSTER_ADMIN_ROLE, cid)] = f"only if namespace {', '.join(maybe_missing)} does not exist yet"
        lines = [f'az role assignment create --assignee {assignee} --role "{role}" --scope {scope}'
                 + (f" ({why})" if why else "") for (role, scope), why in grants.items()]
        text = (f"{head}{where} uses Azure RBAC for Kubernetes authorization, and your identity"
                f"{' (' + ctx.principal + ')' if ctx.principal else ''} lacks the Azure role for: {listing}."
                + (f" {detail}" if detail else ""))
        roles = " and ".join(f'"{role}" on {scope}' for (role, scope), why in grants.items() if not why)
        return ForbiddenError(text, recommendation=f"Get {roles} (an Azure role assignment, not a Kubernetes "
                              "Role; it can take up to 5 minutes to take effect): " + " ; ".join(lines))
    by_namespace = {}
    for check in denied:
        verb, resource, namespace = check[:3]
        by_namespace.setdefault(namespace, {}).setdefault(resource, []).append(verb)
    lines = []
    for namespace, resources in by_namespace.items():
        verbs = ",".join(dict.fromkeys(v for vs in resources.values() for v in vs))
        kinds = ",".join(resources)
        if namespace:
            lines.append(f"kubectl create role aks-connection -n {namespace} --verb={verbs} --resource={kinds} && "
                         f"kubectl create rolebinding aks-connection -n {namespace} --role=aks-connection "
                         "--user=<your user>")
        else:
            lines.append(f"kubectl create clusterrole aks-connection-{kinds.replace(',', '-')} --verb={verbs} "
                         f"--resource={kinds} && kubectl create clusterrolebinding aks-connection-"
                         f"{kinds.replace(',', '-')} --clusterrole=aks-connection-{kinds.replace(',', '-')} "
                         "--user=<your user>")
    if maybe_missing and None not in by_namespace:
        lines.append(f"only if namespace {', '.join(maybe_missing)} does not exist yet: kubectl create clusterrole "
                     "aks-connection-namespaces --verb=create --resource=namespaces && kubectl create "
                     "clusterrolebinding aks-connection-namespaces --clusterrole=aks-connection-namespaces "
                     "--user=<your user>")
    text = (f"{head}your cluster user may not {listing} in {where} (Kubernetes RBAC)."
            + (f" {detail}" if detail else ""))
    return ForbiddenError(text, recommendation="Ask a cluster admin for these Kubernetes permissions: "
                          + " ; ".join(lines))


def forbidden_from_status(exc, what, text):
    """kube_error's 403: the denial the API server describes, with its fix."""
    import re
    ctx = getattr(exc, "aks_context", None) or ClusterContext(None)
    m = re.search(r'cannot (\S+) resource "([^"]+)" in API group "([^"]*)" (?:in the namespace "([^"]+)"|at the '
                  r'cluster scope)', text)
    check = (m.group(1), m.group(2) + (f".{m.group(3)}" if m.group(3) else ""), m.group(4)) if m else None
    azure = AZURE_DENIAL_TEXT in text or bool(ctx.azure_rbac)
    if check is None:
        from azure.cli.core.azclierror import ForbiddenError
        if azure:
            return ForbiddenError(text, recommendation=f'Get the Azure role "{WRITER_ROLE}" on the namespace '
                                  f"(scope {ctx.id or '<cluster id>'}/namespaces/<namespace>), or "
                                  f'"{CLUSTER_ADMIN_ROLE}" on the cluster.')
        return ForbiddenError(text, recommendation="Your cluster user lacks this Kubernetes permission; ask a "
                              "cluster admin for a Role granting it in that namespace.")
    return forbidden(ctx, [check], azure, what=f"{what} failed", detail=f"The API server said: {text}")
