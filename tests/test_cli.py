"""The command line as users meet it: help, usage errors, runtime errors, signals and closed pipes.

Every failing run must print one line naming the problem, exit 1 or 2, leave no child process (the
`run_tool` fixture checks) and no output file under its final or partial name.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TAG, RunTool, leftover_processes, make_y4m, read_y4m_frames
from vidkompy_stream import cli

#: bg's scene, and where the fg crop of it sits (found by the spatial search in runs without --x/--y).
SCENE, FG_X, FG_Y = "testsrc2=size=96x64", 40, 30


@pytest.fixture(scope="module")
def clips(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli")
    (folder / "notes.txt").write_text("not a video\n")
    (folder / "empty.y4m").write_bytes(b"YUV4MPEG2 W32 H16 F25:1 C420jpeg\n")
    (folder / "deep.y4m").write_bytes(b"YUV4MPEG2 W32 H16 F25:1 C420p10\n")
    return {
        "bg": make_y4m(ffmpeg_exe, folder / "bg.y4m", f"{SCENE}:rate=30,trim=end_frame=20"),
        "fg": make_y4m(ffmpeg_exe, folder / "fg.y4m", f"{SCENE}:rate=25,crop=32:16:{FG_X}:{FG_Y},trim=end_frame=10"),
        "big": make_y4m(ffmpeg_exe, folder / "big.y4m", "testsrc2=size=128x64:rate=25,trim=end_frame=2"),
        "notes": folder / "notes.txt",
        "empty": folder / "empty.y4m",
        "deep": folder / "deep.y4m",
    }


def one_error_line(done: subprocess.CompletedProcess, code: int, message: str) -> None:
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == code, done.stderr
    errors = [line for line in lines if line.startswith("vidkompy-stream: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], lines
    assert message in errors[0], errors[0]
    assert "Traceback" not in done.stderr.decode()


def test_help_shows_examples_and_every_option(run_tool: RunTool) -> None:
    done = run_tool(["--help"])
    assert done.returncode == 0
    text = done.stdout.decode()
    for needle in ("yuv4mpegpipe - | vidkompy-stream --bg", "--demo", "--map-in", "--feather", "--encoder-args", "-y"):
        assert needle in text


def test_version(run_tool: RunTool) -> None:
    done = run_tool(["--version"])
    assert done.returncode == 0 and done.stdout.decode().startswith("vidkompy-stream 0.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fg", "a.mp4"], "--bg is required"),
        (["--fg", "-", "--bg", "-"], "only one input can be stdin"),
        (["--fg", "a", "--bg", "b", "--x", "3"], "give --x and --y together"),
        (["--fg", "a", "--bg", "b", "--offset", "1", "--map-in", "m.csv"], "--offset and --map-in"),
        (["--fg", "a", "--bg", "b", "--feather", "-2"], "--feather must not be negative"),
        (["--fg", "a", "--bg", "b", "--offset", "1/0"], "argument --offset: not a number of seconds: '1/0'"),
        (["--fg", "a", "--bg", "b", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--fg", "a", "--bg", "b", "--audio", "left"], "invalid choice: 'left'"),
        (["--demo", "--fg", "a"], "--demo makes its own inputs"),
    ],
)
def test_usage_errors_exit_2(run_tool: RunTool, args: list[str], message: str) -> None:
    one_error_line(run_tool([*args, "-o", "-"]), 2, message)


@pytest.mark.parametrize(
    ("fg", "bg", "extra", "message"),
    [
        ("missing.mp4", "bg", [], "fg: no such file: missing.mp4"),
        ("notes", "bg", [], "fg: not a readable video"),
        ("fg", "deep", [], "unsupported y4m colorspace C420p10"),
        ("big", "bg", [], ") is larger than bg (about 96x64): fg must be a part of bg's picture"),
        ("fg", "bg", ["--x", "80", "--y", "0"], "reaches outside bg 96x64: only fg's flat bars"),
        ("fg", "bg", ["--x", "96", "--y", "0", "--offset", "0"], "lies outside bg 96x64"),
        ("empty", "bg", [], "fg has no frames"),
        ("fg", "empty", [], "bg has no frames"),
        ("fg", "bg", ["--map-in", "nomap.csv"], "--map-in: cannot read nomap.csv"),
    ],
)
def test_runtime_errors_exit_1(run_tool: RunTool, clips: dict[str, Path], tmp_path: Path, fg: str, bg: str,
                               extra: list[str], message: str) -> None:
    path = {k: str(v) for k, v in clips.items()}
    done = run_tool(["--fg", path.get(fg, fg), "--bg", path.get(bg, bg), *extra, "-o", "out.mp4"])
    one_error_line(done, 1, message)
    assert list(tmp_path.iterdir()) == []


def test_fg_hanging_over_bg_edges_is_clipped(run_tool: RunTool, clips: dict[str, Path]) -> None:
    """fg 32x16 at x=-8, y=56 over bg 96x64 (given timing): the part inside bg is fg's, the rest of bg is bg's."""
    done = run_tool(["--fg", str(clips["fg"]), "--bg", str(clips["bg"]), "--x=-8", "--y", "56", "--offset", "0",
                     "-o", "-"])
    assert done.returncode == 0, done.stderr.decode()
    fmt, frames = read_y4m_frames(done.stdout)
    fg_fmt, fg = read_y4m_frames(clips["fg"].read_bytes())
    _, bg = read_y4m_frames(clips["bg"].read_bytes())
    assert (fmt.width, fmt.height, len(frames)) == (96, 64, 10)
    out, fg0, bg0 = fmt.plane_views(frames[0])[0], fg_fmt.plane_views(fg[0])[0], fmt.plane_views(bg[0])[0]
    np.testing.assert_array_equal(out[56:64, 0:24], fg0[0:8, 8:32])
    np.testing.assert_array_equal(out[:56], bg0[:56])
    np.testing.assert_array_equal(out[56:, 24:], bg0[56:, 24:])


def test_blas_threads_default_to_one_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    cli._single_threaded_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    cli._single_threaded_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4", "the user's setting wins"


def test_quiet_progress_and_verbose(run_tool: RunTool, clips: dict[str, Path]) -> None:
    args = ["--fg", str(clips["fg"]), "--bg", str(clips["bg"]), "-o", "out.mp4", "-y"]
    quiet = run_tool([*args, "-q"])
    assert quiet.returncode == 0 and quiet.stderr == b""
    bar = run_tool([*args, "--progress"]).stderr.decode()
    assert "10/10" not in bar and "frame/s" in bar, "a progress bar with a rate, no total for y4m input"
    verbose = run_tool([*args, "-v"]).stderr.decode()
    assert "encoder: " in verbose and "yuv4mpegpipe" in verbose, "-v shows the ffmpeg command lines"


def test_existing_output_needs_y(run_tool: RunTool, clips: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "out.mp4").write_bytes(b"precious")
    one_error_line(run_tool(["--fg", str(clips["fg"]), "--bg", str(clips["bg"]), "-o", "out.mp4"]), 1,
                   "output exists: out.mp4 (use -y to overwrite)")
    assert (tmp_path / "out.mp4").read_bytes() == b"precious"
    assert run_tool(["--fg", str(clips["fg"]), "--bg", str(clips["bg"]), "-o", "out.mp4", "-y"]).returncode == 0
    assert (tmp_path / "out.mp4").stat().st_size > 1000


def test_missing_output_directory(run_tool: RunTool, clips: dict[str, Path]) -> None:
    one_error_line(run_tool(["--fg", str(clips["fg"]), "--bg", str(clips["bg"]), "-o", "no/such/out.mp4"]), 1,
                   "output directory does not exist")


def test_encoder_failure_leaves_nothing(run_tool: RunTool, clips: dict[str, Path], tmp_path: Path) -> None:
    done = run_tool(["--fg", str(clips["fg"]), "--bg", str(clips["bg"]), "--vcodec", "nosuchcodec", "-o", "out.mp4"])
    one_error_line(done, 1, "encoder failed writing out.mp4")
    assert list(tmp_path.iterdir()) == []


def lavfi_feed(ffmpeg_exe: str, size: str) -> list[str]:
    """An endless lavfi source as y4m on stdout: a stand-in for a long live input."""
    return [ffmpeg_exe, "-nostdin", "-v", "quiet", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
            "-f", "yuv4mpegpipe", "-"]


def test_closed_downstream_pipe_is_quiet(ffmpeg_exe: str, clips: dict[str, Path], tmp_path: Path) -> None:
    """`| head -c N` closes our stdout mid-run: exit 141 as a C filter would, nothing on stderr."""
    tag = uuid.uuid4().hex
    feed = subprocess.list2cmdline(lavfi_feed(ffmpeg_exe, "32x16"))
    script = (f"{feed} | {sys.executable} -m vidkompy_stream --bg {clips['bg']} --x 0 --y 0 2> {tmp_path}/err.txt "
              "| head -c 100000 > /dev/null; echo ${PIPESTATUS[1]}")
    done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=60, env={**os.environ, TAG: tag},
                          stdin=subprocess.DEVNULL)
    assert done.stdout.decode().strip() == "141"
    assert "error" not in (tmp_path / "err.txt").read_text()
    assert leftover_processes(tag) == []


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(("sig", "code", "word", "started_ignoring"),
                         [(signal.SIGTERM, 143, "terminated", False), (signal.SIGINT, 130, "interrupted", False),
                          (signal.SIGINT, 130, "interrupted", True)])
def test_signal_mid_run_stops_children_and_removes_partial_output(ffmpeg_exe: str, clips: dict[str, Path],
                                                                  tmp_path: Path, sig: int, code: int,
                                                                  word: str, started_ignoring: bool) -> None:
    """started_ignoring: the tool is started with SIGINT ignored, as a shell's background job is, and still
    answers it."""
    tag = uuid.uuid4().hex
    feed = subprocess.Popen(lavfi_feed(ffmpeg_exe, "32x16"), stdout=subprocess.PIPE)
    tool = subprocess.Popen([sys.executable, "-m", "vidkompy_stream", "--bg", str(clips["bg"]), "-o", "out.mp4",
                             "--x", "0", "--y", "0"],
                            stdin=feed.stdout, stderr=subprocess.PIPE, cwd=tmp_path, env={**os.environ, TAG: tag},
                            preexec_fn=_ignore_sigint if started_ignoring else None)
    try:
        deadline = time.monotonic() + 30
        while not any(p.name.endswith(".partial.mp4") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline and tool.poll() is None, "the run never started writing"
            time.sleep(0.05)
        time.sleep(0.3)
        tool.send_signal(sig)
        _, err = tool.communicate(timeout=30)
    finally:
        feed.kill()
        feed.wait()
        tool.kill()
    assert tool.returncode == code, err
    assert err.decode().strip().splitlines()[-1] == f"vidkompy-stream: {word}"
    assert list(tmp_path.iterdir()) == []
    assert leftover_processes(tag) == []
