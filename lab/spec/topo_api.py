"""Topologies written in Python, the way Mininet users write them.

A ``Topo`` subclass whose ``build()`` calls ``addSwitch`` (the LAN), ``addNode`` (a Kubernetes
node: ``ip`` and ``podCIDR``), ``addHost`` (a machine outside the cluster), ``addLoadBalancer``
and ``addLink`` (every machine to the LAN) describes the same machines as a topology YAML file;
``topology_dict`` turns it into the very dict that file would hold, so both load through
``lab.topology.parse`` and give the same lab. It also reads a ``mininet.topo.Topo`` built with the
same calls (Mininet's ``addNode`` keeps any options), so nothing here imports Mininet.

    class ThreeNode(Topo):
        def build(self):
            lan = self.addSwitch("lan", cidr="192.168.179.0/24", gateway="192.168.179.1")
            for name, ip, pods in [("master", "192.168.179.99", "10.244.0.0/24"), ...]:
                self.addLink(self.addNode(name, ip=ip, podCIDR=pods), lan)
            self.addLink(self.addHost("client", ip="192.168.179.200"), lan)

    topos = {"three-node": ThreeNode}
"""

import ipaddress
import os
import traceback

from lab.errors import InputError

SWITCH_OPTS = {"cidr", "gateway"}
NODE_OPTS = {"ip", "podCIDR"}
HOST_OPTS = {"ip"}
LB_OPTS = {"ip", "pool"}
LINK_KEYS = {"node1", "node2", "port1", "port2"}  # what Mininet's addLink records itself


class Topo:
    """The part of ``mininet.topo.Topo`` a topology file uses, plus ``addLoadBalancer``."""

    def __init__(self, *args, **params):
        self._nodes = {}  # name -> options, in the order they were added
        self._links = []  # (node1, node2, options)
        self.hopts = params.pop("hopts", {})
        self.sopts = params.pop("sopts", {})
        self.lopts = params.pop("lopts", {})
        self.build(*args, **params)

    def build(self, *args, **params):
        """Override this to add the machines and links."""

    def addNode(self, name, **opts):
        """A machine; with ``podCIDR`` (and ``ip``) a Kubernetes node."""
        self._nodes[name] = dict(opts)
        return name

    def addHost(self, name, **opts):
        return self.addNode(name, **(opts or self.hopts))

    def addSwitch(self, name, **opts):
        return self.addNode(name, isSwitch=True, **(opts or self.sopts))

    def addLoadBalancer(self, name="lb", **opts):
        """The front load balancer (``ip``, and the ``pool`` its controller hands out)."""
        return self.addNode(name, loadBalancer=True, **opts)

    def addLink(self, node1, node2, port1=None, port2=None, key=None, **opts):
        opts = dict(opts or self.lopts)
        opts.update(node1=node1, node2=node2, port1=port1, port2=port2)
        self._links.append((node1, node2, opts))
        return len(self._links) - 1

    # queries, as Mininet's Topo answers them
    def nodes(self, sort=True):
        return sorted(self._nodes) if sort else list(self._nodes)

    def isSwitch(self, name):
        return bool(self._nodes[name].get("isSwitch"))

    def switches(self, sort=True):
        return [n for n in self.nodes(sort) if self.isSwitch(n)]

    def hosts(self, sort=True):
        return [n for n in self.nodes(sort) if not self.isSwitch(n)]

    def nodeInfo(self, name):
        return self._nodes[name]

    def links(self, sort=False, withKeys=False, withInfo=False):
        out = [(a, b, info) if withInfo else (a, b) for a, b, info in self._links]
        return sorted(out, key=lambda link: link[:2]) if sort else out


# Topo -> the topology dict -------------------------------------------------------------------

