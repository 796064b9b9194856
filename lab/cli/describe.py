"""``lab describe svc NAME``: a service as kubectl describes it."""

import time

from lab.cli import views
from lab.cli.args import add_lab
from lab.errors import LabError
from lab.kernel.record import find_running


def add_arguments(p):
    p.add_argument("kind", help="svc")
    p.add_argument("name")
    p.add_argument("-n", "--namespace", default="default")
    add_lab(p)


def run(args):
    if args.kind.lower() not in ("svc", "service", "services"):
        raise LabError(f"lab describe handles services (not {args.kind!r})")
    lab_record, cluster = find_running(args.lab)
    svc = cluster.service(args.namespace, args.name)
    if svc is None:
        raise LabError(f'services "{args.name}" not found in namespace {args.namespace}')
    print(views.describe_service(cluster, svc, time.time() - lab_record.created))
    return 0
