"""What a rule read back from a node does with the first packet of a new connection whose
destination is known (address, protocol, port) but whose source is not. Pure.

Matches on the destination are decided here; matches on the source (``! -s 10.244.0.0/16``,
``--src-type LOCAL``, ``-m statistic``, ``-m recent --rcheck``, nft's ``numgen``, ...) become
conditions, said in words, which is what a student needs to read kube-proxy's chains.
"""

import ipaddress
import re
from dataclasses import dataclass
from fractions import Fraction

from lab.proxy.ruleset import split_top, target_value

# targets that end a packet's walk through a hook's chains
FINAL = ("DNAT", "SNAT", "MASQUERADE", "REJECT", "DROP", "ACCEPT")
MASQ_CHAINS = ("KUBE-MARK-MASQ", "mark-for-masquerade")


@dataclass
class Packet:
    """What is known of the first packet of a new connection, as it reaches a rule."""

    dst: ipaddress.IPv4Address
    proto: str  # tcp, udp, sctp
    dport: int
    dst_local: bool  # the destination is an address of this node
    dnat: bool = False  # a DNAT rule rewrote the destination already
    marked: object = False  # the masquerade mark: False (not set), None (it depends)


@dataclass(frozen=True)
class Cond:
    """A condition the rule puts on what the walk does not know (the source, chance, history)."""

    kind: str  # source, local-source, probability, affinity, mark, interface, other
    text: str
    probability: Fraction = None


@dataclass(frozen=True)
class RuleOutcome:
    """What a rule does when it matches: ``verdict`` is jump, goto, DNAT, REJECT, DROP, ACCEPT,
    RETURN, MARK, MASQUERADE, SNAT, note (nft's affinity update, a comment-only rule) or the
    target's own name."""

    conds: tuple
    verdict: str
    target: str = None  # the chain jumped to
    to: str = None  # DNAT/SNAT address
    via: str = None  # the map element that chose the target (nftables)


def _in_net(ip, text):
    try:
        return ip in ipaddress.ip_network(text, strict=False)
    except ValueError:
        if "-" in text:
            lo, hi = text.split("-", 1)
            try:
                return ipaddress.ip_address(lo) <= ip <= ipaddress.ip_address(hi)
            except ValueError:
                return False
        return False


def _port_in(port, text):
    for part in text.split(","):
        if ":" in part or "-" in part:
            lo, hi = re.split("[:-]", part, 1)
            if (int(lo or 0)) <= port <= int(hi or 65535):
                return True
        elif part.isdigit() and int(part) == port:
            return True
    return False


def source_words(cidr, negated, context):
    """``-s``/``ip saddr`` in words, with what the lab knows of the address: ``context`` maps an
    address or CIDR to (words when it matches, words when it does not)."""
    plain = cidr[:-3] if cidr.endswith("/32") else cidr
    known = context.get(plain) or context.get(cidr)
    text = f"the source is {'not ' if negated else ''}{'in ' if '/' in plain else ''}{plain}"
    if not known:
        return text
    return f"{text} ({known[1] if negated else known[0]})"


def _probability(value):
    return Fraction(value).limit_denominator(1000)


def iptables_outcomes(rule, pkt, context):
    """[RuleOutcome] if the rule can match the packet, [] if it cannot."""
    conds = []
    for module, option, value, neg in rule.matches:
        if module == "":
            if option == "-d":
                if _in_net(pkt.dst, value) == neg:
                    return []
            elif option == "-p":
                if (value.lower() == pkt.proto or value == "all") == neg:
                    return []
            elif option == "-s":
                conds.append(Cond("source", source_words(value, neg, context)))
            else:
                which = "arrives on" if option == "-i" else "leaves by"
                conds.append(Cond("interface", f"the packet {which} {'an interface other than ' if neg else ''}{value}"))
        elif module in ("tcp", "udp", "sctp", "multiport") and option in ("--dport", "--destination-port", "--dports"):
            if _port_in(pkt.dport, value) == neg:
                return []
        elif module == "addrtype" and option == "--dst-type":
            if value != "LOCAL":
                conds.append(Cond("other", f"the destination type is {'not ' if neg else ''}{value}"))
            elif pkt.dst_local == neg:
                return []
        elif module == "addrtype" and option == "--src-type":
            conds.append(Cond("local-source", "the source is not an address of this node" if neg else
                              "the source is an address of this node (the node's own connection)"))
        elif module == "statistic" and option == "--probability":
            conds.append(Cond("probability", f"with probability {value}", _probability(value)))
        elif module == "statistic" and option in ("--mode", "--every", "--packet"):
            continue
        elif module == "recent" and option in ("--rcheck", "--update"):
            name = next((v for m, o, v, _ in rule.matches if m == "recent" and o == "--name"), "?")
            secs = next((v for m, o, v, _ in rule.matches if m == "recent" and o == "--seconds"), None)
            within = f" within the last {secs} s" if secs else ""
            who = context.get(name, (name,))[0]
            conds.append(Cond("affinity", f"this client was sent to {who}{within} (session affinity: "
                                          f"-m recent list {name})"))
        elif module == "recent":
            continue
        elif module == "conntrack" and option == "--ctstate":
            states = {"NEW"} | ({"DNAT"} if pkt.dnat else set())
            if bool(states & set(value.split(","))) == neg:
                return []
        elif module == "mark" and option == "--mark":
            if pkt.marked is None:
                conds.append(Cond("mark", f"the packet {'is not' if neg else 'is'} marked {value}"))
            elif pkt.marked is False and not neg:
                return []
        elif module in ("comment", "tcp", "udp", "sctp") and option in ("--comment",):
            continue
        else:
            shown = f"{'! ' if neg else ''}{option} {value}".strip()
            conds.append(Cond("other", f"-m {module} {shown}" if module else shown))
    verdict, target = rule.verdict, rule.target
    if verdict == "MARK":
        to = " ".join(rule.target_args)
    elif verdict in ("DNAT", "SNAT"):
        to = target_value(rule, "--to-destination" if verdict == "DNAT" else "--to-source")
    else:
        to = None
    return [RuleOutcome(tuple(conds), verdict or "note", target, to)]


