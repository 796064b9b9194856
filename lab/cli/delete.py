"""``lab delete KIND NAME``: any object a manifest can hold (pods, services, deployments,
replicasets, statefulsets, daemonsets, configmaps, namespaces, endpointslices, endpoints)."""

from lab.api import kinds
from lab.cli.args import add_lab, number
from lab.errors import LabError
from lab.live import changes

NOT_DELETABLE = {"Node": "a node is a machine of the lab: take it down with lab node down NAME",
                 "Event": "events are the lab's record of what happened"}


def add_arguments(p):
    p.add_argument("kind", help="pod, svc, deployment, statefulset, daemonset, configmap, namespace, ...")
    p.add_argument("name")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("--grace-period", type=number(0, 3600, what="seconds"), default=0,
                   help="seconds a deleted pod keeps serving as a terminating endpoint (0: gone at once)")
    add_lab(p)


def run(args):
    resource = kinds.named(args.kind)
    if resource is None:
        raise LabError(f'the server doesn\'t have a resource type "{args.kind}"')
    if resource.kind in NOT_DELETABLE:
        raise LabError(f"lab delete does not delete {resource.plural}: {NOT_DELETABLE[resource.kind]}")
    namespace = args.namespace if resource.namespaced else ""
    changes.delete(args.lab, resource.kind, namespace, args.name, args.grace_period, say=print)
    return 0
