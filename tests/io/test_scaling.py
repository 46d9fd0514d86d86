"""scaling: fg resized by --scale before the search, the aligner and the compositor see it.

Unit: ScaledReader hands over every plane resized as OpenCV resizes it, and leaves the end of the stream to
the reader it wraps. End to end: fg is a crop of a lavfi scene (a still Mandelbrot set with Conway's life
over it: every frame differs; not zooming, else an enlarged crop matches the scene at another time) enlarged
by 3/2, as if recorded at a higher resolution than bg shows it;
with --scale 2/3 it is found at the crop's place, every frame over its own bg frame, and the pasted rect
is the crop again (up to the two resizes); --scale auto measures 2/3 itself; without --scale it is not found.
"""

import re
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

import vidkompy_stream as vk
from tests.conftest import RunTool, ffmpeg_run, life_scene, make_y4m, read_y4m_frames
from vidkompy_stream.io.inputs import InputReader
from vidkompy_stream.io.scaling import ScaledReader, scaled_format
from vidkompy_stream.io.y4m import Y4MFormat

W, H, RATE, SECONDS = 256, 144, 25, 6
CROP = (80, 40, 96, 64)  # x, y, w, h in bg
START = 1  # fg starts 1 s (25 frames) into bg
SCENE = life_scene(W, H, RATE, RATE * SECONDS, still=True)


def test_scaled_format_rounds_the_size() -> None:
    fmt = scaled_format(Y4MFormat(width=96, height=64, rate=Fraction(25)), Fraction(2, 3))
    assert (fmt.width, fmt.height, fmt.rate, fmt.colorspace) == (64, 43, Fraction(25), "420jpeg")


def test_scaled_reader_resizes_every_plane(ffmpeg_exe: str, tmp_path: Path) -> None:
    path = make_y4m(ffmpeg_exe, tmp_path / "src.y4m", "testsrc2=size=96x64:rate=25,trim=end_frame=3")
    fmt, originals = read_y4m_frames(path.read_bytes())
    with open(path, "rb") as stream:
        reader = InputReader(stream, "fg")
        scaled = ScaledReader(reader, scaled_format(reader.format, Fraction(2, 3)))
        assert (scaled.format.width, scaled.format.height) == (64, 43)
        frame = scaled.format.new_frame()
        for original in originals:
            assert scaled.readinto(frame)
            for src, got in zip(fmt.plane_views(original), scaled.format.plane_views(frame)):
                want = cv2.resize(src, (got.shape[1], got.shape[0]), interpolation=cv2.INTER_AREA)
                np.testing.assert_array_equal(got, want)
        assert not scaled.readinto(frame)
        assert scaled.ended and scaled.damage is None  # the wrapped reader's


def enlarge(ffmpeg_exe: str, scene: Path, factor: Fraction) -> Path:
    """fg: the crop of the scene from START s on, enlarged by `factor` (bicubic), encoded well."""
    x, y, w, h = CROP
    fg = scene.parent / f"fg_{factor.numerator}_{factor.denominator}.mp4"
    ffmpeg_run(ffmpeg_exe, "-i", str(scene), "-vf", f"trim=start_frame={START * RATE},setpts=PTS-STARTPTS,"
               f"crop={w}:{h}:{x}:{y},scale={w * factor}:{h * factor}:flags=bicubic", "-c:v", "libx264",
               "-preset", "ultrafast", "-crf", "14", str(fg))
    return fg


