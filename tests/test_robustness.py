"""Robustness (issue 7): damaged and odd inputs, dying children, unwritable outputs, no ffmpeg, 4K, fuzzing.

The rules under test: a failure is one line on stderr with exit 1 or 2 and no traceback, no child
process outlives the tool (`run_tool` and `leftover_processes` check), and no output file is left under
its final or partial name -- except after an input that ends in damaged data: the output made from the
valid part is finished and kept, then the damage is reported (exit 1), since no rerun can do better.
"""

import io
import os
import signal
import subprocess
import sys
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import (
    TAG,
    RunTool,
    decode,
    ffmpeg_run,
    index_source,
    leftover_processes,
    make_y4m,
    read_y4m_frames,
    tagged_processes,
)
from tests.test_cli import one_error_line
from vidkompy_stream.errors import VidkompyError
from vidkompy_stream.io.inputs import InputReader
from vidkompy_stream.io.mapping import read_mapping
from vidkompy_stream.io.y4m import COLORSPACES, Y4MFormat, Y4MWriter

FG_FRAMES, CUT_AT = 30, 12
PLACE = ["--x", "40", "--y", "24"]
GIVEN = [*PLACE, "--offset", "0"]


@pytest.fixture(scope="module")
def clips(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("robust")
    scene = "testsrc2=size=96x64:rate=25"
    clips = {
        "bg": make_y4m(ffmpeg_exe, folder / "bg.y4m", index_source("96x64", "25", 80)),
        "fg": make_y4m(ffmpeg_exe, folder / "fg.y4m", f"{scene},crop=32:16:40:24,trim=end_frame={FG_FRAMES}"),
        "short_bg": make_y4m(ffmpeg_exe, folder / "short_bg.y4m", f"{scene},trim=end_frame=10"),
        "scene_fg": make_y4m(ffmpeg_exe, folder / "scene_fg.y4m", f"{scene},crop=32:16:40:24,trim=end_frame=20"),
        "fg.mkv": folder / "fg.mkv",
        "long_bg.mkv": folder / "long_bg.mkv",
        "vfr.mp4": folder / "vfr.mp4",
    }
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", f"{scene},crop=32:16:40:24", "-frames:v", "100", "-c:v", "libx264",
               "-g", "10", str(clips["fg.mkv"]))
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", scene, "-frames:v", "1000", "-c:v", "libx264", "-preset", "ultrafast",
               str(clips["long_bg.mkv"]))
    # 50 frames: 25 at 25 fps, then 25 shown for 2/25 s each; lossless, so each frame's luma is its number
    vfr = index_source("32x16", "25", 50) + ",setpts='if(lt(N,25),N,2*N-25)/25/TB'"
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", vfr, "-fps_mode", "vfr", "-c:v", "libx264", "-qp", "0",
               str(clips["vfr.mp4"]))
    sizes = []
    for size in ("96x64", "128x96"):  # mpeg-ts segments concatenate into one stream whose size changes
        sizes.append(folder / f"{size}.ts")
        ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", f"{scene.replace('96x64', size)}", "-frames:v", "25",
                   "-c:v", "mpeg2video", str(sizes[-1]))
    clips["resized.ts"] = folder / "resized.ts"
    clips["resized.ts"].write_bytes(b"".join(p.read_bytes() for p in sizes))
    return clips


def cut_y4m(src: Path, dst: Path, frames: int, extra: int = 100) -> Path:
    """Copy `frames` whole frames of a y4m file and `extra` bytes of the next (its FRAME line and the
    start of its planes): a file cut mid-frame."""
    data = src.read_bytes()
    fmt, _ = read_y4m_frames(data[: data.index(b"\n") + 1])
    dst.write_bytes(data[: data.index(b"\n") + 1 + frames * (6 + fmt.frame_size) + extra])
    return dst


