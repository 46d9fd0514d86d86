"""--analyze and --report end to end on the demo's kind of pair (its truth known), for aligned, --offset and
--map-in runs; the report's missing dependency is one clear line."""

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import RunTool
from vidkompy_stream.demo import DemoPair, DemoScene, make_pair
from vidkompy_stream.errors import VidkompyError
from vidkompy_stream.options import Options, check

SCENE = DemoScene(bg_seconds=6, fg_seconds=3, start=1)


@pytest.fixture(scope="module")
def pair(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> DemoPair:
    return make_pair(ffmpeg_exe, str(tmp_path_factory.mktemp("report")), SCENE)


def assert_png(path: Path) -> None:
    picture = cv2.imread(str(path))
    assert picture is not None and picture.shape[0] > 400 and picture.shape[1] > 600, path
    assert picture.std() > 10, "a picture, not a blank"


def test_analyze_says_where_and_when_and_writes_no_video(run_tool: RunTool, pair: DemoPair, tmp_path: Path) -> None:
    done = run_tool(["--fg", pair.fg, "--bg", pair.bg, "--analyze", "--report", "run.png", "--map-out", "map.csv"])
    assert done.returncode == 0, done.stderr.decode()
    summary = json.loads(done.stdout)
    w, h, x, y = SCENE.crop
    assert (summary["x"], summary["y"], summary["frames"]) == (x, y, len(pair.truth))
    assert abs(summary["offset"] - SCENE.start) < 1 / SCENE.bg_rate
    assert abs(summary["drift"] - float(SCENE.speed - 1)) < max(3 * summary["rate_error"] / 1.2, 0.002), summary
    assert summary["cuts"] == [] and summary["low_confidence"] == 0 and summary["search"]["score"] > 0.6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.csv", "run.png"]
    assert_png(tmp_path / "run.png")
    shown = [int(line.split(",")[1]) for line in (tmp_path / "map.csv").read_text().splitlines() if line[0].isdigit()]
    assert np.array_equal(shown, pair.truth)


def test_given_timings_are_drawn_too(run_tool: RunTool, pair: DemoPair, tmp_path: Path) -> None:
    w, h, x, y = SCENE.crop
    first = run_tool(["--fg", pair.fg, "--bg", pair.bg, "--x", str(x), "--y", str(y), "--offset", str(SCENE.start),
                      "--report", "offset.png", "--map-out", "map.csv", "-o", "out.y4m"])
    assert first.returncode == 0, first.stderr.decode()
    replay = run_tool(["--fg", pair.fg, "--bg", pair.bg, "--map-in", "map.csv", "--report", "replay.png",
                       "-o", "out2.y4m"])
    assert replay.returncode == 0, replay.stderr.decode()
    for name in ("offset.png", "replay.png"):
        assert_png(tmp_path / name)


def test_analyze_with_an_output_is_a_usage_error(run_tool: RunTool, pair: DemoPair) -> None:
    done = run_tool(["--fg", pair.fg, "--bg", pair.bg, "--analyze", "-o", "out.mp4"])
    assert done.returncode == 2 and b"--analyze writes no video" in done.stderr


def test_without_matplotlib_the_report_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(VidkompyError, match=r"pip install 'vidkompy-stream\[report\]'"):
        check(Options(fg="a", bg="b", output=str(tmp_path / "o.mp4"), report=str(tmp_path / "r.png")))
