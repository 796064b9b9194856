"""From one sync to the next: what kube-proxy actually feeds ``iptables-restore --noflush``.

- Service chains that no longer exist are deleted (``:CHAIN - [0:0]`` then ``-X CHAIN``), as
  kube-proxy does for stale ``KUBE-SVC/SVL/EXT/FW/SEP`` (and, in 1.18, ``KUBE-XLB``) chains.
- Partial syncs (KEP-3453, the current layout): after the first sync, a service chain whose rules
  have not changed is left out of the input and stays in the kernel as it is; the top-level
  chains (KUBE-SERVICES, KUBE-NODEPORTS, ...) are always written whole.
Pure: text in, text out.
"""

from lab.proxy import names


def parse(text):
    """{table: {chain: [rule lines]}} of a restore input, in order."""
    tables, table = {}, None
    for line in text.splitlines():
        if line.startswith("*"):
            table = tables.setdefault(line[1:], {})
        elif line.startswith(":"):
            table.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A "):
            table.setdefault(line.split()[1], []).append(line)
    return tables


def restore_input(current, previous=None, partial=False):
    """The text to restore, given this sync's full rules and the last sync's (None: first sync)."""
    tables = parse(current)
    before = parse(previous) if previous else {}
    out = []
    for table, chains in tables.items():
        old = before.get(table, {})
        write = [c for c in chains
                 if not (partial and previous and names.is_service_chain(c) and old.get(c) == chains[c])]
        stale = [c for c in old if names.is_service_chain(c) and c not in chains]
        out.append(f"*{table}")
        out += [f":{c} - [0:0]" for c in write + stale]
        out += [rule for c in write for rule in chains[c]]
        out += [f"-X {c}" for c in stale]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def merged(*texts):
    """Several restore inputs as one, each table's block once: chains declared once, rules in
    order. Restoring without ``--noflush`` flushes a table at each of its blocks, so inputs that
    build on each other (the bootstrap's jumps, then the first sync) must share one block."""
    tables = {}
    for text in texts:
        table = None
        for line in text.splitlines():
            if line.startswith("*"):
                table = tables.setdefault(line[1:], {"chains": {}, "rules": []})
            elif line.startswith(":"):
                table["chains"].setdefault(line.split()[0], line)
            elif line and line != "COMMIT" and not line.startswith("#"):
                table["rules"].append(line)
    out = []
    for name, table in tables.items():
        out += [f"*{name}", *table["chains"].values(), *table["rules"], "COMMIT"]
    return "\n".join(out) + "\n"
