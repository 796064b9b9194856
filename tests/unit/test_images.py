"""What an image stands for, without a lab: which images svclab serves, what an unserved pod's
containers run, the resolver's reading of resolv.conf, busybox's old nslookup output, the
toolsets, and the shell a node gets (its rc file, its environment, the manifests of its home)."""

import os

import pytest

from factories import ROOT, SEED_SCENARIO, scenario_state
from lab.classroom import shell
from lab.cluster import workloads
from lab.images import nslookup, resolvconf, toolsets
from lab.spec import manifests
from lab.spec.fields import Field


@pytest.mark.parametrize("image, app", [
    ("luksa/kubia", "kubia"), ("docker.io/luksa/kubia:latest", "kubia"), ("svclab/echo", "echo"),
    ("registry.k8s.io/coredns/coredns:v1.8.6", "coredns"), ("busybox", None), ("busybox:1.28", None),
    ("nginx", None), ("nginx@sha256:0123abc", None),
])
def test_only_three_images_are_served(image, app):
    assert workloads.app_of_image(image) == app


def parsed_pod(containers):
    return manifests.parse_object(Field({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                         "spec": {"containers": containers}}, "pod.yml"))


def test_command_and_args_are_kept_and_run_in_that_order():
    obj = parsed_pod([{"name": "c", "image": "busybox", "command": ["sh", "-c"], "args": ["sleep 5", ""]}])
    c = obj.template.containers[0]
    assert (c.command, c.args) == (("sh", "-c"), ("sleep 5", ""))
    assert workloads.app_for(obj.template) is None


def test_a_served_image_beside_a_command_container():
    tmpl = parsed_pod([{"name": "web", "image": "luksa/kubia"},
                       {"name": "side", "image": "busybox", "args": ["sleep", "3600"]}]).template
    assert workloads.app_for(tmpl) == "kubia"


def test_an_unserved_pod_in_the_cluster_state_runs_only_its_command():
    state = scenario_state("seed.yml")
    assert {p.app for p in state.pods} == {"kubia", "coredns"}  # the seed's images, as before
    assert all(workloads.commands(p) == [] for p in state.pods)


@pytest.mark.parametrize("bad", [{"command": "sleep 1"}, {"args": [1, 2]}, {"command": [None]}])
def test_command_and_args_must_be_lists_of_strings(bad):
    from lab.errors import InputError
    with pytest.raises(InputError):
        parsed_pod([{"name": "c", "image": "busybox", **bad}])


KUBELET_RESOLV = "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\n" \
                 "options ndots:5\n"


def test_resolv_conf_as_the_c_library_reads_it():
    conf = resolvconf.parse(KUBELET_RESOLV)
    assert conf == resolvconf.ResolvConf(("10.96.0.10",), ("default.svc.cluster.local", "svc.cluster.local",
                                                           "cluster.local"), 5)
    other = resolvconf.parse("# comment\ndomain a.example\nsearch b.example. c.example\nnameserver 1.2.3.4\n"
                             "nameserver 5.6.7.8 ; x\noptions timeout:2 attempts:9 ndots:99 rotate\nbogus\n")
    assert other == resolvconf.ResolvConf(("1.2.3.4", "5.6.7.8"), ("b.example", "c.example"), 15, 2.0, 5)


def test_names_are_tried_as_res_search_tries_them():
    conf = resolvconf.parse(KUBELET_RESOLV)
    assert resolvconf.candidates("nodeport-svc", conf) == [
        "nodeport-svc.default.svc.cluster.local.", "nodeport-svc.svc.cluster.local.", "nodeport-svc.cluster.local.",
        "nodeport-svc."]
    assert resolvconf.candidates("a.b.c.d.e.f", conf)[0] == "a.b.c.d.e.f."  # ndots reached: as it is first
    assert resolvconf.candidates("a.b.c.d.e", conf)[-1] == "a.b.c.d.e."
    assert resolvconf.candidates("x.", conf) == ["x."]


def test_hosts_and_reverse_names():
    hosts = "127.0.0.1\tlocalhost\n# 10.0.0.9 commented\n10.244.0.2\tdns-test\n"
    assert resolvconf.hosts_addresses(hosts, "DNS-test") == ["10.244.0.2"]
    assert resolvconf.hosts_addresses(hosts, "commented") == []
    assert resolvconf.hosts_name(hosts, "10.244.0.2") == "dns-test"
    assert resolvconf.reverse_name("10.96.0.10") == "10.0.96.10.in-addr.arpa."
    assert resolvconf.literal("10.96.0.10") == "10.96.0.10" and resolvconf.literal("kube-dns") is None


def test_nslookup_prints_the_seeds_busybox_format():
    out = nslookup.render("10.96.0.10", "kube-dns.kube-system.svc.cluster.local", "nodeport-svc",
                          [("10.105.182.209", "nodeport-svc.default.svc.cluster.local")])
    assert out.splitlines() == [  # the blog's lines, as printed
        "Server:    10.96.0.10",
        "Address 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local",
        "",
        "Name:      nodeport-svc",
        "Address 1: 10.105.182.209 nodeport-svc.default.svc.cluster.local",
    ]
    assert nslookup.render("10.0.0.1", None, "x", None) == "Server:    10.0.0.1\nAddress 1: 10.0.0.1\n\n"
    assert nslookup.address_lines([("1.1.1.1", None), ("2.2.2.2", "b")]) == ["Address 1: 1.1.1.1",
                                                                              "Address 2: 2.2.2.2 b"]


