"""Spatial alignment on real decoded video: where a cropped, re-encoded, brightened, re-timed fg sits in bg.

The scene is a lavfi render (a zooming Mandelbrot set with Conway's life drifting over it, so every frame
differs everywhere) at 640x360, 30 fps, 150 frames, kept as raw gray. bg is that scene encoded badly
(x264 crf 34, ultrafast) and decoded. Each fg is a crop of the same scene starting at scene frame 40,
brightened and contrast-stretched (eq=brightness=0.1:contrast=1.2), resampled to 25 fps, encoded well
(crf 18) and decoded: so fg frame i shows scene (= bg) frame 40 + 1.2 i, to the nearest frame.
"""

import math
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import life_scene
from vidkompy_stream.errors import NotFound, VidkompyError
from vidkompy_stream.kernels.match import window_ncc
from vidkompy_stream.params import SearchParams
from vidkompy_stream.search import spatial
from vidkompy_stream.search.spatial import (
    Placement,
    choose_factor,
    locate,
    locate_small,
    shrink,
)

W, H, RATE, FRAMES = 640, 360, 30, 150
START, FG_RATE = 40, 25

SCENE = life_scene(W, H, RATE)
# another picture altogether, for "not found"
OTHER = (
    f"testsrc2=size={W}x{H}:rate={RATE}[t];"
    f"life=size={W}x{H}:rate={RATE}:mold=10:ratio=0.08:seed=11,gblur=sigma=1[l];"
    "[t][l]blend=all_mode=screen"
)


