"""What every benchmark prints first: the machine (processor model, CPUs, kernel, Python), since
a figure holds only for the machine it was measured on; and the summary every table uses."""

import os
import platform
import statistics


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    except OSError:
        return "unknown"


def line():
    return (f"{cpu_model()}, {os.cpu_count()} CPUs, kernel {platform.release()}, "
            f"Python {platform.python_version()}")


def summary(values):
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
