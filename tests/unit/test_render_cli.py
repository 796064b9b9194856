"""``lab render``: kube-proxy's rules for manifests, with no lab and no root. The save form it
computes without a kernel is checked against the real iptables-save in
tests/kernel/test_render_cli_kernel.py."""

import os
import re

import pytest

from factories import DETECT_LOCAL_MODES, SEED_FILES, TESTS, detect_local_config, run_lab
from lab.proxy import names

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


# ports with no name -----------------------------------------------------------------------------

UNNAMED = os.path.join(HERE, "unnamed-ports.yml")


@pytest.mark.parametrize("profile, string", [("current", "default/{}"), ("1.18", "default/{}:")])
def test_unnamed_ports_render_under_the_service_port_string(profile, string):
    out = render("iptables", UNNAMED, "--profile", profile, "--node", "node1")
    for service, port, endpoint in (("noname", 80, "10.244.2.2:8080"), ("emptyname", 81, "10.244.1.7:8080")):
        name = string.format(service)
        chain = "KUBE-SVC-" + names.port_proto_hash(name, "tcp")
        assert re.search(rf'^-A KUBE-SERVICES -d [\d.]+/32 -p tcp -m comment --comment "{name} cluster IP" '
                         rf"-m tcp --dport {port} -j {chain}$", out, re.M), (profile, service)
        sep = names.endpoint_chain(name, "tcp", endpoint)
        assert (f'-A {sep} -p tcp -m comment --comment "{name}" -m tcp -j DNAT --to-destination {endpoint}'
                in out), (profile, service)
    if profile == "current":
        assert '"default/noname:' not in out and '"default/emptyname:' not in out


# kube-proxy's local-traffic detector: clusterCIDR "" gives none ---------------------------------

LOCAL = os.path.join(HERE, "local-traffic.yml")
POD_TRAFFIC = {"current": "pod traffic for default/local-np external destinations",
               "1.18": "Redirect pods trying to reach external loadbalancer VIP to clusterIP"}


def masquerade_if_not_local(out):
    return [line for line in out.splitlines() if " ! -s " in line and line.endswith("-j KUBE-MARK-MASQ")]


def pod_short_circuit(out, profile):
    return [line for line in out.splitlines() if POD_TRAFFIC[profile] in line]


@pytest.mark.parametrize("profile", ["current", "1.18"])
def test_an_empty_cluster_cidr_detects_no_local_traffic(tmp_path, profile):
    (tmp_path / "empty").mkdir()
    (tmp_path / "absent").mkdir()
    empty = render("iptables", LOCAL, "--profile", profile,
                   "--config", str(detect_local_config(tmp_path / "empty", "ClusterCIDR", 'clusterCIDR: ""')))
    absent = render("iptables", LOCAL, "--profile", profile,
                    "--config", str(detect_local_config(tmp_path / "absent", "ClusterCIDR", "")))
    # without the field: the lab's cluster CIDR, once per ClusterIP port and in the ETP=Local chain
    masq = masquerade_if_not_local(absent)
    assert len(masq) == 2 and all(" ! -s 10.244.0.0/16 " in line for line in masq), masq
    short = pod_short_circuit(absent, profile)
    assert len(short) == 1 and " -s 10.244.0.0/16 " in short[0], short
    chain = ("KUBE-EXT-" if profile == "current" else "KUBE-XLB-") + names.port_proto_hash(
        "default/local-np" + ("" if profile == "current" else ":"), "tcp")
    assert short[0].startswith(f"-A {chain} ")
    # "": no detector, so neither rule, and nothing else changes
    assert masquerade_if_not_local(empty) == [] and pod_short_circuit(empty, profile) == []
    assert "10.244.0.0/16" not in empty
    assert [line for line in absent.splitlines() if line not in masq + short] == empty.splitlines()


def test_an_empty_cluster_cidr_in_nftables_mode(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "absent").mkdir()
    empty = render("nftables", LOCAL, "--config",
                   str(detect_local_config(tmp_path / "empty", "ClusterCIDR", 'clusterCIDR: ""')))
    absent = render("nftables", LOCAL, "--config", str(detect_local_config(tmp_path / "absent", "ClusterCIDR", "")))
    masq = [line for line in absent.splitlines() if "ip saddr != 10.244.0.0/16 jump mark-for-masquerade" in line]
    short = [line for line in absent.splitlines() if "ip saddr 10.244.0.0/16 goto" in line]
    assert len(masq) == 2 and len(short) == 1 and "short-circuit pod traffic" in short[0]
    assert "10.244.0.0/16" not in empty and "ip saddr !=" not in empty
    assert [line for line in absent.splitlines() if line not in masq + short] == empty.splitlines()


def test_a_cluster_cidr_in_the_file_is_the_detector(tmp_path):
    config = detect_local_config(tmp_path, "ClusterCIDR", "clusterCIDR: 10.244.0.0/16,fd00:10:244::/56")
    out = render("iptables", LOCAL, "--config", str(config))
    assert len(masquerade_if_not_local(out)) == 2  # the IPv4 one of the two
    config = detect_local_config(tmp_path, "ClusterCIDR", "clusterCIDR: fd00:10:244::/56")
    r = run_lab("render", "iptables", LOCAL, "--config", str(config), check=False)
    assert r.returncode == 2 and "clusterCIDR: 'fd00:10:244::/56' has no IPv4 CIDR" in r.stderr
