"""The two kinds of failure, kept apart: what the user can fix, and what went wrong inside.

``LabError`` (and ``InputError``): bad input, a lab that is not up, a missing tool. One line,
exit code 2, never a traceback. ``InternalError`` (and ``CommandFailed``): a command the lab ran
failed or an agent did not answer; exit code 1, with what the command printed.
"""


class LabError(Exception):
    """A problem the user can fix (bad input, lab not up, ...). Exit code 2."""

    exit_code = 2


class InputError(LabError):
    """Bad scenario, topology or manifest input: names the file, the field and the fix."""

    def __init__(self, file, field, problem, fix=""):
        self.file, self.field, self.problem, self.fix = str(file), field, problem, fix
        where = f"{self.file}: {field}: " if field else f"{self.file}: "
        super().__init__(where + problem + (f" ({fix})" if fix else ""))


class InternalError(Exception):
    """Something svclab did failed (not the user's input). Exit code 1."""

    exit_code = 1


class CommandFailed(InternalError):
    """A command run for the lab exited non-zero: which command, in which namespace, what it said."""

    def __init__(self, argv, netns, returncode, stderr="", stdout=""):
        self.argv, self.netns, self.returncode = list(argv), netns, returncode
        self.stderr, self.stdout = stderr or "", stdout or ""
        said = " ".join((self.stderr or self.stdout).split()) or f"exit code {returncode}"
        where = f" in {netns}" if netns else ""
        super().__init__(f"{' '.join(self.argv[:3])}{' ...' if len(self.argv) > 3 else ''}{where} failed: {said}")
