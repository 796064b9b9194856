"""``lab delete pod|svc|deployment NAME``."""

from lab.cli.args import add_lab, number
from lab.errors import LabError
from lab.live import changes

KINDS = {"pod": "Pod", "pods": "Pod", "po": "Pod", "service": "Service", "services": "Service", "svc": "Service",
         "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment"}


def add_arguments(p):
    p.add_argument("kind", help="pod, svc or deployment")
    p.add_argument("name")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("--grace-period", type=number(0, 3600, what="seconds"), default=0,
                   help="seconds a deleted pod keeps serving as a terminating endpoint (0: gone at once)")
    add_lab(p)


def run(args):
    kind = KINDS.get(args.kind.lower())
    if kind is None:
        raise LabError(f"lab delete handles pods, services and deployments (not {args.kind!r})")
    changes.delete(args.lab, kind, args.namespace, args.name, args.grace_period, say=print)
    return 0
