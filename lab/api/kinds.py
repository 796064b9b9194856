"""The resources a lab's API serves, and the discovery documents that list them (kube-apiserver's
legacy discovery: ``/api``, ``/apis``, ``/api/v1``, ``/apis/<group>/<version>``). Pure."""

from dataclasses import dataclass

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
READ_VERBS = ["get", "list", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    verbs: tuple = tuple(ALL_VERBS)
    short: tuple = ()
    categories: tuple = ()
    subresources: tuple = ()  # (name, kind, group, version, verbs)
    returns_deleted: bool = False  # DELETE answers with the object deleted (else a Success Status)

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self):
        """``pods``, ``deployments.apps``: the name kube-apiserver's messages use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_SCALE = ("scale", "Scale", "autoscaling", "v1", ("get", "patch", "update"))
_STATUS = ("status", None, None, None, ("get", "patch", "update"))

RESOURCES = (
    Resource("", "v1", "pods", "pod", "Pod", short=("po",), categories=("all",), returns_deleted=True,
             subresources=(("exec", "PodExecOptions", None, None, ("create", "get")),
                           ("log", "Pod", None, None, ("get",)),
                           ("portforward", "PodPortForwardOptions", None, None, ("create", "get")), _STATUS)),
    Resource("", "v1", "services", "service", "Service", short=("svc",), categories=("all",),
             subresources=(_STATUS,), returns_deleted=True),
    Resource("", "v1", "endpoints", "endpoints", "Endpoints", short=("ep",)),
    Resource("", "v1", "nodes", "node", "Node", namespaced=False, verbs=tuple(READ_VERBS), short=("no",),
             subresources=(_STATUS,)),
    Resource("", "v1", "namespaces", "namespace", "Namespace", namespaced=False,
             verbs=("create", "delete", "get", "list", "patch", "update", "watch"), short=("ns",),
             subresources=(_STATUS,)),
    Resource("", "v1", "events", "event", "Event", verbs=tuple(READ_VERBS), short=("ev",)),
    Resource("", "v1", "configmaps", "configmap", "ConfigMap", short=("cm",)),
    Resource("apps", "v1", "deployments", "deployment", "Deployment", short=("deploy",), categories=("all",),
             subresources=(_SCALE, _STATUS)),
    Resource("apps", "v1", "replicasets", "replicaset", "ReplicaSet", short=("rs",), categories=("all",),
             subresources=(_SCALE, _STATUS)),
    Resource("apps", "v1", "statefulsets", "statefulset", "StatefulSet", short=("sts",), categories=("all",),
             subresources=(_SCALE, _STATUS)),
    Resource("apps", "v1", "daemonsets", "daemonset", "DaemonSet", short=("ds",), categories=("all",),
             subresources=(_STATUS,)),
    Resource("coordination.k8s.io", "v1", "leases", "lease", "Lease", verbs=tuple(READ_VERBS)),
    Resource("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice"),
)
GROUPS = {"": "v1", "apps": "v1", "coordination.k8s.io": "v1", "discovery.k8s.io": "v1"}


def find(group, version, plural):
    return next((r for r in RESOURCES if (r.group, r.version, r.plural) == (group, version, plural)), None)


def named(text):
    """The resource ``text`` names as kubectl takes it: plural, singular, short name or kind, any
    case, optionally with its group (``deployments.apps``); None when none is."""
    text = text.lower()
    for r in RESOURCES:
        names = {r.plural, r.singular, r.kind.lower(), *r.short}
        if text in names or text in {f"{n}.{r.group}" for n in names if r.group}:
            return r
    return None


def by_kind(api_version, kind):
    return next((r for r in RESOURCES if (r.api_version, r.kind) == (api_version, kind)), None)


# (gitCommit, buildDate, goVersion) of the release builds whose version a lab reports
BUILDS = {"v1.18.20": ("1f3e19b7beb1cc0110255668c4238ed63dadb7ad", "2021-06-16T12:51:17Z", "go1.13.15")}
DEFAULT_BUILD = ("0" * 40, "2025-05-15T00:00:00Z", "go1.24.2")


def version_info(git_version):
    """``/version`` as that release's kube-apiserver answers it (the emulation and compatibility
    fields only from the releases that have them: v1.18 knew none)."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    commit, built, go = BUILDS.get(git_version, DEFAULT_BUILD)
    out = {"major": major, "minor": minor}
    if int(minor) >= 32:
        out.update(emulationMajor=major, emulationMinor=minor, minCompatibilityMajor=major,
                   minCompatibilityMinor=str(max(0, int(minor) - 1)))
    out.update(gitVersion=git_version, gitCommit=commit, gitTreeState="clean", buildDate=built, goVersion=go,
               compiler="gc", platform="linux/amd64")
    return out


def api_versions(server_address):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list():
    groups = []
    for group in (g for g in GROUPS if g):
        gv = {"groupVersion": f"{group}/{GROUPS[group]}", "version": GROUPS[group]}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group):
    gv = {"groupVersion": f"{group}/{GROUPS[group]}", "version": GROUPS[group]}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv], "preferredVersion": gv}


def resource_list(group, version):
    resources = []
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": list(r.verbs)}
        if r.short:
            entry["shortNames"] = list(r.short)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        for name, kind, sub_group, sub_version, verbs in r.subresources:
            sub = {"name": f"{r.plural}/{name}", "singularName": "", "namespaced": r.namespaced,
                   "kind": kind or r.kind, "verbs": list(verbs)}
            if sub_group:
                sub.update(group=sub_group, version=sub_version)
            resources.append(sub)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
