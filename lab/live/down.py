"""``down``: remove everything a lab's record lists. Safe to repeat; safe after a crash."""

from lab.agents import registry
from lab.kernel import etcdirs, netns, processes, record, uts


def down(lab):
    """Take ``lab`` down; False when it was not up."""
    with record.locked():
        lab_record = record.Record.load(lab)
        if lab_record is None:
            return False
        teardown(lab_record)
        return True


def teardown(lab_record):
    names = lab_record.namespaces
    own = {key: pid for key, pid in lab_record.pids.items()
           if processes.is_lab_process(pid, lab_record.lab, lab_record.path())}
    # svclab's agents keep nothing worth an orderly exit: they are killed at once; nginx and
    # anything else running in the lab's namespaces (a user's shell) get SIGTERM first
    agents = {pid for key, pid in own.items() if registry.kind_of(key) is not registry.NGINX}
    processes.kill_now(sorted(agents))
    others = {pid for pid in own.values() if pid not in agents}
    for name in names:
        others.update(pid for pid in netns.pids(name) if pid not in agents)
    processes.stop(sorted(others))
    netns.delete(names)
    for name in lab_record.etc_dirs:
        etcdirs.remove(name)
    uts.remove(lab_record.path(), lab_record.uts)
    lab_record.remove()