def cut_file(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def warnings_of(done: subprocess.CompletedProcess, text: str) -> int:
    return done.stderr.decode().count(text)


@pytest.mark.parametrize("case", ["y4m file", "media file", "y4m on stdin", "bg y4m file"])
def test_truncated_input_keeps_valid_frames_then_fails(run_tool: RunTool, ffmpeg_exe: str, clips: dict[str, Path],
                                                       tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                                       case: str) -> None:
    """Cut in half mid-frame: the output is finished from the frames before the cut, then exit 1."""
    folder = tmp_path_factory.mktemp("cut")
    fg, bg, stdin, output = str(clips["fg"]), str(clips["bg"]), None, "out.mp4"
    frames, message = CUT_AT, f"fg: y4m frame {CUT_AT} cut short: 94 of 768 bytes"
    if case == "media file":
        fg = str(cut_file(clips["fg.mkv"], folder / "fg.mkv"))
        frames = len(decode(ffmpeg_exe, Path(fg))[1])  # what ffmpeg itself gets out of the half file
        message = f"fg: ffmpeg reported an error decoding {fg}: "
    elif case == "y4m on stdin":
        fg, stdin, output = "-", cut_y4m(clips["fg"], folder / "fg.y4m", CUT_AT).read_bytes(), "-"
        message = f"fg (stdin): y4m frame {CUT_AT} cut short"
    elif case == "bg y4m file":
        bg = str(cut_y4m(clips["bg"], folder / "bg.y4m", CUT_AT))
        frames, message = FG_FRAMES, f"bg: y4m frame {CUT_AT} cut short"
    else:
        fg = str(cut_y4m(clips["fg"], folder / "fg.y4m", CUT_AT))
    done = run_tool(["--fg", fg, "--bg", bg, *GIVEN, "-o", output], stdin=stdin)
    target = "y4m on stdout" if output == "-" else output
    one_error_line(done, 1, message)
    assert done.stderr.decode().rstrip().endswith(f"{target} holds the {frames} frames made")
    assert 0 < frames < 100
    if output == "-":
        assert len(read_y4m_frames(done.stdout)[1]) == frames
    else:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"], "kept under its final name only"
        assert len(decode(ffmpeg_exe, tmp_path / "out.mp4")[1]) == frames
    assert warnings_of(done, "holding the last bg frame") == (1 if case == "bg y4m file" else 0)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"YUV4MPEG2 W32 H16 F25:0\n", "fg (stdin): y4m frame rate must be positive, got F25:0"),
        (b"YUV4MPEG2 W32 Hx F25:1\n", "fg (stdin): y4m header tag H must be a size"),
        (b"YUV4MPEG2 W32 H16 F25:1 C420p10\n", "fg (stdin): unsupported y4m colorspace C420p10"),
        (b"YUV4MPEG2 W32 H16 F25", "fg (stdin): y4m header cut short"),
        (b"\x1aE\xdf\xa3 matroska", "fg (stdin): not a y4m stream"),
    ],
)
def test_malformed_y4m_header_on_stdin(run_tool: RunTool, clips: dict[str, Path], tmp_path: Path, header: bytes,
                                       message: str) -> None:
    body = b"FRAME\n" + bytes(768) if header.endswith(b"\n") else b""
    done = run_tool(["--bg", str(clips["bg"]), *GIVEN, "-o", "out.mp4"], stdin=header + body)
    one_error_line(done, 1, message)
    assert list(tmp_path.iterdir()) == []


