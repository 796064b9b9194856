"""A node's netfilter rules as read back from the kernel: ``iptables-save`` text (or the restore
text kube-proxy writes, the same rules in another order) and ``nft list table ip kube-proxy``,
into one small model of tables, chains, rules, hooks and sets. Pure.

Each rule keeps its matches as ``(module, option, value, negated)`` and its verdict and target,
so a reader can ask what the rule does with a packet (``lab.classroom.explain.match``).
"""

import re
import shlex
from dataclasses import dataclass, field


@dataclass
class Rule:
    table: str
    chain: str
    text: str  # the rule as the tool printed it
    matches: list = field(default_factory=list)  # (module, option, value, negated)
    verdict: str = ""
    target: str = None
    target_args: tuple = ()
    comment: str = None
    affinity_set: str = None  # -m recent --set --name X / update @X
    nft: str = None  # for nftables rules: the statement text without its comment


@dataclass
class Ruleset:
    kind: str  # iptables, nftables
    chains: dict = field(default_factory=dict)  # (table, chain) -> [Rule]
    hooks: dict = field(default_factory=dict)  # hook -> [(priority, table, chain, type)]
    sets: dict = field(default_factory=dict)  # nft set or map name -> [(key, value or None, comment)]

    def rules(self, table, chain):
        return self.chains.get((table, chain))


# iptables --------------------------------------------------------------------------------------

IPTABLES_HOOKS = {  # hook -> [(priority, table, chain, type)], netfilter's order
    "prerouting": [(-100, "nat", "PREROUTING", "nat")],
    "output": [(-100, "nat", "OUTPUT", "nat"), (0, "filter", "OUTPUT", "filter")],
    "input": [(0, "filter", "INPUT", "filter")],
    "forward": [(0, "filter", "FORWARD", "filter")],
    "postrouting": [(100, "nat", "POSTROUTING", "nat")],
}
_BASIC = {"-s": "--source", "-d": "--destination", "-p": "--protocol", "-i": "--in-interface",
          "-o": "--out-interface"}
_FLAGS = {"--rcheck", "--set", "--update", "--remove", "--reap", "--rsource", "--rdest", "--physdev-is-in",
          "--physdev-is-out", "--physdev-is-bridged", "--random-fully", "--random", "--persistent", "--syn"}


def parse_iptables(text):
    """``iptables-save`` output (any tables) or restore input -> Ruleset. ``-I CHAIN 1`` lines count
    as first in their chain; lines it does not understand are skipped."""
    rs = Ruleset("iptables", hooks={k: list(v) for k, v in IPTABLES_HOOKS.items()})
    table = None
    for line in text.splitlines():
        line = line.rstrip()
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":") and table:
            rs.chains.setdefault((table, line[1:].split()[0]), [])
        elif line.startswith(("-A ", "-I ")) and table:
            try:
                tokens = shlex.split(line)
            except ValueError:
                continue
            chain = tokens[1]
            rest = tokens[2:]
            insert = line.startswith("-I ")
            if insert and rest and rest[0].isdigit():
                rest = rest[1:]
            rule = _iptables_rule(table, chain, rest, _canonical_line(line))
            rules = rs.chains.setdefault((table, chain), [])
            rules.insert(0, rule) if insert else rules.append(rule)
    return rs


def _canonical_line(line):
    m = re.match(r"-I (\S+) \d+ ", line)
    return f"-A {m.group(1)} " + line[m.end():] if m else line


