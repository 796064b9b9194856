"""kubectl's text layout, for every table svclab prints: columns padded as its tabwriter pads them,
ages as its ``HumanDuration`` writes them. Pure; belongs to no layer."""


def human_age(seconds):
    """kubectl's ``duration.HumanDuration``."""
    s = int(seconds)
    if s < -1:  # a clock ahead by more than a second or so
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    y, d = h // (24 * 365), (h // 24) % 365
    return f"{y}y{d}d" if y < 8 and d else f"{y}y"


def table(headers, rows):
    """kubectl's tabwriter layout: columns padded to the widest cell plus three spaces."""
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    lines = []
    for r in [headers] + rows:
        cells = [str(c).ljust(w + 3) if i < len(r) - 1 else str(c) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)
