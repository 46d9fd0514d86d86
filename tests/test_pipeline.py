"""End to end on real ffmpeg-generated video: pipe form, file form with audio, timing, mapping replay.

The index clips draw their frame number into the luma (see `index_source`), so which bg frame the tool
put under each fg frame can be read back from the output's pixels.
"""

import contextlib
import math
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import (
    RunTool,
    decode,
    ffmpeg_run,
    index_source,
    make_y4m,
    read_y4m_frames,
)
from vidkompy_stream.io.processes import ChildGroup, threads_each
from vidkompy_stream.io.y4m import Y4MFormat
from vidkompy_stream.locating import Inputs
from vidkompy_stream.options import Options

BG_SIZE, FG_SIZE = (96, 64), (32, 16)
FG_AT = (40, 24)


@pytest.fixture(scope="module")
def clips(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """bg: 30 fps, luma = frame number; fg: 25 fps, luma a gradient moving with the frame number."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "bg": make_y4m(ffmpeg_exe, folder / "bg.y4m", index_source("96x64", "30", 90)),
        "fg": make_y4m(ffmpeg_exe, folder / "fg.y4m", index_source("32x16", "25", 60, lum="mod(3*X+Y+5*N\\,256)")),
    }


def bg_index_of(fmt: Y4MFormat, frame: np.ndarray) -> int:
    """The bg frame number drawn outside the fg rect; all such pixels must agree."""
    luma = fmt.plane_views(frame)[0].astype(int)
    outside = np.ones(luma.shape, bool)
    outside[FG_AT[1] : FG_AT[1] + FG_SIZE[1], FG_AT[0] : FG_AT[0] + FG_SIZE[0]] = False
    values = np.unique(luma[outside])
    assert values.size == 1, f"bg region is not one bg frame: {values}"
    return int(values[0])


def expected_bg(i: int, offset: Fraction, last: int = 89) -> int:
    return min(max(math.floor((Fraction(i, 25) + offset) * 30 + Fraction(1, 2)), 0), last)


def assert_fg_pasted(fg_frames: list[np.ndarray], out_frames: list[np.ndarray], fg_fmt: Y4MFormat,
                     out_fmt: Y4MFormat) -> None:
    x, y = FG_AT
    for fg, out in zip(fg_frames, out_frames, strict=True):
        for fg_plane, out_plane, s in zip(fg_fmt.plane_views(fg), out_fmt.plane_views(out), (1, 2, 2)):
            h, w = fg_plane.shape
            np.testing.assert_array_equal(out_plane[y // s : y // s + h, x // s : x // s + w], fg_plane)


@pytest.mark.parametrize("offset", [Fraction(1, 2), Fraction(-1, 5), Fraction(2), Fraction(61, 30)])
def test_offset_picks_nearest_bg_frame_across_rates(run_tool: RunTool, clips: dict[str, Path],
                                                    offset: Fraction) -> None:
    """fg 25 fps over bg 30 fps, fg on stdin, y4m out: one frame per fg frame, bg frames by timestamp."""
    done = run_tool(["--bg", str(clips["bg"]), "--x", str(FG_AT[0]), "--y", str(FG_AT[1]),
                     f"--offset={offset}"], stdin=clips["fg"].read_bytes())
    assert done.returncode == 0, done.stderr
    out_fmt, out = read_y4m_frames(done.stdout)
    fg_fmt, fg = read_y4m_frames(clips["fg"].read_bytes())
    assert (out_fmt.width, out_fmt.height, out_fmt.rate, len(out)) == (*BG_SIZE, Fraction(25), 60)
    assert [bg_index_of(out_fmt, f) for f in out] == [expected_bg(i, offset) for i in range(60)]
    assert_fg_pasted(fg, out, fg_fmt, out_fmt)
    stderr = done.stderr.decode()
    assert stderr.count("holding the last bg frame") == (1 if offset >= 2 else 0)
    assert stderr.count("before bg") == (1 if offset < 0 else 0)


def test_map_out_then_map_in_replays_exactly(run_tool: RunTool, clips: dict[str, Path], tmp_path: Path) -> None:
    args = ["--bg", str(clips["bg"]), "--fg", str(clips["fg"]), "-o", "-"]
    first = run_tool([*args, "--x", "40", "--y", "24", "--offset", "0.3", "--map-out", "map.csv"])
    assert first.returncode == 0, first.stderr
    rows = (tmp_path / "map.csv").read_text().splitlines()
    assert rows[0] == "fg_frame,bg_frame,confidence,x,y"
    assert rows[1:] == [f"{i},{expected_bg(i, Fraction(3, 10))},,40,24" for i in range(60)]
    second = run_tool([*args, "--map-in", "map.csv"])
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_map_in_moves_fg_and_extrapolates(run_tool: RunTool, clips: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("0,10,0.9,0,0\n1,11,0.9,64,48\n")
    done = run_tool(["--bg", str(clips["bg"]), "--fg", str(clips["fg"]), "--map-in", "m.csv", "--map-out", "o.csv",
                     "-o", "-"])
    assert done.returncode == 0, done.stderr
    out_fmt, out = read_y4m_frames(done.stdout)
    fg_fmt, fg = read_y4m_frames(clips["fg"].read_bytes())
    np.testing.assert_array_equal(out_fmt.plane_views(out[0])[0][:16, :32], fg_fmt.plane_views(fg[0])[0])
    np.testing.assert_array_equal(out_fmt.plane_views(out[1])[0][48:, 64:], fg_fmt.plane_views(fg[1])[0])
    rows = (tmp_path / "o.csv").read_text().splitlines()[1:]
    assert rows[:4] == ["0,10,0.9000,0,0", "1,11,0.9000,64,48", "2,12,,64,48", "3,13,,64,48"]  # 11 + 1.2 k, rounded
    assert "m.csv ends before fg frame 2" in done.stderr.decode()


@pytest.fixture(scope="module")
def media(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Encoded clips with audio: bg 30 fps 4 s (440 Hz), fg a 25 fps crop from 1 s on, 2 s (880 Hz)."""
    folder = tmp_path_factory.mktemp("media")
    src = "testsrc2=size=160x96:rate={rate}:duration={d}"
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", src.format(rate=30, d=4), "-f", "lavfi", "-i", "sine=440:duration=4",
               "-c:v", "libx264", "-crf", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", str(folder / "bg.mp4"))
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", src.format(rate=25, d=3) + ",trim=start=1,setpts=PTS-STARTPTS,"
               "crop=64:48:48:24", "-f", "lavfi", "-i", "sine=880:duration=2", "-c:v", "libx264", "-crf", "16",
               "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(folder / "fg.mp4"))
    ffmpeg_run(ffmpeg_exe, "-i", str(folder / "fg.mp4"), "-an", "-c", "copy", str(folder / "fg_silent.mp4"))
    return {p.stem: p for p in folder.iterdir()}


def audio_streams(exe: str, path: Path) -> int:
    text = subprocess.run([exe, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True).stderr.decode()
    return text.count(": Audio: ")


@pytest.mark.parametrize(
    ("fg", "audio", "streams"),
    [("fg", "auto", 1), ("fg", "none", 0), ("fg_silent", "auto", 1), ("fg_silent", "bg", 1)],
)
def test_file_form_with_audio(run_tool: RunTool, media: dict[str, Path], ffmpeg_exe: str, tmp_path: Path,
                              fg: str, audio: str, streams: int) -> None:
    done = run_tool(["--fg", str(media[fg]), "--bg", str(media["bg"]), "--x", "48", "--y", "24", "--offset", "1",
                     "--audio", audio, "-o", "out.mp4"])
    assert done.returncode == 0, done.stderr
    fmt, frames = decode(ffmpeg_exe, tmp_path / "out.mp4")
    assert (fmt.width, fmt.height, fmt.rate, len(frames)) == (160, 96, Fraction(25), 50)
    assert audio_streams(ffmpeg_exe, tmp_path / "out.mp4") == streams
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"], "no partial file left beside the output"


def test_y4m_file_output_is_written_directly(run_tool: RunTool, media: dict[str, Path], tmp_path: Path) -> None:
    """-o NAME.y4m: raw y4m (an encoder's codec cannot go in a y4m file), byte for byte what -o - writes;
    asking for audio in it is refused before anything is written."""
    args = ["--fg", str(media["fg"]), "--bg", str(media["bg"]), "--x", "48", "--y", "24", "--offset", "1"]
    done = run_tool([*args, "-o", "OUT.Y4M"])
    assert done.returncode == 0, done.stderr
    piped = run_tool([*args, "-o", "-"])
    assert (tmp_path / "OUT.Y4M").read_bytes() == piped.stdout
    assert read_y4m_frames(piped.stdout)[0].width == 160 and len(read_y4m_frames(piped.stdout)[1]) == 50
    refused = run_tool([*args, "--audio", "fg", "-o", "with_audio.y4m"])
    assert refused.returncode == 1 and b"carries no audio" in refused.stderr, refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["OUT.Y4M"], "no partial file, no refused output"


def test_read_ahead_changes_no_frame(run_tool: RunTool, media: dict[str, Path]) -> None:
    """Decoders read ahead (the default with a given timing, and a tiny read-ahead that splits every frame across
    buffers) or not: the same y4m, byte for byte. A negative read-ahead is refused."""
    args = ["--fg", str(media["fg"]), "--bg", str(media["bg"]), "--x", "48", "--y", "24", "--offset", "1", "-o", "-"]
    outputs = [run_tool([*args, *extra]) for extra in ([], ["--read-ahead", "0"], ["--read-ahead", "1"])]
    assert all(done.returncode == 0 for done in outputs), [done.stderr for done in outputs]
    assert len(read_y4m_frames(outputs[0].stdout)[1]) == 50
    assert outputs[0].stdout == outputs[1].stdout == outputs[2].stdout
    refused = run_tool([*args, "--read-ahead", "-1"])
    assert refused.returncode == 2 and b"--read-ahead must not be negative" in refused.stderr, refused.stderr


def test_decoders_share_the_cores(run_tool: RunTool, media: dict[str, Path]) -> None:
    done = run_tool(["--fg", str(media["fg"]), "--bg", str(media["bg"]), "--x", "48", "--y", "24", "--offset", "1",
                     "-o", "-", "-v"])
    assert done.returncode == 0, done.stderr
    decoders = [line for line in done.stderr.decode().splitlines() if " decoder: " in line and " -map " in line]
    assert len(decoders) == 2 and all(f" -threads {threads_each()} -i " in line for line in decoders), decoders


def test_pipe_form_between_two_ffmpegs(media: dict[str, Path], ffmpeg_exe: str, tmp_path: Path) -> None:
    """The README's pipe form, verbatim in shape: ffmpeg | vidkompy-stream | ffmpeg, bg by process substitution."""
    ff = f"'{ffmpeg_exe}' -hide_banner -loglevel error"
    script = (
        f"{ff} -i {media['fg']} -f yuv4mpegpipe - | vidkompy-stream -q --x 48 --y 24 --offset 1 "
        f"--bg <({ff} -nostdin -i {media['bg']} -f yuv4mpegpipe -) | {ff} -y -f yuv4mpegpipe -i - {tmp_path}/out.mp4"
    )
    done = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    fmt, frames = decode(ffmpeg_exe, tmp_path / "out.mp4")
    assert (fmt.width, fmt.height, fmt.rate, len(frames)) == (160, 96, Fraction(25), 50)


def test_demo_runs_the_full_job(run_tool: RunTool, ffmpeg_exe: str, tmp_path: Path) -> None:
    done = run_tool(["--demo", "-o", "demo.mp4"])
    assert done.returncode == 0, done.stderr
    fmt, frames = decode(ffmpeg_exe, tmp_path / "demo.mp4")
    assert (fmt.width, fmt.height, fmt.rate, len(frames)) == (640, 360, Fraction(25), 200)
    assert audio_streams(ffmpeg_exe, tmp_path / "demo.mp4") == 1
    log = done.stderr.decode()
    assert "demo: 200 of 200 fg frames over the right bg frame" in log.splitlines()[-1], log
    assert "low confidence" not in log and "warning" not in log, log


def test_looking_ahead_in_a_bg_file_gives_the_frames_the_run_reads(ffmpeg_exe: str, tmp_path: Path) -> None:
    """`Inputs.ahead`: a second decoder started at a frame inside a GOP (a seek, then decoding from the keyframe
    before it) gives exactly the frames the run's own bg decoder gives at those indices; bg read as y4m (a file
    or a pipe) has none."""
    bg, y4m = tmp_path / "bg.mp4", tmp_path / "bg.y4m"
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=4", "-c:v", "libx264",
               "-g", "12", "-crf", "30", "-pix_fmt", "yuv420p", str(bg))
    ffmpeg_run(ffmpeg_exe, "-i", str(bg), "-f", "yuv4mpegpipe", str(y4m))
    with ChildGroup() as group, contextlib.ExitStack() as stack:
        inputs = Inputs(Options(fg=str(bg), bg=str(bg)), ffmpeg_exe, group, stack)
        fmt, frame, run = inputs.bg.reader.format, inputs.bg.reader.format.new_frame(), []
        while inputs.bg.reader.readinto(frame):
            run.append(fmt.plane_views(frame)[0].copy())
        ahead = inputs.ahead()
        assert ahead is not None and len(run) == 100
        frames = ahead(37)
        got = [next(frames).copy() for _ in range(5)]
        frames.close()
        assert Inputs(Options(fg=str(bg), bg=str(y4m)), ffmpeg_exe, group, stack).ahead() is None
    assert all(np.array_equal(luma, run[37 + k]) for k, luma in enumerate(got))
    assert not any(np.array_equal(got[0], run[k]) for k in (36, 38)), "neighbouring frames differ"
