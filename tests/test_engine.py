"""The streaming engine (`vidkompy_stream.Aligner`): frames pushed one at a time give `align`'s decisions,
as soon as the lookahead allows, and its errors at the next call."""

import doctest
from pathlib import Path

import cv2
import numpy as np
import pytest

import vidkompy_stream as vk
from tests.test_api import FG_RATE, RATE, X, Y, lumas, pair  # noqa: F401  (pair: the fixture)
from vidkompy_stream import engine as engine_module
from vidkompy_stream.params import REFINE_LEVELS


def test_doctests_run() -> None:
    result = doctest.testmod(engine_module)
    assert result.attempted >= 5 and result.failed == 0


def test_pushed_frames_give_aligns_decisions(ffmpeg_exe: str, pair: dict[str, Path]) -> None:  # noqa: F811
    """bg and fg pushed in time order (bg 30 fps, fg 25 fps from bg's second 1): the decisions are align's,
    returned as the stream goes (each once the lookahead after it, 0.5 s, has been seen)."""
    fg, bg = lumas(ffmpeg_exe, pair["fg"]), lumas(ffmpeg_exe, pair["bg"])
    engine = vk.Aligner(fg_rate=FG_RATE, bg_rate=RATE)
    decided, late = [], []

    def take(got: list[vk.Decision], newest: int) -> None:
        decided.extend(got)
        late.extend(newest - d.fg_frame for d in got)

    j = 0
    for i, frame in enumerate(fg):
        while j < len(bg) and j / RATE <= 1 + i / FG_RATE:
            take(engine.push_bg(bg[j]), i - 1)
            j += 1
        take(engine.update(frame), i)
    assert engine.placement_ == (X, Y) and abs(engine.rate_ - RATE / FG_RATE) < 0.02
    assert abs(float(engine.offset_) - 1) <= 1 / RATE
    before_finish = len(decided)
    for frame in bg[j:]:  # the rest of bg, then both end
        decided += engine.push_bg(frame)
    decided += engine.finish()
    assert decided == list(vk.align(fg, bg, fg_rate=FG_RATE, bg_rate=RATE))
    assert engine.path_.tolist() == [d.bg_frame for d in decided] and len(engine.confidence_) == len(fg)
    assert before_finish >= 2 * REFINE_LEVELS["fast"].segment, "decided as the stream goes, not all at its end"
    assert min(late) >= round(0.5 * FG_RATE), "no frame decided before the lookahead after it was seen"
    with pytest.raises(vk.UsageError, match="pushed after finish"):
        engine.update(fg[0])


def test_errors_reach_the_caller(pair: dict[str, Path]) -> None:  # noqa: F811
    engine = vk.Aligner(fg_rate=FG_RATE, bg_rate=RATE, x=0, y=0, offset=0)
    engine.push_bg(np.zeros((64, 64), np.uint8))
    with pytest.raises(vk.UsageError, match="uint8"):
        engine.update(np.zeros((16, 16), np.float32))
    with pytest.raises(vk.UsageError, match="bg_rate=0"):
        vk.Aligner(fg_rate=25, bg_rate=0)
    rng = np.random.default_rng(1)  # the docstring's pair: found with the default settings
    moving, still = (cv2.GaussianBlur(rng.integers(0, 256, (400, 700), np.uint8), (0, 0), 2) for _ in "ab")
    bg = [moving[2 * t:2 * t + 180, 3 * t:3 * t + 320] // 2 + still[:180, :320] // 2 for t in range(60)]
    engine = vk.Aligner(fg_rate=25, bg_rate=25, search=vk.SearchParams(min_score=1.01))
    with pytest.raises(vk.NotFound, match="need 1.01"):  # the settings given reach the search
        for t, frame in enumerate(bg):
            engine.push_bg(frame)
            if t >= 8:
                engine.update(frame[50:140, 90:210])
        engine.finish()
    noise = np.random.default_rng(2).integers(0, 256, (40, 48, 64), np.uint8)
    engine = vk.Aligner(fg_rate=25, bg_rate=25, search_seconds=1)
    with pytest.raises(vk.NotFound):
        for frame in noise:
            engine.push_bg(frame)
            engine.update(255 - frame[:32, :32])
        engine.finish()