def ffmpeg(exe: str, *args: str) -> bytes:
    """Run ffmpeg quietly and return its stdout; fail the test with its error output if it fails."""
    done = subprocess.run(
        [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def gray_frames(data: bytes, w: int, h: int) -> list[np.ndarray]:
    assert len(data) % (w * h) == 0 and data
    return list(np.frombuffer(data, np.uint8).reshape(-1, h, w))


class Scene:
    """A rendered scene (raw gray file) and the ways to turn it into bg or fg frames."""

    def __init__(self, exe: str, folder: Path, graph: str, name: str) -> None:
        self.exe, self.folder = exe, folder
        self.raw = folder / f"{name}.raw"
        source = f"{graph},format=gray,trim=end_frame={FRAMES}"
        ffmpeg(exe, "-f", "lavfi", "-i", source, "-f", "rawvideo", str(self.raw))
        self.count = 0

    def _encode_decode(self, filters: str, crf: int, w: int, h: int) -> list[np.ndarray]:
        self.count += 1
        clip = self.folder / f"{self.raw.stem}_{self.count}.mp4"
        ffmpeg(self.exe, "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{W}x{H}", "-r", str(RATE),
               "-i", str(self.raw), "-vf", filters, "-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf),
               "-pix_fmt", "yuv420p", str(clip))
        return gray_frames(ffmpeg(self.exe, "-i", str(clip), "-f", "rawvideo", "-pix_fmt", "gray", "-"), w, h)

    def bg(self, crf: int = 34, extra: str = "") -> list[np.ndarray]:
        """The whole scene, lossy; `extra` filters degrade it further (e.g. blur)."""
        return self._encode_decode(f"format=yuv420p{extra}", crf, W, H)

    def fg(self, x: int, y: int, w: int, h: int, *, bars: int = 0, black: int = 0) -> list[np.ndarray]:
        """Crop (x, y, w, h) from scene frame START on, eq-shifted, at FG_RATE, encoded well. With `bars`,
        the scene shows only between black bars of that height inside fg's top and bottom (so y may be
        negative: the bar hangs above bg); `black` black frames come first."""
        crop = f"crop={w}:{h - 2 * bars}:{x}:{y + bars}:exact=1"
        chain = [f"trim=start_frame={START}", "setpts=PTS-STARTPTS", crop, "format=yuv420p",
                 "eq=brightness=0.1:contrast=1.2", f"fps={FG_RATE}"]
        if bars:
            chain.append(f"pad={w}:{h}:0:{bars}:black")
        if black:
            chain.append(f"tpad=start={black}:color=black")
        return self._encode_decode(",".join(chain), 18, w, h)


def true_bg(fg_frame: int, black: int = 0) -> int:
    """The bg frame fg frame `fg_frame` shows (fg frames after `black` black ones)."""
    return START + round((fg_frame - black) * RATE / FG_RATE)


def spread(first: int, last: int, count: int = 8) -> list[int]:
    return [int(round(i)) for i in np.linspace(first, last, count)]


@pytest.fixture(scope="module")
def scene(ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory) -> Scene:
    return Scene(ffmpeg_exe, tmp_path_factory.mktemp("spatial"), SCENE, "scene")


@pytest.fixture(scope="module")
def bg(scene: Scene) -> list[np.ndarray]:
    return scene.bg()


def run(fg: list[np.ndarray], bg: list[np.ndarray], picks: list[int], **kw: object) -> Placement:
    return locate([fg[i] for i in picks], picks, bg, list(range(len(bg))), rate=RATE / FG_RATE, **kw)


def check(found: Placement, x: int, y: int, black: int = 0) -> None:
    assert (found.x, found.y) == (x, y), found
    assert abs(found.bg_frame - true_bg(found.fg_frame, black)) <= 1, found
    assert found.agreeing >= 2 and found.score >= SearchParams.min_score, found


# --- building blocks -------------------------------------------------------------------------------


@settings(deadline=None)  # the first example loads the kernel
@given(st.integers(0, 140), st.integers(8, 160), st.integers(2, 470), st.integers(2, 190), st.integers(0, 4),
       st.integers(0, 4))
def test_window_ncc_is_the_zero_mean_normalised_correlation(bg: list[np.ndarray], k: int, side: int, x: int, y: int,
                                                           width: int, height: int) -> None:
    """The polish's direct correlation at a few positions (a window of frame k over frame k + 1 near where it
    was) is TM_CCOEFF_NORMED computed in float64, 0 where the patch or the template is flat. OpenCV's own
    (float32 sums) agrees to ~1e-3 where both have some spread; on a nearly flat patch it drifts by 0.01 or
    more (OpenCV 5 on a patch of std 0.3), so it is compared only where the spread is over a grey level."""
    template = bg[k][y : y + side, x : x + side]
    region = bg[k + 1][y - 2 : y + side + height - 2, x - 2 : x + side + width - 2]
    centred = template.astype(np.float64) - template.mean()
    expected = np.zeros((height + 1, width + 1))
    spread = np.zeros(expected.shape)
    for dy, dx in np.ndindex(expected.shape):
        patch = region[dy : dy + side, dx : dx + side].astype(np.float64)
        spread[dy, dx] = patch.std()
        patch -= patch.mean()
        norm = math.sqrt(float((patch * patch).sum() * (centred * centred).sum()))
        expected[dy, dx] = float((patch * centred).sum()) / norm if norm > 0 else 0.0
    got = np.empty(expected.shape)
    window_ncc(region, centred.astype(np.float32), got)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if template.std() > 1:  # OpenCV calls a flat template a perfect match everywhere
        opencv = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
        np.testing.assert_allclose(got[spread > 1], opencv[spread > 1], atol=5e-3)


@pytest.mark.parametrize("side", [9, 37, 100])
def test_window_ncc_of_a_flat_patch_is_zero(bg: list[np.ndarray], side: int) -> None:
    """A flat patch has no correlation with anything: exactly 0 at every grey level (its spread is summed in
    integers: in floating point, with fastmath, a flat patch's came out a hair above 0 and scored -6)."""
    template = bg[0][100 : 100 + side, 200 : 200 + side].astype(np.float32)
    for level in range(256):
        got = np.ones((3, 3))
        window_ncc(np.full((side + 2, side + 2), level, np.uint8), template - template.mean(), got)
        assert (got == 0.0).all(), (level, got)


@pytest.mark.parametrize("factor", [2, 3, 4, 5, 6, 8, 12])
def test_shrink_is_the_block_mean(factor: int) -> None:
    """Odd factors in one step (exact to rounding), even ones by halvings first: each step rounds, by at most
    half a level."""
    luma = np.random.default_rng(1).integers(0, 256, (97, 133), dtype=np.uint8)
    small = shrink(luma, factor)
    h, w = 97 // factor, 133 // factor
    blocks = luma[:h * factor, :w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))
    assert small.shape == (h, w) and small.dtype == np.uint8
    halvings = (factor & -factor).bit_length() - 1
    steps = halvings + (factor >> halvings > 1)
    assert np.abs(small - blocks).max() <= 0.5 * steps
    assert shrink(luma, 1) is luma


@pytest.mark.parametrize(
    ("bg_width", "fg_size", "factor"),
    [(1920, (960, 540), 8), (1280, (640, 360), 5), (640, (240, 136), 3), (320, (160, 90), 1), (1920, (64, 36), 2)],
)
def test_choose_factor_aims_at_240_px_and_keeps_fg_visible(bg_width: int, fg_size: tuple, factor: int) -> None:
    assert choose_factor(bg_width, *fg_size) == factor


# --- finding fg in real decoded video --------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "w", "h"),
    [(101, 57, 240, 136), (0, 0, 320, 180), (W - 200, H - 120, 200, 120), (263, H - 150, 250, 150)],
    ids=["odd-interior", "top-left", "bottom-right", "odd-x-bottom"],
)
def test_exact_position_and_seed(scene: Scene, bg: list[np.ndarray], x: int, y: int, w: int, h: int) -> None:
    fg = scene.fg(x, y, w, h)
    found = run(fg, bg, spread(0, 75))
    check(found, x, y)
    assert found.templates == 8 and found.agreeing >= 6
    assert 0.85 < found.score <= 1 and found.detail > 0.5 and found.margin > 0.1


