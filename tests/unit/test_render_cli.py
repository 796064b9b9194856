"""``lab render``: kube-proxy's rules for manifests, with no lab and no root. The save form it
computes without a kernel is checked against the real iptables-save in
tests/kernel/test_render_cli_kernel.py."""

import os

import pytest

from factories import DETECT_LOCAL_MODES, SEED_FILES, TESTS, detect_local_config, run_lab

HERE = os.path.join(TESTS, "render")


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


@pytest.mark.parametrize("mode, extra, masq", DETECT_LOCAL_MODES)
def test_detect_local_modes(tmp_path, mode, extra, masq):
    config = detect_local_config(tmp_path, mode, extra)
    out = render("iptables", *SEED_FILES, "--config", str(config))
    assert any(line.startswith("-A KUBE-SVC-FDIGUWRAAKMFZSYO") and masq in line and line.endswith("KUBE-MARK-MASQ")
               for line in out.splitlines()), out
