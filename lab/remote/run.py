"""One run of a scenario's checks against a cluster: apply its manifests (labelled with the
run), wait for them, run every check through the API, delete what the run made. Leftovers of
an interrupted run (same scenario) go first; ``cleanup`` removes every run's leftovers."""

import dataclasses
import sys
import time

from lab.errors import InternalError, LabError
from lab.remote import client, kinds, kubeapi, plan, probes, promises, routes
from lab.verify import report, split, urls

# what a run may create, in the order it deletes (dependents before what holds them)
DELETE_ORDER = ("Pod", "DaemonSet", "StatefulSet", "ReplicaSet", "Deployment", "EndpointSlice", "Endpoints",
                "Service", "ConfigMap", "Namespace")
EXEC_MARGIN = 15.0  # seconds an exec may take beyond the check's own timeout


@dataclasses.dataclass
class Options:
    kubeconfig: str
    context: str = None
    prefix: str = ""
    keep: bool = False
    node_map: str = None
    client_routes_ok: bool = False
    timeout: float = 180.0  # for the scenario's pods and endpoints
    out: object = None  # where progress goes (stderr)


class Run:
    def __init__(self, spec, options):
        self.spec, self.o = spec, options
        self.out = options.out or sys.stderr
        self.model = plan.model(spec)  # a scenario the lab refuses is refused before the cluster is touched
        self.run = plan.run_id(spec.name)
        self.labels = plan.run_labels(spec, self.run)
        self.created = []  # (kind, namespace, name)
        self.probe_pods = {}  # topology node -> (namespace, name)
        self.cluster = kubeapi.Cluster(options.kubeconfig, options.context)

    def say(self, text):
        print(text, file=self.out, flush=True)

    # the run ------------------------------------------------------------------------------
    def verify(self):
        try:
            self.start()
            return [self.check(c) for c in self.spec.checks]
        finally:
            self.finish()

    def start(self, checks=None, probe_nodes=()):
        """Apply the scenario and wait for it (with probe pods on the nodes ``checks`` start from,
        and on the topology nodes ``probe_nodes``)."""
        nodes = plan.cluster_nodes(self.cluster.list("Node"))
        self.nodes = plan.map_nodes([n.name for n in self.spec.topology.nodes], nodes,
                                    plan.parse_node_map(self.o.node_map))
        self.all_nodes = nodes
        self._check_names(self.spec.checks if checks is None else checks)
        gone = remove(self.cluster, f"{plan.SCENARIO_LABEL}={self.labels[plan.SCENARIO_LABEL]}")
        if gone:
            self.say(f"Removed {gone} objects an earlier run of {self.spec.name} left on the cluster")
        self.say(f"Applying {len(self.spec.objects)} objects of {self.spec.name} to {self.cluster.server} "
                 f"(label {plan.RUN_LABEL}={self.run})")
        self._apply(self.spec.checks if checks is None else checks, probe_nodes)
        self._wait()
        self._read()

    def finish(self):
        self._finish()

    def _finish(self):
        try:
            if self.o.keep:
                self.say(f"Kept what the run made ({plan.RUN_LABEL}={self.run}); remove it with: "
                         f"lab verify --cleanup --kubeconfig {self.o.kubeconfig}")
            elif self.created:
                delete_all(self.cluster, self.created)
        finally:
            self.cluster.close()

    def _check_names(self, checks):
        """Every check's placeholders and sources are names the scenario knows (bad input fails
        before anything is created, as on a lab)."""
        known = {k: "x" for k in self.model.known}
        for c in checks:
            for text, field in ((c.url or c.dns, "url" if c.url else "dns"), (c.expect, "expect")):
                if text:
                    report.expand(text, known, c.where.child(field))
            plan.source(c.source, self.spec, self.model, [], self.nodes, self.o.prefix)

    def _create(self, obj):
        meta = obj["metadata"]
        try:
            self.cluster.create(obj)
        except kubeapi.ApiFailure as exc:
            where = f"{obj['kind']} {meta.get('namespace') + '/' if meta.get('namespace') else ''}{meta['name']}"
            if exc.status == 409:
                raise LabError(f"{where} is already on the cluster, and this run did not make it: delete it, or "
                               "run the scenario in other namespaces (--namespace-prefix)") from None
            raise LabError(f"the cluster refused {where}: {exc}") from None
        self.created.append((obj["kind"], meta.get("namespace"), meta["name"]))

    def _apply(self, checks, probe_nodes=()):
        objects = plan.manifests(self.spec, self.labels, self.o.prefix)
        written = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
        for ns in plan.namespaces(objects):
            if ns not in written and self.cluster.get("Namespace", name=ns) is None:
                self._create(plan.namespace_object(ns, self.labels))
        for obj in objects:
            if obj["kind"] == "Namespace" and self.cluster.get("Namespace", name=obj["metadata"]["name"]):
                continue  # a namespace that is there already is used, not taken over
            self._create(obj)
        wanted = {plan.node_of(c.source, self.spec) for c in checks} | set(probe_nodes)
        for node in sorted(n for n in wanted if n in self.nodes):
            self._probe_pod(node)

    def _probe_pod(self, node):
        home = plan.mapped_namespace("default", self.o.prefix)
        pod = plan.probe_pod(self.nodes[node], home, self.spec_probe_image(), self.labels, self.run)
        self._create(pod)
        self.probe_pods[node] = (home, pod["metadata"]["name"])
        return pod

    def spec_probe_image(self):
        return getattr(self.spec, "probe_image", None) or plan.DEFAULT_PROBE_IMAGE

    def _wait(self):
        """Until the scenario's pods are Ready and its services have endpoints (as many as the
        lab would give them), with a progress line."""
        wanted_pods = self.model.ready_pods()
        wanted_services = [(plan.mapped_namespace(ns, self.o.prefix), name)
                           for ns, name in self.model.services_with_endpoints()]
        probe_names = {n for _, n in self.probe_pods.values()}
        deadline = time.monotonic() + self.o.timeout
        tty = getattr(self.out, "isatty", lambda: False)()
        last = None
        while True:
            pods = self.cluster.list("Pod", labels=f"{plan.RUN_LABEL}={self.run}")
            ready = [p for p in pods if plan.pod_ready(p)]
            pods_ready = sum(p["metadata"]["name"] not in probe_names for p in ready)
            probes_ready = sum(p["metadata"]["name"] in probe_names for p in ready)
            with_endpoints = sum(bool(plan.ready_addresses(self.cluster.get("Endpoints", ns, name)))
                                 for ns, name in wanted_services)
            left = deadline - time.monotonic()
            line = (f"Waiting for the cluster: {pods_ready}/{wanted_pods} pods Ready, {with_endpoints}/"
                    f"{len(wanted_services)} services with endpoints"
                    + (f", {probes_ready}/{len(probe_names)} probe pods" if probe_names else ""))
            done = pods_ready >= wanted_pods and with_endpoints == len(wanted_services) \
                and probes_ready == len(probe_names)
            if tty:
                print(f"\r{line} ({max(left, 0):.0f} s left)\033[K", end="" if not done else "\n", file=self.out,
                      flush=True)
            elif line != last:
                self.say(line)
            last = line
            if done:
                return
            if left <= 0:
                if tty:
                    print(file=self.out)
                raise InternalError(f"the cluster was not ready after {self.o.timeout:g} s: {line[25:]} "
                                    f"(see: kubectl get pods -A -l {plan.RUN_LABEL}={self.run})")
            time.sleep(0.5 if self.o.timeout - left < 10 else 2.0)

    # checks -------------------------------------------------------------------------------
    def _read(self):
        """What the checks need of the cluster's objects, read once the scenario is ready."""
        pods = [p for p in self.cluster.list("Pod", labels=f"{plan.RUN_LABEL}={self.run}")
                if p["metadata"]["name"] not in {n for _, n in self.probe_pods.values()} and plan.pod_ready(p)]
        self.pods = pods
        spaces = sorted({plan.mapped_namespace(ns, self.o.prefix) for ns in plan._scenario_namespaces(self.spec)})
        self.services = [s for ns in spaces for s in self.cluster.list("Service", ns)]
        self.endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e
                          for ns in spaces for e in self.cluster.list("Endpoints", ns)}
        dns = self.cluster.get("Service", "kube-system", "kube-dns")
        pod_ips = {}
        by_key = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in pods}
        for p in self.model.pods:
            found = plan.find_pod(p.name, self.model, pods, self.nodes, self.o.prefix)
            if found:
                pod_ips[p.name] = by_key[found]["status"].get("podIP")
        self.values, self.unavailable = plan.values(self.spec, self.nodes, self.services, pod_ips,
                                                    (dns or {}).get("spec", {}).get("clusterIP"), self.o.prefix)
        self.probe_objects = {node: self.cluster.get("Pod", ns, name) for node, (ns, name) in self.probe_pods.items()}

    def _fill(self, c, text, field):
        return plan.fill(text, c.where.child(field), self.values, self.unavailable, self.model.known)

    def check(self, c):
        """The result of one check (lab.spec.checks.Check) on the cluster."""
        started = time.monotonic()
        raw = c.url or plan.rename_dns(c.dns, self.o.prefix, plan._scenario_namespaces(self.spec))
        target, why = self._fill(c, raw, "url" if c.url else "dns")
        shown = (target or raw) if c.url else f"dns {target or raw}"
        wanted, why_expect = self._fill(c, c.expect, "expect") if c.expect else (None, None)
        expected = "expected split" if c.distribution else (wanted or c.expect)
        why = why or why_expect
        if why:
            if why.startswith("the cluster has no value"):
                return report.CheckResult(c, shown, expected, why, False, 0.0)
            return report.skipped(c, shown, expected, why)
        src = plan.source(c.source, self.spec, self.model, self.pods, self.nodes, self.o.prefix)
        if src.kind == "skip":
            return report.skipped(c, shown, expected, src.reason)
        pinned = plan.pinned_address(self.spec, urls.parse(target).host) if c.url else None
        if pinned:
            return report.skipped(c, shown, expected, pinned)
        runner, via, reason = self._runner(src, bool(c.dns), target)
        reason = reason or plan.template_hash(wanted, self.model, self.pods)
        if reason:
            return report.skipped(c, shown, expected, reason)
        if c.dns:
            code, out, err = runner(probes.nslookup_argv(target), c.timeout + EXEC_MARGIN)
            missing = probes.missing_tool(code, err, "nslookup")
            if missing:
                return report.CheckResult(c, shown, wanted, missing, False, time.monotonic() - started, {"via": via})
            got, passed = report.dns_verdict(wanted, probes.addresses(out) if code == 0 else [])
            return report.CheckResult(c, shown, wanted, got, passed, time.monotonic() - started, {"via": via})
        parsed = urls.parse(target)
        if c.distribution:
            return self._distribution(c, src, runner, via, parsed, target, started)
        outcome = runner.http(parsed, c.timeout) if hasattr(runner, "http") else None
        if outcome is None:
            code, out, err = runner(probes.curl_argv(target, c.timeout), c.timeout + EXEC_MARGIN)
            missing = probes.missing_tool(code, err, "curl")
            if missing:
                return report.CheckResult(c, shown, wanted, missing, False, time.monotonic() - started, {"via": via})
            outcome = probes.outcome(code, out, err) if code is not None else \
                probes.ProbeOutcome("timeout", error="exec did not finish")
        got, passed = report.url_verdict(wanted, outcome.kind, outcome.body, outcome.describe())
        return report.CheckResult(c, shown, wanted, got, passed, time.monotonic() - started, {"via": via})

    # an exercise's checks -------------------------------------------------------------------
    def verify_exercise(self, checks):
        """Results of an exercise's checks (lab.classroom.exercise.catalog.ExerciseCheck: probe,
        run, service or loopback) on the cluster."""
        try:
            nodes = {plan.node_of(c.source, self.spec) for c in checks
                     if c.kind == "run" and not kinds.node_tool(c.command)} - {None}
            if any(c.kind == "service" and c.value == "answering" for c in checks):
                nodes |= {n.name for n in self.spec.topology.nodes}  # the endpoints' own nodes
            self.start([c.spec for c in checks if c.kind == "probe"], nodes)
            return [self.exercise_check(c) for c in checks]
        finally:
            self.finish()

    def exercise_check(self, c):
        if c.kind == "probe":
            r = self.check(c.spec)
            return dataclasses.replace(r, check=kinds.Titled(c.index, c.name, c.source))
        titled = kinds.Titled(c.index, c.name, c.source or ("loopback" if c.kind == "loopback" else "cluster"))
        if c.kind == "loopback":
            return report.skipped(titled, f"http://127.0.0.1:{c.port}/", c.expect,
                                  kinds.LOOPBACK_REASON.format(port=c.port))
        if c.kind == "service":
            return self._service_check(c, titled)
        return self._run_check(c, titled)

    def _service_check(self, c, titled):
        started = time.monotonic()
        ns = plan.mapped_namespace(c.namespace, self.o.prefix)
        svc, eps = self.cluster.get("Service", ns, c.service), self.cluster.get("Endpoints", ns, c.service)
        shown = f"service {c.namespace}/{c.service} {c.field}"
        if c.field == "endpoints" and c.value == "answering" and svc is not None:
            outcomes = []
            for ip, port, node_name in kinds.ready_endpoints(svc, eps):
                node = next((t for t, n in self.nodes.items() if n.name == node_name), None)
                if node is None:
                    return report.skipped(titled, shown, "every endpoint answers",
                                          f"endpoint {ip} is on node {node_name}, which no topology node maps to")
                url = f"http://{ip}:{port}/"
                runner, _, reason = self._runner(plan.Source("node", node=node), False, url)
                if reason:
                    return report.skipped(titled, shown, "every endpoint answers", reason)
                code, out, err = runner(probes.curl_argv(url, 1.0), 1.0 + EXEC_MARGIN)
                kind = probes.outcome(code, out, err).kind if code is not None else "timeout"
                outcomes.append((f"{ip}:{port}", kind))
            passed, expected, got = kinds.answering_verdict(outcomes)
        else:
            passed, expected, got = kinds.service_verdict(c.field, c.value, svc, eps)
        return report.CheckResult(titled, shown, expected, got, passed, time.monotonic() - started)

    def _run_check(self, c, titled):
        started = time.monotonic()
        shown = " ".join(str(w) for w in c.command)
        if c.source == "client":
            return report.skipped(titled, shown, c.expect, kinds.CLIENT_RUN_REASON)
        argv = []
        for word in c.command:
            filled, why = self._fill(c, str(word), "run")
            if why:
                return report.skipped(titled, shown, c.expect, why)
            argv.append(filled)
        wanted, why = self._fill(c, c.expect, "expect") if c.expect else (None, None)
        why = why or plan.template_hash(wanted, self.model, self.pods)
        if why:
            return report.skipped(titled, shown, c.expect, why)
        src = plan.source(c.source, self.spec, self.model, self.pods, self.nodes, self.o.prefix)
        if src.kind == "skip":
            return report.skipped(titled, shown, c.expect, src.reason)
        tool = kinds.node_tool(argv) if src.kind == "node" else None
        if tool:
            return report.skipped(titled, shown, c.expect, kinds.NODE_TOOL_REASON.format(tool=tool))
        runner, via, reason = self._runner(src, False, "")
        if reason:
            return report.skipped(titled, shown, c.expect, reason)
        code, out, err = runner(argv, c.timeout + EXEC_MARGIN)
        passed, expected, got = report.run_verdict(code, out, err, wanted, argv)
        return report.CheckResult(titled, " ".join(argv), expected, got, passed, time.monotonic() - started,
                                  {"via": via})

    # what the pytest fixture asks ----------------------------------------------------------
    def _source_runner(self, source_name, target, dns=False):
        src = plan.source(source_name, self.spec, self.model, self.pods, self.nodes, self.o.prefix)
        if src.kind == "skip":
            raise Skipped(src.reason)
        runner, _, reason = self._runner(src, dns, target)
        if reason:
            raise Skipped(reason)
        return src, runner

    def probe(self, source_name, url, timeout=3.0):
        """The ProbeOutcome of one request from ``source_name``; Skipped when it cannot be sent."""
        src, runner = self._source_runner(source_name, url)
        parsed = urls.parse(url)
        if hasattr(runner, "http"):
            return runner.http(parsed, timeout)
        code, out, err = runner(probes.curl_argv(url, timeout), timeout + EXEC_MARGIN)
        missing = probes.missing_tool(code, err, "curl")
        if missing:
            raise LabError(f"{source_name}: {missing}")
        return probes.outcome(code, out, err) if code is not None else \
            probes.ProbeOutcome("timeout", error="exec did not finish")

    def resolve(self, source_name, name, timeout=3.0):
        _, runner = self._source_runner(source_name, name, dns=True)
        code, out, err = runner(probes.nslookup_argv(name), timeout + EXEC_MARGIN)
        missing = probes.missing_tool(code, err, "nslookup")
        if missing:
            raise LabError(f"{source_name}: {missing}")
        return probes.addresses(out) if code == 0 else []

    def fill(self, text):
        """``text`` with its placeholders ({node1}, {svc:NAME}, ...) as the cluster's objects give them."""
        for name in report.names_in(text):
            if name not in self.values:
                raise Skipped(self.unavailable.get(name) or f"the cluster has no value for {{{name}}}")
        return report.PLACEHOLDER.sub(lambda m: self.values[m.group(1)], text)

    def _distribution(self, c, src, runner, via, parsed, target, started):
        if hasattr(runner, "http"):
            outcomes = [runner.http(parsed, c.timeout) for _ in range(c.distribution)]
        else:
            budget = min(c.distribution * c.timeout, 600) + EXEC_MARGIN
            code, out, err = runner(probes.curl_argv(probes.many_url(target, c.distribution), c.timeout, verbose=False),
                                    budget)
            missing = probes.missing_tool(code, err, "curl")
            if missing:
                return report.CheckResult(c, target, "expected split", missing, False, time.monotonic() - started)
            outcomes = probes.outcomes(out, err, c.distribution)
        source_node = None
        if src.kind == "node":
            source_node = self.nodes[src.node].name
        elif src.kind == "pod":
            pod = next(p for p in self.pods if (p["metadata"]["namespace"], p["metadata"]["name"]) == src.pod)
            source_node = pod["spec"].get("nodeName")
        result = split.Distribution(c.source, target, c.distribution, seconds=time.monotonic() - started,
                                    expectation=promises.expectation(parsed.host, parsed.port, self.services,
                                                                     self.endpoints, self.all_nodes, source_node))
        result.count(outcomes)
        split.judge(result)
        return report.CheckResult(c, target, "expected split", result.verdict, result.passed, result.seconds,
                                  {"distribution": result.as_dict(), "via": via})

    def _runner(self, src, dns, target):
        """(run(argv, timeout) -> (code, out, err), how, why not) for the check's source."""
        if src.kind == "client":
            if dns:
                return None, None, ("a dns check from the client would ask this machine's own resolver, "
                                    "which is not the cluster's")
            host = urls.parse(target).host
            if not self.o.client_routes_ok:
                ok, words = routes.routed_to_cluster(host)
                if not ok:
                    return None, None, f"{words}: nothing sent (--client-routes-ok if it does lead to the cluster)"
            return _ClientRunner(), "from this machine", None
        if src.kind == "node":
            if src.node not in self.probe_pods:  # a check the run was not started for (the pytest fixture's)
                self._probe_pod(src.node)
                self._wait()
                self._read()
            ns, name = self.probe_pods[src.node]
            obj = self.probe_objects.get(src.node) or {}
            if not plan.host_network_honoured(obj):
                status = obj.get("status") or {}
                return None, None, (f"the cluster ran the hostNetwork probe pod {name} in a network namespace of "
                                    f"its own (pod IP {status.get('podIP')}, node IP {status.get('hostIP')}): a "
                                    f"node's own traffic cannot be sent through its API")
            return self._exec(ns, name), f"exec in {ns}/{name} (hostNetwork on {self.nodes[src.node].name})", None
        ns, name = src.pod
        return self._exec(ns, name), f"exec in {ns}/{name}", None

    def _exec(self, namespace, name):
        def run(argv, timeout):
            return self.cluster.exec(namespace, name, argv, timeout)
        return run


