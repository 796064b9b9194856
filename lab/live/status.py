"""``status``: one row per lab with a record."""

import time

from lab.agents import registry
from lab.kernel import netns, processes, record


def rows():
    """Name, phase, scenario, age, namespaces present and agents running, for every lab."""
    out = []
    present = netns.existing()
    for lab in record.labs():
        lab_record = record.Record.load(lab)
        names = lab_record.namespaces
        # the lab's agents (a container's command, recorded too, is the pod's and not counted)
        agents = {k: pid for k, pid in lab_record.pids.items() if registry.kind_of(k) is not None}
        alive = [pid for pid in agents.values() if processes.is_lab_process(pid, lab, lab_record.path())]
        out.append({"lab": lab, "phase": lab_record.phase, "scenario": lab_record.scenario_path,
                    "age": time.time() - lab_record.created, "namespaces": len(names),
                    "namespaces_present": sum(1 for n in names if n in present),
                    "daemons": len(agents), "daemons_running": len(alive)})
    return out
