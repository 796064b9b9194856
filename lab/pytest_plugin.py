"""svclab's pytest plugin: the ``svclab`` fixture, for reachability tests in an engineer's suite.

Installing svclab registers it (entry point ``pytest11``)::

    def test_nodeport(svclab):
        lab = svclab("scenarios/seed.yml")
        assert lab.curl("client", "http://192.168.179.101:30090").startswith("You've hit")

``svclab(path)`` brings the scenario's lab up once per test module, under a unique lab name,
and takes it down after the module (``svclab(path, api_server=False)``: without its API server).
Needs root. ``lab.kubeconfig`` and ``lab.api_client()`` reach the lab's Kubernetes API::

    def test_two_pods(svclab):
        core = kubernetes.client.CoreV1Api(svclab("scenarios/seed.yml").api_client())
        assert len(core.list_namespaced_pod("default", label_selector="app=myapp").items) == 2

The same tests run against a real cluster with ``pytest --svclab-kubeconfig FILE`` (or
``SVCLAB_KUBECONFIG=FILE``; ``--svclab-context`` picks a context): ``svclab(path)`` then applies
the scenario there through the API (as ``lab verify --kubeconfig`` does) and deletes it after the
module; probes run by exec in pods and hostNetwork probe pods, a probe from ``client`` only where
the route leads to the cluster (else the test is skipped, with the reason). ``lab.fill(text)``
gives placeholders their values on either (``lab.fill("http://{node2}:{nodeport:web}")``).
"""

import os
import subprocess

import pytest

from lab.errors import LabError
from lab.verify import report, urls

KUBECONFIG_ENV = "SVCLAB_KUBECONFIG"


def pytest_addoption(parser):
    group = parser.getgroup("svclab")
    group.addoption("--svclab-kubeconfig", metavar="FILE", default=None,
                    help=f"run the svclab fixture's scenarios on this cluster, through its API (or ${KUBECONFIG_ENV})")
    group.addoption("--svclab-context", metavar="NAME", default=None, help="the kubeconfig's context")


class ProbeFailed(AssertionError):
    pass


class _Handle:
    """What a lab's handle and a cluster's have alike, over their own ``probe``."""

    def curl(self, source, url, timeout=3.0):
        """The body of the answer to one request from ``source``; ProbeFailed if there is none."""
        outcome = self.probe(source, url, timeout)
        if not outcome.ok:
            raise ProbeFailed(f"{source} -> {url}: {outcome.describe()}")
        return outcome.body


class LabHandle(_Handle):
    """A running lab, seen from its namespaces."""

    def __init__(self, name, scenario_path):
        self.name, self.scenario = name, scenario_path
        self._api_clients = []

    @property
    def cluster(self):
        """The lab's cluster state, as it is now."""
        from lab.kernel.record import find_running
        return find_running(self.name)[1]

    def _netns(self, source):
        from lab.cluster import lookup
        return lookup.netns_of(self.cluster, source)

    def fill(self, text):
        """``text`` with its placeholders ({node1}, {svc:NAME}, {nodeport:NAME}, ...) filled in."""
        from lab.spec.fields import Field
        return report.expand(text, report.placeholders(self.cluster), Field(text, "svclab fixture", "text"))

    def probe(self, source, url, timeout=3.0):
        """The outcome of one request (reached / refused / timeout / unreachable), never raising."""
        from lab.verify import probe
        target = urls.parse(url)
        netns_name = self._netns(source)
        address = probe.address(self.cluster, netns_name, target.host, timeout) or target.host
        return probe.run(probe.http_get(netns_name, address, target.port, target.path, timeout, http_host=target.host))

    def resolve(self, source, name):
        """The A records ``source`` gets for ``name`` through its own resolver (empty if none)."""
        from lab.verify import probe
        return probe.resolve(self.cluster, self._netns(source), name)

    def distribution(self, source, url, n=1000):
        """{pod name: answers} for ``n`` new connections."""
        from lab.cluster import lookup
        from lab.verify import dist
        cluster = self.cluster
        return dict(dist.measure(cluster, lookup.netns_of(cluster, source), source, url, n).counts)

    @property
    def kubeconfig(self):
        """The path of the lab's admin kubeconfig (``https://127.0.0.1:<port>``, the admin's client
        certificate): for kubectl, or any client library."""
        from lab.api import client
        from lab.kernel.record import find_running
        return _or_fail(lambda: client.kubeconfig_path(find_running(self.name)[0]))

    def api_client(self):
        """A ``kubernetes.client.ApiClient`` (the official Python client) for the lab's API,
        closed when the lab goes down."""
        from lab.api import client
        api = _or_fail(client.api_client, self.kubeconfig)
        self._api_clients.append(api)
        return api

    def close(self):
        for api in self._api_clients:
            api.close()

    def exec(self, target, *cmd, check=True):
        """Run a command inside a node, host or pod (``ip netns exec``); the CompletedProcess."""
        from lab.kernel import commands
        return subprocess.run(commands.user_argv(self._netns(target), cmd, self.name), capture_output=True,
                              text=True, check=check, timeout=60)


