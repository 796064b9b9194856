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
"""

import os
import subprocess

import pytest

from lab.api import client
from lab.cluster import lookup
from lab.errors import LabError
from lab.kernel import commands
from lab.kernel.record import find_running
from lab.live import down, up
from lab.verify import dist, probe, urls


class ProbeFailed(AssertionError):
    pass


class LabHandle:
    """A running lab, seen from its namespaces."""

    def __init__(self, name, scenario_path):
        self.name, self.scenario = name, scenario_path
        self._api_clients = []

    @property
    def cluster(self):
        """The lab's cluster state, as it is now."""
        return find_running(self.name)[1]

    def _netns(self, source):
        return lookup.netns_of(self.cluster, source)

    def probe(self, source, url, timeout=3.0):
        """The outcome of one request (reached / refused / timeout / unreachable), never raising."""
        target = urls.parse(url)
        return probe.run(probe.http_get(self._netns(source), target.host, target.port, target.path, timeout))

    def curl(self, source, url, timeout=3.0):
        """The body of the answer to one request from ``source``; ProbeFailed if there is none."""
        outcome = self.probe(source, url, timeout)
        if not outcome.ok:
            raise ProbeFailed(f"{source} -> {url}: {outcome.describe()}")
        return outcome.body

    def resolve(self, source, name):
        """The A records ``source`` gets for ``name`` through its own resolver (empty if none)."""
        return probe.resolve(self.cluster, self._netns(source), name)

    def distribution(self, source, url, n=1000):
        """{pod name: answers} for ``n`` new connections."""
        cluster = self.cluster
        return dict(dist.measure(cluster, lookup.netns_of(cluster, source), source, url, n).counts)

    @property
    def kubeconfig(self):
        """The path of the lab's admin kubeconfig (``https://127.0.0.1:<port>``, the admin's client
        certificate): for kubectl, or any client library."""
        return _or_fail(lambda: client.kubeconfig_path(find_running(self.name)[0]))

    def api_client(self):
        """A ``kubernetes.client.ApiClient`` (the official Python client) for the lab's API,
        closed when the lab goes down."""
        api = _or_fail(client.api_client, self.kubeconfig)
        self._api_clients.append(api)
        return api

    def close(self):
        for api in self._api_clients:
            api.close()

    def exec(self, target, *cmd, check=True):
        """Run a command inside a node, host or pod (``ip netns exec``); the CompletedProcess."""
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


@pytest.fixture(scope="module")
def svclab(request):
    """A factory: ``svclab("scenarios/seed.yml")`` -> a LabHandle, up for the rest of the module
    (``api_server=False``: a lab without its API server, as ``lab up --no-api-server``)."""
    if os.geteuid() != 0:
        pytest.skip("svclab builds network namespaces: run the tests as root")
    labs = {}

    def factory(path, api_server=True):
        key = (_find(path, request), api_server)
        if key not in labs:
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
            down.down(handle.name)
