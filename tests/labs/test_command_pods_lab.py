"""Pods whose image svclab does not serve (anything but luksa/kubia, the echo app and coredns): they
get their namespace, address, DNS and endpoints like any pod, and run nothing but their
containers' command (inside the pod's namespaces, recorded, gone with the pod), or nothing. Exec
into them uses the host's tools, but a busybox pod's ``sh`` and ``nslookup`` are busybox's as the
seed shows them; ``lab shell POD`` opens that ``sh``, ``lab shell NODE`` the node's bash."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from factories import (NOTHING_LEFT, ROOT, Lab, Terminal, leftovers, run_lab, seed_files, unique_lab_name,
                       write_files)

OTHERS = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sleeper"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "sleeper"}},
              "template": {"metadata": {"labels": {"app": "sleeper"}},
                           "spec": {"containers": [{"name": "box", "image": "busybox:1.28",
                                                    "command": ["sleep"], "args": ["3600"]}]}}}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "idle", "labels": {"app": "idle"}},
     "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "idle-svc"},
     "spec": {"selector": {"app": "idle"}, "ports": [{"port": 80, "targetPort": 80}]}},
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmdpods")
    files = seed_files()
    files["scenario.yml"].pop("checks", None)
    files["scenario.yml"]["manifests"].append("others.yml")
    path = write_files(files, str(folder))
    with open(folder / "others.yml", "w") as f:
        f.write("---\n".join(json.dumps(doc) + "\n" for doc in OTHERS))
    made = Lab(path, unique_lab_name("cp"))
    made.up()
    try:
        yield made
    finally:
        run_lab("down", made.name, check=False)


def pods(lab, selector):
    items = json.loads(lab.get("pods", "-l", selector, "-o", "json"))["items"]
    return sorted(p["metadata"]["name"] for p in items)


def commands_in(netns_name):
    """The command lines of the processes in a network namespace (``ip netns pids``)."""
    out = []
    for pid in subprocess.run(["ip", "netns", "pids", netns_name], capture_output=True, text=True).stdout.split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                out.append(f.read().rstrip(b"\0").replace(b"\0", b" ").decode())
        except OSError:
            pass
    return sorted(out)


def pid_in(netns_name):
    found = subprocess.run(["ip", "netns", "pids", netns_name], capture_output=True, text=True).stdout.split()
    return int(found[0]) if len(found) == 1 else None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def recorded(lab):
    with open(f"/run/svclab/{lab.name}/state.json") as f:
        return {k: v for k, v in json.load(f)["pids"].items() if k.startswith("container/")}


def test_a_command_pod_runs_its_command_and_nothing_else(lab):
    names = pods(lab, "app=sleeper")
    assert len(names) == 2
    for name in names:
        assert commands_in(f"{lab.name}-{name}") == ["sleep 3600"]  # command then args, in the pod
        pid = pid_in(f"{lab.name}-{name}")
        assert recorded(lab)[f"container/{lab.name}-{name}/box"] == pid
        # its hostname and its /etc are the pod's, as exec's are
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(e.split("=", 1) for e in f.read().decode().split("\0") if "=" in e)
        assert env["PATH"].startswith(f"/run/svclab/{lab.name}/images/busybox:")
    assert commands_in(f"{lab.name}-idle") == []  # no command: nothing runs
    assert "Running" in lab.get("pods", "idle")
    # lab status counts the lab's daemons only: every one of them runs
    row = next(r for r in json.loads(run_lab("status", "-o", "json").stdout) if r["lab"] == lab.name)
    assert row["daemons_running"] == row["daemons"] > 0, row


def test_an_unserved_pod_has_an_address_dns_and_endpoints_but_no_server(lab):
    idle = json.loads(lab.get("pods", "idle", "-o", "json"))
    ip = idle["status"]["podIP"]
    assert f"{ip}:80" in lab.get("endpoints", "idle-svc")
    svc = json.loads(lab.get("svc", "idle-svc", "-o", "json"))["spec"]["clusterIP"]
    box = pods(lab, "app=sleeper")[0]
    out = lab.exec(box, "nslookup", "idle-svc").stdout  # busybox's nslookup, through the cluster DNS
    assert out == ("Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\n"
                   f"Name:      idle-svc\nAddress 1: {svc} idle-svc.default.svc.cluster.local\n")
    reverse = lab.exec(box, "nslookup", ip).stdout.splitlines()
    dashed = ip.replace(".", "-")
    assert reverse[-2:] == [f"Name:      {ip}", f"Address 1: {ip} {dashed}.idle-svc.default.svc.cluster.local"]
    # nothing listens in it: the service's connections are refused, not answered
    assert lab.curl("client", "http://192.168.179.100:30090").startswith("You've hit pod-nodeport-")
    r = lab.exec(box, "curl", "-s", "-m", "3", f"http://{svc}/", check=False)
    assert r.returncode == 7, r  # connection refused
    # the nginx pod's tools are the host's: its nslookup is bind's
    host = lab.exec("idle", "nslookup", "idle-svc", check=False).stdout
    assert "Server:\t\t10.96.0.10" in host and f"Address: {svc}" in host


def test_busybox_nslookup_says_what_it_cannot_resolve(lab):
    box = pods(lab, "app=sleeper")[0]
    r = lab.exec(box, "nslookup", "no-such-svc", check=False)
    assert r.returncode == 1
    assert r.stdout == "Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\n"
    assert r.stderr == "nslookup: can't resolve 'no-such-svc'\n"
    assert lab.exec(box, "nslookup", check=False).stderr.startswith("BusyBox v1.27.2 multi-call binary.")


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox's sh needs Debian's busybox (./setup installs it)")
def test_lab_shell_in_a_busybox_pod_is_busyboxs_sh(lab):
    box = pods(lab, "app=sleeper")[0]
    prompt = re.compile(r"(?:^|\n)/ # $")
    with Terminal("shell", box, "--lab", lab.name) as term:
        assert term.read_until(prompt, timeout=30).endswith("/ # ")  # no banner before it
        term.type("hostname; echo $0; readlink -f /proc/$$/exe")
        shown = term.read_until(prompt).split("\n")
        assert shown[1:3] == [box, "sh"] and shown[3].endswith("busybox"), shown
        term.type("exit")
        assert term.close() == 0
    # lab exec POD -- /bin/sh (the image's own path, as kubectl exec -it POD -- /bin/sh names it): busybox's too
    anywhere = re.compile(r"(?:^|\n)\S+ # $")  # lab exec keeps the caller's working directory
    with Terminal("exec", box, "--lab", lab.name, "--", "/bin/sh") as term:
        assert term.read_until(anywhere, timeout=30).endswith(f"{ROOT} # ")
        term.type("readlink -f /proc/$$/exe")
        assert term.read_until(anywhere).split("\n")[1].endswith("busybox")
        term.type("exit")
        assert term.close() == 0


def test_lab_shell_on_a_node_has_kubectl_set_up(lab):
    prompt = re.compile(r"\[root@\S+ \S+\]# $")
    with Terminal("shell", "node1", "--lab", lab.name) as term:
        assert term.read_until(prompt, timeout=30).endswith(f"[root@{lab.name}-node1 ~]# ")
        term.type("kubectl get nodes -o name; echo $KUBECONFIG; ls ~")
        shown = term.read_until(prompt, timeout=30).split("\n")
        assert shown[1:4] == [f"node/{lab.name}-{n}" for n in ("master", "node1", "node2")], shown
        assert shown[4] == f"/run/svclab/{lab.name}/admin-lab.conf" and shown[5:-1] == [], shown  # no manifests here
        term.type("exit")
        assert term.close() == 0
    assert sorted(os.listdir(f"/run/svclab/{lab.name}/home")) == ["node1"]


def test_the_command_goes_with_its_pod(lab):
    first, second = pods(lab, "app=sleeper")
    old = pid_in(f"{lab.name}-{first}")
    run_lab("delete", "pod", first, "--lab", lab.name)
    assert not alive(old)
    assert f"container/{lab.name}-{first}/box" not in recorded(lab)
    now = pods(lab, "app=sleeper")
    assert len(now) == 2 and first not in now
    replacement = next(n for n in now if n != second)
    assert commands_in(f"{lab.name}-{replacement}") == ["sleep 3600"]
    # lab kill pod: its command dies at once, then its ReplicaSet replaces it
    old = pid_in(f"{lab.name}-{second}")
    run_lab("kill", "pod", second, "--after", "0.2", "--lab", lab.name)
    assert not alive(old) and second not in pods(lab, "app=sleeper")
    assert all(commands_in(f"{lab.name}-{n}") == ["sleep 3600"] for n in pods(lab, "app=sleeper"))


def test_down_takes_every_command_with_it(tmp_path):
    files = seed_files()
    files["scenario.yml"].pop("checks", None)
    files["scenario.yml"]["manifests"].append("others.yml")
    path = write_files(files, str(tmp_path))
    (tmp_path / "others.yml").write_text(json.dumps(OTHERS[0]))
    made = Lab(path, unique_lab_name("cq"))
    made.up()
    try:
        started = [pid_in(f"{made.name}-{n}") for n in pods(made, "app=sleeper")]
        assert all(started)
    finally:
        run_lab("down", made.name, check=False)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in started)
    assert leftovers(made.name) == NOTHING_LEFT