# nftables ----------------------------------------------------------------------------------------

def _nft_addr_match(ip, value, rs):
    if value.startswith("@"):
        return any(_in_net(ip, key) for key, _, _ in rs.sets.get(value[1:], []))
    items = [v.strip() for v in value.strip("{} ").split(",")]
    return any(_in_net(ip, v) for v in items if v)


def nft_outcomes(rule, pkt, rs, context):
    conds = []
    key = None
    for module, option, value, neg in rule.matches:
        if module == "ip" and option == "daddr":
            if _nft_addr_match(pkt.dst, value, rs) == neg:
                return []
        elif module == "ip" and option == "saddr":
            if value.startswith("@affinity-"):
                ep = value.rsplit("__", 1)[-1].replace("/", ":")
                who = context.get(ep.rsplit(":", 1)[0], (ep,))[0] if "__" in value else value
                conds.append(Cond("affinity", f"this client was sent to {who} within the set's timeout "
                                              f"(session affinity: its address is in {value})"))
            else:
                conds.append(Cond("source", source_words(value.strip("{} "), neg, context)))
        elif module == "fib" and option == "daddr":
            if (value == "local" and pkt.dst_local) == neg:
                return []
        elif module == "fib" and option == "saddr":
            conds.append(Cond("local-source", "the source is not an address of this node" if neg else
                              "the source is an address of this node (the node's own connection)"))
        elif module == "ct":
            states = {"new"} | ({"dnat"} if pkt.dnat else set())
            if bool(states & set(value.split(","))) == neg:
                return []
        elif module == "meta" and option == "l4proto":
            if (value == pkt.proto) == neg:
                return []
        elif module == "th":
            if _port_in(pkt.dport, value) == neg:
                return []
        elif module == "mark":
            if pkt.marked is None:
                conds.append(Cond("mark", f"the mark & {option} {'!=' if neg else '=='} {value}"))
            elif pkt.marked is False and (int(value, 16) == 0) == neg:
                return []
        elif module == "iface":
            conds.append(Cond("interface", f"the packet {'arrives on' if option == 'in' else 'leaves by'} "
                                           f"{'an interface other than ' if neg else ''}{value}"))
        elif module == "vmap-key":
            key = option
        else:
            conds.append(Cond("other", value))
    if rule.verdict == "vmap":
        return _vmap(rule, key, pkt, rs, conds)
    to = target_value(rule, "--to-destination") or target_value(rule, "--to-source")
    if rule.verdict == "MARK":
        to = rule.target_args[0]
    return [RuleOutcome(tuple(conds), rule.verdict, rule.target, to)]


def _verdict_of(value):
    m = re.match(r"(goto|jump) (\S+)$", value or "")
    if m:
        return m.group(1), m.group(2)
    return (value or "").upper(), None


def _vmap(rule, key, pkt, rs, conds):
    spec = rule.target_args[0]
    if spec.startswith("@"):
        elements = rs.sets.get(spec[1:], [])
    else:
        elements = []
        for part in split_top(spec.strip()[1:-1]):
            k, _, v = part.partition(" : ")
            elements.append((k.strip(), v.strip(), None))
    if key and key.startswith("numgen"):
        n = int(key.split()[-1])
        out = []
        for k, v, _ in elements:
            verdict, target = _verdict_of(v)
            out.append(RuleOutcome(tuple(conds) + (Cond("probability", f"numgen random mod {n} gives {k}",
                                                    Fraction(1, n)),), verdict, target, via=f"{k} : {v}"))
        return out
    want = {"ip daddr . meta l4proto . th dport": [str(pkt.dst), pkt.proto, str(pkt.dport)],
            "meta l4proto . th dport": [pkt.proto, str(pkt.dport)]}.get(key)
    for k, v, comment in elements:
        if want is not None and [p.strip() for p in k.split(" . ")] == want:
            verdict, target = _verdict_of(v)
            shown = f"{k}{' comment ' + repr(comment) if comment else ''} : {v}"
            return [RuleOutcome(tuple(conds), verdict, target, via=f"{spec} element {shown}")]
    return []


def outcomes(rule, pkt, rs, context):
    return nft_outcomes(rule, pkt, rs, context) if rs.kind == "nftables" else iptables_outcomes(rule, pkt, context)
