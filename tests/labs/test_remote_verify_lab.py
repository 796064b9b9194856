"""``lab verify SCENARIO --kubeconfig FILE`` against a lab brought up from an empty scenario,
through its Kubernetes API only: run as the unprivileged user ``nobody`` (who cannot enter a
namespace, so nothing can be probed but through the API), the verdicts match ``lab verify
--fresh`` check by check, the skipped checks say why, the run leaves nothing behind, a kept or
interrupted run is cleaned up, a broken scenario fails the same checks, and the pytest fixture
runs a user's tests on the cluster with ``--svclab-kubeconfig``."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml
from factories import ROOT, TOPOLOGY, run_lab, unique_lab_name

from lab.live import down, up

SEED = os.path.join(ROOT, "scenarios", "seed.yml")
EXERCISES = os.path.join(ROOT, "exercises")
NODES = ("master", "node1", "node2")


@pytest.fixture(scope="module")
def cluster():
    """(lab name, a kubeconfig nobody may read) of a lab with no manifests of its own."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="svclab-rv-"))
    os.chmod(tmp, 0o755)
    empty = tmp / "empty.yml"
    empty.write_text(f"topology: {TOPOLOGY}\nkubeProxy: {{mode: iptables}}\nmanifests: []\n")
    name = unique_lab_name("rv")
    with open(os.devnull, "w") as quiet:
        up.up(str(empty), name, out=quiet)
    try:
        admin = run_lab("kubeconfig", "--lab", name).stdout.strip()
        config = tmp / "admin.conf"
        shutil.copy(admin, config)
        os.chmod(config, 0o644)
        yield name, str(config)
    finally:
        down.down(name)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def tmp_path(cluster):
    """A folder nobody may write in (pytest's own are root's alone)."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="svclab-rvt-"))
    os.chmod(folder, 0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_nobody(*args, check=False, timeout=240):
    """``python3 -m lab ARGS`` as nobody: no capability, so no namespace can be entered."""
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m",
                           "lab", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"})


def kubectl(config, *args):
    return subprocess.run(["kubectl", "--kubeconfig", config, *args], capture_output=True, text=True, timeout=60,
                          check=True).stdout


def left_on(config):
    return kubectl(config, "get", "pods,services,deployments", "-A", "-l", "svclab.io/run", "-o", "name").split()


def verify_both(tmp_path, scenario, config):
    """(the lab's results, the API's results) of the scenario's checks, as JSON."""
    lab = run_lab("verify", scenario, "--fresh", "--lab", unique_lab_name("rl"), "--json", check=False, timeout=180)
    api = as_nobody("verify", scenario, "--kubeconfig", config, "--json", "--junit", str(tmp_path / "junit.xml"))
    assert api.returncode in (0, 1), api.stderr
    return lab, json.loads(lab.stdout), api, json.loads(api.stdout)


def compare(lab_results, api_results):
    """The checks the API ran have the lab's verdicts; returns (ran, skipped) numbers."""
    assert len(lab_results) == len(api_results)
    ran = 0
    for i, (a, b) in enumerate(zip(lab_results, api_results)):
        assert a["check"] == b["check"]
        if b.get("skipped"):
            assert b["passed"] is None and b["got"] == f"skipped: {b['skipped']}"
            continue
        ran += 1
        assert a["passed"] == b["passed"], f"check {i + 1} {a['check']}: lab {a}, API {b}"
    return ran, len(api_results) - ran


