"""``lab render``: kube-proxy's rules for manifests, with no lab and no root; and the save form
computed without a kernel, checked against the real iptables-save."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT, SCENARIOS, run_lab
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.proxy import iptables, options, saveform

HERE = os.path.join(ROOT, "tests", "render")
SEED_FILES = [os.path.join(SCENARIOS, "seed", f) for f in ("pod-nodeport.yml", "service.yml")]
NOBODY = os.geteuid() == 0 and sys.executable.startswith("/usr/")


def render(*args):
    return run_lab("render", *args).stdout


def test_seed_lines_come_out_of_the_seed_manifests():
    out = render("iptables", *SEED_FILES, "--profile", "1.18")
    assert [line for line in out.splitlines() if "30090" in line] == [
        '-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-MARK-MASQ',
        '-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 '
        '-j KUBE-SVC-GFPAJ7EGCNM4QF4H']
    restore = render("iptables", *SEED_FILES, "--form", "restore")
    assert restore.startswith("*filter\n") and "-A KUBE-NODEPORTS -m comment --comment default/nodeport-svc " \
        "-m tcp -p tcp --dport 30090 -j KUBE-EXT-FDIGUWRAAKMFZSYO" in restore


@pytest.mark.skipif(not NOBODY, reason="needs root to switch to nobody, and a system python nobody can run")
def test_render_needs_no_root():
    r = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-m", "lab", "render", "iptables",
                        *SEED_FILES], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "KUBE-SVC-FDIGUWRAAKMFZSYO" in r.stdout


def test_selectorless_services_use_their_endpointslices():
    out = render("iptables", os.path.join(HERE, "selectorless.yml"), "--node", "node1")
    sql = [line for line in out.splitlines() if "external-db:sql ->" in line]
    # ready endpoints only (the terminating one is used only when nothing is ready), "IP:port" order
    assert [line.split("-> ")[1].split('"')[0] for line in sql] == ["10.244.1.10:5432", "10.244.2.9:5432"]
    legacy = [line for line in out.splitlines() if "default/legacy ->" in line]
    assert len(legacy) == 1 and "10.244.0.5:8080" in legacy[0]  # notReadyAddresses are ignored


def test_kube_proxy_configuration_file():
    out = render("iptables", *SEED_FILES, "--config", os.path.join(HERE, "kube-proxy-config.yml"))
    assert "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x8000/0x8000" in out  # masqueradeBit 15
    # masqueradeAll: every ClusterIP connection is marked, not only those from outside the cluster CIDR
    assert any(line.startswith("-A KUBE-SVC-FDIGUWRAAKMFZSYO -d ") and "! -s" not in line and "KUBE-MARK-MASQ" in line
               for line in out.splitlines())
    # nodePortAddresses: NodePorts only on the node's LAN address; no localhost NodePorts, no KUBE-FIREWALL
    assert ('-A KUBE-SERVICES -d 192.168.179.101/32 -m comment --comment "kubernetes service nodeports; NOTE: this '
            'must be the last rule in this chain" -j KUBE-NODEPORTS') in out
    assert ":KUBE-FIREWALL" not in out.split("*nat")[0]


def test_random_fully_and_bad_input():
    assert "MASQUERADE --random-fully" not in render("iptables", *SEED_FILES, "--no-random-fully")
    r = run_lab("render", "iptables", os.path.join(HERE, "nope.yml"), check=False)
    assert r.returncode == 2 and "nope.yml: file not found" in r.stderr
    r = run_lab("render", "iptables", *SEED_FILES, "--node", "node9", check=False)
    assert r.returncode == 2 and "no node 'node9'" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="compares with the real iptables-save in a scratch namespace")
@pytest.mark.parametrize("name", ["seed.yml", "loadbalancer.yml", "dns.yml", "frontend-vhosts.yml"])
def test_save_form_equals_real_iptables_save(name):
    state = build_cluster(scenario.load(os.path.join(SCENARIOS, name)))
    profile = options.PROFILES[state.kube_proxy.profile]
    texts = [iptables.render_bootstrap(profile)] + [iptables.render(state, n.name) for n in state.nodes[:1]]
    netns = f"svsf-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        for text in texts:
            subprocess.run(["ip", "netns", "exec", netns, "iptables-restore", "--noflush"], input=text, text=True,
                           check=True)
        real = subprocess.run(["ip", "netns", "exec", netns, "iptables-save"], capture_output=True, text=True,
                              check=True).stdout
    finally:
        subprocess.run(["ip", "netns", "delete", netns])
    real = "".join(line + "\n" for line in real.splitlines() if not line.startswith("#"))
    assert saveform.save(texts) == real


@pytest.mark.parametrize("mode, extra, masq", [
    ("NodeCIDR", "", "! -s 10.244.2.0/24"),
    ("BridgeInterface", "detectLocal: {bridgeInterface: cni0}", "! -i cni0"),
    ("InterfaceNamePrefix", "detectLocal: {interfaceNamePrefix: veth}", "! -i veth+"),
])
def test_detect_local_modes(tmp_path, mode, extra, masq):
    config = tmp_path / "kp.yml"
    config.write_text("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                      f"hostnameOverride: node2\ndetectLocalMode: {mode}\n{extra}\n")
    out = render("iptables", *SEED_FILES, "--config", str(config))
    assert any(line.startswith("-A KUBE-SVC-FDIGUWRAAKMFZSYO") and masq in line and line.endswith("KUBE-MARK-MASQ")
               for line in out.splitlines()), out
    if os.geteuid() == 0:  # the save form is what iptables-save prints for these too
        restore = render("iptables", *SEED_FILES, "--config", str(config), "--form", "restore")
        netns = f"svdl-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", netns], check=True)
        try:
            for text in (iptables.render_bootstrap(options.PROFILES["current"]), restore):
                subprocess.run(["ip", "netns", "exec", netns, "iptables-restore", "--noflush"], input=text, text=True,
                               check=True)
            real = subprocess.run(["ip", "netns", "exec", netns, "iptables-save"], capture_output=True, text=True,
                                  check=True).stdout
        finally:
            subprocess.run(["ip", "netns", "delete", netns])
        assert "".join(line + "\n" for line in real.splitlines() if not line.startswith("#")) == out