def test_small_fg_5_percent(scene: Scene, bg: list[np.ndarray]) -> None:
    x, y, w, h = 333, 171, 144, 80
    assert w * h / (W * H) == pytest.approx(0.05)
    check(run(scene.fg(x, y, w, h), bg, spread(0, 75)), x, y)


def test_large_fg_90_percent(scene: Scene, bg: list[np.ndarray]) -> None:
    x, y, w, h = 17, 9, 608, 342
    assert w * h / (W * H) == pytest.approx(0.9, abs=0.01)
    check(run(scene.fg(x, y, w, h), bg, spread(0, 75)), x, y)


def test_soft_bg_from_a_lower_resolution(scene: Scene) -> None:
    """bg rendered at half resolution and scaled back up, then encoded badly: fg is much sharper."""
    soft = scene.bg(38, ",scale=320:180,scale=640:360")
    found = run(scene.fg(101, 57, 240, 136), soft, spread(0, 75))
    check(found, 101, 57)
    assert found.score < 0.95  # the pair really differs


def test_bg_320x180_is_searched_unshrunk(scene: Scene, bg: list[np.ndarray]) -> None:
    """bg and fg at half size (320x180 bg: shrink factor 1); the crop was at even coordinates."""
    assert choose_factor(W // 2, 120, 68) == 1
    half = [cv2.resize(frame, (W // 2, H // 2), interpolation=cv2.INTER_AREA) for frame in bg]
    fg = [cv2.resize(frame, (120, 68), interpolation=cv2.INTER_AREA) for frame in scene.fg(100, 56, 240, 136)]
    check(run(fg, half, spread(0, 75)), 50, 28)


def test_every_third_bg_frame(scene: Scene, bg: list[np.ndarray]) -> None:
    """A caller may pass every k-th bg frame: the seed is then one of those, within k/2 + 1 of the truth."""
    fg = scene.fg(101, 57, 240, 136)
    picks, kept = spread(0, 75), list(range(0, FRAMES, 3))
    found = locate([fg[i] for i in picks], picks, [bg[i] for i in kept], kept, rate=RATE / FG_RATE)
    assert (found.x, found.y) == (101, 57) and found.bg_frame % 3 == 0
    assert abs(found.bg_frame - true_bg(found.fg_frame)) <= 2


@pytest.mark.parametrize(("x", "y"), [(151, 67), (151, -28)], ids=["inside", "bars-above-bg"])
def test_letterboxed_fg(scene: Scene, bg: list[np.ndarray], x: int, y: int) -> None:
    """28 px black bars inside the top and bottom of a 320x226 fg (a quarter of it); the picture
    between them is part of bg. With the picture flush with bg's top, the top bar hangs above bg and
    fg's top-left is at y = -28."""
    found = run(scene.fg(x, y, 320, 226, bars=28), bg, spread(0, 75))
    check(found, x, y)
    assert found.score > 0.9  # bars left in the template would cost a quarter of the correlation


def test_black_opening_is_skipped(scene: Scene, bg: list[np.ndarray]) -> None:
    fg = scene.fg(101, 57, 240, 136, black=20)
    assert max(frame.max() for frame in fg[:20]) < 30  # the opening is black
    picks = spread(0, 75)  # 0 and 11 are black, 6 picks are not
    found = run(fg, bg, picks)
    check(found, 101, 57, black=20)
    assert found.templates == 6 and found.fg_frame >= 20
    with pytest.raises(VidkompyError, match="no usable frame.*nearly uniform"):
        run(fg, bg, [0, 5, 10, 15, 19])


def test_not_found_is_one_clear_line(ffmpeg_exe: str, scene: Scene, bg: list[np.ndarray], tmp_path: Path) -> None:
    other = Scene(ffmpeg_exe, tmp_path, OTHER, "other")
    # the first pair scores 0.73 (a smooth corner of the test pattern fits somewhere): only detail tells
    for fg, in_bg in ((other.fg(W - 200, H - 120, 200, 120), bg), (scene.fg(333, 171, 144, 80), other.bg())):
        with pytest.raises(NotFound) as caught:
            run(fg, in_bg, spread(0, 75))
        message = str(caught.value)
        assert "\n" not in message and caught.value.best == pytest.approx(float(message.split()[7]), abs=0.005)
        assert message.startswith("fg not found in bg (best match ") and message.endswith(")")
        assert "--" not in message, "the numeric core gives no command-line advice"
        forced = run(fg, in_bg, spread(0, 75), params=SearchParams(min_score=0))  # force: accept whatever fits best
        assert forced.detail < SearchParams.min_detail and f"x={forced.x},y={forced.y}" in message


def test_streaming_api_needs_few_full_frames(scene: Scene, bg: list[np.ndarray]) -> None:
    """locate_small: the caller keeps shrunk bg frames; full frames only on request, and it may have
    dropped some (here every odd one): the refine then uses the next-best frame it has. Over 450 bg frames
    it asks for each template's best coarse matches and for the frames around the joint timeline only."""
    fg = scene.fg(101, 57, 240, 136)
    factor = choose_factor(W, 240, 136)
    horizon = bg * 3
    small = [shrink(frame, factor) for frame in horizon]
    asked: list[int] = []

    def get_full(index: int) -> np.ndarray | None:
        asked.append(index)
        return horizon[index] if index % 2 == 0 else None

    picks = spread(0, 75)
    found = locate_small([fg[i] for i in picks], picks, small, list(range(len(horizon))), get_full,
                         factor=factor, rate=RATE / FG_RATE)
    assert (found.x, found.y) == (101, 57) and found.bg_frame % 2 == 0
    assert abs(found.bg_frame - true_bg(found.fg_frame)) <= 2
    seeds = [bg_frame for _, bg_frame in found.pairs]
    reach = SearchParams.date_scan + SearchParams.date_reach
    timeline = set(range(min(seeds) - reach, max(seeds) + reach + 1))
    served = {index for index in asked if index % 2 == 0}
    assert len(served - timeline) <= SearchParams.refine_tries * found.templates
    assert len(served) < len(horizon) / 4


def test_stretches_settled_with_shared_coarse_peaks_find_what_each_finds_alone(
    scene: Scene, bg: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The streaming search settles overlapping stretches of bg with the same templates (`locate_templates`
    with one `peaks` cache): each stretch's placement is the one a fresh settle finds, and a frame's coarse
    match is computed once however many stretches hold it."""
    fg = scene.fg(101, 57, 240, 136)
    factor = choose_factor(W, 240, 136)
    small = [shrink(frame, factor) for frame in bg]
    picks = spread(0, 25, 6)
    templates = spatial.make_templates([fg[i] for i in picks], picks, factor, *small[0].shape[::-1])
    stretches = [range(30, 90), range(45, 105), range(60, 120)]
    peaks: dict[tuple[int, int], tuple[float, int, int]] = {}
    calls = []
    real = spatial.coarse_peak
    monkeypatch.setattr(spatial, "coarse_peak", lambda *a: calls.append(1) or real(*a))

    def settle(stretch: range, cache: dict | None) -> Placement:
        return spatial.locate_templates(templates, [small[i] for i in stretch], list(stretch), bg.__getitem__,
                                        factor=factor, rate=RATE / FG_RATE, peaks=cache)

    fresh = [settle(stretch, None) for stretch in stretches]
    alone = len(calls)
    assert [settle(stretch, peaks) for stretch in stretches] == fresh
    assert (fresh[0].x, fresh[0].y) == (101, 57)
    assert len(calls) - alone == len(peaks) < alone, "frames in two stretches matched once"


def test_coarse_search_does_not_scan_every_frame(
    scene: Scene, bg: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """450 bg frames (15 s at 30 fps) x 8 templates: about 2 * sqrt(n / 2) coarse matches per template (on
    shrunk bg frames; the full-resolution refine and polish are bounded by REFINE_TRIES and DATE_SCAN)."""
    calls = []
    real = cv2.matchTemplate
    coarse = shrink(bg[0], choose_factor(W, 240, 136)).shape

    def counted(image: np.ndarray, *args: object, **kw: object) -> np.ndarray:
        calls.append(image.shape == coarse)  # a whole shrunk bg frame (full-resolution ones refine and polish)
        return real(image, *args, **kw)

    monkeypatch.setattr(spatial.cv2, "matchTemplate", counted)
    horizon = bg * 3
    picks = spread(0, 75)
    fg = scene.fg(101, 57, 240, 136)
    found = locate([fg[i] for i in picks], picks, horizon, list(range(len(horizon))), rate=RATE / FG_RATE)
    assert (found.x, found.y) == (101, 57)
    assert sum(calls) < 8 * 100  # a full scan would be 8 * 450


def test_fg_larger_than_bg_is_refused(bg: list[np.ndarray]) -> None:
    big = [np.zeros((H + 2, W), np.uint8)]
    with pytest.raises(VidkompyError, match="larger than bg"):
        locate(big, [0], bg[:5], list(range(5)), rate=1.0)


# ---------------------------------------------------------------------------------------------- content mask


def _zncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64) - a.mean(), b.astype(np.float64) - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_content_mask_leaves_out_dark_still_corners_only() -> None:
    rng = np.random.default_rng(3)
    frames = [rng.integers(40, 220, (60, 80), dtype=np.uint8) for _ in range(5)]
    for f in frames:
        f[:15, :20] = 16  # a black corner (video-range black), the same in every frame
        f[-15:, -20:] = 16 + (f[-15:, -20:] % 3)  # a black corner with a little noise
        f[30:40, 30:50] = 20  # a dark still patch inside the picture: also left out
    frames[2][50:60, 0:10] = 10  # dark in one frame only: content
    mask = spatial.content_mask(frames)
    assert mask is not None and mask.shape == (60, 80)
    assert not mask[:15, :20].any() and not mask[-15:, -20:].any() and not mask[30:40, 30:50].any()
    assert mask[50:60, 0:10].all()
    assert mask.sum() == 60 * 80 - 2 * 15 * 20 - 10 * 20


def test_content_mask_is_none_without_a_mask_or_for_a_dark_scene() -> None:
    rng = np.random.default_rng(4)
    bright = [rng.integers(40, 220, (30, 40), dtype=np.uint8) for _ in range(3)]
    assert spatial.content_mask(bright) is None, "nothing dark and still: no mask"
    dark = [np.full((30, 40), 16, np.uint8) for _ in range(3)]
    for f in dark:
        f[:5, :5] = 200
    assert spatial.content_mask(dark) is None, "a mostly black picture is a dark scene, not a mask"
    speckled = [f.copy() for f in bright]
    for f in speckled:
        f[10, 10:15] = 0  # 5 dark still pixels of 1200: under MASK_MIN_OUT
    assert spatial.content_mask(speckled) is None, "a few dark pixels: nothing worth leaving out"
    for f in speckled:
        f[:3, :4] = 0  # 12 more: 17 of 1200 is over MASK_MIN_OUT
    assert spatial.content_mask(speckled) is not None


def test_filled_images_correlate_like_their_masked_pixels() -> None:
    """fg with black corners against the bg crop under it (which has content there): after fill_masked with
    fg's mask, the ZNCC is that of the content pixels alone, and as high as for fg without its corners."""
    rng = np.random.default_rng(5)
    bg = cv2.GaussianBlur(rng.integers(0, 256, (60, 80), dtype=np.uint8), (5, 5), 0)
    fg = np.clip(bg.astype(np.int16) + rng.integers(-3, 4, bg.shape), 0, 255).astype(np.uint8)
    fg[:20, :25] = 16
    fg[-20:, -25:] = 16
    mask = spatial.content_mask([fg, fg])
    assert mask is not None
    masked = _zncc(fg[mask], bg[mask])
    filled = _zncc(spatial.fill_masked(fg, mask), spatial.fill_masked(bg, mask))
    assert filled == pytest.approx(masked, abs=2e-3)
    assert filled > 0.97 > _zncc(fg, bg) + 0.1, "the black corners no longer pull the correlation down"


@pytest.mark.parametrize(("width", "guess"), [(120, 124), (96, 93), (150, 150)])
def test_refine_scale_finds_the_width_to_the_pixel(width: int, guess: int) -> None:
    """fg is a 180x120 picture that bg shows `width` px wide; found near its place at a coarse width `guess`,
    refine_scale returns the true width."""
    rng = np.random.default_rng(5)
    picture = cv2.GaussianBlur(rng.integers(0, 256, (120, 180)).astype(np.uint8), (0, 0), 2.0)
    height = round(120 * width / 180)
    bg = cv2.GaussianBlur(rng.integers(0, 256, (200, 300)).astype(np.uint8), (0, 0), 2.0)
    x, y = 70, 40
    bg[y : y + height, x : x + width] = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)
    guess_x, guess_y = x + (width - guess) // 2, y + (height - height * guess // width) // 2  # same centre
    found, score = spatial.refine_scale([(picture, bg)], guess_x, guess_y, guess, 6)
    assert found == width and score > 0.95, (found, score)


def test_content_box_crops_letterbox_bars(scene: Scene) -> None:
    """28 px black bars inside the top and bottom of a decoded 320x226 fg: the box is the picture between
    them (to a pixel: the encoder blurs the bars' inner edge)."""
    fg = scene.fg(151, 67, 320, 226, bars=28)
    x0, y0, x1, y1 = spatial.content_box(fg[:25])
    assert (x0, x1) == (0, 320)
    assert abs(y0 - 28) <= 1 and abs(y1 - (226 - 28)) <= 1, (y0, y1)


def dark_frames(count: int = 10, h: int = 180, w: int = 320) -> list[np.ndarray]:
    """A dark film scene: near-black (luma 16-18) everywhere but a dim lamp moving across the frame, whose
    glow reaches the top rows in some frames; no bars."""
    rng = np.random.default_rng(2)
    frames = []
    yy, xx = np.mgrid[0:h, 0:w]
    for k in range(count):
        cy, cx = 20 + 14 * k, 40 + 25 * k
        glow = 60 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 18.0**2))
        frames.append(np.clip(16 + glow + rng.normal(0, 0.6, (h, w)), 0, 255).astype(np.uint8))
    return frames


def test_content_box_compares_a_dark_picture_whole() -> None:
    """Lines that are dark and uniform in one frame but not in others, not of one tone, or on one side only,
    are picture: the box keeps (nearly) the whole frame, even from one frame, where a uniform-lines rule alone
    keeps only the lamp."""
    for frames in (dark_frames(), dark_frames()[:1]):
        x0, y0, x1, y1 = spatial.content_box(frames)
        assert (x1 - x0) * (y1 - y0) >= 0.95 * 320 * 180, (x0, y0, x1, y1)


def test_content_box_keeps_bars_around_a_dark_picture() -> None:
    """Black bars (luma 16, still) around the same dark picture are still bars; the picture is kept (but for
    a few columns as flat and dark on both sides as bars would be)."""
    frames = []
    for frame in dark_frames():
        boxed = np.full((180 + 2 * 22, 320), 16, np.uint8)
        boxed[22:22 + 180] = np.maximum(frame, 24)  # the picture is never as black as the bars
        frames.append(boxed)
    x0, y0, x1, y1 = spatial.content_box(frames)
    assert (y0, y1) == (22, 22 + 180) and x1 - x0 >= 0.9 * 320, (x0, y0, x1, y1)


@pytest.mark.parametrize("w", [466, 130])
def test_fg_flush_with_bgs_right_and_bottom_edges(scene: Scene, bg: list[np.ndarray], w: int) -> None:
    """fg flush with bg's right and bottom edges is placed exactly."""
    h = (w * 9 // 16) & ~1
    x, y = W - w, H - h
    check(run(scene.fg(x, y, w, h), bg, spread(0, 75)), x, y)


@given(st.integers(-30, 30), st.integers(-30, 30), st.integers(1, 40), st.integers(1, 40))
def test_pooled_offsets_keep_the_whole_template_inside_bg(left: int, top: int, h: int, w: int) -> None:
    """A template's most textured window may fit a pixel past bg's edge where the template does not (fg
    flush with the edge, its coarse peak rounded outwards): `_inside` admits exactly the offsets that keep
    the whole template in the frame."""
    frame, grid = (36, 48), (11, 13)
    inside = spatial._inside(left, top, (h, w), frame, grid)
    for dy in range(grid[0]):
        for dx in range(grid[1]):
            x, y = left + dx, top + dy
            assert inside[dy, dx] == (x >= 0 and y >= 0 and x + w <= frame[1] and y + h <= frame[0])


#: A camera panning slowly (3 px/s, whole pixels) over a still picture, under a faint fine texture that
#: scrolls a cell a frame: shrunk, the picture fits a ridge of (place, date) pairs alike; only at full
#: resolution does the texture date it.
SLOW_PAN = (
    f"mandelbrot=size=960x540:rate={RATE}:maxiter=300:start_scale=2.5:end_scale=2.5,trim=end_frame=1,"
    f"format=gbrp,loop=loop=-1:size=1,setpts=N/{RATE}/TB,crop=w={W}:h={H}:x='floor(100+3*t)':y='floor(60+2*t)'[b];"
    f"cellauto=size={W // 2}x{H // 2}:rate={RATE}:rule=30:random_fill_ratio=0.5:scroll=1:seed=5,"
    f"scale={W}:{H}:flags=neighbor,gblur=sigma=1,format=gbrp[f];[b][f]blend=all_mode=overlay:all_opacity=0.25"
)


def test_a_slow_pan_is_dated_at_full_resolution(ffmpeg_exe: str, tmp_path: Path) -> None:
    """Along a slow pan the coarse timeline's best date is a look-alike a pixel and several frames off; the
    joint polish must find the frame and the pixel among the bg frames of a stretch as a streaming settle
    holds it (about 2.5 s around fg's start)."""
    pan = Scene(ffmpeg_exe, tmp_path, SLOW_PAN, "pan")
    bg = pan.bg(crf=22)
    fg = pan.fg(200, 100, 200, 150)
    picks = spread(0, 24, 4)
    stretch = list(range(START - 20, START + 60))
    found = locate([fg[i] for i in picks], picks, [bg[i] for i in stretch], stretch, rate=RATE / FG_RATE)
    assert (found.x, found.y) == (200, 100), found
    assert found.bg_frame == true_bg(found.fg_frame), found
