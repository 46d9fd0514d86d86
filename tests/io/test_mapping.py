"""Mapping CSV: validation with line numbers, streaming reads, atomic writes, and fuzzing."""

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidkompy_stream.decision import Decision
from vidkompy_stream.errors import VidkompyError
from vidkompy_stream.io.mapping import MappingWriter, read_mapping


def read(text: str) -> list[Decision]:
    return list(read_mapping(io.StringIO(text), "m.csv"))


def test_all_column_forms() -> None:
    text = "fg_frame,bg_frame,confidence,x,y\n0,5\n1,6,0.5\n2,6,,10,12\n\n# note\n3,7,1.0,10,12\n4,7,,-3,-1\n"
    assert read(text) == [Decision(0, 5), Decision(1, 6, 0.5), Decision(2, 6, None, 10, 12),
                          Decision(3, 7, 1.0, 10, 12), Decision(4, 7, None, -3, -1)], "fg may hang over bg's edges"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,5\n1,4\n", r"m.csv:2: bg frame goes back from 5 to 4"),
        ("0,5\n2,6\n", r"m.csv:2: expected fg frame 1, got 2"),
        ("1,5\n", r"m.csv:1: expected fg frame 0, got 1"),
        ("0,five\n", r"m.csv:1: not a number"),
        ("0,5,0.5,3,\n", r"m.csv:1: x and y must be given together"),
        ("0,5,0.5,3\n", r"m.csv:1: not a number"),
        ("0,-1\n", r"m.csv:1: negative"),
        ("0,5,1.5\n", r"m.csv:1: confidence 1.5 is outside 0..1"),
        ("0,1,2,3,4,5\n", r"m.csv:1: expected fg_frame,bg_frame"),
    ],
)
def test_bad_rows_name_file_line_and_problem(text: str, message: str) -> None:
    with pytest.raises(VidkompyError, match=message):
        read(text)


def test_reading_is_lazy() -> None:
    rows = read_mapping(io.StringIO("0,1\n1,0\n"), "m.csv")
    assert next(rows) == Decision(0, 1)
    with pytest.raises(VidkompyError):
        next(rows)


def test_writer_round_trip_and_atomicity(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    writer = MappingWriter(str(path))
    decisions = [Decision(0, 3, None, 2, 4), Decision(1, 4, 0.25, 2, 4)]
    for d in decisions:
        writer.write(d)
    assert not path.exists(), "the mapping appears only when complete"
    writer.commit()
    assert read(path.read_text()) == decisions
    aborted = MappingWriter(str(tmp_path / "other.csv"))
    aborted.write(decisions[0])
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.csv"]


@settings(max_examples=300)
@given(st.text(alphabet="0123456789,.-# \nxe", max_size=120))
def test_any_text_parses_or_raises_our_error(text: str) -> None:
    try:
        decisions = read(text)
    except VidkompyError:
        return
    assert [d.fg_frame for d in decisions] == list(range(len(decisions)))
    assert all(a.bg_frame <= b.bg_frame for a, b in zip(decisions, decisions[1:]))
