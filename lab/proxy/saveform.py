"""What ``iptables-save`` prints for what kube-proxy restored, computed without a kernel. Pure.

iptables (1.8, nf_tables backend) prints a rule in a canonical order: ``[!] -s``, ``[!] -d``,
``-i``/``-o``, ``-p``, then the matches in the order given, then the target; host addresses get
``/32``; ``--or-mark M`` becomes ``--set-xmark M/M``, ``--xor-mark M`` ``--set-xmark M/0x0``;
``REJECT`` gains ``--reject-with icmp-port-unreachable``; ``-m recent`` gains its defaults;
``--probability`` is printed as the kernel stores it (lround(p * 2^31) / 2^31, 11 decimals).
Tables come mangle, filter, nat; built-in chains first, then the others sorted.
"""

import shlex

BUILTIN = {"mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
           "filter": ("INPUT", "FORWARD", "OUTPUT"),
           "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")}
TABLE_ORDER = ("mangle", "filter", "nat")


def _hex(value):
    return f"{int(value, 16):#x}"


def _mark(text):
    value, _, mask = text.partition("/")
    return f"{_hex(value)}/{_hex(mask)}" if mask else _hex(value)


def _address(text):
    return text if "/" in text else f"{text}/32"


def _probability(text):
    stored = int(float(text) * 2 ** 31 + 0.5)
    return f"{stored / 2 ** 31:.11f}"


def canonical(rule):
    """One ``-A CHAIN ...`` line of restore input, as iptables-save prints it."""
    words = shlex.split(rule)
    chain = words[1]
    head = {"-s": None, "-d": None, "-i": None, "-o": None, "-p": None}
    matches, target, negate = [], None, False
    i = 2
    while i < len(words):
        w = words[i]
        if w == "!":
            negate = True
            i += 1
            continue
        if w in head and target is None:
            value = _address(words[i + 1]) if w in ("-s", "-d") else words[i + 1]
            head[w] = ("! " if negate else "") + f"{w} {value}"
            negate, i = False, i + 2
        elif w == "-m":
            matches.append([words[i + 1]])
            i += 2
        elif w == "-j":
            target = [words[i + 1]]
            i += 2
        else:  # an option of the current match or of the target
            owner = target if target is not None else matches[-1]
            value = words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("-") else None
            owner.append((("! " if negate else ""), w, value))
            negate, i = False, i + (2 if value is not None else 1)
    parts = [f"-A {chain}"] + [head[k] for k in ("-s", "-d", "-i", "-o", "-p") if head[k]]
    for match in matches:
        parts.append(_match(match[0], match[1:]))
    if target is not None:
        parts.append(_target(target[0], target[1:]))
    return " ".join(p for p in parts if p)


def _options(options):
    out = []
    for neg, flag, value in options:
        out.append(f"{neg}{flag}" + (f" {value}" if value is not None else ""))
    return out


def _match(name, options):
    opts = {flag: (neg, value) for neg, flag, value in options}
    if name == "comment":
        return f'-m comment --comment "{opts["--comment"][1]}"'
    if name == "mark":
        neg, value = opts["--mark"]
        return f"-m mark {neg}--mark {_mark(value)}"
    if name == "statistic":
        return f"-m statistic --mode {opts['--mode'][1]} --probability {_probability(opts['--probability'][1])}"
    if name == "nfacct":  # iptables prints two spaces here
        return f"-m nfacct --nfacct-name  {opts['--nfacct-name'][1]}"
    if name == "recent":
        action = "--rcheck" if "--rcheck" in opts else "--set"
        extra = f" --seconds {opts['--seconds'][1]} --reap" if "--seconds" in opts else ""
        return (f"-m recent {action}{extra} --name {opts['--name'][1]} --mask 255.255.255.255 --rsource")
    return " ".join([f"-m {name}"] + _options(options))


def _target(name, options):
    opts = {flag: value for _, flag, value in options}
    if name == "MARK":
        if "--or-mark" in opts:
            value = _hex(opts["--or-mark"])
            return f"-j MARK --set-xmark {value}/{value}"
        if "--xor-mark" in opts:
            return f"-j MARK --set-xmark {_hex(opts['--xor-mark'])}/0x0"
        return f"-j MARK --set-xmark {_mark(opts['--set-xmark'])}"
    if name == "REJECT" and "--reject-with" not in opts:
        return "-j REJECT --reject-with icmp-port-unreachable"
    return " ".join([f"-j {name}"] + _options(options))


def save(restore_texts):
    """``iptables-save`` of a fresh namespace after these restore inputs, in order (``-A`` appends,
    ``-I CHAIN 1`` inserts at the top, ``:CHAIN`` in a later input flushes it)."""
    tables = {}
    for text in restore_texts:
        table = None
        for line in text.splitlines():
            if line.startswith("*"):
                table = tables.setdefault(line[1:], {c: [] for c in BUILTIN[line[1:]]})
            elif line.startswith(":"):
                name = line[1:].split()[0]
                if name not in BUILTIN[_name(tables, table)]:
                    table[name] = []
            elif line.startswith("-X "):
                table.pop(line.split()[1], None)
            elif line.startswith("-A "):
                table[line.split()[1]].append(canonical(line))
            elif line.startswith("-I "):
                words = line.split(None, 3)
                table[words[1]].insert(0, canonical(f"-A {words[1]} {words[3]}"))
    out = []
    for name in TABLE_ORDER:
        if name not in tables:
            continue
        chains = tables[name]
        builtin = BUILTIN[name]
        out.append(f"*{name}")
        out += [f":{c} ACCEPT [0:0]" for c in builtin]
        out += [f":{c} - [0:0]" for c in sorted(c for c in chains if c not in builtin)]
        for c in list(builtin) + sorted(c for c in chains if c not in builtin):
            out += chains[c]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def _name(tables, table):
    return next(k for k, v in tables.items() if v is table)