def _iptables_rule(table, chain, tokens, text):
    rule = Rule(table, chain, text)
    module, negate, i = "", False, 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            negate = True
            i += 1
            continue
        if tok in ("-j", "-g", "--jump", "--goto"):
            name = tokens[i + 1] if i + 1 < len(tokens) else ""
            rule.verdict = "goto" if tok in ("-g", "--goto") else "jump"
            rule.target = name
            rule.target_args = tuple(tokens[i + 2:])
            break
        if tok in ("-m", "--match"):
            module = tokens[i + 1] if i + 1 < len(tokens) else ""
            i += 2
            continue
        if tok in _BASIC or tok in _BASIC.values():
            option = next((k for k, v in _BASIC.items() if tok in (k, v)))
            rule.matches.append(("", option, tokens[i + 1] if i + 1 < len(tokens) else "", negate))
            negate, i = False, i + 2
            continue
        if tok.startswith("--"):
            has_value = tok not in _FLAGS and i + 1 < len(tokens) and not tokens[i + 1].startswith("-") \
                and tokens[i + 1] != "!"
            value = tokens[i + 1] if has_value else ""
            if module == "comment" and tok == "--comment":
                rule.comment = value
            elif module == "recent" and tok == "--name":
                rule.matches.append((module, "--name", value, False))
            else:
                rule.matches.append((module, tok, value, negate))
            negate, i = False, i + (2 if has_value else 1)
            continue
        i += 1
    if rule.target in ("DNAT", "SNAT", "MASQUERADE", "REJECT", "DROP", "ACCEPT", "RETURN", "MARK"):
        rule.verdict, rule.target = rule.target, None
    elif rule.target and rule.target.isupper() and "-" not in rule.target and rule.target not in ("TRACE",):
        rule.verdict, rule.target = rule.target, None  # LOG, NOTRACK, ... : a target, not a chain
    mods = {m for m, o, _, _ in rule.matches if m == "recent" and o == "--set"}
    if mods:
        rule.affinity_set = next((v for m, o, v, _ in rule.matches if m == "recent" and o == "--name"), "?")
    return rule


def target_value(rule, option):
    """The value of a target option (``--to-destination``), or None."""
    args = list(rule.target_args)
    return args[args.index(option) + 1] if option in args and args.index(option) + 1 < len(args) else None


NFT_TABLE = "kube-proxy"
_HOOK_LINE = re.compile(r"type (\w+) hook (\w+) priority ([^;]+);")
_NAMED_PRIORITY = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}


def _priority(text):
    total = 0
    for sign, word in re.findall(r"([+-]?)\s*(\w+)", text.replace(" - ", " -").replace(" + ", " +")):
        value = _NAMED_PRIORITY.get(word, None)
        if value is None:
            try:
                value = int(word)
            except ValueError:
                value = 0
        total += -value if sign == "-" else value
    return total


def parse_nft(text):
    """``nft list table ip kube-proxy`` -> Ruleset (chains under the table name ``kube-proxy``)."""
    rs = Ruleset("nftables")
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        m = re.match(r"(set|map) (\S+) \{$", line)
        c = re.match(r"chain (\S+) \{$", line)
        if m:
            body = []
            i += 1
            while i < len(lines) and lines[i].strip() != "}":
                body.append(lines[i].strip())
                i += 1
            rs.sets[m.group(2)] = _nft_elements(" ".join(body))
        elif c:
            name = c.group(1)
            rules = rs.chains.setdefault((NFT_TABLE, name), [])
            i += 1
            while i < len(lines) and lines[i].strip() != "}":
                stmt = lines[i].strip()
                hook = _HOOK_LINE.match(stmt)
                if hook:
                    rs.hooks.setdefault(hook.group(2), []).append((_priority(hook.group(3)), NFT_TABLE, name,
                                                                   hook.group(1)))
                elif stmt and not stmt.startswith("comment "):
                    rules.append(_nft_rule(name, stmt))
                i += 1
        i += 1
    for entries in rs.hooks.values():
        entries.sort(key=lambda e: e[0])
    return rs


def _nft_elements(body):
    m = re.search(r"elements = \{(.*)\}", body)
    if not m:
        return []
    out = []
    for part in split_top(m.group(1)):
        comment = re.search(r'comment "([^"]*)"', part)
        part = re.sub(r'\s*comment "[^"]*"', "", part).strip()
        key, _, value = part.partition(" : ")
        out.append((key.strip(), value.strip() or None, comment.group(1) if comment else None))
    return out


