"""y4m reader/writer: round trips of real ffmpeg output in every supported layout, and header parsing."""

import io
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ffmpeg_run, read_y4m_frames
from vidkompy_stream.errors import Y4MError
from vidkompy_stream.io.y4m import (
    COLORSPACES,
    Y4MFormat,
    Y4MReader,
    Y4MWriter,
    parse_header,
)

LAYOUTS = {"yuv420p": "420jpeg", "yuv422p": "422", "yuv444p": "444", "gray": "mono"}


def reader_of(data: bytes) -> Y4MReader:
    return Y4MReader(io.BufferedReader(io.BytesIO(data)), "test")


@pytest.mark.parametrize("pix_fmt", LAYOUTS)
def test_round_trip_of_ffmpeg_output(ffmpeg_exe: str, tmp_path, pix_fmt: str) -> None:
    src = tmp_path / "src.y4m"
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", "testsrc2=size=66x38:rate=30000/1001,noise=alls=30:allf=t", "-frames:v", "4",
               "-pix_fmt", pix_fmt, "-f", "yuv4mpegpipe", str(src))
    data = src.read_bytes()
    fmt, frames = read_y4m_frames(data)
    assert (fmt.width, fmt.height, fmt.rate, fmt.colorspace) == (66, 38, Fraction(30000, 1001), LAYOUTS[pix_fmt])
    assert len(frames) == 4
    assert len({f.tobytes() for f in frames}) == 4, "noisy frames differ, so must the decoded ones"
    out = io.BytesIO()
    writer = Y4MWriter(out, fmt)
    for frame in frames:
        writer.write(frame)
    assert read_y4m_frames(out.getvalue())[0] == fmt
    assert [f.tobytes() for f in read_y4m_frames(out.getvalue())[1]] == [f.tobytes() for f in frames]
    # ffmpeg itself must read what we wrote, pixel for pixel
    back = subprocess.run(
        [ffmpeg_exe, "-v", "error", "-f", "yuv4mpegpipe", "-i", "-", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"],
        input=out.getvalue(), capture_output=True,
    )
    assert back.returncode == 0, back.stderr
    assert back.stdout == b"".join(f.tobytes() for f in frames)


@pytest.mark.parametrize("colorspace", sorted(COLORSPACES))
def test_plane_layout_for_odd_sizes(colorspace: str) -> None:
    fmt = Y4MFormat(5, 3, Fraction(25), colorspace)
    sub = fmt.subsampling
    expected_chroma = 0 if sub is None else 2 * (-(-5 // sub[0])) * (-(-3 // sub[1]))
    assert fmt.frame_size == 15 + expected_chroma
    frame = np.arange(fmt.frame_size, dtype=np.uint8)
    planes = fmt.plane_views(frame)
    assert planes[0].shape == (3, 5)
    assert sum(p.size for p in planes) == fmt.frame_size
    planes[-1][...] = 7
    assert frame[-1] == 7, "plane views must share memory with the frame"


def test_header_keeps_rate_aspect_interlace_and_extensions() -> None:
    fmt = parse_header(b"YUV4MPEG2 W1920 H1080 F30000:1001 It A4:3 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED\n")
    assert fmt == Y4MFormat(1920, 1080, Fraction(30000, 1001), "420mpeg2", "t", (4, 3),
                            ("XYSCSS=420MPEG2", "XCOLORRANGE=LIMITED"))
    assert parse_header(fmt.header()) == fmt


def test_defaults_when_optional_tags_missing() -> None:
    fmt = parse_header(b"YUV4MPEG2 W4 H2 F25:1")
    assert (fmt.colorspace, fmt.interlace, fmt.aspect) == ("420jpeg", "p", (0, 0))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"YUV4MPEG2 W4 H2 F25:1 C420p10", "unsupported y4m colorspace C420p10"),
        (b"YUV4MPEG2 W4 H2 F25:1 C444alpha", "unsupported y4m colorspace C444alpha"),
        (b"YUV4MPEG2 W4 H2 F25:1 Z9", "unknown tag 'Z'"),
        (b"YUV4MPEG2 W4 F25:1", "lacks the H tag"),
        (b"YUV4MPEG2 W4 H2", "lacks the F tag"),
        (b"YUV4MPEG2 W4 H2 F25", "tag F must be N:D"),
        (b"YUV4MPEG2 W4 H2 F0:1", "frame rate must be positive"),
        (b"YUV4MPEG2 W-4 H2 F25:1", "tag W must be a size"),
        (b"YUV4MPEG2 W4 H2 F25:1 Iq", "tag I has unknown value"),
        (b"YUV4MPEG2  W4 H2 F25:1", "empty parameter"),
        (b"RIFF....WAVEfmt ", "not a y4m stream"),
    ],
)
def test_bad_headers_name_the_problem(header: bytes, message: str) -> None:
    with pytest.raises(Y4MError, match=message):
        parse_header(header)


