"""What a lab owns, on disk: written before anything is created, so ``down`` can always undo it.

``/run/svclab/<lab>/state.json`` lists the lab's namespaces, daemon PIDs and files; it is
written *before* each of them is created, so a crash at any point leaves a record that
covers everything that exists. ``cluster.json`` beside it is the cluster state the agents
read. /run is a tmpfs: after a reboot both the namespaces and the records are gone.
"""

import contextlib
import fcntl
import json
import os
import shutil
import time

from lab import codec

ROOT = os.environ.get("SVCLAB_STATE_DIR", "/run/svclab")


def lab_dir(lab):
    return os.path.join(ROOT, lab)


def _atomic_write(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Record:
    """The ownership record of one lab."""

    def __init__(self, lab, data):
        self.lab, self.data = lab, data

    @classmethod
    def create(cls, lab, scenario_path):
        os.makedirs(lab_dir(lab), mode=0o700, exist_ok=True)
        record = cls(lab, {"lab": lab, "scenario": os.path.abspath(scenario_path), "created": time.time(),
                           "phase": "creating", "namespaces": [], "pids": {}, "etc_dirs": []})
        record.save()
        return record

    @classmethod
    def load(cls, lab):
        try:
            with open(os.path.join(lab_dir(lab), "state.json")) as f:
                return cls(lab, json.load(f))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, OSError):
            # a crash mid-write; the namespaces are still named after the lab in the partial record
            return cls(lab, {"lab": lab, "phase": "damaged", "namespaces": [], "pids": {}, "etc_dirs": []})

    def save(self):
        _atomic_write(os.path.join(lab_dir(self.lab), "state.json"), json.dumps(self.data, indent=1))

    def path(self, *parts):
        return os.path.join(lab_dir(self.lab), *parts)

    def add_namespaces(self, names):
        self.data["namespaces"] += [n for n in names if n not in self.data["namespaces"]]
        self.save()

    def add_etc_dirs(self, netns_names):
        """/etc/netns/<name> directories, recorded before they are written."""
        self.data["etc_dirs"] += [n for n in netns_names if n not in self.data["etc_dirs"]]
        self.save()

    @property
    def etc_dirs(self):
        return list(self.data.get("etc_dirs", []))

    def forget(self, netns_names):
        """Namespaces (and their /etc/netns directories) that are gone for good."""
        gone = set(netns_names)
        self.data["namespaces"] = [n for n in self.data["namespaces"] if n not in gone]
        self.data["etc_dirs"] = [n for n in self.data.get("etc_dirs", []) if n not in gone]
        self.save()

    def add_pid(self, name, pid):
        self.data["pids"][name] = pid
        self.save()

    def set_phase(self, phase):
        self.data["phase"] = phase
        self.save()

    @property
    def namespaces(self):
        return list(self.data["namespaces"])

    @property
    def pids(self):
        return dict(self.data["pids"])

    @property
    def created(self):
        return self.data.get("created", time.time())

    def save_cluster(self, cluster_state):
        _atomic_write(self.path("cluster.json"), codec.dumps(cluster_state))

    def load_cluster(self):
        try:
            with open(self.path("cluster.json")) as f:
                return codec.loads(f.read())
        except FileNotFoundError:
            return None

    def remove(self):
        shutil.rmtree(lab_dir(self.lab), ignore_errors=True)


def labs():
    """Names of labs that have a record."""
    try:
        return sorted(d for d in os.listdir(ROOT) if os.path.isfile(os.path.join(ROOT, d, "state.json")))
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def locked():
    """Serialise ``up`` and ``down`` (a second ``up`` of a lab waits, then finds it up).

    The lock is on the state directory itself, so no lock file is left behind.
    """
    os.makedirs(ROOT, mode=0o755, exist_ok=True)
    fd = os.open(ROOT, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