def test_seed_through_the_api_as_on_the_lab(cluster, tmp_path):
    name, config = cluster
    lab, lab_results, api, api_results = verify_both(tmp_path, SEED, config)
    assert lab.returncode == 0 and api.returncode == 0, api.stdout + api.stderr
    ran, skipped = compare(lab_results, api_results)
    assert ran >= 1
    reasons = {i + 1: r.get("skipped") for i, r in enumerate(api_results)}
    for i in (1, 2, 3, 4, 8):  # from: client, to node and service addresses: nothing sent from the host
        assert "is its default route" in reasons[i] and "nothing sent" in reasons[i], reasons[i]
    assert "this machine's own resolver" in reasons[7]
    # from node1: through the hostNetwork probe pod, which the lab runs in node1's own namespace
    assert reasons[5] is None and api_results[4]["passed"] is True, api_results[4]
    assert api_results[4]["via"].startswith("exec in default/svclab-probe-") and "(hostNetwork on " in \
        api_results[4]["via"], api_results[4]["via"]
    assert reasons[6] is None and api_results[5]["via"].startswith("exec in default/pod-nodeport-")
    assert ran == 2 and skipped == 6
    junit = (tmp_path / "junit.xml").read_text()
    assert junit.count("<skipped ") == skipped and 'failures="0"' in junit
    assert "Waiting for the cluster: 2/2 pods Ready, 1/1 services with endpoints" in api.stderr
    assert left_on(config) == []


def test_the_table_lists_what_was_skipped(cluster):
    _, config = cluster
    r = as_nobody("verify", SEED, "--kubeconfig", config)
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip().endswith("2 passed, 0 failed, 6 skipped")
    assert sum(line.endswith("SKIP") for line in r.stdout.splitlines()) == 6


def test_a_broken_scenario_fails_the_same_checks(cluster, tmp_path):
    _, config = cluster
    folder = os.path.join(EXERCISES, "01-selector-no-endpoints")
    ex = yaml.safe_load(open(os.path.join(folder, "exercise.yml")))
    broken = yaml.safe_load(open(os.path.join(folder, "scenario.yml")))
    broken["topology"] = TOPOLOGY
    broken["manifests"] = [broken["manifests"][0], yaml.safe_load(open(os.path.join(folder, "break", "service.yml")))]
    broken["checks"] = [c for c in ex["checks"] if "service" not in c] + [  # and one from a pod, refused
        {"from": "pod:app=web", "url": "http://{svc:web}:80", "expect": "You've hit web-", "timeout": 1}]
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    lab, lab_results, api, api_results = verify_both(tmp_path, str(path), config)
    assert lab.returncode == 1 and api.returncode == 1
    ran, _ = compare(lab_results, api_results)
    assert ran >= 2 and api_results[-1]["passed"] is False and api_results[-1]["got"] == "refused"
    assert left_on(config) == []


# the reasons a check of a solved exercise may be skipped through the API, and nothing else
SKIP_REASONS = ("nothing sent",  # from: client: the route to the lab's addresses is the host's default
                "which a cluster has not",  # a command on the lab's client machine
                "a tool of the node itself",  # iptables-save, netstat, ...: the node's own kernel state
                "which only the lab has",  # loopback: the lab's host's own port
                "the run's labels on the template",  # a pod named by its template's hash as written
                "the scenario pins")  # an address the scenario pins for the lab, which a cluster chooses
KINDS = {"service": "Service", "svc": "Service", "deployment": "Deployment", "pod": "Pod"}
REMOTE_EXERCISE = """
import json, sys
from lab.classroom.exercise import catalog
from lab.remote import run as remote
from lab.spec import scenario
exercise = catalog.load(sys.argv[1])
r = remote.Run(scenario.load(sys.argv[2]), remote.Options(kubeconfig=sys.argv[3], out=sys.stderr))
print(json.dumps([x.as_dict() for x in r.verify_exercise(exercise.checks)]))
"""


def _docs(entry, base):
    if isinstance(entry, dict):
        return [entry]
    return [d for d in yaml.safe_load_all(open(os.path.join(base, entry))) if d]


def _key(doc):
    meta = doc.get("metadata") or {}
    return doc["kind"], meta.get("namespace") or "default", meta["name"]


