"""What ``nft list table ip kube-proxy`` prints after kube-proxy's ``nft -f`` transaction, computed
without a kernel. Pure; the nftables analogue of lab.proxy.saveform, checked against nft 1.0.6.

Only what lab.proxy.nftables writes is understood. nft 1.0.6 prints, with tab indentation:

- the table comment, then every set and map, then every chain, each in creation order, a blank
  line between them;
- a set: ``type``, ``size`` (65535 when a rule's ``update @set`` made it dynamic without one),
  ``flags`` (in the order constant, dynamic, interval, timeout), ``timeout`` as ``1d2h3m4s``
  (``10800s`` -> ``3h``), ``comment``, then ``elements = { … }``: sorted as nft's mergesort does
  (a single key by value; a concatenation by its bytes - address and port in network order,
  protocol one byte - read as a little-endian number, i.e. from the port's last byte backwards),
  duplicates once, two addresses a line, a concatenation one a line, continuation lines indented
  ``\\t\\t\\t     ``;
- a chain: its comment, then for a base chain ``type T hook H priority P; policy accept;``, the
  priority named as nft names it (``dstnat - 10``, ``filter``, ``srcnat``; ``-110`` on output,
  where ``dstnat`` does not apply), then the rules;
- rules as written, except ``mark set mark or M`` -> ``meta mark set meta mark | 0x0000M``
  (``xor`` -> ``^``), ``mark and M == 0`` -> ``meta mark & 0x0000M == 0x00000000``, an address
  set of one element unwrapped (``{ 10.96.0.0/12 }`` -> ``10.96.0.0/12``, ``/32`` dropped),
  address sets with a prefix merged into sorted intervals (overlapping or adjacent ones joined,
  printed as prefix, address or ``a-b``), and ``" , "`` in anonymous sets and vmaps -> ``", "``.

The transaction is applied to an empty ruleset: ``delete table`` empties the model, ``flush``
empties a chain, set or map, ``delete`` drops one.
"""

import ipaddress
import re
from dataclasses import dataclass, field

TABLE = "ip kube-proxy"
CONT = ",\n\t\t\t     "  # nft's continuation of an elements list
_QUOTED = r'"[^"]*"'

# nft's standard priorities (ip family) and the hooks where the name applies
_PRIORITIES = (("raw", -300, None), ("mangle", -150, None), ("dstnat", -100, ("prerouting",)),
               ("filter", 0, None), ("security", 50, None), ("srcnat", 100, ("postrouting",)))
_FLAG_ORDER = ("constant", "dynamic", "interval", "timeout")
_PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "sctp": 132}


@dataclass
class _Set:
    kind: str  # "set" or "map"
    spec: dict
    elements: dict = field(default_factory=dict)  # key -> (comment, value), first add wins


@dataclass
class _Chain:
    spec: dict
    rules: list = field(default_factory=list)


@dataclass
class _Table:
    comment: str = None
    sets: dict = field(default_factory=dict)
    chains: dict = field(default_factory=dict)


# parsing ---------------------------------------------------------------------------------------

_COMMAND = re.compile(r"^(add|delete|flush) (table|chain|set|map|rule|element) ip kube-proxy ?(\S*) ?(.*)$")


def _spec(text):
    """``{ type … ; flags … ; comment "…" ; }`` -> {word: rest}."""
    text = text.strip()
    if not text:
        return {}
    out = {}
    for part in re.findall(rf'(?:{_QUOTED}|[^;"])+', text.strip("{} ")):
        part = part.strip()
        if part:
            word, _, rest = part.partition(" ")
            out[word] = rest.strip()
    if "comment" in out:
        out["comment"] = out["comment"].strip('"')
    return out


def _elements(text):
    """``{ KEY [comment "C"] [: VALUE] , … }`` -> [(key, comment, value)]."""
    out = []
    for item in re.findall(rf'(?:{_QUOTED}|[^,"])+', text.strip().strip("{}")):
        m = re.fullmatch(r'\s*(.+?)(?:\s+comment\s+"([^"]*)")?(?:\s*:\s*(.+?))?\s*', item)
        out.append((" . ".join(p.strip() for p in m.group(1).split(" . ")), m.group(2), m.group(3)))
    return out


def _parse(text):
    table = _Table()
    for line in text.splitlines():
        m = _COMMAND.match(line.strip())
        if not m:
            continue
        verb, kind, name, rest = m.groups()
        if kind == "table":
            if verb == "delete":
                table = _Table()
            elif verb == "add" and (comment := _spec(f"{name} {rest}").get("comment")):
                table.comment = comment
        elif kind in ("set", "map"):
            if verb == "add":
                table.sets.setdefault(name, _Set(kind, _spec(rest)))
            elif verb == "flush":
                table.sets[name].elements.clear()
            else:
                del table.sets[name]
        elif kind == "chain":
            if verb == "add":
                table.chains.setdefault(name, _Chain(_spec(rest)))
            elif verb == "flush":
                table.chains[name].rules.clear()
            else:
                del table.chains[name]
        elif kind == "rule":
            table.chains[name].rules.append(_rule(rest))
        elif kind == "element":
            elements = table.sets[name].elements
            for key, comment, value in _elements(rest):
                elements.setdefault(key, (comment, value))
    return table


# rules -----------------------------------------------------------------------------------------

def _mark(text):
    return f"0x{int(text, 0):08x}"


def _interval(net):
    return int(net.network_address), int(net.broadcast_address)


def _range_text(lo, hi):
    size = hi - lo + 1
    if size == 1:
        return str(ipaddress.ip_address(lo))
    if size & (size - 1) == 0 and lo % size == 0:  # a prefix
        return str(ipaddress.ip_network((lo, 32 - size.bit_length() + 1)))
    return f"{ipaddress.ip_address(lo)}-{ipaddress.ip_address(hi)}"


