"""The streaming aligner stage end to end: pipe form, a drifting bg clock, lookahead latency and bounded
memory, and the given timings (--offset, --map-in) that bypass it.

The scene is a lavfi render (a zooming Mandelbrot set with Conway's life over it: every frame differs)
at 256x144, 30 fps, 12 s, kept lossless. Every derived clip is first written lossless and each of its
frames matched to the scene frame it came from by exact equality of luma (the whole frame for bg, the
crop for fg), so the truth is the source-frame identity, not a guess at how ffmpeg's fps filter rounds;
then bg is encoded lossy (x264 crf 30) and fg well (crf 16).

- pair "steady": bg = the scene; fg = its crop from 1.4 s at 25 fps, 4 s (fg frame i shows scene frame
  42 + 1.2 i, nearest).
- pair "drift": bg = the scene with its clock running 2 % fast (`setpts=PTS/1.02,fps=30`: bg frame j shows
  scene frame ~1.02 j, one in ~50 skipped); fg = its crop from 1 s at 25 fps, 10.5 s (long enough for the log's
  rate line, logged every 10 fg seconds). The right bg frames for fg frame i show the scene frame nearest
  fg frame i's (the same one, or either neighbour when bg skipped it).
"""

import logging
import math
import os
import re
import subprocess
import sys
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import vidkompy_stream as vk
from tests.conftest import (
    TAG,
    RunTool,
    decode,
    ffmpeg_run,
    leftover_processes,
    life_scene,
    luma_frames,
    make_y4m,
    read_y4m_frames,
    scene_index,
)
from vidkompy_stream.alignment.aligner import (
    AlignedTiming,
    bg_frames_needed,
    fg_frames_needed,
    shrink_factor,
)
from vidkompy_stream.compose.follow import BgFollower
from vidkompy_stream.io.framering import FrameRing
from vidkompy_stream.io.y4m import Y4MReader
from vidkompy_stream.params import REFINE_LEVELS, SearchParams

W, H, RATE, SECONDS = 256, 144, 30, 12
FG_RATE = 25
CROP = (64, 32, 128, 80)  # x, y, w, h (even: chroma crops exactly too)
STEADY_START, STEADY_FRAMES = Fraction(7, 5), 100  # 4 s
DRIFT_START, DRIFT_FRAMES, DRIFT = 1, 263, 1.02  # 10.5 s
SCENE = life_scene(W, H, RATE, RATE * SECONDS)
RATE_LINE = re.compile(r"aligner: fg frame (\d+), ([\d.]+) bg frames per fg frame \(nominal ([\d.]+), "
                       r"bg clock ([+-][\d.]+)%\)")


