"""Error types: every failure the user should see as one line, with the exit code it maps to."""


class VidkompyError(Exception):
    """A runtime failure reported as one line; exit code 1. `advice`: what the command's user can do about
    it with the command's options; the command adds it to its message (`command_text`), the exception's own
    text leaves it out (a library caller has no options to give)."""

    exit_code = 1

    def __init__(self, message: str = "", advice: str | None = None) -> None:
        super().__init__(message)
        self.advice = advice

    def command_text(self) -> str:
        return f"{self}; {self.advice}" if self.advice else str(self)


class UsageError(VidkompyError, ValueError):
    """Bad command-line usage (or bad arguments to the Python API: a ValueError too); exit code 2, as
    argparse uses."""

    exit_code = 2


class Y4MError(VidkompyError):
    """Malformed or unsupported y4m data."""


class InputDamaged(VidkompyError):
    """An input ended in damaged data; raised only after the output, made from its valid part, is complete."""


class NotFound(VidkompyError):
    """The spatial search did not find fg in the part of bg it searched: `what` happened, `why` (the scores
    against their floors), `best` the best score seen (None: nothing scored), `searched` the seconds of bg
    searched (None: not known here)."""

    def __init__(self, what: str, why: str | None = None, *, best: float | None = None,
                 searched: float | None = None, advice: str | None = None) -> None:
        self.what, self.why, self.best, self.searched = what, why, best, searched
        super().__init__(self._text(None), advice)

    def searching(self, seconds: float) -> "NotFound":
        """The same failure, with how much of bg was searched."""
        return NotFound(self.what, self.why, best=self.best, searched=seconds, advice=self.advice)

    def advised(self, advice: str) -> "NotFound":
        """The same failure, with the command's advice."""
        return NotFound(self.what, self.why, best=self.best, searched=self.searched, advice=advice)

    def _text(self, advice: str | None) -> str:
        why = "; ".join(part for part in (self.why, advice) if part)
        text = self.what + (f" ({why})" if why else "")
        if self.searched is not None:
            more = "; --search-seconds for more" if advice is not None else ""
            text += f" [searched bg's first {self.searched:.1f} s{more}]"
        return text

    def command_text(self) -> str:
        return self._text(self.advice or "")
