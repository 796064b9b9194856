"""What a lab owns, on disk: written before anything is created, so ``down`` can always undo it.

``/run/svclab/<lab>/state.json`` lists the lab's namespaces, daemon PIDs and files; it is
written *before* each of them is created, so a crash at any point leaves a record that
covers everything that exists. Beside it: ``cluster.json``, the cluster state the agents read,
and ``sources.json``, the scenario as it was read at ``up`` (its files' texts), from which every
live change rebuilds the cluster (editing the scenario of a running lab changes nothing until
the next ``up``). /run is a tmpfs: after a reboot both the namespaces and the records are gone.

The record's fields change only through its methods; each saves at once.
"""

import contextlib
import fcntl
import json
import os
import time

from lab.errors import LabError
from lab.kernel.files import remove_tree, write_atomic
from lab.spec.labname import LAB_NAME, check_lab_name

ROOT = os.environ.get("SVCLAB_STATE_DIR", "/run/svclab")
PROG = "python3 -m lab"


def lab_dir(lab):
    """``/run/svclab/<lab>``, for a valid lab name only (never a path: ``../x``, ``/abs``, ``''``)."""
    return os.path.join(ROOT, check_lab_name(lab))


def _own(lab, names):
    """The entries of a record's list that can be this lab's: ``<lab>-...`` namespace names, nothing
    that could be a path or another lab's (a damaged or planted record names only what it may)."""
    prefix = f"{lab}-"
    return [n for n in names if isinstance(n, str) and n.startswith(prefix) and "/" not in n
            and n not in (".", "..") and len(n.encode()) <= 255 and n.isprintable()]