def split_top(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


_NFT_VERDICT = re.compile(r"(?:^|\s)(jump|goto) (\S+)$|(?:^|\s)(drop|accept|return)$|(?:^|\s)(reject)(?: with .*)?$"
                          r"|(?:^|\s)(masquerade)(?: .*)?$|(?:^|\s)dnat to (\S+)$|(?:^|\s)snat to (\S+)$"
                          r"|(?:^|\s)vmap (@\S+|\{.*\})$")


def _nft_rule(chain, stmt):
    comment = re.search(r'\s+comment "([^"]*)"$', stmt)
    body = stmt[:comment.start()] if comment else stmt
    rule = Rule(NFT_TABLE, chain, stmt, comment=comment.group(1) if comment else None, nft=body)
    upd = re.match(r"update @(\S+) \{ ip saddr \}", body)
    if upd:
        rule.verdict, rule.affinity_set = "note", upd.group(1)
        return rule
    if body.startswith("meta mark set "):
        rule.verdict, rule.target_args = "MARK", (body[len("meta mark set "):],)
        return rule
    m = _NFT_VERDICT.search(body)
    head = body[:m.start()].strip() if m else body
    if m:
        if m.group(1):
            rule.verdict, rule.target = m.group(1), m.group(2)
        elif m.group(3):
            rule.verdict = m.group(3).upper()
        elif m.group(4):
            rule.verdict = "REJECT"
        elif m.group(5):
            rule.verdict = "MASQUERADE"
        elif m.group(6):
            rule.verdict, rule.target_args = "DNAT", ("--to-destination", m.group(6))
        elif m.group(7):
            rule.verdict, rule.target_args = "SNAT", ("--to-source", m.group(7))
        elif m.group(8):
            rule.verdict = "vmap"
            rule.target_args = (m.group(8),)
            key = re.search(r"(numgen random mod \d+|ip daddr \. meta l4proto \. th dport|meta l4proto \. th dport)$",
                            head)
            if key:
                rule.matches.append(("vmap-key", key.group(1), "", False))
                head = head[:key.start()].strip()
    else:
        rule.verdict = "note"
    rule.matches[:0] = _nft_matches(head)
    return rule


_NFT_MATCH = re.compile(
    r"ip (saddr|daddr) (!= )?(@\S+|\{[^}]*\}|\S+)"
    r"|fib (saddr|daddr) type (!= )?(\S+)"
    r"|ct state (!= )?(\S+)"
    r"|meta l4proto (!= )?(\S+)"
    r"|(?:tcp|udp|sctp|th) dport (!= )?(\S+)"
    r"|meta mark & (\S+) (==|!=) (\S+)"
    r"|iifname (!= )?(\S+)|oifname (!= )?(\S+)")


def _nft_matches(head):
    out, pos = [], 0
    while pos < len(head):
        m = _NFT_MATCH.match(head, pos)
        if not m:
            rest = head[pos:].strip()
            if rest:
                out.append(("nft", "other", rest, False))
            break
        g = m.groups()
        if g[0]:
            out.append(("ip", g[0], g[2], bool(g[1])))
        elif g[3]:
            out.append(("fib", g[3], g[5], bool(g[4])))
        elif g[7]:
            out.append(("ct", "state", g[7], bool(g[6])))
        elif g[9]:
            out.append(("meta", "l4proto", g[9], bool(g[8])))
        elif g[11]:
            out.append(("th", "dport", g[11], bool(g[10])))
        elif g[12]:
            out.append(("mark", g[12], g[14], g[13] == "!="))
        elif g[16] or g[18]:
            out.append(("iface", "in" if g[16] else "out", g[16] or g[18], bool(g[15] or g[17])))
        pos = m.end()
        while pos < len(head) and head[pos] == " ":
            pos += 1
    return out