def solved_scenario(exercise, fixed=True):
    """The exercise's scenario once solved: its manifests, with the break's and then the reference
    fix's applies and deletes of objects done to them (a fix of the kernel or a pod's files, the
    scenario as written has already). ``fixed=False``: broken, the break's alone."""
    from lab.classroom.exercise import catalog
    doc = yaml.safe_load(open(exercise.scenario))
    objects = {}
    for entry in doc.get("manifests") or []:
        for d in _docs(entry, os.path.dirname(exercise.scenario)):
            objects[_key(d)] = d
    for action in exercise.breaks + (catalog.load_solution(exercise).actions if fixed else ()):
        if action.kind == "apply":
            for d in _docs(action.path, "/"):
                objects[_key(d)] = d
        elif action.kind == "delete" and KINDS[action.resource] != "Pod":  # a pod's Deployment replaces it
            objects.pop((KINDS[action.resource], action.namespace, action.target))
    doc.update(topology=TOPOLOGY, manifests=list(objects.values()))
    doc.pop("checks", None)
    return doc


@pytest.mark.parametrize("name", sorted(os.listdir(EXERCISES)))
def test_solved_exercises_pass_the_same_way(cluster, tmp_path, name):
    """Every check of every exercise, solved: through the API with the lab's verdict, or skipped
    for one of the reasons above. The lab's side is the exercise's grading on a fresh lab of the
    same solved scenario (its url and dns checks are lab verify's)."""
    from lab.classroom.exercise import catalog
    _, config = cluster
    exercise = catalog.load(os.path.join(EXERCISES, name))
    grade, api_results = graded_both(exercise, solved_scenario(exercise), config, tmp_path)
    ran = 0
    for check, on_lab, result in zip(exercise.checks, grade.results, api_results):
        if check.kind != "loopback":  # the student's kubectl port-forward on the host, not part of the scenario
            assert on_lab.passed, f"{check.name}: the solved lab gives {on_lab}"
        if result.get("skipped"):
            assert any(r in result["skipped"] for r in SKIP_REASONS), result
            continue
        ran += 1
        assert result["passed"] == on_lab.passed, f"{check.name}: lab {on_lab}, API {result}"
        if check.source in NODES:
            assert "(hostNetwork on " in result["via"], result
    assert ran >= 1 or name == "07-local-policy-no-pod", api_results  # 07's checks are all the client's
    assert left_on(config) == []


def test_a_broken_exercise_fails_its_service_and_run_checks_the_same_way(cluster, tmp_path):
    from lab.classroom.exercise import catalog
    _, config = cluster
    exercise = catalog.load(os.path.join(EXERCISES, "12-scaled-to-zero"))  # web scaled to zero replicas
    grade, api_results = graded_both(exercise, solved_scenario(exercise, fixed=False), config, tmp_path)
    verdicts = {c.name: (c.kind, on_lab.passed, r["passed"]) for c, on_lab, r in
                zip(exercise.checks, grade.results, api_results) if not r.get("skipped")}
    assert verdicts == {"a node reaches web's ClusterIP": ("probe", False, False),
                        "web has three ready endpoints": ("service", False, False),
                        "web's name still resolves": ("run", True, True)}, verdicts
    assert left_on(config) == []


def graded_both(exercise, doc, config, tmp_path):
    """(the exercise's grade on a fresh lab of the scenario ``doc``, the API's results as JSON)."""
    from lab.classroom.exercise import runner
    path = tmp_path / "scenario.yml"
    path.write_text(yaml.safe_dump(doc))
    lab = unique_lab_name("rx")
    with open(os.devnull, "w") as quiet:
        up.up(str(path), lab, out=quiet)
    try:
        grade = runner.grade(lab, exercise)
    finally:
        down.down(lab)
    api = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c",
                          REMOTE_EXERCISE, exercise.folder, str(path), config], cwd=ROOT, capture_output=True,
                         text=True, timeout=240, env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"})
    assert api.returncode == 0, api.stderr
    api_results = json.loads(api.stdout)
    assert [r["check"] for r in api_results] == [c.name for c in exercise.checks]
    return grade, api_results


