"""What a lab may be called: every namespace of a lab is ``<lab>-<name>``, so a lab's name holds
no '-' (the first one ends it) and no two labs' namespaces can collide. Pure."""

import re

MAX_LAB_NAME = 12
LAB_NAME = re.compile(r"[a-z0-9]{1,%d}" % MAX_LAB_NAME)
LAB_NAME_RULE = (f"a lab name is 1 to {MAX_LAB_NAME} lower-case letters and digits, without '-': every namespace of "
                 "a lab is <lab>-<name>, so the first '-' ends the lab's name and no two labs' names can collide")


def lab_name(f):
    """The lab name a field holds, or its one-line error."""
    if not isinstance(f.value, str) or not LAB_NAME.fullmatch(f.value):
        shown = f.value if isinstance(f.value, str) and len(f.value) <= 40 else f"{str(f.value)[:40]}..."
        raise f.error(f"{shown!r} is not a valid lab name", LAB_NAME_RULE)
    return f.value


def check_lab_name(name, where="--lab"):
    """``name`` if it is a valid lab name, else the one-line error ``up`` gives for it."""
    if isinstance(name, str) and LAB_NAME.fullmatch(name):
        return name  # without the field machinery, which ``down`` would import for nothing
    from lab.spec.fields import Field
    return lab_name(Field(name, "command line", where))
