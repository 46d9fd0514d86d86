"""Error types: every failure the user should see as one line, with the exit code it maps to."""


class VidkompyError(Exception):
    """A runtime failure reported as one line; exit code 1."""

    exit_code = 1


class UsageError(VidkompyError, ValueError):
    """Bad command-line usage (or bad arguments to the Python API: a ValueError too); exit code 2, as
    argparse uses."""

    exit_code = 2


class Y4MError(VidkompyError):
    """Malformed or unsupported y4m data."""


class InputDamaged(VidkompyError):
    """An input ended in damaged data; raised only after the output, made from its valid part, is complete."""


class NotFound(VidkompyError):
    """The spatial search did not find fg in the part of bg it searched."""