def topology_dict(topo, file):
    """The dict a topology YAML file with the same machines would hold (``lab.topology.parse`` input)."""
    names = list(topo.nodes(sort=False))
    switches = [n for n in names if topo.isSwitch(n)]
    if len(switches) != 1:
        found = f"{len(switches)} ({', '.join(switches)})" if switches else "none"
        raise InputError(file, "addSwitch", f"svclab machines share one LAN: expected one switch, found {found}",
                         "add exactly one switch, addSwitch('lan', cidr=...), and link every machine to it")
    lan = switches[0]
    _check_links(topo, file, lan, [n for n in names if n != lan])
    lan_opts = _options(topo, lan, SWITCH_OPTS | {"isSwitch"}, file, f"addSwitch({lan!r})")
    machines = [n for n in names if n != lan]
    addresses = {}
    for name in machines:
        info = dict(topo.nodeInfo(name))
        if info.get("loadBalancer"):
            where, allowed = f"addLoadBalancer({name!r})", LB_OPTS | {"loadBalancer"}
        elif "podCIDR" in info:
            where, allowed = f"addNode({name!r})", NODE_OPTS
        else:
            where, allowed = f"addHost({name!r})", HOST_OPTS
        _options(topo, name, allowed, file, where)
        if "ip" not in info:
            raise InputError(file, f"{where}.ip", "is required", "give it an address on the LAN, ip='...'")
        addresses[name] = _address(info["ip"], file, f"{where}.ip")
    cidr = lan_opts.get("cidr") or _lan_from_prefixes(addresses, file, lan)
    _check_prefixes(addresses, cidr, file)
    doc = {"lan": {"cidr": cidr}}
    if "gateway" in lan_opts:
        doc["lan"]["gateway"] = lan_opts["gateway"]
    nodes, hosts, lb = [], [], None
    for name in machines:
        info, ip = topo.nodeInfo(name), addresses[name][0]
        if info.get("loadBalancer"):
            if lb is not None:
                raise InputError(file, f"addLoadBalancer({name!r})", "a lab has one front load balancer",
                                 "keep one addLoadBalancer call")
            lb = {"ip": ip, **({"pool": info["pool"]} if "pool" in info else {})}
        elif "podCIDR" in info:
            nodes.append({"name": name, "ip": ip, "podCIDR": info["podCIDR"]})
        else:
            hosts.append({"name": name, "ip": ip})
    doc["nodes"] = nodes
    if hosts:
        doc["hosts"] = hosts
    if lb is not None:
        doc["loadBalancer"] = lb
    return doc


def _options(topo, name, allowed, file, where):
    info = topo.nodeInfo(name)
    for key in info:
        if key not in allowed:
            raise InputError(file, f"{where}.{key}", "unknown option",
                             "allowed here: " + ", ".join(sorted(allowed - {"isSwitch", "loadBalancer"})))
    return info


def _check_links(topo, file, lan, machines):
    linked = {}
    for a, b, info in topo.links(withInfo=True):
        where = f"addLink({a!r}, {b!r})"
        if lan not in (a, b) or a == b:
            raise InputError(file, where, "svclab machines are linked to the LAN switch only",
                             f"link each machine to {lan!r}")
        extra = sorted(set(info) - LINK_KEYS - {"key"})
        if extra:
            raise InputError(file, f"{where}.{extra[0]}", "unknown link option", "svclab's LAN links take no options")
        other = b if a == lan else a
        if other in linked:
            raise InputError(file, where, f"{other!r} is linked to the LAN twice", "keep one addLink per machine")
        linked[other] = True
    for name in machines:
        if name not in linked:
            raise InputError(file, f"addLink({name!r}, {lan!r})", f"{name!r} is not linked to the LAN",
                             f"add self.addLink({name!r}, {lan!r})")


def _address(value, file, where):
    """(ip, prefix length or None) from ``ip='192.168.179.99'`` or Mininet's ``ip='192.168.179.99/24'``."""
    if not isinstance(value, str):
        raise InputError(file, where, f"expected a string, got {value!r}", "write it as ip='192.168.179.99'")
    ip, _, prefix = value.partition("/")
    if prefix:
        try:
            prefix = ipaddress.ip_network(value, strict=False).prefixlen
        except ValueError:
            raise InputError(file, where, f"{value!r} is not an address", "write it as ip='192.168.179.99/24'") from None
    return ip, (prefix or None)


def _lan_from_prefixes(addresses, file, lan):
    """The LAN's network from the machines' ``ip='a.b.c.d/len'``, when the switch gives no ``cidr``."""
    nets = set()
    for name, (ip, prefix) in addresses.items():
        if prefix is None:
            continue
        try:
            nets.add(str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False)))
        except ValueError:
            raise InputError(file, f"{name}.ip", f"{ip}/{prefix} is not an address") from None
    if len(nets) == 1:
        return nets.pop()
    problem = ("the machines' addresses are in different networks (" + ", ".join(sorted(nets)) + ")" if nets
               else "the LAN's network is not given")
    raise InputError(file, f"addSwitch({lan!r}).cidr", problem, f"give it: addSwitch({lan!r}, cidr='192.168.179.0/24')")