def test_y4m_size_change_mid_stream(run_tool: RunTool, ffmpeg_exe: str, clips: dict[str, Path],
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    """A second y4m header (two streams concatenated, the second bigger): stop there, keep what came before."""
    bigger = make_y4m(ffmpeg_exe, tmp_path_factory.mktemp("resize") / "big.y4m", index_source("48x32", "25", 3))
    done = run_tool(["--bg", str(clips["bg"]), *GIVEN], stdin=clips["fg"].read_bytes() + bigger.read_bytes())
    one_error_line(done, 1, f"fg (stdin): y4m frame {FG_FRAMES}: a new y4m stream header (size or format "
                            "changes mid-stream, not supported)")
    assert len(read_y4m_frames(done.stdout)[1]) == FG_FRAMES


def test_media_file_size_change_is_scaled_by_ffmpeg(run_tool: RunTool, clips: dict[str, Path]) -> None:
    """A media file whose frame size changes mid-stream (96x64, then 128x96) is scaled by ffmpeg to its
    first size (its default), so the run completes at bg's first size."""
    done = run_tool(["--fg", str(clips["fg"]), "--bg", str(clips["resized.ts"]), *GIVEN])
    assert done.returncode == 0, done.stderr
    fmt, frames = read_y4m_frames(done.stdout)
    assert (fmt.width, fmt.height, len(frames)) == (96, 64, FG_FRAMES)
    assert "bg 96x64" in done.stderr.decode() and "error" not in done.stderr.decode()


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("/sys/out.mp4", "output directory is not writable: /sys"),  # sysfs: no new files, even for root
        ("notes.txt/out.mp4", "output directory is not a directory"),
        (".", "output is a directory: ."),
    ],
)
def test_unwritable_output_is_refused_before_any_work(run_tool: RunTool, clips: dict[str, Path], tmp_path: Path,
                                                      output: str, message: str) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    one_error_line(run_tool(["--fg", str(clips["fg"]), "--bg", str(clips["bg"]), *GIVEN, "-o", output, "-y"]), 1,
                   message)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert not Path("/sys/out.mp4").exists()


def test_ffmpeg_missing_entirely(run_tool: RunTool, clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """No ffmpeg on PATH and imageio-ffmpeg not installed (an import of it fails): say how to get one."""
    shadow = tmp_path_factory.mktemp("no-imageio") / "imageio_ffmpeg"
    shadow.mkdir()
    (shadow / "__init__.py").write_text('raise ImportError("imageio_ffmpeg is not installed (test stand-in)")\n')
    monkeypatch.setenv("PATH", str(shadow))
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))
    monkeypatch.delenv("VIDKOMPY_FFMPEG", raising=False)
    args = ["--fg", str(clips["fg"]), "--bg", str(clips["bg"]), *GIVEN, "-o", "out.mp4"]
    one_error_line(run_tool(args), 1, "ffmpeg not found: install ffmpeg on PATH (e.g. apt install ffmpeg) or "
                                      "`pip install imageio-ffmpeg`, or give --ffmpeg PATH")
    one_error_line(run_tool([*args, "--ffmpeg", "/no/such/ffmpeg"]), 1,
                   "ffmpeg not found or not executable: /no/such/ffmpeg")


def feed_frames(tool: subprocess.Popen, writer: Y4MWriter, frame: np.ndarray, count: int) -> int:
    """Write up to `count` frames into the tool's (unbuffered) stdin; stop early once it has exited. Returns
    frames written."""
    for n in range(count):
        try:
            writer.write(frame)
        except BrokenPipeError:
            return n
    return count


