"""Starting the front load balancer of a lab: nginx and its controller, in the ``lb`` namespace."""

import os
import shutil
import socket
import time

from lab.agents import registry
from lab.errors import LabError
from lab.kernel import commands, netns, processes
from lab.net import nginx


def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def check_installed():
    if nginx_binary() is None:
        raise LabError("this scenario has a front load balancer, and nginx is not installed "
                       "(install it with: sudo ./setup)")


def nginx_dir(record):
    return record.path("nginx")


def config_path(record):
    return os.path.join(nginx_dir(record), "nginx.conf")


def nginx_argv(record, *extra):
    d = nginx_dir(record)
    return [nginx_binary(), "-p", d + "/", "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "error.log"),
            *extra]


def start(record, cluster):
    """Write nginx.conf, check it with ``nginx -t``, start nginx and the controller; wait for both."""
    d = nginx_dir(record)
    for kind in nginx.TEMP_PATHS:
        os.makedirs(os.path.join(d, "tmp", kind), exist_ok=True)
    with open(config_path(record), "w") as f:
        f.write(nginx.render(cluster, d))
    commands.run(nginx_argv(record, "-t", "-q"), cluster.lb.netns)
    proc = processes.spawn_command(nginx_argv(record), cluster.lb.netns, os.path.join(d, "nginx.log"))
    record.add_pid(registry.NGINX.record_key(registry.LB_KEY), proc.pid)
    _wait_listening(cluster, proc, d)
    kind = registry.LB_CONTROLLER
    controller = processes.spawn(kind.name, kind.module, ["--cluster", record.path("cluster.json"), "--dir", d],
                                 cluster.lb.netns, record.path(kind.log_file(registry.LB_KEY)), cluster.lab,
                                 record.path("bin"),
                                 on_pid=lambda pid: record.add_pid(kind.record_key(registry.LB_KEY), pid))
    processes.wait_ready([controller])


def _wait_listening(cluster, proc, directory, timeout=5.0):
    """Until nginx accepts connections on its first address (the virtual hosts' port 80)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(os.path.join(directory, "error.log")) as f:
                raise LabError(f"nginx exited: {f.read().strip().splitlines()[-1:]}")
        with netns.entered(cluster.lb.netns):
            s = socket.socket()
        s.settimeout(0.2)
        try:
            s.connect((str(cluster.lb.ip), 80))
            return
        except OSError:
            time.sleep(0.01)
        finally:
            s.close()
    raise LabError("nginx did not start listening in time")
