"""Locating the ffmpeg binary. PATH wins; imageio-ffmpeg's bundled binary is the fallback."""

import functools
import os
import shutil

from ..errors import VidkompyError


@functools.lru_cache(maxsize=None)
def find_ffmpeg(override: str | None = None) -> str:
    """Return the ffmpeg to run: `override`, else `ffmpeg` on PATH, else imageio-ffmpeg's.

    imageio-ffmpeg's own lookup prefers its bundled binary over PATH, so PATH is searched here first:
    a user who installed ffmpeg expects that one to be used.
    """
    if override:
        found = shutil.which(override)
        if found is None:
            raise VidkompyError(f"ffmpeg not found or not executable: {override}")
        return found
    env = os.environ.get("VIDKOMPY_FFMPEG")
    if env:
        return find_ffmpeg(env)
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        raise VidkompyError(
            "ffmpeg not found: install ffmpeg on PATH (e.g. apt install ffmpeg) or `pip install imageio-ffmpeg`, "
            "or give --ffmpeg PATH"
        ) from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise VidkompyError(f"ffmpeg not found: {exc}") from None
