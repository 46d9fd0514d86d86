"""One pair in segments: the plan, and an edited fg run segment by segment (no Dask: the tasks called in turn),
each later segment dated by its own first frames, the parts joined into every fg frame."""

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import CUT_RATE, decode
from vidkompy_stream.api import options_from
from vidkompy_stream.segments import Part, joined_mapping, plan, run_segmented


def test_segments_cover_fg_and_a_sliver_joins_the_one_before() -> None:
    assert plan(600.0, Fraction(25), Fraction(60)) == [(k * 1500, 1500) for k in range(9)] + [(13500, None)]
    assert plan(10.1, Fraction(25), Fraction(5)) == [(0, 125), (125, None)], "3 frames at the end: no segment"
    assert plan(3.0, Fraction(30), Fraction(5)) == [(0, None)]


def test_an_edited_fg_in_segments_finds_every_cut_and_joins_every_frame(
        cut_pair: dict[str, object], ffmpeg_exe: str, tmp_path: Path) -> None:
    """Segments of 4 s start at fg frames 100 (on the 0.5 s cut) and 200 (12 frames past the 30 s cut): the
    first segment's clock puts both wrong; each segment's own first second dates it."""
    out = tmp_path / "joined.mp4"
    opts = options_from(str(cut_pair["fg"]), str(cut_pair["bg"]), str(out), {"map_out": str(tmp_path / "map.csv")})
    parts: list[Part] = []

    def gather(done: Sequence[Part]) -> list[Part]:
        parts.extend(done)
        return list(done)

    call: Callable[..., Any] = lambda function, *args: function(*args)  # noqa: E731
    result = run_segmented(opts, len(cut_pair["truth"]) / CUT_RATE, Fraction(4), call, gather)  # type: ignore[arg-type]
    truth: np.ndarray = cut_pair["truth"]  # type: ignore[assignment]
    assert result.parts == 3 and result.frames == len(truth) and [p.first for p in parts] == [0, 100, 200]
    shown = np.array([d.bg_frame for d in joined_mapping(parts)])
    assert np.mean(shown == truth) > 0.97, np.flatnonzero(shown != truth)
    written = [int(line.split(",")[1]) for line in (tmp_path / "map.csv").read_text().splitlines() if line[0].isdigit()]
    assert written == shown.tolist()
    fmt, frames = decode(ffmpeg_exe, out)
    assert len(frames) == len(truth)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.mp4", "map.csv"], "parts removed"