@pytest.mark.parametrize(("victim", "message"), [
    ("encoder", "encoder failed writing out.mp4: killed by SIGKILL"),
    ("bg decoder", "bg: ffmpeg failed decoding {bg}: killed by SIGKILL"),
])
def test_ffmpeg_child_killed_mid_run(clips: dict[str, Path], tmp_path: Path, victim: str, message: str) -> None:
    """Kill one ffmpeg child while the tool waits for more fg on stdin (so the run is surely mid-way): one
    line, exit 1, no output file, no child left. The bg decoder is still alive then: 1000 frames of bg do
    not fit in the pipe, so it blocks until the tool reads on (with no read-ahead: 16 MiB would hold them all)."""
    tag = uuid.uuid4().hex
    bg = str(clips["long_bg.mkv"])
    tool = subprocess.Popen([sys.executable, "-m", "vidkompy_stream", "--bg", bg, *GIVEN, "--read-ahead", "0", "-o",
                             "out.mp4"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
                            env={**os.environ, TAG: tag}, bufsize=0)
    fmt = Y4MFormat(32, 16, Fraction(25))
    writer, frame = Y4MWriter(tool.stdin, fmt), np.full(fmt.frame_size, 128, np.uint8)
    try:
        while not any(p.name.endswith(".partial.mp4") for p in tmp_path.iterdir()):
            assert feed_frames(tool, writer, frame, 1) == 1, "the tool stopped before writing"
        pattern = "-i pipe:" if victim == "encoder" else f"-i {bg}"
        pids = [pid for pid, cmd in tagged_processes(tag).items() if pattern in cmd and "vidkompy_stream" not in cmd]
        assert len(pids) == 1, tagged_processes(tag)
        os.kill(pids[0], signal.SIGKILL)
        feed_frames(tool, writer, frame, 2000)  # the bg pipe holds ~110 frames; the tool must read past them
        _, err = tool.communicate(timeout=60)
    finally:
        tool.kill()
        tool.wait()
    one_error_line(subprocess.CompletedProcess(tool.args, tool.returncode, b"", err), 1, message.format(bg=bg))
    assert list(tmp_path.iterdir()) == []
    assert leftover_processes(tag) == []


@pytest.mark.parametrize("timing", [["--offset", "0"], []], ids=["offset", "aligned"])
def test_bg_shorter_than_fg_holds_last_frame(run_tool: RunTool, clips: dict[str, Path], timing: list[str]) -> None:
    """One output frame per fg frame, the last bg frame under the rest, and one warning, whether the timing
    is given or found by the aligner."""
    done = run_tool(["--fg", str(clips["scene_fg"]), "--bg", str(clips["short_bg"]), *PLACE, *timing])
    assert done.returncode == 0, done.stderr
    fmt, frames = read_y4m_frames(done.stdout)
    assert len(frames) == 20
    assert warnings_of(done, "holding the last bg frame") == 1
    last_bg = read_y4m_frames(clips["short_bg"].read_bytes())[1][-1]
    outside = fmt.plane_views(frames[-1])[0].copy()
    np.testing.assert_array_equal(outside[:, :40], fmt.plane_views(last_bg)[0][:, :40])


def test_variable_frame_rate_input_becomes_constant_rate(run_tool: RunTool, clips: dict[str, Path]) -> None:
    """fg: 25 frames at 25 fps, then 25 frames 1 to 3 frame times apart, 2.92 s in all: at a constant 25 fps
    that is 74 frames, each source frame shown at least once, in order, the first 25 exactly once."""
    done = run_tool(["--fg", str(clips["vfr.mp4"]), "--bg", str(clips["bg"]), *GIVEN])
    assert done.returncode == 0, done.stderr
    assert warnings_of(done, "looks variable-frame-rate") == 1
    fmt, frames = read_y4m_frames(done.stdout)
    shown = [int(np.median(fmt.plane_views(f)[0][24:40, 40:72])) for f in frames]
    assert fmt.rate == 25 and len(shown) == 74
    assert shown[:25] == list(range(25)) and sorted(shown) == shown and set(shown) == set(range(50))


#: runs the tool in-process, then prints its peak RSS (VmHWM, KiB). Not getrusage: Linux carries ru_maxrss
#: over exec, so it would count the forked copy of the (big) test process.
RSS_WRAPPER = r"""
import re, sys
from vidkompy_stream.cli import run
code = run(sys.argv[1:])
print(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1), file=sys.stderr)
sys.exit(code)
"""


def run_4k(ffmpeg_exe: str, folder: Path, frames: int) -> int:
    """A 320x180 fg over a 3840x2160 bg piped in (both `frames` long); return the tool's peak RSS, KiB."""
    scene = "testsrc2=size=3840x2160:rate=25"
    fg = make_y4m(ffmpeg_exe, folder / f"fg{frames}.y4m", f"{scene},crop=320:180:1000:600,trim=end_frame={frames}")
    tag = uuid.uuid4().hex
    env = {**os.environ, TAG: tag}
    feed = subprocess.Popen([ffmpeg_exe, "-nostdin", "-v", "error", "-f", "lavfi", "-i", scene, "-frames:v", str(frames),
                             "-f", "yuv4mpegpipe", "-"], stdout=subprocess.PIPE, env=env)
    tool = subprocess.run([sys.executable, "-c", RSS_WRAPPER, "--bg", "-", "--fg", str(fg), "--x", "1000", "--y", "600",
                           "--offset", "0", "-o", "-"], stdin=feed.stdout, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, timeout=120)
    assert feed.stdout is not None
    feed.stdout.close()
    assert feed.wait() == 0 and tool.returncode == 0, tool.stderr
    assert f"wrote y4m to stdout: {frames} frames".encode() in tool.stderr
    assert leftover_processes(tag) == []
    fg.unlink()
    return int(tool.stderr.split()[-1])


def test_4k_input_memory_does_not_grow_with_length(ffmpeg_exe: str, tmp_path: Path) -> None:
    """A 4K bg streams through; twice the frames, same peak (the 80 frames would be 0.9 GiB)."""
    frame = 3840 * 2160 * 3 // 2
    short, long = run_4k(ffmpeg_exe, tmp_path, 40), run_4k(ffmpeg_exe, tmp_path, 80)
    assert long * 1024 - short * 1024 < 3 * frame, (short, long)


def reader_over(data: bytes) -> InputReader:
    return InputReader(io.BufferedReader(io.BytesIO(data)), "fuzz")


small_formats = st.builds(
    Y4MFormat,
    width=st.integers(1, 9),
    height=st.integers(1, 9),
    rate=st.just(Fraction(25)),
    colorspace=st.sampled_from(sorted(COLORSPACES)),
)


@settings(max_examples=300, deadline=1000)
@given(small_formats, st.lists(st.sampled_from([b"FRAME\n", b"FRAME Ixyz\n", b"FRA", b"YUV4MPEG2 W2 H2 F1:1\n"]) |
                               st.binary(max_size=40), max_size=8))
def test_any_stream_after_a_valid_header_reads_cleanly(fmt: Y4MFormat, parts: list[bytes]) -> None:
    """The pipeline's reader never raises on a bad body: it ends at the last whole frame, saying why."""
    data = fmt.header() + b"".join(parts)
    reader = reader_over(data)
    buf = fmt.new_frame()
    frames = 0
    while reader.readinto(buf):
        frames += 1
    assert frames <= len(data) // (fmt.frame_size + 6)
    assert reader.damage is None or reader.damage.startswith(f"fuzz: y4m frame {frames}")
    assert not reader.readinto(buf), "an ended stream stays ended"


@settings(max_examples=300, deadline=1000)
@given(st.binary(max_size=300) | st.builds(lambda head, tail: head + tail,
                                            st.sampled_from([b"fg_frame,bg_frame\n0,0\n", b"0,0,0.5,1,2\n"]),
                                            st.binary(max_size=100)))
def test_any_mapping_bytes_parse_or_raise_our_error(data: bytes) -> None:
    """--map-in opens its file as text (UTF-8 here) with csv's newline handling; any bytes at all either
    give valid decisions or our one-line error, never a decode or csv exception."""
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    try:
        decisions = list(read_mapping(stream, "map.csv"))
    except VidkompyError as exc:
        assert str(exc).startswith("map.csv:") and "\n" not in str(exc)
        return
    assert [d.fg_frame for d in decisions] == list(range(len(decisions)))
