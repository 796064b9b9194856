"""``lab shell``: the student's shell on a machine of the lab or in a pod, as the seed's author had
one on ``k8s-master``.

A node's shell is bash inside the node's network and UTS namespaces with its /etc/netns files (as
``lab exec`` runs a command), root's prompt as CentOS writes it (``[root@k8s-master ~]#``),
``KUBECONFIG`` set to the lab's kubeconfig for inside the lab (the master's address, port 6443)
and the host's kubectl, iptables-save, netstat and curl on PATH. Its home is the lab's own,
``/run/svclab/<lab>/home/<machine>``, so ``lab down`` removes it with the lab; the master's (the
control plane, where the seed's author worked) holds the scenario's manifest files in
``service/``, where its shell starts: ``[root@k8s-master service]#``. A pod's shell is ``sh`` as
``kubectl exec -it POD -- sh`` runs it (its image's toolset first on PATH).

``manifest_files``, ``bashrc`` and ``machine_environment`` are pure; ``prepare`` makes the home.
"""

import os
from dataclasses import dataclass

from lab.errors import InputError, LabError
from lab.images import toolsets
from lab.kernel import commands, record
from lab.spec import yamlfiles

HOME_DIR = "home"
WORK_DIR = "service"
PROMPT = r"[\u@\h \W]\$ "
PASSED_ON = ("LANG", "LC_ALL", "LC_CTYPE", "COLUMNS", "LINES")


@dataclass(frozen=True)
class Shell:
    argv: tuple
    env: dict
    cwd: str


def manifest_files(scenario_path, files):
    """``{file name: text}`` of the manifest files a scenario names (``manifests:`` entries that
    are paths), from ``files`` ({absolute path: text}, what the lab read at ``up``); a name that
    two files share keeps its directory in front (``seed-service.yml``)."""
    texts = files.get(os.path.abspath(scenario_path)) if scenario_path else None
    if texts is None:
        return {}
    try:
        docs = yamlfiles.parse_documents(texts, scenario_path)
    except InputError:  # the lab came up from it: a copy that does not parse has no files
        return {}
    entries = docs[0].get("manifests") if docs and isinstance(docs[0], dict) else None
    paths = [os.path.abspath(os.path.join(os.path.dirname(scenario_path), e))
             for e in (entries or []) if isinstance(e, str)]
    paths = [p for p in dict.fromkeys(paths) if p in files]
    names = [os.path.basename(p) for p in paths]
    out = {}
    for path, name in zip(paths, names):
        if names.count(name) > 1 or name in out:
            name = f"{os.path.basename(os.path.dirname(path))}-{name}"
        out[name] = files[path]
    return out


def bashrc(hostname, lab):
    return (f"# svclab: root's shell on {hostname}, a machine of lab {lab} (lab down removes this home)\n"
            f"PS1='{PROMPT}'\n"
            "HISTFILE=~/.bash_history\n")


def machine_environment(home, kubeconfig, term, outer):
    """The environment of a machine's shell: a fresh one, with the terminal's and locale's
    variables of ``outer`` passed on."""
    env = {"PATH": toolsets.DEFAULT_PATH, "HOME": home, "SHELL": "/bin/bash", "USER": "root", "LOGNAME": "root",
           "TERM": term or "xterm"}
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    env.update({k: outer[k] for k in PASSED_ON if k in outer})
    return env


def _write_home(lab_record, home, hostname, manifests):
    """The machine's home, made once (what the student changes there stays until ``down``)."""
    if os.path.isdir(home):
        return
    os.makedirs(os.path.dirname(home), mode=0o700, exist_ok=True)
    building = f"{home}.{os.getpid()}.new"
    os.makedirs(building, mode=0o700, exist_ok=True)
    with open(os.path.join(building, ".bashrc"), "w") as f:
        f.write(bashrc(hostname, lab_record.lab))
    if manifests is not None:
        os.makedirs(os.path.join(building, WORK_DIR), exist_ok=True)
        for name, text in manifests.items():
            with open(os.path.join(building, WORK_DIR, name), "w") as f:
                f.write(text)
    try:
        os.rename(building, home)
    except OSError:  # another shell made it meanwhile
        import shutil
        shutil.rmtree(building, ignore_errors=True)


def _machine(cluster, target):
    """(name, netns, hostname, is the control plane) of a node or host named ``target``."""
    for i, n in enumerate(cluster.nodes):
        if target in (n.name, n.hostname):
            return n.name, n.netns, n.hostname, i == 0
    for h in cluster.hosts:
        if target == h.name:
            return h.name, h.netns, h.name, False
    if cluster.lb is not None and target == "lb":
        return "lb", cluster.lb.netns, "lb", False
    return None


def prepare(lab_record, cluster, target, namespace=None, kubeconfig=None, outer=None):
    """The shell ``lab shell TARGET`` runs: a machine's bash, or a pod's sh."""
    outer = dict(os.environ if outer is None else outer)
    found = _machine(cluster, target) if namespace is None else None
    if found is None:
        pods = [p for p in cluster.pods if p.name == target and namespace in (None, p.namespace)]
        if len(pods) != 1:
            names = [n.name for n in cluster.nodes] + [h.name for h in cluster.hosts]
            raise LabError(f"several pods are named {target!r}; say which namespace with -n" if pods else
                           f"no node, host or pod named {target!r} (nodes and hosts: {', '.join(names)}; "
                           f"pods: see lab get pods -A)")
        pod = pods[0]
        env = toolsets.environment(lab_record.path(), [c.image for c in pod.containers], outer.get("TERM", "xterm"))
        env.update({k: outer[k] for k in PASSED_ON if k in outer})
        return Shell(tuple(commands.user_argv(pod.exec_netns, ["sh"], lab_record.lab)), env, "/")
    name, netns_name, hostname, control_plane = found
    home = lab_record.path(HOME_DIR, name)
    with record.locked():  # not while the lab is taken down
        if record.Record.load(lab_record.lab) is None:
            raise LabError(f"lab {lab_record.lab!r} is not up")
        manifests = (manifest_files(lab_record.scenario_path, lab_record.sources().get("files", {}))
                     if control_plane else None)
        _write_home(lab_record, home, hostname, manifests)
    cwd = os.path.join(home, WORK_DIR) if control_plane and os.path.isdir(os.path.join(home, WORK_DIR)) else home
    argv = commands.user_argv(netns_name, ["bash", "--noprofile", "--rcfile", os.path.join(home, ".bashrc"), "-i"],
                              lab_record.lab)
    return Shell(tuple(argv), machine_environment(home, kubeconfig, outer.get("TERM"), outer), cwd)
