"""The demo's pair: its truth is what the encoded files show, and the score counts what differs from it."""

from fractions import Fraction
from pathlib import Path

import numpy as np

from tests.conftest import decode
from vidkompy_stream.demo import DemoScene, make_pair, score


def test_the_truth_follows_fgs_clock() -> None:
    scene = DemoScene(speed=Fraction(101, 100), fg_rate=25, bg_rate=30, start=2, fg_seconds=4)
    truth = scene.truth()
    assert len(truth) == 100 and truth[0] == 60
    # 1.212 bg frames per fg frame: steps of 1 and 2, 121 frames over 100 fg frames
    assert set(np.diff(truth)) == {1, 2}
    assert truth[-1] - truth[0] == round(Fraction(99 * 101 * 30, 100 * 25))


def test_each_fg_frame_is_cut_from_its_true_bg_frame(ffmpeg_exe: str, tmp_path: Path) -> None:
    scene = DemoScene(bg_seconds=4, fg_seconds=1, start=1)
    pair = make_pair(ffmpeg_exe, str(tmp_path), scene)
    (_, bg), (fgf, fg) = decode(ffmpeg_exe, Path(pair.bg)), decode(ffmpeg_exe, Path(pair.fg))
    assert len(bg) == 4 * scene.bg_rate and len(fg) == scene.fg_rate and fgf.rate == scene.fg_rate
    w, h, x, y = scene.crop
    for k, frame in enumerate(fg):
        luma = frame[: w * h].reshape(h, w).astype(np.float64)
        errors = {j: np.abs(luma - bg[j][: 640 * 360].reshape(360, 640)[y:y + h, x:x + w]).mean()
                  for j in range(pair.truth[k] - 2, pair.truth[k] + 3)}
        assert min(errors, key=errors.get) == pair.truth[k], (k, errors)


def test_the_score_lists_the_wrong_and_the_missing() -> None:
    truth = np.array([60, 61, 63, 64])
    verdict = score(np.array([60, 62, 63]), truth)
    assert verdict.frames == 4 and verdict.wrong == ((1, 62, 61), (3, -1, 64))
