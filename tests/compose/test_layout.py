"""fg converted to bg's chroma layout: luma untouched, chroma close to ffmpeg's own conversion."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import RunTool, ffmpeg_run, read_y4m_frames
from vidkompy_stream.compose.layout import LayoutConverter

SOURCE = "testsrc2=size=64x48:rate=25"


def y4m_frame(ffmpeg_exe: str, pix_fmt: str, source: bytes | None = None):
    """A testsrc2 frame (or the y4m `source`) converted by ffmpeg into `pix_fmt`, as (format, flat frame)."""
    inputs = ["-f", "lavfi", "-i", SOURCE, "-frames:v", "1"] if source is None else ["-f", "yuv4mpegpipe", "-i", "-"]
    done = subprocess.run([ffmpeg_exe, "-v", "error", *inputs, "-pix_fmt", pix_fmt, "-f", "yuv4mpegpipe", "-"],
                          input=source, capture_output=True, check=True)
    fmt, frames = read_y4m_frames(done.stdout)
    return fmt, frames[0]


@pytest.mark.parametrize(("src", "dst"), [("yuv444p", "yuv420p"), ("yuv420p", "yuv444p"), ("yuv422p", "yuv420p"),
                                          ("yuv420p", "yuv422p")])
def test_chroma_resampled_close_to_ffmpeg_and_luma_exact(ffmpeg_exe: str, src: str, dst: str) -> None:
    src_fmt, src_frame = y4m_frame(ffmpeg_exe, src)
    dst_fmt, expected = y4m_frame(ffmpeg_exe, dst, src_fmt.header() + b"FRAME\n" + src_frame.tobytes())
    converter = LayoutConverter(src_fmt, dst_fmt.colorspace)
    got = converter.format.plane_views(converter.convert(src_frame))
    want = dst_fmt.plane_views(expected)
    np.testing.assert_array_equal(got[0], src_fmt.plane_views(src_frame)[0])
    for g, w in zip(got[1:], want[1:]):
        assert g.shape == w.shape
        assert np.abs(g.astype(int) - w.astype(int)).mean() < 3, "chroma far from ffmpeg's conversion of the same frame"


def test_mono_to_colour_and_back(ffmpeg_exe: str) -> None:
    mono_fmt, mono = y4m_frame(ffmpeg_exe, "gray")
    colour = LayoutConverter(mono_fmt, "420jpeg")
    y, u, v = colour.format.plane_views(colour.convert(mono))
    np.testing.assert_array_equal(y, mono_fmt.plane_views(mono)[0])
    assert (u == 128).all() and (v == 128).all()
    colour_fmt, frame = y4m_frame(ffmpeg_exe, "yuv420p")
    back = LayoutConverter(colour_fmt, "mono")
    (luma,) = back.format.plane_views(back.convert(frame))
    np.testing.assert_array_equal(luma, colour_fmt.plane_views(frame)[0])


def test_444_fg_piped_over_420_bg(run_tool: RunTool, ffmpeg_exe: str, tmp_path: Path) -> None:
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-frames:v", "6", "-pix_fmt", "yuv420p",
               "-f", "yuv4mpegpipe", str(tmp_path / "bg.y4m"))
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", "testsrc2=size=32x16:rate=25", "-frames:v", "4", "-pix_fmt", "yuv444p",
               "-f", "yuv4mpegpipe", str(tmp_path / "fg.y4m"))
    done = run_tool(["--bg", "bg.y4m", "--x", "10", "--y", "8"], stdin=(tmp_path / "fg.y4m").read_bytes())
    assert done.returncode == 0, done.stderr
    assert "fg chroma is resampled" in done.stderr.decode()
    out_fmt, out = read_y4m_frames(done.stdout)
    fg_fmt, fg = read_y4m_frames((tmp_path / "fg.y4m").read_bytes())
    assert (out_fmt.colorspace, len(out)) == ("420jpeg", 4)
    for o, f in zip(out, fg):
        np.testing.assert_array_equal(out_fmt.plane_views(o)[0][8:24, 10:42], fg_fmt.plane_views(f)[0])
