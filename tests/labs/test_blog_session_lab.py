"""The seed's whole session, typed into ``lab shell master`` (and, for the two lines the blog took on
the other nodes, ``lab shell node1`` and ``node2``) through a pseudo-terminal, key by key as a
person types, and every output compared with the blog's, line by line.

What may differ is what the blog could not have fixed: the AGE column, PIDs, and which pod
answered a request. Everything else that differs is inherent and written down below, per
command, in ``INHERENT``: the lab's answer there is checked exactly too.

The blog's lines are quoted as it printed them (``BLOG``); the lab's node names are mapped to the
blog's (``<lab>-master`` is ``k8s-master``), since a test lab has a name of its own.
"""

import re
import shutil
import subprocess
import time

import pytest

from factories import SEED_POD_MASTER, SEED_POD_NODE2, Terminal, lab_fixture

pytestmark = [pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on PATH (./setup installs one)"),
              pytest.mark.skipif(shutil.which("busybox") is None,
                                 reason="the blog's / # prompt is busybox's sh: needs Debian's busybox "
                                        "(./setup installs it)")]
blog_lab = lab_fixture("seed.yml", "bs")

# The blog, as printed: each prompt line, then what the command printed until the next prompt.
BLOG = """\
[root@k8s-master service]# cat pod-nodeport.yml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pod-nodeport
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels:
      app: myapp
  template:
    metadata:
      labels:
        app: myapp
    spec:
      containers:
      - name: myapp
        image: luksa/kubia
        ports:
        - containerPort: 8080
[root@k8s-master service]# kubectl get pod -n default -l app=myapp -o wide
NAME                            READY   STATUS    RESTARTS   AGE   IP            NODE         NOMINATED NODE   READINESS GATES
pod-nodeport-6cc49c7999-5fjdh   1/1     Running   0          13m   10.244.2.14   k8s-node2    <none>           <none>
pod-nodeport-6cc49c7999-gdqbg   1/1     Running   0          13m   10.244.0.23   k8s-master   <none>           <none>
[root@k8s-master service]# cat service.yml
apiVersion: v1
kind: Service
metadata: 
  name: nodeport-svc
spec:
  type: NodePort
  selector:
    app: myapp
  ports:
  - protocol: TCP
    port: 3000
    targetPort: 8080
    nodePort: 30090
[root@k8s-master ~]# kubectl get svc
NAME           TYPE        CLUSTER-IP       EXTERNAL-IP   PORT(S)          AGE
kubernetes     ClusterIP   10.96.0.1        <none>        443/TCP          40d
nodeport-svc   NodePort    10.105.182.209   <none>        3000:30090/TCP   27m
[root@k8s-master service]# netstat -tpln | grep 30090
tcp        0      0 0.0.0.0:30090           0.0.0.0:*               LISTEN      34081/kube-proxy    
[root@k8s-node1 ~]# netstat -tpln | grep 30090
tcp        0      0 0.0.0.0:30090           0.0.0.0:*               LISTEN      32625/kube-proxy    
[root@k8s-node2 ~]# netstat -tpln | grep 30090
tcp        0      0 0.0.0.0:30090           0.0.0.0:*               LISTEN      14369/kube-proxy    
[root@k8s-master service]# curl 192.168.179.99:30090
You've hit pod-nodeport-6cc49c7999-gdqbg
[root@k8s-master service]# curl 192.168.179.100:30090
You've hit pod-nodeport-6cc49c7999-gdqbg
[root@k8s-master service]# curl 192.168.179.101:30090
You've hit pod-service-7f68854988-5fjdh
[root@k8s-master service]# iptables-save | grep 30090
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-MARK-MASQ
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 -j KUBE-SVC-GFPAJ7EGCNM4QF4H
[root@k8s-master service]# iptables-save | grep KUBE-SVC-GFPAJ7EGCNM4QF4H
-A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-TWG53VPX4RADGFC6
-A KUBE-SVC-GFPAJ7EGCNM4QF4H -m comment --comment "default/nodeport-svc:" -j KUBE-SEP-YUA4WPOUSEKJIAM2
[root@k8s-master ~]# kubectl exec -it dns-test -- sh
/ # nslookup nodeport-svc
Server:    10.96.0.10
Address 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local

Name:      nodeport-svc
Address 1: 10.105.182.209 nodeport-svc.default.svc.cluster.local
/ # 
"""

