"""The Python API (`vidkompy_stream.align`, `overlay`): the command's decisions and frames, from files and
from numpy frames, and its errors as exceptions.

The pair: a lavfi scene (a zooming Mandelbrot set with Conway's life over it) at 256x144, 30 fps, 4 s,
encoded at crf 30 as bg; fg its 128x80 crop at (64, 32) from 1 s on, at 25 fps, 2 s, encoded at crf 16.
"""

import doctest
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vidkompy_stream as vk
from tests.conftest import RunTool, decode, ffmpeg_run, life_scene, read_y4m_frames
from vidkompy_stream import api
from vidkompy_stream.io.mapping import read_mapping
from vidkompy_stream.io.y4m import Y4MFormat, Y4MWriter

W, H, RATE, FG_RATE = 256, 144, 30, 25
X, Y, FW, FH = 64, 32, 128, 80


@pytest.fixture(scope="module")
def pair(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("api")
    bg, fg = folder / "bg.mp4", folder / "fg.mp4"
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", life_scene(W, H, RATE, RATE * 4), "-c:v", "libx264", "-preset",
               "ultrafast", "-crf", "30", "-pix_fmt", "yuv420p", str(bg))
    ffmpeg_run(ffmpeg_exe, "-f", "lavfi", "-i", life_scene(W, H, RATE, RATE * 4), "-vf",
               f"trim=start=1,setpts=PTS-STARTPTS,crop={FW}:{FH}:{X}:{Y},fps={FG_RATE},trim=end_frame={2 * FG_RATE}",
               "-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-pix_fmt", "yuv420p", str(fg))
    return {"bg": bg, "fg": fg}


def lumas(exe: str, path: Path) -> list[np.ndarray]:
    fmt, frames = decode(exe, path)
    return [fmt.plane_views(f)[0].copy() for f in frames]


def write_mono(path: Path, frames: list[np.ndarray], rate: int) -> Path:
    """Grey frames as a Cmono y4m file."""
    with open(path, "wb") as out:
        writer = Y4MWriter(out, Y4MFormat(frames[0].shape[1], frames[0].shape[0], rate, colorspace="mono"))
        for frame in frames:
            writer.write(frame.ravel())
    return path


def test_doctests_run() -> None:
    """The examples in the API's docstrings are what they say."""
    result = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


def test_align_gives_the_commands_decisions(run_tool: RunTool, pair: dict[str, Path], tmp_path: Path) -> None:
    done = run_tool(["--fg", str(pair["fg"]), "--bg", str(pair["bg"]), "--map-out", "map.csv", "-o", "out.y4m"])
    assert done.returncode == 0, done.stderr.decode()
    with open(tmp_path / "map.csv", newline="") as stream:
        command = list(read_mapping(stream, "map.csv"))
    mapping = vk.align(pair["fg"], str(pair["bg"]))
    assert len(mapping) == len(command) == 2 * FG_RATE
    assert [(d.fg_frame, d.bg_frame, d.x, d.y) for d in mapping] == [(d.fg_frame, d.bg_frame, d.x, d.y)
                                                                      for d in command]
    assert [round(d.confidence, 4) for d in mapping] == [d.confidence for d in command]
    assert mapping.placement[:2] == (X, Y) and mapping.placement.score > 0.9
    assert vk.locate(pair["fg"], pair["bg"]) == mapping.placement, "the search alone finds what align found"
    assert mapping.bg_frames.tolist() == [d.bg_frame for d in command]
    # fg frame i shows scene time 1 + i/25 s: bg frame 30 + 1.2 i
    expected = np.rint(RATE + np.arange(len(mapping)) * RATE / FG_RATE)
    assert np.mean(np.abs(mapping.bg_frames - expected) <= 1) == 1.0
    assert abs(mapping.rate - RATE / FG_RATE) < 0.02 and abs(float(mapping.offset) - 1) <= 1 / RATE


