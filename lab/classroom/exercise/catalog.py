"""Classroom exercises: a folder with a task, a scenario, a break, checks, hints and a reference fix.

``exercises/NN-name/exercise.yml``::

    title: A Service nobody answers
    summary: one line for `lab exercise list`
    scenario: scenario.yml            # a scenario file, relative to exercise.yml
    break:                            # actions run after `up`, in order
      - apply: break/service.yml
      - delete: {kind: pod, name: "pod:app=web"}
      - exec: {target: node1, command: [sysctl, -w, net.ipv4.ip_forward=0]}
      - write: {target: "pod:app=shell", file: resolv.conf, text: "..."}
      - forward: {service: admin, local: 9090, port: 80}   # the user's kubectl port-forward, on the
                                                           # host's loopback (for a reference fix)
    checks:                           # every check has a name the student reads
      - {name: ..., from: client, url: "http://{node1}:30080", expect: "You've hit web-"}   # scenario checks
      - {name: ..., from: client, run: [curl, -s, "http://{node1}:30080"], expect: "client address"}
      - {name: ..., service: web, endpoints: 2}        # or endpoints: answering, clusterIP: IP | None,
                                                       # externalIP: IP | assigned | pending, type: T
      - {name: ..., loopback: 9090, expect: "You've hit admin-"}   # GET http://127.0.0.1:9090/ on the host
    hints: [first hint, second hint]

``TASK.md`` beside it is the student's text; ``solution/fix.yml`` (``description:``, ``actions:``
in the same vocabulary as ``break:``) is the reference fix, for tests and teachers. This module
reads and validates (pure); ``lab.exercise_runtime`` runs actions and checks.
"""

import os
import re
from dataclasses import dataclass

from lab.errors import InputError, LabError
from lab.spec import checks as checkspec
from lab.spec import manifests, scenario, yamlfiles
from lab.spec.fields import DNS_LABEL, DNS_SUBDOMAIN, Field

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROOT = os.environ.get("SVCLAB_EXERCISES", os.path.join(REPOSITORY, "exercises"))
EXERCISE_FILE = "exercise.yml"
TASK_FILE = "TASK.md"
SOLUTION_FILE = os.path.join("solution", "fix.yml")
EXERCISE_FIELDS = {"title", "summary", "scenario", "break", "checks", "hints"}
ACTIONS = ("apply", "delete", "exec", "write", "forward")
DELETE_KINDS = {"pod": "pod", "pods": "pod", "po": "pod", "service": "svc", "services": "svc", "svc": "svc",
                "deployment": "deployment", "deployments": "deployment", "deploy": "deployment"}
ETC_FILES = ("resolv.conf", "hosts")
SERVICE_FIELDS = ("clusterIP", "externalIP", "endpoints", "type")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
TARGET = re.compile(r"^(pod:[A-Za-z0-9./_-]+=[A-Za-z0-9._-]*|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)$")


@dataclass(frozen=True)
class Action:
    """One step of a break or a fix. ``path`` is absolute (apply); ``target`` a node, host or pod
    name or ``pod:KEY=VALUE`` (the first such pod, by name), or the Service to forward to
    (forward: from the host's loopback port ``local`` to the Service's ``port``)."""

    kind: str
    where: Field
    path: str = None
    target: str = None
    resource: str = None  # delete: pod, svc or deployment
    namespace: str = "default"
    command: tuple = ()
    file: str = None
    text: str = None
    local: int = None
    port: int = None

    def describe(self):
        if self.kind == "apply":
            return f"apply {os.path.basename(self.path)}"
        if self.kind == "delete":
            return f"delete {self.resource} {self.target}"
        if self.kind == "exec":
            return f"exec on {self.target}: {' '.join(self.command)}"
        if self.kind == "forward":
            return f"kubectl port-forward svc/{self.target} {self.local}:{self.port}"
        return f"write {self.file} of {self.target}"


@dataclass(frozen=True)
class ExerciseCheck:
    """A named check: ``kind`` probe (a scenario check, ``spec`` a checkspec.Check), run (a command
    in a namespace), service (the control plane's view of a service) or loopback (an HTTP GET of
    the host's ``127.0.0.1:port``, where a student's kubectl port-forward listens)."""

    index: int
    name: str
    kind: str
    where: Field
    spec: checkspec.Check = None
    source: str = None
    command: tuple = ()
    expect: str = None
    timeout: float = 5.0
    service: str = None
    namespace: str = "default"
    field: str = None
    value: object = None
    port: int = None


@dataclass(frozen=True)
class Exercise:
    name: str  # the folder's name, e.g. 01-selector-no-endpoints
    folder: str
    title: str
    summary: str
    scenario: str  # absolute path
    breaks: tuple
    checks: tuple
    hints: tuple
    task: str  # absolute path of TASK.md

    @property
    def solution(self):
        return os.path.join(self.folder, SOLUTION_FILE)

    @property
    def short(self):
        """The name without its number: selector-no-endpoints."""
        return re.sub(r"^\d+-", "", self.name)