PROMPT_LINE = re.compile(r"^(\[root@(\S+) (\S+)\]# |/ # )(.*?) *$")
BASH_PROMPT = re.compile(r"\[root@\S+ \S+\]# $")
BUSYBOX_PROMPT = re.compile(r"(?:^|\n)/ # $")
SVC_CHAIN = "KUBE-SVC-GFPAJ7EGCNM4QF4H"

# Inherent differences, per command: (what the lab prints instead, why). Short and honest.
INHERENT = {
    "kubectl apply -f pod-nodeport.yml": (
        ["deployment.apps/pod-nodeport unchanged"],
        "the blog shows no output for its apply; the lab's objects exist since lab up, so kubectl says unchanged "
        "where the blog's first apply said created"),
    "kubectl apply -f service.yml": (
        ["service/nodeport-svc unchanged"], "as for pod-nodeport.yml"),
    f"iptables-save | grep {SVC_CHAIN}": (
        [f":{SVC_CHAIN} - [0:0]",
         '-A KUBE-NODEPORTS -p tcp -m comment --comment "default/nodeport-svc:" -m tcp --dport 30090 '
         f"-j {SVC_CHAIN}",
         '-A KUBE-SERVICES -d 10.105.182.209/32 -p tcp -m comment --comment "default/nodeport-svc: cluster IP" '
         f"-m tcp --dport 3000 -j {SVC_CHAIN}", "@blog"],
        "grep also matches the chain's declaration and the two jumps into it, which kube-proxy v1.18 writes and "
        "the blog left out of its excerpt; the chain's own two rules follow, as the blog prints them"),
    "kubectl run dns-test --image=busybox --restart=Never -- sleep 3600": (
        ["pod/dns-test created"], "the blog does not show how it made dns-test"),
}
# The blog typed these two at [root@k8s-master ~]#: the session here stays in service/, where it began.
PROMPT_DIR = {"kubectl get svc": "service", "kubectl exec -it dns-test -- sh": "service"}


def blog_steps():
    """``[(prompt, machine, directory, command, output lines)]`` of BLOG."""
    steps = []
    for line in BLOG.splitlines():
        m = PROMPT_LINE.match(line)
        if m:  # busybox's prompt names no machine: the one whose kubectl exec opened it
            steps.append([m.group(1), m.group(2) or steps[-1][1], m.group(3), m.group(4), []])
        else:
            steps[-1][4].append(line)
    return [tuple(s) for s in steps if s[3]]


def cells(line):
    return re.split(r" {2,}", line.rstrip())


def masked(command, lines, pods):
    """The lines with only what the blog could not fix masked: AGE cells, PIDs, the pod that answered
    (one of ``pods``, the service's; None: any, for the blog's third answer names a pod its own
    listing does not have, ``pod-service-7f68854988-5fjdh``)."""
    if command.startswith("kubectl get") and lines:
        header = cells(lines[0])
        age = header.index("AGE")
        return [cells(lines[0])] + [[("<age>" if i == age else c) for i, c in enumerate(cells(row))]
                                    for row in lines[1:]]
    if command.startswith("netstat"):
        return [re.sub(r"\d+/kube-proxy *$", "<pid>/kube-proxy", line) for line in lines]
    if command.startswith("curl"):
        out = []
        for line in lines:
            m = re.fullmatch(r"You've hit (\S+)", line)
            if m and (pods is None or m.group(1) in pods):  # the blog's pods: whichever it names
                line = "You've hit <a pod of the service>"
            out.append(line)
        return out
    return lines


class Session:
    """One ``lab shell`` on a pty: type a command, get its output lines and the prompt it ran at."""

    def __init__(self, lab, machine):
        self.lab = lab
        self.term = Terminal("shell", machine, "--lab", lab.name)
        self.prompt = self.term.read_until(BASH_PROMPT, timeout=30).rsplit("\n", 1)[-1]
        self.shell = BASH_PROMPT

    def run(self, command, timeout=30, then=None):
        prompt = self.prompt
        self.term.type(command)
        text = self.term.read_until(then or self.shell, timeout=timeout)
        lines = text.split("\n")
        assert lines[0] == command, (command, lines[0])  # the echo of what was typed
        self.prompt = lines[-1]
        return self.blog_names(prompt), [self.blog_names(line) for line in lines[1:-1]]

    def blog_names(self, text):
        return re.sub(rf"\b{self.lab.name}-(master|node\d+)\b", r"k8s-\1", text)

    def close(self):
        self.term.type("exit")
        return self.term.close()