def _check_prefixes(addresses, cidr, file):
    try:
        lan = ipaddress.ip_network(cidr)
    except (TypeError, ValueError):
        return  # lab.topology.parse names the bad lan.cidr
    for name, (ip, prefix) in addresses.items():
        if prefix is not None and ipaddress.ip_network(f"{ip}/{prefix}", strict=False) != lan:
            raise InputError(file, f"{name}.ip", f"{ip}/{prefix} is not in the LAN {lan}",
                             f"write ip='{ip}' or use the LAN's prefix /{lan.prefixlen}")


# reading a topology file ------------------------------------------------------------------

def load_file(path):
    """The Topo a Python topology file defines: its ``topos`` dict's one entry, else its one Topo subclass."""
    from lab.spec.yamlfiles import read_text  # a regular file under the size limit, read once
    module = {"__name__": "svclab_topology", "__file__": path}
    try:
        exec(compile(read_text(path), path, "exec"), module)
    except InputError:
        raise
    except SystemExit as exc:
        raise InputError(path, _line(exc, path), f"the file exits ({_said(exc)}) instead of defining a topology",
                         "leave sys.exit out") from None
    except ImportError as exc:
        fix = ("use `from lab.topo_api import Topo`, which needs no Mininet" if "mininet" in str(exc)
               else "install what it imports")
        raise InputError(path, _line(exc, path), f"cannot import: {_said(exc)}", fix) from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the user's Python (whatever it raises): one line, like a YAML error
        raise InputError(path, _line(exc, path), f"{type(exc).__name__}: {_said(exc)}", "fix the Python file") from None
    factory = _factory(module, path)
    try:
        topo = factory()
    except InputError:
        raise
    except SystemExit as exc:
        raise InputError(path, _line(exc, path), f"building the topology exits ({_said(exc)})",
                         "leave sys.exit out") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise InputError(path, _line(exc, path),
                         f"building the topology failed: {type(exc).__name__}: {_said(exc)}", "fix build()") from None
    if not all(hasattr(topo, a) for a in ("nodes", "nodeInfo", "isSwitch", "links")):
        raise InputError(path, "topos", f"{factory!r} did not give a Topo", "map the name to a Topo subclass")
    return topo


def _factory(module, path):
    topos = module.get("topos")
    if topos is not None:
        if not isinstance(topos, dict) or len(topos) != 1:
            names = ", ".join(sorted(topos)) if isinstance(topos, dict) else repr(topos)
            raise InputError(path, "topos", f"expected a dict with one topology, got {names or 'an empty one'}",
                             "keep one entry: topos = {'name': MyTopo}")
        return next(iter(topos.values()))
    classes = [v for v in module.values() if isinstance(v, type) and v.__module__ == "svclab_topology"
               and callable(getattr(v, "build", None)) and callable(getattr(v, "addNode", None))]
    if len(classes) != 1:
        raise InputError(path, "", f"expected one Topo subclass, found {len(classes)}",
                         "define one class MyTopo(Topo) with a build() method, or topos = {'name': MyTopo}")
    return classes[0]


def _said(exc):
    """What the user's Python said, on one line (an error stays one line)."""
    return " ".join(str(exc).split())


def _line(exc, path):
    """'line N' of the topology file where ``exc`` was raised, if it was raised there."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == os.path.abspath(path)]
    if not frames and isinstance(exc, SyntaxError) and exc.lineno:
        return f"line {exc.lineno}"
    return f"line {frames[-1].lineno}" if frames else ""


def load(path):
    """The topology dict of a Python topology file."""
    topo = load_file(path)
    try:
        doc = topology_dict(topo, path)
    except InputError:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a Topo whose nodes(), links() or nodeInfo() answer oddly (or exit)
        raise InputError(path, _line(exc, path), f"reading the topology failed: {type(exc).__name__}: {_said(exc)}",
                         "nodes(), links() and nodeInfo() must answer as Mininet's Topo does") from None
    return doc