def _or_fail(call, *args):
    """``call(*args)``; when it raises a LabError, the test fails with its one line, no traceback."""
    try:
        return call(*args)
    except LabError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


def _find(path, request):
    if os.path.isabs(path):
        return path
    for base in (os.getcwd(), os.path.dirname(str(request.node.fspath)), str(request.config.rootpath)):
        candidate = os.path.join(base, path)
        if os.path.exists(candidate):
            return candidate
    raise LabError(f"scenario {path!r} not found (relative to the working directory, the test file or the rootdir)")


class ClusterHandle(_Handle):
    """A scenario applied to a real cluster, seen through its API (``--svclab-kubeconfig``)."""

    def __init__(self, run, kubeconfig, context):
        self.run, self.kubeconfig, self.context = run, kubeconfig, context
        self.name, self.scenario = run.spec.name, run.spec.source
        self._api_clients = []

    def _do(self, call, *args):
        from lab.remote.run import Skipped
        try:
            return call(*args)
        except Skipped as exc:
            pytest.skip(str(exc))
        except LabError as exc:
            pytest.fail(str(exc), pytrace=False)

    def fill(self, text):
        return self._do(self.run.fill, text)

    def probe(self, source, url, timeout=3.0):
        return self._do(self.run.probe, source, url, timeout)

    def resolve(self, source, name):
        return self._do(self.run.resolve, source, name)

    def distribution(self, source, url, n=1000):
        counts = {}
        for _ in range(n):
            outcome = self.probe(source, url)
            if outcome.ok and outcome.pod:
                counts[outcome.pod] = counts.get(outcome.pod, 0) + 1
        return counts

    def api_client(self):
        from kubernetes import config
        api = config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
        self._api_clients.append(api)
        return api

    def exec(self, target, *cmd, check=True):
        pytest.skip("exec in a lab's namespace: not on a cluster reached through its API")

    def close(self):
        for api in self._api_clients:
            api.close()
        self.run.finish()


def _kubeconfig(request):
    return (request.config.getoption("--svclab-kubeconfig", default=None) or os.environ.get(KUBECONFIG_ENV) or None,
            request.config.getoption("--svclab-context", default=None))


@pytest.fixture(scope="module")
def svclab(request):
    """A factory: ``svclab("scenarios/seed.yml")`` -> a LabHandle, up for the rest of the module
    (``api_server=False``: a lab without its API server, as ``lab up --no-api-server``); with
    ``--svclab-kubeconfig``, a ClusterHandle: the scenario applied to that cluster."""
    kubeconfig, context = _kubeconfig(request)
    if kubeconfig is None and os.geteuid() != 0:
        pytest.skip("svclab builds network namespaces: run the tests as root")
    labs = {}

    def factory(path, api_server=True):
        key = (_find(path, request), api_server)
        if key not in labs:
            if kubeconfig is not None:
                labs[key] = _or_fail(_on_cluster, key[0], kubeconfig, context)
            else:
                from lab.live import up
                name = f"pt{os.getpid() % 100000}{len(labs)}"
                with open(os.devnull, "w") as quiet:
                    up.up(key[0], name, out=quiet, api_server=api_server)
                labs[key] = LabHandle(name, key[0])
        return labs[key]

    yield factory
    for handle in labs.values():
        try:
            handle.close()
        finally:
            if isinstance(handle, LabHandle):
                from lab.live import down
                down.down(handle.name)


def _on_cluster(path, kubeconfig, context):
    from lab.remote import run as remote_run
    from lab.spec import scenario
    spec = scenario.load(path)
    with open(os.devnull, "w") as quiet:
        run = remote_run.Run(spec, remote_run.Options(kubeconfig, context, out=quiet))
        try:
            run.start(checks=())
        except BaseException:
            run.finish()
            raise
    return ClusterHandle(run, kubeconfig, context)