def test_the_blogs_session_typed_into_lab_shell(blog_lab):
    pods = {SEED_POD_MASTER, SEED_POD_NODE2}
    blog = blog_steps()
    expected = {(machine, command): (prompt, directory, output) for prompt, machine, directory, command, output in blog}
    typed = [("k8s-master", "cat pod-nodeport.yml"), ("k8s-master", "kubectl apply -f pod-nodeport.yml"),
             ("k8s-master", "kubectl get pod -n default -l app=myapp -o wide"),
             ("k8s-master", "cat service.yml"), ("k8s-master", "kubectl apply -f service.yml"),
             ("k8s-master", "kubectl get svc"), ("k8s-master", "netstat -tpln | grep 30090"),
             ("k8s-node1", "netstat -tpln | grep 30090"), ("k8s-node2", "netstat -tpln | grep 30090"),
             ("k8s-master", "curl 192.168.179.99:30090"), ("k8s-master", "curl 192.168.179.100:30090"),
             ("k8s-master", "curl 192.168.179.101:30090"), ("k8s-master", "iptables-save | grep 30090"),
             ("k8s-master", f"iptables-save | grep {SVC_CHAIN}"),
             ("k8s-master", "kubectl run dns-test --image=busybox --restart=Never -- sleep 3600"),
             ("k8s-master", "kubectl exec -it dns-test -- sh"), ("k8s-master", "nslookup nodeport-svc")]
    # every command of the blog is typed, in the blog's order for those it shows
    assert [k for k in typed if k in expected] == [(m, c) for _, m, _, c, _ in blog]
    sessions = {}
    try:
        compared = 0
        for machine, command in typed:
            if machine not in sessions:
                sessions[machine] = Session(blog_lab, machine.replace("k8s-", ""))
            session = sessions[machine]
            if command == "kubectl exec -it dns-test -- sh":  # a prompt of busybox's, no output before it
                prompt, lines = session.run(command, then=BUSYBOX_PROMPT)
                session.shell = BUSYBOX_PROMPT
                assert session.prompt == "/ # "
            else:
                prompt, lines = session.run(command)
            if (machine, command) in expected:
                blog_prompt, directory, blog_lines = expected[(machine, command)]
                wanted_dir = PROMPT_DIR.get(command, directory)
                assert prompt == (blog_prompt if blog_prompt == "/ # " else f"[root@{machine} {wanted_dir}]# "), \
                    (command, prompt)
            else:
                blog_lines = []
            if command in INHERENT:
                inherent, _why = INHERENT[command]
                blog_lines = [x for line in inherent for x in (blog_lines if line == "@blog" else [line])]
            assert masked(command, lines, pods) == masked(command, blog_lines, None), \
                f"{command} on {machine}:\nlab:\n" + "\n".join(lines) + "\nblog:\n" + "\n".join(blog_lines)
            compared += 1
        assert compared == len(typed)
        master = sessions["k8s-master"]
        assert master.run("exit", then=BASH_PROMPT)[1] == []  # busybox's sh ends; the node's shell is back
        master.shell = BASH_PROMPT
        assert master.prompt == f"[root@{blog_lab.name}-master service]# "
        codes = {machine: sessions.pop(machine).close() for machine in list(sessions)}
        assert codes == {"k8s-master": 0, "k8s-node1": 0, "k8s-node2": 0}  # each shell ended with exit
    finally:
        for session in sessions.values():  # what a failure left running
            session.term.__exit__(None, None, None)
    # the pod kubectl made runs its command and nothing else (the exec session has ended)
    deadline = time.monotonic() + 10
    while commands_in(f"{blog_lab.name}-dns-test") != ["sleep 3600"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert commands_in(f"{blog_lab.name}-dns-test") == ["sleep 3600"]


def commands_in(netns_name):
    out = []
    for pid in subprocess.run(["ip", "netns", "pids", netns_name], capture_output=True, text=True).stdout.split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                out.append(f.read().rstrip(b"\0").replace(b"\0", b" ").decode())
        except OSError:
            pass
    return sorted(out)
