"""Output files appear under their final name only when complete: written under a hidden partial name,
renamed on success, removed on failure, so a half-written file is never presented as a result."""

import os
from typing import IO

from ..errors import VidkompyError


def partial_name(path: str) -> str:
    """A hidden sibling name that keeps the extension (ffmpeg picks the muxer from it)."""
    folder, base = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(base)
    return os.path.join(folder, f".{stem}.{os.getpid()}.partial{ext}")


def remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


class AtomicFile:
    """A file written under its partial name: `commit` renames it into place, `abort` removes it."""

    def __init__(self, path: str, mode: str, what: str, newline: str | None = None) -> None:
        """Open `path`'s partial name in `mode`; `what` names the file in the one-line error."""
        self.path, self.tmp = path, partial_name(path)
        try:
            self.stream: IO = open(self.tmp, mode, newline=newline)
        except OSError as exc:
            raise VidkompyError(f"{what}: cannot write {path}: {exc.strerror}") from None

    def commit(self) -> None:
        self.stream.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.stream.close()
        remove_quietly(self.tmp)