def _address_set(items):
    """An anonymous set of addresses and prefixes as nft lists it."""
    if len(items) == 1:  # nft replaces a one-element set by the element
        net = ipaddress.ip_network(items[0], strict=False)
        return str(net.network_address) if net.prefixlen == 32 else str(net)
    if not any("/" in i for i in items):  # a plain set: sorted, not merged
        return "{ " + ", ".join(sorted(items, key=lambda i: int(ipaddress.ip_address(i)))) + " }"
    merged = []
    for lo, hi in sorted(_interval(ipaddress.ip_network(i, strict=False)) for i in items):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return "{ " + ", ".join(_range_text(lo, hi) for lo, hi in merged) + " }"


def _vmap(body):
    items = [i.strip() for i in body.split(",")]
    return "{ " + ", ".join(sorted(items, key=lambda i: int(i.split(":")[0]))) + " }"


def _rule(rule):
    rule = re.sub(r"\bmark set mark (or|xor) (\S+)",
                  lambda m: f"meta mark set meta mark {'|' if m[1] == 'or' else '^'} {_mark(m[2])}", rule)
    rule = re.sub(r"\bmark and (\S+) == (\S+)", lambda m: f"meta mark & {_mark(m[1])} == {_mark(m[2])}", rule)
    rule = re.sub(r"(ip [sd]addr (?:!= )?)\{([^}]*)\}",
                  lambda m: m[1] + _address_set([i.strip() for i in m[2].split(",")]), rule)
    return re.sub(r"\bvmap \{([^}]*)\}", lambda m: "vmap " + _vmap(m[1]), rule)


# printing --------------------------------------------------------------------------------------

def _timeout(text):
    seconds = int(text.rstrip("s"))
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out


def _priority(hook, text):
    prio = int(text)
    for name, value, hooks in _PRIORITIES:
        if abs(prio - value) <= 10:
            if hooks is not None and hook not in hooks:
                break
            offset = prio - value
            return name + (f" + {offset}" if offset > 0 else f" - {-offset}" if offset < 0 else "")
    return str(prio)


def _sort_key(key_type, key):
    """nft's mergesort value: a single key by value, a concatenation by its bytes read little-endian."""
    types = [t.strip() for t in key_type.split(".")]
    parts = key.split(" . ")
    data = b""
    for t, p in zip(types, parts):
        if t == "ipv4_addr":
            data += ipaddress.ip_address(p).packed
        elif t == "inet_proto":
            data += bytes([_PROTOCOLS[p] if p in _PROTOCOLS else int(p)])
        else:  # inet_service
            data += int(p).to_bytes(2, "big")
    return int.from_bytes(data, "big" if len(types) == 1 else "little")


def _per_line(key_type):
    """nft's calculate_delim: how many elements share a line."""
    if key_type in ("ipv4_addr", "ipv6_addr"):
        return 2
    if key_type in ("inet_proto", "inet_service", "integer", "mark"):
        return 5
    return 1


def _set_lines(name, s, dynset_refs):
    key_type = s.spec["type"].split(":")[0].strip()
    out = [f"\t{s.kind} {name} {{", f"\t\ttype {' '.join(s.spec['type'].split())}"]
    if "size" in s.spec:
        out.append(f"\t\tsize {s.spec['size']}")
    elif name in dynset_refs:  # the kernel sizes a set a rule updates
        out.append("\t\tsize 65535")
    if "flags" in s.spec:
        flags = [f.strip() for f in s.spec["flags"].split(",")]
        out.append("\t\tflags " + ",".join(f for f in _FLAG_ORDER if f in flags))
    if "timeout" in s.spec:
        out.append(f"\t\ttimeout {_timeout(s.spec['timeout'])}")
    if "comment" in s.spec:
        out.append(f'\t\tcomment "{s.spec["comment"]}"')
    if s.elements:
        texts = [key + (f' comment "{comment}"' if comment else "") + (f" : {value}" if value else "")
                 for key, (comment, value) in sorted(s.elements.items(), key=lambda kv: _sort_key(key_type, kv[0]))]
        n = _per_line(key_type)
        rows = [", ".join(texts[i:i + n]) for i in range(0, len(texts), n)]
        out.append("\t\telements = { " + CONT.join(rows) + " }")
    return out + ["\t}"]


def _chain_lines(name, c):
    out = [f"\tchain {name} {{"]
    if "comment" in c.spec:
        out.append(f'\t\tcomment "{c.spec["comment"]}"')
    if "type" in c.spec:
        m = re.fullmatch(r"(\S+) hook (\S+) priority (\S+)", c.spec["type"])
        kind, hook, prio = m.groups()
        policy = c.spec.get("policy", "accept")
        out.append(f"\t\ttype {kind} hook {hook} priority {_priority(hook, prio)}; policy {policy};")
    return out + [f"\t\t{r}" for r in c.rules] + ["\t}"]


def list_table(transaction_text):
    """``nft list table ip kube-proxy`` after ``nft -f`` of ``transaction_text`` in an empty namespace."""
    table = _parse(transaction_text)
    dynset_refs = {m for c in table.chains.values() for r in c.rules for m in re.findall(r"update @(\S+)", r)}
    blocks = [_set_lines(n, s, dynset_refs) for n, s in table.sets.items()]
    blocks += [_chain_lines(n, c) for n, c in table.chains.items()]
    out = [f"table {TABLE} {{"]
    if table.comment:
        out.append(f'\tcomment "{table.comment}"')
    for i, block in enumerate(blocks):
        if i:
            out.append("")
        out += block
    return "\n".join(out + ["}"]) + "\n"
