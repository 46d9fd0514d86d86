"""Shared fixtures: the ffmpeg binary, clips generated with lavfi, and running the CLI as a user would.

Every CLI run gets a unique environment tag that its ffmpeg children inherit; after the run we scan
/proc for processes still carrying the tag, so a test fails if any child outlived the tool.
"""

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg
from vidkompy_stream.io.y4m import Y4MFormat, Y4MReader

TAG = "VIDKOMPY_TEST_TAG"


@pytest.fixture(scope="session")
def ffmpeg_exe() -> str:
    return find_ffmpeg()


def ffmpeg_run(exe: str, *args: str) -> None:
    """Run ffmpeg quietly; fail the test with its error output if it fails."""
    done = subprocess.run([exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], capture_output=True)
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def index_source(size: str, rate: str, frames: int, lum: str = "N") -> str:
    """A lavfi source whose luma encodes the frame number (lum expression of N), chroma neutral."""
    return f"nullsrc=size={size}:rate={rate},format=yuv420p,geq=lum={lum}:cb=128:cr=128,trim=end_frame={frames}"


def life_scene(w: int, h: int, rate: int, frames: int | None = None, still: bool = False) -> str:
    """The tests' textured lavfi scene: a Mandelbrot set (zooming; `still`: not) with Conway's life drifting
    over it, so every frame differs everywhere; `frames`: trimmed to that many (None: endless)."""
    zoom = ":start_scale=1.5:end_scale=1.5" if still else ""
    trim = "" if frames is None else f",trim=end_frame={frames}"
    return (f"mandelbrot=size={w}x{h}:rate={rate}:maxiter=300{zoom}[m];"
            f"life=size={w}x{h}:rate={rate}:mold=10:ratio=0.08:seed=7,gblur=sigma=1[l];"
            f"[m][l]blend=all_mode=screen{trim}")


def make_y4m(exe: str, path: Path, source: str, pix_fmt: str = "yuv420p") -> Path:
    """Render a lavfi source to a y4m file (lossless: pixel values are exactly what the source drew)."""
    ffmpeg_run(exe, "-f", "lavfi", "-i", source, "-pix_fmt", pix_fmt, "-f", "yuv4mpegpipe", str(path))
    return path


def read_y4m_frames(data: bytes) -> tuple[Y4MFormat, list[np.ndarray]]:
    """Parse a whole (small) y4m byte string into its format and flat frame buffers."""
    import io

    reader = Y4MReader(io.BufferedReader(io.BytesIO(data)), "test")
    frames = []
    while True:
        buf = reader.format.new_frame()
        if not reader.readinto(buf):
            return reader.format, frames
        frames.append(buf)


def luma_frames(path: Path) -> list[np.ndarray]:
    """The luma planes of a (small) y4m file."""
    fmt, frames = read_y4m_frames(path.read_bytes())
    return [fmt.plane_views(f)[0] for f in frames]


def scene_index(scene: list[np.ndarray], box: tuple[slice, slice]) -> dict[bytes, int]:
    """Scene frame number by the exact bytes of its luma inside `box`; every frame must be distinct, so a
    clip derived losslessly from the scene can be traced frame by frame to its source frames."""
    index = {frame[box].tobytes(): k for k, frame in enumerate(scene)}
    assert len(index) == len(scene), "scene frames repeat: the truth would be ambiguous"
    return index


def decode(exe: str, path: Path) -> tuple[Y4MFormat, list[np.ndarray]]:
    """Decode any media file into y4m frames with ffmpeg."""
    done = subprocess.run(
        [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "yuv4mpegpipe", "-"],
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return read_y4m_frames(done.stdout)


def tagged_processes(tag: str) -> dict[int, str]:
    """Command lines of live processes whose environment carries `tag`, by pid."""
    found = {}
    needle = f"{TAG}={tag}".encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            if needle in environ.split(b"\0"):
                found[int(pid)] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return found


def leftover_processes(tag: str) -> list[str]:
    """Command lines of live processes whose environment carries `tag`."""
    return list(tagged_processes(tag).values())


RunTool = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run_tool(tmp_path: Path) -> RunTool:
    """Run `python -m vidkompy_stream ARGS` in tmp_path; assert no child process survives it."""

    def run(args: Sequence[str], stdin: bytes | None = None, timeout: float = 120, **popen: object) -> subprocess.CompletedProcess:
        tag = uuid.uuid4().hex
        env = {**os.environ, TAG: tag, "PYTHONUNBUFFERED": "1"}
        done = subprocess.run(
            [sys.executable, "-m", "vidkompy_stream", *args],
            input=stdin, capture_output=True, timeout=timeout, cwd=tmp_path, env=env,
            stdin=None if stdin is not None else subprocess.DEVNULL, **popen,
        )
        assert leftover_processes(tag) == [], "child processes outlived the tool"
        return done

    return run


@pytest.fixture(autouse=True)
def _package_logs_reach_caplog() -> Iterator[None]:
    """An in-process CLI run sets the package logger's level, handler and propagation; undo that."""
    logger = logging.getLogger("vidkompy_stream")
    saved = (logger.level, logger.handlers[:], logger.propagate)
    logger.setLevel(logging.NOTSET)
    logger.handlers[:] = []
    logger.propagate = True
    yield
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]


CUT_RATE, CUT_SECONDS = 25, 46
#: The edited pair: fg shows scene frames 50..149, then (a 0.5 s cut) 162..249, then (a 30 s cut) 1000..1099,
#: cropped at CUT_RECT (x, y, w, h); bg is the whole scene.
CUT_PIECES = ((50, 150), (162, 250), (1000, 1100))
CUT_RECT = (96, 40, 160, 112)


@pytest.fixture(scope="session")
def cut_pair(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """An fg edited twice out of a rendered scene, with its truth and the fg frames where it was cut."""
    folder = tmp_path_factory.mktemp("cut_pair")
    scene = folder / "scene.mkv"
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", life_scene(320, 180, CUT_RATE, CUT_RATE * CUT_SECONDS), "-c:v",
               "ffv1", str(scene))
    bg, fg = folder / "bg.mp4", folder / "fg.mp4"
    ffmpeg_run(ffmpeg_exe, "-i", str(scene), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", str(bg))
    pick = "+".join(f"between(n,{a},{b - 1})" for a, b in CUT_PIECES)
    x, y, w, h = CUT_RECT
    ffmpeg_run(ffmpeg_exe, "-i", str(scene), "-vf", f"select='{pick}',setpts=N/{CUT_RATE}/TB,crop={w}:{h}:{x}:{y}",
               "-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", str(fg))
    truth = np.concatenate([np.arange(a, b) for a, b in CUT_PIECES])
    cuts = np.cumsum([b - a for a, b in CUT_PIECES])[:-1]
    return {"bg": bg, "fg": fg, "truth": truth, "cuts": cuts}