def test_truncated_frame_and_bad_marker(tmp_path) -> None:
    fmt = Y4MFormat(4, 2, Fraction(25), "420jpeg")
    frame = np.arange(fmt.frame_size, dtype=np.uint8)
    whole = fmt.header() + b"FRAME\n" + frame.tobytes()
    reader = reader_of(whole + b"FRAME\n" + frame.tobytes()[:5])
    buf = fmt.new_frame()
    assert reader.readinto(buf) and (buf == frame).all()
    with pytest.raises(Y4MError, match="frame 1 cut short: 5 of 12 bytes"):
        reader.readinto(buf)
    garbled = reader_of(whole + b"GARBAGE")
    assert garbled.readinto(buf)
    with pytest.raises(Y4MError, match="expected a FRAME marker"):
        garbled.readinto(buf)


def test_frame_parameters_are_skipped() -> None:
    fmt = Y4MFormat(2, 2, Fraction(25), "mono")
    reader = reader_of(fmt.header() + b"FRAME Ib XFOO=1\n\x01\x02\x03\x04FRAME\n\x05\x06\x07\x08")
    buf = fmt.new_frame()
    assert reader.readinto(buf) and buf.tolist() == [1, 2, 3, 4]
    assert reader.readinto(buf) and buf.tolist() == [5, 6, 7, 8]
    assert not reader.readinto(buf)
    assert reader.frames_read == 2


def test_empty_and_headerless_input() -> None:
    with pytest.raises(Y4MError, match="empty input"):
        reader_of(b"")
    with pytest.raises(Y4MError, match="header cut short"):
        reader_of(b"YUV4MPEG2 W4 H2")
    with pytest.raises(Y4MError, match="not a y4m stream"):
        reader_of(b"\x00\x00\x00\x18ftypmp42" * 10)


formats = st.builds(
    Y4MFormat,
    width=st.integers(1, 8192),
    height=st.integers(1, 8192),
    rate=st.builds(Fraction, st.integers(1, 240000), st.integers(1, 1001)),
    colorspace=st.sampled_from(sorted(COLORSPACES)),
    interlace=st.sampled_from(["p", "t", "b", "m"]),
    aspect=st.tuples(st.integers(0, 1000), st.integers(0, 1000)),
    extensions=st.lists(st.from_regex(r"X[A-Z]{1,8}=[A-Z0-9]{1,8}", fullmatch=True), max_size=3).map(tuple),
)


@given(formats)
def test_any_valid_header_round_trips(fmt: Y4MFormat) -> None:
    assert parse_header(fmt.header()) == fmt


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_our_error(data: bytes) -> None:
    try:
        reader = reader_of(data)
    except Y4MError:
        return
    buf = np.empty(min(reader.format.frame_size, 1 << 16), dtype=np.uint8)
    try:
        if reader.format.frame_size == buf.size:
            while reader.readinto(buf):
                pass
    except Y4MError:
        pass


@given(st.lists(st.sampled_from([b"W", b"H", b"F", b"C", b"I", b"A", b"X", b"Q", b":", b"1", b"0", b"mono", b"420",
                                 b" "]), max_size=30))
def test_token_soup_headers_never_raise_anything_else(parts: list[bytes]) -> None:
    try:
        parse_header(b"YUV4MPEG2 " + b"".join(parts))
    except Y4MError:
        pass