def test_overlay_writes_the_commands_frames(run_tool: RunTool, pair: dict[str, Path], tmp_path: Path) -> None:
    done = run_tool(["--fg", str(pair["fg"]), "--bg", str(pair["bg"]), "-o", "command.y4m"])
    assert done.returncode == 0, done.stderr.decode()
    summary = vk.overlay(pair["fg"], pair["bg"], str(tmp_path / "api.y4m"))
    assert (tmp_path / "api.y4m").read_bytes() == (tmp_path / "command.y4m").read_bytes()
    assert (summary.frames, summary.x, summary.y) == (2 * FG_RATE, X, Y)
    with pytest.raises(vk.VidkompyError, match="output exists"):
        vk.overlay(pair["fg"], pair["bg"], str(tmp_path / "api.y4m"))
    vk.overlay(pair["fg"], pair["bg"], str(tmp_path / "api.y4m"), overwrite=True, x=X, y=Y, offset=1)


def test_numpy_frames_align_as_their_files_do(ffmpeg_exe: str, pair: dict[str, Path], tmp_path: Path) -> None:
    """Grey arrays are read as Cmono y4m frames; RGB arrays as 4:2:0, placed alike."""
    fg, bg = lumas(ffmpeg_exe, pair["fg"]), lumas(ffmpeg_exe, pair["bg"])
    files = vk.align(write_mono(tmp_path / "fg.y4m", fg, FG_RATE), write_mono(tmp_path / "bg.y4m", bg, RATE))
    arrays = vk.align(iter(fg), (frame for frame in bg), fg_rate=FG_RATE, bg_rate=str(RATE))
    assert list(arrays) == list(files) and arrays.placement == files.placement
    rgb = vk.align([np.repeat(f[..., None], 3, axis=2) for f in fg], pair["bg"], fg_rate=FG_RATE)
    assert rgb.placement[:2] == (X, Y) and len(rgb) == len(fg)


def test_mapping_written_is_read_back(pair: dict[str, Path], tmp_path: Path) -> None:
    mapping = vk.align(pair["fg"], pair["bg"], lookahead=0.3, refine="full", search_seconds=3)
    mapping.write_csv(str(tmp_path / "map.csv"))
    with open(tmp_path / "map.csv", newline="") as stream:
        assert [(d.fg_frame, d.bg_frame, d.x, d.y) for d in read_mapping(stream, "map.csv")] == [
            (d.fg_frame, d.bg_frame, d.x, d.y) for d in mapping]
    replayed = vk.align(pair["fg"], pair["bg"], map_in=str(tmp_path / "map.csv"))
    assert replayed.bg_frames.tolist() == mapping.bg_frames.tolist()
    assert np.allclose(replayed.confidence, mapping.confidence, atol=5e-5)  # the file's, to 4 decimals
    assert replayed.placement[:3] == (X, Y, None)  # given, not searched


def test_bad_arguments_raise(pair: dict[str, Path]) -> None:
    frame = np.zeros((H, W), np.uint8)
    with pytest.raises(TypeError, match="unexpected option.*colour"):
        vk.align(pair["fg"], pair["bg"], colour="red")
    with pytest.raises(ValueError, match="engine='fast'"):
        vk.align(pair["fg"], pair["bg"], engine="fast")
    with pytest.raises(vk.UsageError, match="not a number of seconds"):
        vk.align(pair["fg"], pair["bg"], offset="soon")
    with pytest.raises(vk.UsageError, match="give --x and --y together"):
        vk.align(pair["fg"], pair["bg"], x=3)
    with pytest.raises(vk.UsageError, match="not a whole number"):
        vk.align(pair["fg"], pair["bg"], x=1.5, y=2)
    with pytest.raises(vk.UsageError, match="force='no': expected True or False"):
        vk.align(pair["fg"], pair["bg"], force="no")
    with pytest.raises(vk.UsageError, match="give fg_rate"):
        vk.align([frame], pair["bg"])
    with pytest.raises(vk.UsageError, match="even width and height"):
        vk.align([np.zeros((9, 10, 3), np.uint8)], pair["bg"], fg_rate=25)
    with pytest.raises(vk.UsageError, match="uint8"):
        vk.align([frame.astype(np.float32)], pair["bg"], fg_rate=25)
    with pytest.raises(vk.VidkompyError, match="frame 1 is a uint8 array of shape"):
        vk.align([frame, frame[:10]], pair["bg"], fg_rate=25, x=0, y=0, offset=0)
    with pytest.raises(vk.VidkompyError, match="no such file"):
        vk.align(pair["fg"], "/nonexistent/bg.mp4")


