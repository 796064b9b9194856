"""Starting the front load balancer of a lab: nginx and its controller, in the ``lb`` namespace."""

import os
import shutil
import socket
import time

from lab import frontlb, netns, processes
from lab.errors import LabError


def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def check_installed():
    if nginx_binary() is None:
        raise LabError("this scenario has a front load balancer, and nginx is not installed "
                       "(install it with: sudo ./setup)")


def nginx_dir(record):
    return record.path("nginx")


def nginx_argv(record, *extra):
    d = nginx_dir(record)
    return [nginx_binary(), "-p", d + "/", "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "error.log"),
            *extra]


def start(record, desired):
    """Write nginx.conf, check it with ``nginx -t``, start nginx and the controller; wait for both."""
    d = nginx_dir(record)
    for kind in frontlb.TEMP_PATHS:
        os.makedirs(os.path.join(d, "tmp", kind), exist_ok=True)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(frontlb.render(desired, d))
    check = processes.run_in(desired.lb.netns, nginx_argv(record, "-t", "-q"))
    if check.returncode != 0:
        raise LabError(f"nginx rejected the generated configuration: {check.stderr.strip()}")
    proc = processes.spawn_command(nginx_argv(record), desired.lb.netns, os.path.join(d, "nginx.log"))
    record.add_pid("nginx/lb", proc.pid)
    _wait_listening(desired, proc, d)
    controller = processes.spawn("lb-controller", "lab.agents.lbcontroller",
                                 ["--cluster", record.path("cluster.json"), "--dir", d], desired.lb.netns,
                                 record.path("lb-controller.log"), desired.lab, record.path("bin"))
    record.add_pid("lb-controller/lb", controller.pid)
    processes.wait_ready([controller])


def _wait_listening(desired, proc, directory, timeout=5.0):
    """Until nginx accepts connections on its first address (the virtual hosts' port 80)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(os.path.join(directory, "error.log")) as f:
                raise LabError(f"nginx exited: {f.read().strip().splitlines()[-1:]}")
        with netns.entered(desired.lb.netns):
            s = socket.socket()
        s.settimeout(0.2)
        try:
            s.connect((str(desired.lb.ip), 80))
            return
        except OSError:
            time.sleep(0.01)
        finally:
            s.close()
    raise LabError("nginx did not start listening in time")