@dataclass(frozen=True)
class Solution:
    description: str
    actions: tuple


# finding --------------------------------------------------------------------------------------

def folders(root=None):
    """Exercise folders under ``root``, in name order."""
    root = root or ROOT
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [os.path.join(root, n) for n in names if os.path.isfile(os.path.join(root, n, EXERCISE_FILE))]


def find(name, root=None):
    """The folder of exercise ``name``: a folder path, a folder name (01-selector-no-endpoints),
    the name without its number (selector-no-endpoints) or the number (1, 01)."""
    if os.path.isfile(os.path.join(name, EXERCISE_FILE)):
        return os.path.abspath(name)
    candidates = folders(root)
    for folder in candidates:
        base = os.path.basename(folder)
        number, _, short = base.partition("-")
        # the number as digits, never int(): "²" is a digit int() refuses, 5,000 digits are over its limit
        if name in (base, short) or (name.isascii() and name.isdigit() and number.isascii() and number.isdigit()
                                     and name.lstrip("0") == number.lstrip("0")):
            return folder
    known = ", ".join(os.path.basename(f) for f in candidates) or f"none in {root or ROOT}"
    raise LabError(f"no exercise named {name!r} (exercises: {known}; see: lab exercise list)")


# reading --------------------------------------------------------------------------------------

def load(folder, deep=False):
    """Read and validate ``folder/exercise.yml``. With ``deep``, the scenario and the reference
    fix are validated too (start validates the scenario anyway, by bringing it up)."""
    folder = os.path.abspath(folder)
    path = os.path.join(folder, EXERCISE_FILE)
    doc = Field(yamlfiles.load_single(path), path)
    doc.mapping(allowed=EXERCISE_FIELDS, required=("title", "summary", "scenario", "checks", "hints"))
    if "break" not in doc.value:
        raise doc.error("no break: field", "list the actions that break the lab after up (break: [] when the "
                        "scenario itself is the half-built cluster)")
    task = os.path.join(folder, TASK_FILE)
    if not os.path.isfile(task):
        raise InputError(task, "", "file not found", f"every exercise has a {TASK_FILE} for the student")
    scenario_path = _file(doc.child("scenario"), folder)
    breaks = actions(doc.child("break"), folder)  # [] for a half-built cluster the student completes
    checks = parse_checks(doc.child("checks"))
    hints = tuple(h.str() for h in doc.child("hints").list())
    if not hints:
        raise doc.child("hints").error("no hints", "give at least one hint")
    exercise = Exercise(os.path.basename(folder), folder, doc.child("title").str(), doc.child("summary").str(),
                        scenario_path, breaks, checks, hints, task)
    if deep:
        scenario.load(scenario_path)
        if os.path.exists(exercise.solution):
            load_solution(exercise)
    return exercise


def load_solution(exercise):
    path = exercise.solution
    if not os.path.isfile(path):
        raise LabError(f"exercise {exercise.name} has no reference fix ({path} is missing)")
    doc = Field(yamlfiles.load_single(path), path)
    doc.mapping(allowed={"description", "actions"}, required=("description", "actions"))
    fix = actions(doc.child("actions"), os.path.dirname(path))
    if not fix:
        raise doc.child("actions").error("no actions", "list the steps of the fix")
    return Solution(doc.child("description").str(), fix)


def task_text(exercise):
    with open(exercise.task, encoding="utf-8") as f:
        return f.read()


def _file(f, base):
    text = f.str()
    if not text.isprintable():
        raise f.error(f"{text!r} is not a file path")
    path = os.path.normpath(os.path.join(base, text))
    if not os.path.isfile(path):
        raise f.error(f"{text!r}: file not found", "paths are relative to the file that names them")
    return path


# actions --------------------------------------------------------------------------------------

def actions(f, base):
    """A list of actions (a break or a fix); files relative to ``base``."""
    return tuple(_action(item, base) for item in f.list())