class Skipped(Exception):
    """A probe that cannot be made on this cluster from this machine: why."""


class _ClientRunner:
    def http(self, parsed, timeout):
        return client.http_get(parsed.host, parsed.port, parsed.path, timeout)

    def __call__(self, argv, timeout):  # pragma: no cover - client checks never exec
        raise AssertionError("a client check runs no command")


# removing what runs made ------------------------------------------------------------------

def delete_all(cluster, created):
    """Delete what a run created, dependents first; pods at once (grace 0)."""
    order = {k: i for i, k in enumerate(DELETE_ORDER)}
    for kind, ns, name in sorted(created, key=lambda x: order.get(x[0], -1)):
        try:
            cluster.delete(kind, ns, name, grace=0 if kind == "Pod" else None)
        except (kubeapi.ApiFailure, LabError):
            pass  # the rest still goes; the next run or --cleanup finds what stayed


def _delete_collections(cluster, found, selector):
    """Delete the namespaced objects of ``found`` a collection at a time (deletecollection with
    the run's label selector, pods at once), dependents first; what is left to delete one by one
    (a resource or a namespace whose collection the server would not delete)."""
    order = {k: i for i, k in enumerate(DELETE_ORDER)}
    groups = {}
    for kind, ns, name in found:
        groups.setdefault((kind, ns), []).append(name)
    left = []
    for (kind, ns), names in sorted(groups.items(), key=lambda g: (order.get(g[0][0], -1), g[0][1] or "")):
        if ns is None or not kubeapi.RESOURCES[kind][2]:
            left += [(kind, ns, n) for n in names]
            continue
        try:
            cluster.delete_collection(kind, ns, selector, grace=0 if kind == "Pod" else None)
        except (kubeapi.ApiFailure, LabError):
            left += [(kind, ns, n) for n in names]
    return left