def test_nslookup_refuses_what_busybox_refuses(tmp_path):
    import io
    for argv in ([], ["-type=a", "x"], ["a", "b", "c"]):
        err = io.StringIO()
        assert nslookup.main(argv, out=io.StringIO(), err=err) == 1
        assert err.getvalue().startswith("BusyBox v1.27.2 multi-call binary.\n\nUsage: nslookup [HOST] [SERVER]")


def test_nslookup_of_hosts_entries_and_addresses_asks_no_server(tmp_path):
    import io
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")  # nothing answers there
    hosts = tmp_path / "hosts"
    hosts.write_text("10.244.0.2\tdns-test\n127.0.0.1\tlocalhost\n")
    out = io.StringIO()
    assert nslookup.main(["dns-test"], out=out, resolv_path=str(resolv), hosts_path=str(hosts)) == 0
    assert out.getvalue().splitlines()[-2:] == ["Name:      dns-test", "Address 1: 10.244.0.2 dns-test"]
    assert out.getvalue().splitlines()[:2] == ["Server:    127.0.0.1", "Address 1: 127.0.0.1 localhost"]


@pytest.mark.parametrize("image, name", [("busybox", "busybox"), ("docker.io/library/busybox:1.28", "busybox"),
                                         ("localhost:5000/busybox", "busybox"), ("busybox@sha256:ab", "busybox"),
                                         ("luksa/kubia", "kubia")])
def test_image_names(image, name):
    assert toolsets.image_name(image) == name


def test_a_busybox_toolset_is_made_once_and_whole(tmp_path):
    lab_dir = str(tmp_path)
    assert toolsets.directory(lab_dir, ["nginx", "luksa/kubia"]) is None
    made = toolsets.directory(lab_dir, ["nginx", "busybox:1.28"])
    assert made == os.path.join(lab_dir, "images", "busybox")
    assert toolsets.directory(lab_dir, ["busybox"]) == made
    assert os.listdir(os.path.join(lab_dir, "images")) == ["busybox"]
    assert os.access(os.path.join(made, "nslookup"), os.X_OK)
    env = toolsets.environment(lab_dir, ["busybox"], "xterm")
    assert env["PATH"] == f"{made}:{toolsets.DEFAULT_PATH}" and env["TERM"] == "xterm"
    assert toolsets.prefixed(lab_dir, ["nginx"], {"PATH": "/x"}) == {"PATH": "/x"}
    assert toolsets.prefixed(lab_dir, ["busybox"], {"PATH": "/x"})["PATH"] == f"{made}:/x"
    assert toolsets.command(lab_dir, ["busybox"], ["/bin/nslookup", "x"]) == [f"{made}/nslookup", "x"]
    assert toolsets.command(lab_dir, ["busybox"], ["/opt/nslookup"]) == ["/opt/nslookup"]
    assert toolsets.command(lab_dir, ["busybox"], ["/bin/ls"]) == ["/bin/ls"]  # not in the toolset: the host's
    assert toolsets.command(lab_dir, ["nginx"], ["/bin/sh"]) == ["/bin/sh"]


def test_a_nodes_shell_has_the_seeds_prompt_and_a_fresh_environment():
    assert "PS1='[\\u@\\h \\W]\\$ '" in shell.bashrc("k8s-master", "k8s")
    env = shell.machine_environment("/run/svclab/k8s/home/master", "/run/svclab/k8s/admin-lab.conf", "xterm",
                                    {"LANG": "C.UTF-8", "KUBECONFIG": "/elsewhere", "SECRET": "x", "PATH": "/mine"})
    assert env == {"PATH": toolsets.DEFAULT_PATH, "HOME": "/run/svclab/k8s/home/master", "SHELL": "/bin/bash",
                   "USER": "root", "LOGNAME": "root", "TERM": "xterm", "KUBECONFIG": "/run/svclab/k8s/admin-lab.conf",
                   "LANG": "C.UTF-8"}


def test_the_masters_home_holds_the_scenarios_manifest_files():
    files = {}
    for path in (SEED_SCENARIO, *(os.path.join(ROOT, "scenarios", "seed", f) for f in ("pod-nodeport.yml",
                                                                                       "service.yml"))):
        with open(path) as f:
            files[os.path.abspath(path)] = f.read()
    found = shell.manifest_files(SEED_SCENARIO, files)
    assert sorted(found) == ["pod-nodeport.yml", "service.yml"]
    assert found["service.yml"] == files[os.path.join(ROOT, "scenarios", "seed", "service.yml")]  # verbatim
    assert shell.manifest_files("/no/such.yml", files) == {}
    assert shell.manifest_files(SEED_SCENARIO, {SEED_SCENARIO: "manifests: [a/x.yml, b/x.yml]\n",
                                                os.path.join(ROOT, "scenarios", "a", "x.yml"): "1",
                                                os.path.join(ROOT, "scenarios", "b", "x.yml"): "2"}) == \
        {"a-x.yml": "1", "b-x.yml": "2"}