def make_pair(exe: str, folder: Path, scene_path: Path, scene: list[np.ndarray], name: str, bg_filter: str,
              start: Fraction | float, frames: int) -> dict[str, object]:
    """Lossless bg and fg clips, their frames' scene frame numbers, then their encoded versions."""
    x, y, w, h = CROP
    bg_raw, fg_raw = folder / f"{name}_bg.y4m", folder / f"{name}_fg.y4m"
    ffmpeg_run(exe, "-i", str(scene_path), "-vf", bg_filter, "-f", "yuv4mpegpipe", str(bg_raw))
    ffmpeg_run(exe, "-i", str(scene_path), "-vf",
               f"trim=start={float(start)},setpts=PTS-STARTPTS,crop={w}:{h}:{x}:{y}:exact=1,fps={FG_RATE},"
               f"trim=end_frame={frames}", "-f", "yuv4mpegpipe", str(fg_raw))
    whole = scene_index(scene, (slice(None), slice(None)))
    crop = scene_index(scene, (slice(y, y + h), slice(x, x + w)))
    bg_source = np.array([whole[f.tobytes()] for f in luma_frames(bg_raw)])
    fg_source = np.array([crop[f.tobytes()] for f in luma_frames(fg_raw)])
    assert len(fg_source) == frames
    bg, fg = folder / f"{name}_bg.mp4", folder / f"{name}_fg.mp4"
    ffmpeg_run(exe, "-i", str(bg_raw), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", str(bg))
    ffmpeg_run(exe, "-i", str(fg_raw), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", str(fg))
    return {"bg": bg, "fg": fg, "bg_raw": bg_raw, "fg_raw": fg_raw, "bg_source": bg_source,
            "fg_source": fg_source}


@pytest.fixture(scope="module")
def pairs(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    folder = tmp_path_factory.mktemp("align")
    scene_path = make_y4m(ffmpeg_exe, folder / "scene.y4m", SCENE)
    scene = luma_frames(scene_path)
    steady = make_pair(ffmpeg_exe, folder, scene_path, scene, "steady", "null", STEADY_START, STEADY_FRAMES)
    assert steady["bg_source"].tolist() == list(range(RATE * SECONDS))
    drift = make_pair(ffmpeg_exe, folder, scene_path, scene, "drift", f"setpts=PTS/{DRIFT},fps={RATE}",
                      DRIFT_START, DRIFT_FRAMES)
    skipped = np.diff(drift["bg_source"])
    assert set(skipped.tolist()) == {1, 2}, "the fast bg clock skips a scene frame now and then"
    return {"steady": steady, "drift": drift}


def read_map(path: Path) -> tuple[list[str], list[list[str]]]:
    """The comment lines, and each row's cells (fg_frame, bg_frame, confidence, x, y)."""
    lines = path.read_text().splitlines()
    assert lines[0] == "fg_frame,bg_frame,confidence,x,y"
    return [ln for ln in lines[1:] if ln.startswith("#")], [ln.split(",") for ln in lines[1:] if not ln.startswith("#")]


def bg_column(rows: list[list[str]]) -> list[int]:
    assert [int(r[0]) for r in rows] == list(range(len(rows))), "one row per fg frame, in order"
    return [int(r[1]) for r in rows]


def right_frames(pair: dict[str, object], i: int) -> set[int]:
    """bg frames showing the scene frame nearest fg frame i's scene frame."""
    distance = np.abs(pair["bg_source"] - pair["fg_source"][i])
    return set(np.flatnonzero(distance == distance.min()).tolist())


def exact_rate(pair: dict[str, object], mapping: list[int]) -> tuple[float, list[tuple[int, int, list[int]]]]:
    wrong = [(i, j, sorted(right_frames(pair, i))) for i, j in enumerate(mapping) if j not in right_frames(pair, i)]
    return 1 - len(wrong) / len(mapping), wrong


def run_pipe(feeder: list[str], tool_args: list[str], cwd: Path, out: Path,
             timeout: float = 120) -> subprocess.CompletedProcess:
    """`feeder | python -m vidkompy_stream ARGS > out`, in cwd; no child may outlive the tool."""
    tag = uuid.uuid4().hex
    env = {**os.environ, TAG: tag, "PYTHONUNBUFFERED": "1"}
    with open(out, "wb") as sink:
        source = subprocess.Popen(feeder, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, cwd=cwd, env=env)
        try:
            tool = subprocess.run([sys.executable, "-m", "vidkompy_stream", *tool_args], stdin=source.stdout,
                                  stdout=sink, stderr=subprocess.PIPE, cwd=cwd, env=env, timeout=timeout)
        finally:
            source.stdout.close()
            source.wait(timeout=30)
    assert source.returncode == 0, "the fg feeder failed"
    assert leftover_processes(tag) == [], "child processes outlived the tool"
    return tool


def test_pipe_run_at_25_over_30_fps(ffmpeg_exe: str, pairs: dict[str, dict[str, object]], tmp_path: Path) -> None:
    """fg on stdin as y4m from ffmpeg, bg a file, y4m on stdout: one output frame per fg frame, each over
    the nearest-timestamp bg frame (= the bg frame showing its scene frame), fg pasted at the found spot."""
    pair = pairs["steady"]
    out = tmp_path / "out.y4m"
    feeder = [ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(pair["fg"]),
              "-f", "yuv4mpegpipe", "-"]
    done = run_pipe(feeder, ["--bg", str(pair["bg"]), "--map-out", "map.csv"], tmp_path, out)
    assert done.returncode == 0, done.stderr.decode()
    fg_fmt, fg_frames = decode(ffmpeg_exe, pair["fg"])
    out_fmt, out_frames = read_y4m_frames(out.read_bytes())
    n = len(pair["fg_source"])
    assert len(fg_frames) == n and len(out_frames) == n, "exactly one output frame per fg frame"
    assert out.read_bytes().count(b"FRAME") == n
    assert (out_fmt.width, out_fmt.height, out_fmt.rate) == (W, H, FG_RATE)
    x, y, w, h = CROP
    comments, rows = read_map(tmp_path / "map.csv")
    assert len(comments) == 1 and comments[0].startswith(f"# placement x={x} y={y} ")
    assert {(int(r[3]), int(r[4])) for r in rows} == {(x, y)}, "placement exact on every row"
    mapping = bg_column(rows)
    nearest = [math.floor((Fraction(i, FG_RATE) + STEADY_START) * RATE + Fraction(1, 2)) for i in range(n)]
    wrong = [(i, j, nearest[i], int(pair["fg_source"][i])) for i, j in enumerate(mapping)
             if j != nearest[i] and pair["bg_source"][j] != pair["fg_source"][i]]
    assert not wrong, f"{len(wrong)} of {n} fg frames off (fg, bg, nearest, same source): {wrong[:6]}"
    # the output is what the map says: fg's pixels at (x, y), bg frame mapping[i] everywhere else
    _, bg_frames = decode(ffmpeg_exe, pair["bg"])
    outside = np.ones((H, W), bool)
    outside[y : y + h, x : x + w] = False
    for i, (out_frame, fg_frame) in enumerate(zip(out_frames, fg_frames, strict=True)):
        luma = out_fmt.plane_views(out_frame)[0]
        np.testing.assert_array_equal(luma[y : y + h, x : x + w], fg_fmt.plane_views(fg_frame)[0], f"fg frame {i}")
        bg_luma = out_fmt.plane_views(bg_frames[mapping[i]])[0]
        assert np.array_equal(luma[outside], bg_luma[outside]), f"fg frame {i} is not over bg frame {mapping[i]}"


def test_drifting_bg_clock_is_followed(pairs: dict[str, dict[str, object]],
                                       caplog: pytest.LogCaptureFixture) -> None:
    """bg's clock runs 2 % fast: the aligner's mapping stays on the right frame (>= 99 %) where a
    constant offset, right at fg frame 0, drifts off; the measured rate is ~1.2 / 1.02 bg frames per fg frame,
    and the log's rate line (every 10 fg seconds) says so."""
    pair = pairs["drift"]
    with caplog.at_level(logging.DEBUG, logger="vidkompy_stream"):
        mapping = vk.align(pair["fg"], pair["bg"])
    aligned, wrong = exact_rate(pair, mapping.bg_frames.tolist())
    first = min(right_frames(pair, 0))
    given = vk.align(pair["fg"], pair["bg"], x=CROP[0], y=CROP[1], offset=Fraction(first, RATE))
    constant, _ = exact_rate(pair, given.bg_frames.tolist())
    summary = (f"exact: aligned {aligned:.1%}, constant offset {constant:.1%}; "
               f"aligned wrong (fg, bg, right): {wrong[:6]}")
    assert aligned >= 0.99, summary
    assert constant <= 0.5, summary
    expected = RATE / FG_RATE / DRIFT  # 1.17647
    assert abs(mapping.rate - expected) < 0.004, f"measured rate {mapping.rate}, drifted truth {expected:.5f}"
    assert given.rate == pytest.approx(RATE / FG_RATE), "a given timing runs at the nominal rate"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    rates = [(int(m[1]), float(m[2]), float(m[3]), float(m[4])) for m in RATE_LINE.finditer(logged)]
    assert rates and rates[0][0] == 250, f"expected the rate line at fg frame 250: {logged[-2000:]}"
    _, rate, nominal, clock = rates[-1]
    assert nominal == pytest.approx(1.2)
    assert abs(rate - expected) < 0.004, f"logged rate {rate}, drifted truth {expected:.5f}, nominal {nominal}"
    assert -2.3 < clock < -1.6, f"logged bg clock {clock:+.3f} %, truth {(1 / DRIFT - 1) * 100:+.3f} %"


def test_tunnel_mask_leaves_fg_black_corners_out(ffmpeg_exe: str, pairs: dict[str, dict[str, object]],
                                                  tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """fg with black corners that bg does not have (a quarter of its picture): the spatial search leaves them
    out and finds fg's place and start; engine tunnel-mask leaves them out too, says how much of the
    picture it compares, and aligns every frame."""
    steady = pairs["steady"]
    w, h = CROP[2] // 4, CROP[3] // 4
    corners = ",".join(f"drawbox=x={x}:y={y}:w={w}:h={h}:color=black:t=fill"
                       for x in (0, CROP[2] - w) for y in (0, CROP[3] - h))
    fg = tmp_path / "corners.mp4"
    ffmpeg_run(ffmpeg_exe, "-i", str(steady["fg_raw"]), "-vf", corners, "-c:v", "libx264", "-preset", "ultrafast",
               "-crf", "16", str(fg))
    with caplog.at_level(logging.DEBUG, logger="vidkompy_stream"):
        mapping = vk.align(fg, steady["bg"], engine="tunnel-mask")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    searched = re.search(r"spatial search: (\d+)% of fg's picture stays dark and still", logged)
    assert searched and 20 <= int(searched[1]) <= 30, logged[-1500:]
    share = re.search(r"tunnel-mask: comparing (\d+)% of fg's picture", logged)
    assert share and 70 <= int(share[1]) <= 80, logged[-1500:]
    assert mapping.placement[:2] == CROP[:2] and {(d.x, d.y) for d in mapping} == {CROP[:2]}
    aligned, wrong = exact_rate(steady, mapping.bg_frames.tolist())
    assert aligned >= 0.99, f"exact {aligned:.1%}, wrong (fg, bg, right): {wrong[:6]}"


def test_half_second_lookahead_engine(pairs: dict[str, dict[str, object]]) -> None:
    """Lookahead 0.5 s in the streaming engine, bg pushed ahead and fg a frame at a time: one decision per fg
    frame, a monotone map, and the first decision comes after pushing no more fg than the search judges its
    matches on (`SearchParams.verify_seconds`), or than the lookahead (12 frames) plus the refiner's segment,
    plus the newest frame."""
    pair = pairs["steady"]
    n = len(pair["fg_source"])
    engine = vk.Aligner(fg_rate=FG_RATE, bg_rate=RATE, lookahead=0.5)
    for frame in luma_frames(pair["bg_raw"]):
        assert engine.push_bg(frame) == []
    pushed_at_first, decided = None, []
    for i, frame in enumerate(luma_frames(pair["fg_raw"])):
        decided += engine.update(frame)
        if decided and pushed_at_first is None:
            pushed_at_first = i + 1
    decided += engine.finish()
    mapping = [d.bg_frame for d in decided]
    assert [d.fg_frame for d in decided] == list(range(n)) and engine.path_.tolist() == mapping
    assert all(b >= a for a, b in zip(mapping, mapping[1:])), mapping
    verified = math.ceil(SearchParams.verify_seconds * FG_RATE)
    assert pushed_at_first is not None and pushed_at_first <= max(12 + REFINE_LEVELS["fast"].segment, verified) + 1
    rate, wrong = exact_rate(pair, mapping)
    assert rate >= 0.99, f"exact {rate:.1%}; wrong (fg, bg, right): {wrong[:6]}"


@pytest.mark.parametrize("value", ["0", "-1"])
def test_lookahead_must_be_positive(run_tool: RunTool, tmp_path: Path, value: str) -> None:
    done = run_tool(["--fg", "fg.mp4", "--bg", "bg.mp4", "--lookahead", value, "-o", "out.mp4"])
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidkompy-stream: error: "), lines
    assert "--lookahead" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_stage_latency_and_bounded_memory(pairs: dict[str, dict[str, object]]) -> None:
    """The stage in process, with rings sized as the pipeline sizes them for a 12-frame lookahead: over a
    stream ten times longer than the fg ring and three times the bg ring, every fg frame's decision comes
    out once, in order, no later than lookahead + segment fg frames after it was fed, and the shrunk crops
    it keeps never outnumber the ring slots."""
    pair = pairs["drift"]
    lookahead, level = 12, REFINE_LEVELS["fast"]
    start = min(right_frames(pair, 0))
    with open(pair["fg_raw"], "rb") as fg_file, open(pair["bg_raw"], "rb") as bg_file:
        fg_reader, bg_reader = Y4MReader(fg_file, "fg"), Y4MReader(bg_file, "bg")
        fg_ring = FrameRing(fg_reader, fg_frames_needed(lookahead, level))
        bg_ring = FrameRing(bg_reader, bg_frames_needed(fg_reader.format, bg_reader.format, lookahead, level))
        timing = AlignedTiming(fg_reader.format, bg_reader.format, CROP[:2], start, lookahead, level, fg_ring,
                               bg_ring)
        follower = BgFollower(bg_ring, "bg")
        out = bg_reader.format.new_frame()
        emitted: list[tuple[int, int, int]] = []  # (fg frame, bg frame, fg frame being fed when it came out)

        def emit(decisions: list, fed: int) -> None:
            for d in decisions:
                fg_ring.frame(d.fg_frame)  # still held
                emitted.append((d.fg_frame, follower.copy_frame(d.bg_frame, out, d.fg_frame), fed))
                fg_ring.release_before(d.fg_frame + 1)

        i, most_small = 0, 0
        while fg_ring.fill_to(i):
            emit(timing.feed(i), i)
            most_small = max(most_small, len(timing.bg_small), len(timing.fg_small))
            i += 1
        emit(timing.finish(), i)
    n = len(pair["fg_source"])
    assert fg_ring.capacity * 10 <= n and bg_ring.capacity * 3 <= len(pair["bg_source"])
    assert [e[0] for e in emitted] == list(range(n)), "one decision per fg frame, in order"
    late = [(fg, fed) for fg, _, fed in emitted if fed < n and fed > fg + lookahead + level.segment]
    assert not late, f"decisions later than lookahead + segment (fg frame, fed when out): {late[:5]}"
    assert sum(fed < n for _, _, fed in emitted) >= n - lookahead - level.segment, "only the tail waits for EOF"
    assert most_small <= bg_ring.capacity, most_small
    mapping = [bg for _, bg, _ in emitted]
    assert all(b >= a for a, b in zip(mapping, mapping[1:]))
    rate, wrong = exact_rate(pair, mapping)
    assert rate >= 0.99, f"exact {rate:.1%}; wrong (fg, bg, right): {wrong[:6]}"


def test_offset_bypasses_the_aligner(pairs: dict[str, dict[str, object]],
                                     caplog: pytest.LogCaptureFixture) -> None:
    """A given placement and offset: no search, no aligner, no refiner; each fg frame over the bg frame
    nearest its time, its confidence not measured."""
    pair = pairs["steady"]
    n = len(pair["fg_source"])
    with caplog.at_level(logging.DEBUG, logger="vidkompy_stream"):
        mapping = vk.align(pair["fg"], pair["bg"], x=CROP[0], y=CROP[1], offset=STEADY_START)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "aligner:" not in logged and "refine:" not in logged and "spatial search" not in logged, logged
    expected = [math.floor((Fraction(i, FG_RATE) + STEADY_START) * RATE + Fraction(1, 2)) for i in range(n)]
    assert mapping.bg_frames.tolist() == expected
    assert np.isnan(mapping.confidence).all(), "given timing: confidence not measured"
    assert mapping.placement == (CROP[0], CROP[1], None, 1)


def test_map_in_bypasses_the_aligner(run_tool: RunTool, pairs: dict[str, dict[str, object]], tmp_path: Path) -> None:
    """A replayed mapping (deliberately not the truth: it starts late and holds/skips) is used as given."""
    pair = pairs["steady"]
    n = len(pair["fg_source"])
    given = [30 + i + i // 7 - (i % 9 == 0) for i in range(n)]
    given = list(np.maximum.accumulate(given))
    lines = ["fg_frame,bg_frame,confidence,x,y"] + [f"{i},{b},,{CROP[0]},{CROP[1]}" for i, b in enumerate(given)]
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    done = run_tool(["--fg", str(pair["fg"]), "--bg", str(pair["bg"]), "--map-in", "in.csv", "--map-out",
                     "out.csv", "-o", "-", "-v"])
    assert done.returncode == 0, done.stderr.decode()
    stderr = done.stderr.decode()
    assert "aligner:" not in stderr and "refine:" not in stderr and "spatial search" not in stderr
    _, frames = read_y4m_frames(done.stdout)
    assert len(frames) == n
    _, rows = read_map(tmp_path / "out.csv")
    assert bg_column(rows) == [int(b) for b in given]
    assert {(int(r[3]), int(r[4])) for r in rows} == {CROP[:2]}


@pytest.mark.parametrize(("size", "target", "factor"), [((1280, 720), 240, 4), ((1920, 1080), 240, 8),
                                                         ((852, 480), 240, 4), ((640, 360), 480, 1),
                                                         ((1280, 720), 480, 2), ((384, 216), 240, 2),
                                                         ((2000, 40), 240, 2), ((100, 16), 240, 1)])
def test_shrink_factor_is_the_nearest_power_of_two_keeping_16_px(size: tuple[int, int], target: int,
                                                                  factor: int) -> None:
    assert shrink_factor(*size, target) == factor