def remove(cluster, selector, wait=60.0):
    """Delete every object a run labelled (``selector`` picks the runs), and wait until the
    names are free again; returns how many there were."""
    found = []
    for kind in DELETE_ORDER:
        try:
            items = cluster.list(kind, labels=selector)
        except kubeapi.ApiFailure as exc:
            if exc.status in (404, 405):
                continue
            raise LabError(f"cannot list the cluster's {kind} objects: {exc}") from None
        found += [(kind, i["metadata"].get("namespace"), i["metadata"]["name"]) for i in items]
    delete_all(cluster, _delete_collections(cluster, found, selector))
    deadline = time.monotonic() + wait
    left = [f for f in found if f[0] != "Pod"]  # the names a new run takes again
    while left and time.monotonic() < deadline:
        left = [f for f in left if cluster.get(*f) is not None]
        if left:
            time.sleep(0.5)
    return len(found)


def cleanup(options, scenario_name=None):
    """Remove what runs left on the cluster (of one scenario, or every run): how many objects."""
    cluster = kubeapi.Cluster(options.kubeconfig, options.context)
    try:
        selector = f"{plan.SCENARIO_LABEL}={scenario_name}" if scenario_name else plan.RUN_LABEL
        return remove(cluster, selector)
    finally:
        cluster.close()
