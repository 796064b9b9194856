"""A daemon that serves every pod of one app on one node group (kubia, echo, coredns) and
follows its spec file: the pods to serve, re-read on SIGHUP."""

import json
import os
import signal
import socket

from lab.agents.protocol import acknowledge
from lab.kernel.netns import listen_in
from lab.kernel.processes import report_ready


class PodServer:
    """One daemon serving every pod of one app on one node.

    The spec file lists the pods (``name``, ``netns``, ``ports`` as ``[port, "TCP"|"UDP"]``);
    ``serve(pod_name, protocol, sock)`` turns a bound socket into an asyncio server or transport.
    SIGHUP re-reads the spec: listeners of pods that left are closed, new pods get theirs.
    """

    def __init__(self, spec_path, ack_name, serve, on_reload=None):
        self.spec_path, self.ack_name, self.serve, self.on_reload = spec_path, ack_name, serve, on_reload
        self.listeners = {}  # (netns, port, protocol) -> server or transport

    def _wanted(self):
        with open(self.spec_path) as f:
            spec = json.load(f)
        return {(pod["netns"], port, proto): pod["name"] for pod in spec["pods"] for port, proto in pod["ports"]}

    async def sync(self):
        wanted = self._wanted()
        for key in set(self.listeners) - set(wanted):
            self.listeners.pop(key).close()
        for key in sorted(set(wanted) - set(self.listeners)):
            netns_name, port, proto = key
            kind = socket.SOCK_STREAM if proto == "TCP" else socket.SOCK_DGRAM
            self.listeners[key] = await self.serve(wanted[key], proto, listen_in(netns_name, port, kind))

    async def run(self, ready_fd):
        import asyncio  # here, not at the top: kube-proxy shares this module and never needs it
        try:
            if self.on_reload:
                self.on_reload()
            await self.sync()
        except (OSError, ValueError, KeyError) as exc:
            report_ready(ready_fd, f"cannot serve: {exc}")
            return 1
        self._acknowledge()
        report_ready(ready_fd)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        reload = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, reload.set)
        while not stop.is_set():
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(reload.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            if reload.is_set() and not stop.is_set():
                reload.clear()
                try:
                    if self.on_reload:
                        self.on_reload()
                    await self.sync()
                    self._acknowledge()
                    print("reloaded", flush=True)
                except (OSError, ValueError, KeyError) as exc:
                    print(f"reload failed: {exc}", flush=True)
        for listener in self.listeners.values():
            listener.close()
        return 0

    def _acknowledge(self):
        acknowledge(os.path.dirname(self.spec_path), self.ack_name)