class Record:
    """The ownership record of one lab."""

    def __init__(self, lab, data):
        self.lab, self.data = lab, data

    @classmethod
    def create(cls, lab, scenario_path, sources=None):
        os.makedirs(lab_dir(lab), mode=0o700, exist_ok=True)
        record = cls(lab, {"lab": lab, "scenario": os.path.abspath(scenario_path), "created": time.time(),
                           "phase": "creating", "namespaces": [], "pids": {}, "etc_dirs": [],
                           "applied": [], "deleted": []})
        record.save()
        if sources is not None:
            write_atomic(record.path("sources.json"), json.dumps(sources))
        return record

    @classmethod
    def load(cls, lab):
        path = os.path.join(lab_dir(lab), "state.json")
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except PermissionError:
            raise LabError("needs root: run it with sudo") from None
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            # a crash mid-write; the namespaces are still named after the lab in the partial record
            data = {"phase": "damaged"}
        if not isinstance(data, dict):
            data = {"phase": "damaged"}
        data["lab"] = lab
        for key in ("namespaces", "etc_dirs", "uts"):
            data[key] = _own(lab, data.get(key) if isinstance(data.get(key), list) else [])
        pids = data.get("pids") if isinstance(data.get("pids"), dict) else {}
        data["pids"] = {k: v for k, v in pids.items() if isinstance(k, str) and type(v) is int and v > 1}
        return cls(lab, data)

    def save(self):
        write_atomic(os.path.join(lab_dir(self.lab), "state.json"), json.dumps(self.data, indent=1))

    def path(self, *parts):
        return os.path.join(lab_dir(self.lab), *parts)

    # what the lab owns ---------------------------------------------------------------------
    def add_namespaces(self, names):
        self.data["namespaces"] += [n for n in names if n not in self.data["namespaces"]]
        self.save()

    def add_etc_dirs(self, netns_names):
        """/etc/netns/<name> directories, recorded before they are written."""
        self.data["etc_dirs"] += [n for n in netns_names if n not in self.data["etc_dirs"]]
        self.save()

    def add_uts(self, netns_names):
        """Pods' UTS namespace files (lab.kernel.uts), recorded before they are mounted."""
        self.data["uts"] = self.data.get("uts", []) + [n for n in netns_names if n not in self.data.get("uts", [])]
        self.save()

    def forget(self, netns_names):
        """Namespaces (and their /etc/netns directories and UTS files) that are gone for good."""
        gone = set(netns_names)
        for key in ("namespaces", "etc_dirs", "uts"):
            self.data[key] = [n for n in self.data.get(key, []) if n not in gone]
        self.save()

    def add_pid(self, key, pid):
        self.data["pids"][key] = pid
        self.save()

    def drop_pids(self, keys):
        """Entries of processes that are gone for good (a pod's container commands)."""
        gone = set(keys)
        if gone & set(self.data["pids"]):
            self.data["pids"] = {k: v for k, v in self.data["pids"].items() if k not in gone}
            self.save()

    def set_phase(self, phase):
        self.data["phase"] = phase
        self.save()

    @property
    def namespaces(self):
        return list(self.data["namespaces"])

    @property
    def etc_dirs(self):
        return list(self.data.get("etc_dirs", []))

    @property
    def uts(self):
        return list(self.data.get("uts", []))

    @property
    def pids(self):
        return dict(self.data["pids"])

    @property
    def created(self):
        return self.data.get("created", time.time())

    @property
    def phase(self):
        return self.data.get("phase")

    @property
    def scenario_path(self):
        return self.data.get("scenario")

    # what the lab was built from, and what changed since -----------------------------------
    def sources(self):
        """{path: text} of every file the scenario was read from at ``up``."""
        try:
            with open(self.path("sources.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            raise LabError(f"lab {self.lab!r} has no record of its scenario's files; bring it up again") from None

    @property
    def applied(self):
        """``[(label, document)]`` applied since ``up``, in order."""
        return [tuple(entry) for entry in self.data.get("applied", [])]

    @property
    def deleted(self):
        """``{(kind, namespace, name)}`` deleted since ``up``."""
        return {tuple(k) for k in self.data.get("deleted", [])}

    def commit_objects(self, applied, deleted):
        """The objects a converged change left: what was applied and deleted since ``up``."""
        self.data["applied"] = [list(entry) for entry in applied]
        self.data["deleted"] = sorted(list(k) for k in deleted)
        self.save()

    # the cluster state the agents follow ---------------------------------------------------
    def save_cluster(self, cluster):
        from lab.cluster import codec  # not for down, which never reads the cluster
        write_atomic(self.path("cluster.json"), codec.dumps(cluster))

    def load_cluster(self):
        from lab.cluster import codec
        try:
            with open(self.path("cluster.json")) as f:
                return codec.loads(f.read())
        except FileNotFoundError:
            return None

    def remove(self):
        remove_tree(lab_dir(self.lab))


def labs():
    """Names of labs that have a record."""
    try:
        names = os.listdir(ROOT)
    except FileNotFoundError:
        return []
    except PermissionError:
        raise LabError("needs root: run it with sudo") from None
    found = []
    for name in sorted(d for d in names if LAB_NAME.fullmatch(d)):
        try:
            os.stat(os.path.join(ROOT, name, "state.json"))
        except FileNotFoundError:
            continue
        except PermissionError:  # a lab's directory is root's alone: say so, never "no lab is up"
            raise LabError("needs root: run it with sudo") from None
        found.append(name)
    return found


def only_lab():
    """The lab a command means when it names none: $SVCLAB_LAB, else the only one up."""
    env = os.environ.get("SVCLAB_LAB")
    if env:
        return check_lab_name(env, "$SVCLAB_LAB")
    up = labs()
    if len(up) == 1:
        return up[0]
    if not up:
        raise LabError(f"no lab is up; start one with: sudo {PROG} up scenarios/seed.yml")
    raise LabError(f"several labs are up ({', '.join(up)}); say which with --lab NAME")


def find_running(lab):
    """(record, cluster state) of a lab that is up (``lab`` None: the only one; ``''`` is no lab name)."""
    lab = only_lab() if lab is None else lab
    record = Record.load(lab)
    cluster = record.load_cluster() if record else None
    if cluster is None:
        raise LabError(f"lab {lab!r} is not up (see: {PROG} status)")
    return record, cluster


@contextlib.contextmanager
def locked():
    """Serialise ``up``, ``down`` and live changes (a second ``up`` of a lab waits, then finds it up).

    The lock is on the state directory itself, so no lock file is left behind.
    """
    os.makedirs(ROOT, mode=0o755, exist_ok=True)
    fd = os.open(ROOT, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
