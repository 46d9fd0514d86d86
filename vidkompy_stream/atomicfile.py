"""Output files appear under their final name only when complete: written under a hidden partial name,
renamed on success, removed on failure, so a half-written file is never presented as a result."""

import os


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
