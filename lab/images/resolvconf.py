"""What a C library's resolver reads and tries, as plain data: resolv.conf's nameservers, search
list and options, the names a lookup tries in order, /etc/hosts entries, reverse names. Pure."""

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class ResolvConf:
    nameservers: tuple = ()
    search: tuple = ()
    ndots: int = 1
    timeout: float = 5.0
    attempts: int = 2


def parse(text):
    """resolv.conf as the resolver reads it: the last ``search``/``domain`` line wins, options
    ``ndots:``, ``timeout:``, ``attempts:``; comments and unknown lines are skipped."""
    servers, search, opts = [], (), {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        key, values = words[0], words[1:]
        if key == "nameserver" and values:
            servers.append(values[0])
        elif key in ("search", "domain"):
            search = tuple(v.rstrip(".") for v in values)
        elif key == "options":
            for value in values:
                name, _, number = value.partition(":")
                if number.isdigit():
                    opts[name] = int(number)
    return ResolvConf(tuple(servers), search, min(opts.get("ndots", 1), 15),
                      float(max(1, min(opts.get("timeout", 5), 30))), max(1, min(opts.get("attempts", 2), 5)))


def candidates(name, conf):
    """The fully qualified names a lookup of ``name`` tries, in order (glibc's res_search): a
    name ending in a dot as it is; with at least ``ndots`` dots, as it is first, then with each
    search domain; else each search domain first, then as it is."""
    if name.endswith("."):
        return [name]
    with_search = [f"{name}.{domain}." for domain in conf.search if domain]
    if name.count(".") >= conf.ndots:
        return [f"{name}."] + with_search
    return with_search + [f"{name}."]


def hosts_addresses(text, name):
    """The addresses /etc/hosts gives ``name`` (any of a line's names, case-insensitively)."""
    wanted = name.rstrip(".").lower()
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and wanted in (w.lower() for w in words[1:]) and words[0] not in out:
            out.append(words[0])
    return out


def hosts_name(text, address):
    """The first name /etc/hosts gives ``address``, or None."""
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == address:
            return words[1]
    return None


def literal(text):
    """The address ``text`` is, when it is one (a lookup of an address asks no server)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def reverse_name(address):
    return ipaddress.ip_address(address).reverse_pointer + "."