@pytest.fixture(scope="module")
def enlarged_pair(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scaling")
    scene = make_y4m(ffmpeg_exe, folder / "scene.y4m", SCENE)
    bg = folder / "bg.mp4"
    ffmpeg_run(ffmpeg_exe, "-i", str(scene), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", str(bg))
    return {"scene": scene, "bg": bg, "fg": enlarge(ffmpeg_exe, scene, Fraction(3, 2))}


def test_scaled_fg_is_found_aligned_and_pasted(run_tool: RunTool, enlarged_pair: dict[str, Path],
                                               tmp_path: Path) -> None:
    done = run_tool(["--fg", str(enlarged_pair["fg"]), "--bg", str(enlarged_pair["bg"]), "--scale", "2/3",
                     "--map-out", "map.csv", "-o", "-", "-v"])
    assert done.returncode == 0, done.stderr.decode()
    assert "fg 144x96 is scaled by 2/3 to 96x64 (--scale)" in done.stderr.decode()
    lines = (tmp_path / "map.csv").read_text().splitlines()
    assert any(line.startswith("# scale 2/3") for line in lines)
    rows = [line.split(",") for line in lines[1:] if not line.startswith("#")]
    x, y, w, h = CROP
    assert {(int(r[3]), int(r[4])) for r in rows} == {(x, y)}
    n = (SECONDS - START) * RATE
    assert len(rows) == n
    right = sum(int(r[1]) == START * RATE + int(r[0]) for r in rows)
    assert right >= 0.99 * n, f"{right} of {n} fg frames over their own bg frame"

    fmt, frames = read_y4m_frames(done.stdout)
    _, scene = read_y4m_frames(enlarged_pair["scene"].read_bytes())
    assert (fmt.width, fmt.height, len(frames)) == (W, H, n)
    for i in (0, n // 2, n - 1):
        pasted = fmt.plane_views(frames[i])[0][y : y + h, x : x + w].astype(np.float64)
        source = fmt.plane_views(scene[START * RATE + i])[0][y : y + h, x : x + w].astype(np.float64)
        psnr = 10 * np.log10(255**2 / np.mean((pasted - source) ** 2))
        assert psnr > 25, f"frame {i}: the pasted rect is {psnr:.1f} dB from the crop it came from"


@pytest.mark.parametrize("factor", [Fraction(3, 2), Fraction(2)])
def test_scale_auto_measures_the_scale(ffmpeg_exe: str, enlarged_pair: dict[str, Path], factor: Fraction) -> None:
    """scale auto: the search finds the scale (2/3: between its 4 % steps, to the pixel; 1/2: the last
    step), then fg's place and start at that scale; every frame right, as with the scale given."""
    fg = enlarged_pair["fg"] if factor == Fraction(3, 2) else enlarge(ffmpeg_exe, enlarged_pair["scene"], factor)
    mapping = vk.align(fg, enlarged_pair["bg"], scale="auto")
    assert mapping.placement.scale == 1 / factor
    assert mapping.placement[:2] == CROP[:2] and {(d.x, d.y) for d in mapping} == {CROP[:2]}
    n = (SECONDS - START) * RATE
    right = sum(d.bg_frame == START * RATE + d.fg_frame for d in mapping)
    assert len(mapping) == n and right >= 0.99 * n, f"{right} of {n} fg frames over their own bg frame"


def test_scale_auto_needs_the_search(run_tool: RunTool) -> None:
    done = run_tool(["--fg", "fg.mp4", "--bg", "bg.mp4", "--scale", "auto", "--x", "0", "--y", "0", "-o", "-"])
    assert done.returncode == 2
    assert "--scale auto is measured by the search" in done.stderr.decode()


def test_enlarged_fg_is_not_found_at_scale_1(run_tool: RunTool, enlarged_pair: dict[str, Path]) -> None:
    done = run_tool(["--fg", str(enlarged_pair["fg"]), "--bg", str(enlarged_pair["bg"]), "-o", "-"])
    assert done.returncode == 1
    assert re.search(r"fg not found in bg", done.stderr.decode()), done.stderr.decode()


@pytest.mark.parametrize("value", ["0", "-1/2", "x"])
def test_scale_must_be_a_positive_number(run_tool: RunTool, value: str) -> None:
    done = run_tool(["--fg", "fg.mp4", "--bg", "bg.mp4", f"--scale={value}", "-o", "-"])
    assert done.returncode == 2
    assert "not a positive number or auto" in done.stderr.decode()
