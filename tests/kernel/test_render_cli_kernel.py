"""``lab render``'s save form, computed without a kernel, against the real iptables-save of the same
rules restored into a scratch namespace; and ``lab render`` run as nobody (root switches user)."""

import os
import subprocess
import sys

import pytest

from factories import (DETECT_LOCAL_MODES, ROOT, SCENARIOS, SEED_FILES, TESTS, detect_local_config, needs_tools,
                       run_lab)
from lab.cluster.build import build_cluster
from lab.spec import scenario
from lab.proxy import iptables, options, saveform

pytestmark = needs_tools("ip", "iptables-restore", "iptables-save", why="restores rules into a network namespace")


def real_save(netns, texts):
    """iptables-save of ``netns`` after iptables-restore --noflush of each text, without its comment lines."""
    for text in texts:
        subprocess.run(["ip", "netns", "exec", netns, "iptables-restore", "--noflush"], input=text, text=True,
                       check=True)
    real = subprocess.run(["ip", "netns", "exec", netns, "iptables-save"], capture_output=True, text=True,
                          check=True).stdout
    return "".join(line + "\n" for line in real.splitlines() if not line.startswith("#"))


@pytest.mark.skipif(not sys.executable.startswith("/usr/"), reason="needs a system python nobody can run")
def test_render_needs_no_root():
    r = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-m", "lab", "render", "iptables",
                        *SEED_FILES], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "KUBE-SVC-FDIGUWRAAKMFZSYO" in r.stdout


@pytest.mark.parametrize("name", ["seed.yml", "loadbalancer.yml", "dns.yml", "frontend-vhosts.yml"])
def test_save_form_equals_real_iptables_save(scratch_netns, name):
    state = build_cluster(scenario.load(os.path.join(SCENARIOS, name)))
    profile = options.PROFILES[state.kube_proxy.profile]
    texts = [iptables.render_bootstrap(profile)] + [iptables.render(state, n.name) for n in state.nodes[:1]]
    assert saveform.save(texts) == real_save(scratch_netns, texts)


@pytest.mark.parametrize("mode, extra", [(mode, extra) for mode, extra, _ in DETECT_LOCAL_MODES])
def test_detect_local_modes_save_form(tmp_path, scratch_netns, mode, extra):
    """The save form of each detectLocalMode's rules (tests/unit's test_detect_local_modes) is what
    iptables-save prints for them too."""
    config = detect_local_config(tmp_path, mode, extra)
    out = run_lab("render", "iptables", *SEED_FILES, "--config", str(config)).stdout
    restore = run_lab("render", "iptables", *SEED_FILES, "--config", str(config), "--form", "restore").stdout
    assert real_save(scratch_netns, (iptables.render_bootstrap(options.PROFILES["current"]), restore)) == out


@pytest.mark.parametrize("profile", ["current", "1.18"])
def test_no_local_detector_save_form(tmp_path, scratch_netns, profile):
    """clusterCIDR "" (no local-traffic detector, tests/unit's test_an_empty_cluster_cidr_detects_no_local_traffic):
    the rules kube-proxy would restore load, and read back as the save form says, with no cluster CIDR in them."""
    config = detect_local_config(tmp_path, "ClusterCIDR", 'clusterCIDR: ""')
    manifests = os.path.join(TESTS, "render", "local-traffic.yml")
    args = ("render", "iptables", manifests, "--config", str(config), "--profile", profile)
    out, restore = run_lab(*args).stdout, run_lab(*args, "--form", "restore").stdout
    saved = real_save(scratch_netns, (iptables.render_bootstrap(options.PROFILES[profile]), restore))
    assert saved == out
    assert "10.244.0.0/16" not in saved and "KUBE-SVC-" in saved