def test_kept_then_cleaned_up_and_an_interrupted_run_is_cleared_by_the_next(cluster):
    _, config = cluster
    r = as_nobody("verify", SEED, "--kubeconfig", config, "--keep")
    assert r.returncode == 0 and "Kept what the run made" in r.stderr, r.stderr
    kept = left_on(config)
    assert len(kept) == 5, kept  # the Deployment, the Service, two pods and node1's probe pod
    labels = kubectl(config, "get", "deployment", "pod-nodeport", "-o", "jsonpath={.metadata.labels}")
    assert '"svclab.io/scenario":"k8s"' in labels
    r = as_nobody("verify", SEED, "--kubeconfig", config, "--keep")  # the next run clears the last one's first
    assert r.returncode == 0 and "Removed " in r.stderr and "an earlier run of k8s left" in r.stderr, r.stderr
    r = as_nobody("verify", "--cleanup", "--kubeconfig", config)
    assert r.returncode == 0 and r.stdout.startswith("Removed "), r.stdout
    assert left_on(config) == []
    assert as_nobody("verify", "--cleanup", "--kubeconfig", config).stdout.startswith("Nothing")
    # what the run did not make is never touched
    kubectl(config, "create", "deployment", "mine", "--image=luksa/kubia")
    try:
        as_nobody("verify", "--cleanup", "--kubeconfig", config)
        assert "deployment.apps/mine" in kubectl(config, "get", "deployments", "-o", "name")
    finally:
        kubectl(config, "delete", "deployment", "mine")


def test_an_object_the_run_did_not_make_is_refused_not_replaced(cluster):
    _, config = cluster
    kubectl(config, "create", "service", "nodeport", "nodeport-svc", "--tcp=3000:8080")
    try:
        r = as_nobody("verify", SEED, "--kubeconfig", config)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().endswith("Service default/nodeport-svc is already on the cluster, and this run did "
                                         "not make it: delete it, or run the scenario in other namespaces "
                                         "(--namespace-prefix)")
        assert "Traceback" not in r.stderr and left_on(config) == []
    finally:
        kubectl(config, "delete", "service", "nodeport-svc")


def test_bad_input_is_one_line(cluster, tmp_path):
    _, config = cluster
    r = as_nobody("verify", SEED, "--kubeconfig", str(tmp_path / "missing.conf"))
    assert "no such file" in r.stderr
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "missing.conf" in r.stderr, r.stderr
    r = as_nobody("verify", SEED, "--kubeconfig", config, "--node-map", "master=nope")
    assert r.returncode == 2 and "--node-map names nope, which the cluster has not" in r.stderr, r.stderr
    r = run_lab("verify", SEED, "--keep", check=False)
    assert r.returncode == 2 and "--keep goes with --kubeconfig FILE" in r.stderr


USER_TESTS = '''
def test_dns_in_a_pod(svclab):
    lab = svclab({seed!r})
    assert lab.resolve("pod-nodeport-6cc49c7999-gdqbg", "nodeport-svc") == [lab.fill("{{svc:nodeport-svc}}")]


def test_cluster_ip_from_a_pod(svclab):
    lab = svclab({seed!r})
    assert lab.curl("pod:app=myapp", lab.fill("http://{{svc:nodeport-svc}}:3000")).startswith("You've hit pod-nodeport-")


def test_nodeport_from_outside(svclab):
    lab = svclab({seed!r})
    assert lab.curl("client", lab.fill("http://{{node2}}:30090")).startswith("You've hit")
'''


def test_the_fixture_runs_a_users_tests_on_the_cluster(cluster, tmp_path):
    _, config = cluster
    tests = tmp_path / "test_user.py"
    tests.write_text(USER_TESTS.format(seed=SEED))
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m",
                        "pytest", "-q", "-p", "no:cacheprovider", "-p", "lab.pytest_plugin", "-rs", str(tests),
                        "--rootdir", str(tmp_path)],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=240,
                       env={"PATH": os.environ["PATH"], "HOME": "/nonexistent", "SVCLAB_KUBECONFIG": config,
                            "PYTHONPATH": ROOT})
    assert "2 passed, 1 skipped" in r.stdout, r.stdout + r.stderr
    assert "is its default route" in r.stdout  # the client's test: skipped, nothing sent
    assert left_on(config) == []
