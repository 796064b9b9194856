"""Capture what kubectl sends: for every case, the protobuf body of its typed create (``CASE.pb``,
read from kubectl's ``-v10`` log, with ``--dry-run=server`` so that the lab keeps nothing) and
kubectl's own JSON of the same object (``CASE.json``, ``-o json --dry-run=client``), the oracle
tests/unit/test_protobuf.py decodes the first against.

``kubectl debug`` creates Pods (protobuf too) and has neither dry run nor ``-o json``: its pods
are made in the lab, and their JSON is built as kubectl builds the pod (its generateNodeDebugPod
with the sysadmin profile; for ``--copy-to``, the source pod's own JSON, as ``kubectl get`` gives
it, without nodeName, with the debug container added and a new metadata).

    sudo python3 tests/protobuf/capture.py KUBECONFIG KUBECTL FOLDER

KUBECONFIG is a running lab's (``lab kubeconfig --lab NAME``), KUBECTL the binary
(``/usr/lib/google-cloud-sdk/bin/kubectl.1.33``), FOLDER where the files go
(``tests/protobuf/kubectl-1.33``). Run once per kubectl; the files are kept in git.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

BLOB = bytes(range(256))  # not UTF-8: kubectl puts it in binaryData

CASES = {
    "namespace": ["create", "namespace", "ns1"],
    "configmap": ["create", "configmap", "cm1", "--from-literal=a=b"],
    "configmap-binary": ["create", "configmap", "cm2", "--from-literal=greeting=h\u00e9llo", "--from-literal=empty=",
                         "--from-file=blob={blob}"],
    "configmap-namespaced": ["create", "configmap", "cm3", "-n", "kube-system", "--from-literal=x=y"],
    "deployment": ["create", "deployment", "d1", "--image=luksa/kubia"],
    "deployment-zero-replicas": ["create", "deployment", "d0", "--image=luksa/kubia", "--replicas=0", "--port=8080"],
    "deployment-two-images": ["create", "deployment", "d2", "--image=luksa/kubia", "--image=busybox",
                              "--replicas=3"],
    "deployment-command": ["create", "deployment", "d3", "--image=busybox", "--", "sh", "-c", "sleep 3600"],
    "service-nodeport": ["create", "service", "nodeport", "x", "--tcp=80:8080"],
    "service-nodeport-fixed": ["create", "service", "nodeport", "x2", "--tcp=80:8080", "--node-port=30080"],
    "service-clusterip": ["create", "service", "clusterip", "y", "--tcp=80:8080", "--tcp=443:https"],
    "service-headless": ["create", "service", "clusterip", "h", "--clusterip=None"],
    "service-loadbalancer": ["create", "service", "loadbalancer", "z", "--tcp=80:8080"],
    "service-externalname": ["create", "service", "externalname", "e", "--external-name=a.example.com"],
}


def body_of(log):
    """The request body kubectl's -v10 log shows as a hex dump (``"Request Body" body=<`` ... ``>``)."""
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if '"Request Body" body=<' in line)
    data = bytearray()
    for line in lines[start + 1:]:
        m = re.match(r"\s*[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2}){1,16})", line)
        if not m:
            break
        data += bytes.fromhex(m.group(1).replace(" ", ""))
    return bytes(data)


def run(kubectl, *args, env):
    return subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, timeout=60)


def debug_cases(kubectl, env):
    """(name, kubectl's -v10 log, the pod's JSON) for a node debug pod and a pod copy."""
    node = json.loads(run(kubectl, "get", "nodes", "-o", "json", env=env).stdout)["items"][0]["metadata"]["name"]
    sent = run(kubectl, "debug", f"node/{node}", "--image=busybox", "--profile=sysadmin", "-v10", env=env)
    pod = re.search(r"Creating debugging pod (\S+) with container", sent.stdout).group(1)
    yield "pod-debug-node", sent.stderr, {
        "kind": "Pod", "apiVersion": "v1", "metadata": {"name": pod, "creationTimestamp": None},
        "spec": {"volumes": [{"name": "host-root", "hostPath": {"path": "/"}}],
                 "containers": [{"name": "debugger", "image": "busybox", "resources": {},
                                 "volumeMounts": [{"name": "host-root", "mountPath": "/host"}],
                                 "terminationMessagePolicy": "File", "securityContext": {"privileged": True}}],
                 "restartPolicy": "Never", "nodeName": node, "hostNetwork": True, "hostPID": True, "hostIPC": True,
                 "tolerations": [{"operator": "Exists"}]},
        "status": {}}
    pods = json.loads(run(kubectl, "get", "pods", "-n", "default", "-o", "json", env=env).stdout)["items"]
    source = next(p for p in pods if not p["metadata"]["name"].startswith("node-debugger-"))  # a Deployment's
    copy = f"{source['metadata']['name'][:40]}-copy"
    sent = run(kubectl, "debug", source["metadata"]["name"], f"--copy-to={copy}", "--image=busybox",
               "--container=dbg", "-v10", env=env)
    spec = dict(source["spec"])
    spec.pop("nodeName", None)
    spec["containers"] = spec["containers"] + [{"name": "dbg", "image": "busybox", "resources": {},
                                                "terminationMessagePolicy": "File"}]
    yield "pod-debug-copy", sent.stderr, {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": copy, "namespace": "default", "creationTimestamp": None}, "spec": spec, "status": {}}


def save(folder, name, body, obj):
    with open(os.path.join(folder, f"{name}.pb"), "wb") as f:
        f.write(body)
    with open(os.path.join(folder, f"{name}.json"), "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def main(kubeconfig, kubectl, folder):
    os.makedirs(folder, exist_ok=True)
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    with tempfile.NamedTemporaryFile(suffix=".bin") as blob:
        blob.write(BLOB)
        blob.flush()
        for name, args in CASES.items():
            args = [a.replace("{blob}", blob.name) for a in args]
            at = args.index("--") if "--" in args else len(args)
            sent = subprocess.run([kubectl, *args[:at], "--dry-run=server", "-v10", *args[at:]], env=env,
                                  capture_output=True, text=True, timeout=60)
            body = body_of(sent.stderr)
            assert body.startswith(b"k8s\x00"), f"{name}: kubectl sent no protobuf body\n{sent.stderr[-2000:]}"
            shown = subprocess.run([kubectl, *args[:at], "--dry-run=client", "-o", "json", *args[at:]], env=env,
                                   capture_output=True, text=True, timeout=60, check=True)
            save(folder, name, body, json.loads(shown.stdout))
            print(f"{name}: {len(body)} bytes; {sent.stdout.strip() or sent.stderr.strip().splitlines()[-1]}")
    for name, log, obj in debug_cases(kubectl, env):
        body = body_of(log)
        assert body.startswith(b"k8s\x00"), f"{name}: kubectl sent no protobuf body\n{log[-2000:]}"
        save(folder, name, body, obj)
        print(f"{name}: {len(body)} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:])
