"""Errors a user can cause and fix: reported as one line, exit code 2, never a traceback."""


class LabError(Exception):
    """A problem the user can fix (bad input, lab not up, ...). Exit code 2."""

    exit_code = 2


class InputError(LabError):
    """Bad scenario, topology or manifest input: names the file, the field and the fix."""

    def __init__(self, file, field, problem, fix=""):
        self.file, self.field, self.problem, self.fix = str(file), field, problem, fix
        where = f"{self.file}: {field}: " if field else f"{self.file}: "
        super().__init__(where + problem + (f" ({fix})" if fix else ""))