def _action(item, base):
    item.mapping(allowed=set(ACTIONS))
    if len(item.value) != 1:
        raise item.error("an action has exactly one of: " + ", ".join(ACTIONS),
                         "e.g. {apply: break/service.yml}")
    kind = next(iter(item.value))
    f = item.child(kind)
    if kind == "apply":
        path = _file(f, base)
        for label, doc in yamlfiles.labelled_documents(path):  # bad manifests fail now, not mid-break
            manifests.parse_object(Field(doc, label))
        return Action("apply", item, path=path)
    if kind == "delete":
        f.mapping(allowed={"kind", "name", "namespace"}, required=("kind", "name"))
        resource = DELETE_KINDS.get(f.child("kind").str())
        if resource is None:
            raise f.child("kind").error(f"cannot delete a {f.value['kind']!r}", "use pod, service or deployment")
        name = f.child("name")
        target = _target(name) if resource == "pod" else name.str(DNS_LABEL, "name")
        namespace = f.child("namespace").str(DNS_LABEL, "namespace") if f.has("namespace") else "default"
        return Action("delete", item, target=target, resource=resource, namespace=namespace)
    if kind == "exec":
        f.mapping(allowed={"target", "command"}, required=("target", "command"))
        return Action("exec", item, target=_target(f.child("target")), command=_command(f.child("command")))
    if kind == "forward":
        f.mapping(allowed={"service", "namespace", "local", "port"}, required=("service", "local", "port"))
        namespace = f.child("namespace").str(DNS_LABEL, "namespace") if f.has("namespace") else "default"
        return Action("forward", item, target=f.child("service").str(DNS_LABEL, "service name"), namespace=namespace,
                      local=f.child("local").int(1024, 65535), port=f.child("port").int(1, 65535))
    f.mapping(allowed={"target", "file", "text"}, required=("target", "file", "text"))
    text = f.child("text").value
    if not isinstance(text, str):
        raise f.child("text").error("expected the file's text, a string")
    return Action("write", item, target=_target(f.child("target")), file=f.child("file").choice(ETC_FILES),
                  text=text)


def _target(f):
    return f.str(TARGET, "target (a node, host or pod name, or pod:KEY=VALUE)", max_len=253)


def _command(f):
    words = f.list()
    if not words:
        raise f.error("the command is empty", "e.g. [sysctl, -w, net.ipv4.ip_forward=0]")
    out = []
    for w in words:
        if isinstance(w.value, (int, float)) and not isinstance(w.value, bool):
            out.append(str(w.value))  # [curl, -m, 2] reads naturally
        else:
            out.append(w.str())
    return tuple(out)


# checks ---------------------------------------------------------------------------------------

class _One(Field):
    """One check item presented as a list of one, so checkspec.parse validates it with its own path."""

    def __init__(self, item):
        super().__init__([item.value], item.file, item.path)
        self.item = item

    def list(self):
        return [self.item]


def parse_checks(f):
    out = []
    names = set()
    for i, item in enumerate(f.list()):
        item.mapping()
        if not item.has("name"):
            raise item.error("a check needs a name", "the student reads it: name: web answers on node1's NodePort")
        name = item.child("name").str(max_len=120)
        if name in names:
            raise item.child("name").error(f"two checks are named {name!r}", "give each check its own name")
        names.add(name)
        if "run" in item.value:
            out.append(_run_check(i, name, item))
        elif "service" in item.value:
            out.append(_service_check(i, name, item))
        elif "loopback" in item.value:
            out.append(_loopback_check(i, name, item))
        else:
            spec = checkspec.parse(_One(item))[0]
            out.append(ExerciseCheck(i, name, "probe", item, spec=spec, source=spec.source))
    if not out:
        raise f.error("no checks", "an exercise needs checks that pass once it is fixed")
    return tuple(out)


def _run_check(i, name, item):
    item.mapping(allowed={"name", "from", "run", "expect", "timeout"}, required=("from", "run"))
    timeout = _timeout(item, 5.0)
    return ExerciseCheck(i, name, "run", item, source=_target(item.child("from")),
                         command=_command(item.child("run")),
                         expect=item.child("expect").str() if item.has("expect") else None, timeout=timeout)


def _service_check(i, name, item):
    item.mapping(allowed={"name", "service", "namespace"} | set(SERVICE_FIELDS), required=("service",))
    given = [k for k in SERVICE_FIELDS if k in item.value]
    if len(given) != 1:
        raise item.error("a service check has exactly one of: " + ", ".join(SERVICE_FIELDS),
                         "e.g. {service: web, endpoints: 2}")
    field = given[0]
    f = item.child(field)
    if field == "endpoints":
        value = "answering" if f.value == "answering" else f.int(0, 1000)
    elif field == "externalIP" and f.value in ("pending", "assigned"):
        value = f.value
    elif field == "type":
        value = f.choice(SERVICE_TYPES)
    elif field == "clusterIP" and f.value == "None":
        value = "None"  # headless
    else:
        value = str(f.ip())
    namespace = item.child("namespace").str(DNS_LABEL, "namespace") if item.has("namespace") else "default"
    return ExerciseCheck(i, name, "service", item, service=item.child("service").str(DNS_SUBDOMAIN, "service name"),
                         namespace=namespace, field=field, value=value)


def _loopback_check(i, name, item):
    item.mapping(allowed={"name", "loopback", "expect", "timeout"}, required=("loopback", "expect"))
    return ExerciseCheck(i, name, "loopback", item, port=item.child("loopback").int(1024, 65535),
                         expect=item.child("expect").str(), timeout=_timeout(item, 2.0))


def _timeout(item, default):
    if not item.has("timeout"):
        return default
    value = item.child("timeout").value
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.1 <= value <= 60:
        raise item.child("timeout").error(f"{value!r} is not a timeout in seconds", "use 0.1 to 60")
    return float(value)