def test_fg_that_is_not_in_bg_raises_not_found(pair: dict[str, Path]) -> None:
    noise = np.random.default_rng(3).integers(0, 256, (60, FH, FW), np.uint8)
    with pytest.raises(vk.NotFound, match="fg not found in bg"):
        vk.align(list(noise), pair["bg"], fg_rate=FG_RATE)


def test_the_engines_settings_reach_it(pair: dict[str, Path]) -> None:
    """`SearchParams` and `AlignParams` given to the API are the ones the search and the aligner use: a floor
    no match can pass makes the right pair not found, and a narrow confidence scale makes the same decisions
    more confident."""
    assert vk.locate(pair["fg"], pair["bg"]) == (X, Y, pytest.approx(1.0, abs=0.05), 1)
    with pytest.raises(vk.NotFound, match="need 1.01"):
        vk.locate(pair["fg"], pair["bg"], params=vk.SearchParams(min_score=1.01))
    with pytest.raises(vk.NotFound):
        vk.align(pair["fg"], pair["bg"], search=vk.SearchParams(min_score=1.01))
    given = {"x": X, "y": Y, "refine": "off"}
    wide = vk.align(pair["fg"], pair["bg"], **given)
    narrow = vk.align(pair["fg"], pair["bg"], params=vk.AlignParams(confidence_scale=0.005), **given)
    assert [d.bg_frame for d in narrow] == [d.bg_frame for d in wide]
    assert np.nanmean(narrow.confidence) > np.nanmean(wide.confidence)


def test_composite_pastes_as_the_command_does(ffmpeg_exe: str, pair: dict[str, Path], tmp_path: Path) -> None:
    """One frame pasted by `composite` is the command's output frame, at an odd place (chroma blended)."""
    vk.overlay(pair["fg"], pair["bg"], str(tmp_path / "out.y4m"), x=X + 1, y=Y - 1, offset=1, feather=3)
    out_fmt, out = read_y4m_frames((tmp_path / "out.y4m").read_bytes())
    fg_fmt, fg = decode(ffmpeg_exe, pair["fg"])
    bg_fmt, bg = decode(ffmpeg_exe, pair["bg"])
    for i, j in ((0, RATE), (10, RATE + 12)):  # bg time = fg time + 1 s
        before = bg[j].copy()
        pasted = vk.composite(bg_fmt.plane_views(bg[j]), fg_fmt.plane_views(fg[i]), X + 1, Y - 1, feather=3)
        assert all(np.array_equal(a, b) for a, b in zip(pasted, out_fmt.plane_views(out[i])))
        assert np.array_equal(bg[j], before), "the arguments are left as they were"
    with pytest.raises(vk.VidkompyError, match="lies outside bg"):
        vk.composite(np.zeros((4, 4), np.uint8), np.zeros((2, 2), np.uint8), 5, 0)


def test_the_package_loads_its_api_on_first_use() -> None:
    """`import vidkompy_stream` (which the command's start does) loads neither numpy nor Numba: the command
    sets their thread counts before they load. No module of the package is named as a public name, so
    loading the modules does not hide one (a submodule is set on its package when it loads)."""
    probe = ("import sys, vidkompy_stream as vk; assert 'numpy' not in sys.modules and 'numba' not in sys.modules; "
             "import vidkompy_stream.pipeline; assert all(callable(getattr(vk, name)) for name in vk.__all__[:-1]); "
             "print(sorted(vk.__all__))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "'Aligner'" in done.stdout and "'align'" in done.stdout
