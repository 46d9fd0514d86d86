"""Compositor tests on planes decoded by ffmpeg from lavfi sources, checked against independent float math."""

import functools
import math
import subprocess
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidkompy_stream.compose.compositor import Compositor
from vidkompy_stream.errors import VidkompyError
from vidkompy_stream.io.ffmpeg_tool import find_ffmpeg

# pix_fmt -> (sy, sx) chroma subsampling, None for mono.
LAYOUTS: dict[str, tuple[int, int] | None] = {
    "yuv420p": (2, 2),
    "yuv422p": (1, 2),
    "yuv444p": (1, 1),
    "gray": None,
}

Frame = list[np.ndarray]


def plane_shapes(w: int, h: int, layout: str) -> list[tuple[int, int]]:
    """(height, width) of each plane of a w x h frame, as ffmpeg lays it out (chroma rounds up)."""
    sub = LAYOUTS[layout]
    if sub is None:
        return [(h, w)]
    sy, sx = sub
    chroma = (-(-h // sy), -(-w // sx))
    return [(h, w), chroma, chroma]


@functools.lru_cache(maxsize=None)
def _decode_cached(source: str, w: int, h: int, layout: str, frames: int) -> tuple[tuple[np.ndarray, ...], ...]:
    shapes = plane_shapes(w, h, layout)
    cmd = [
        find_ffmpeg(), "-nostdin", "-v", "error", "-f", "lavfi", "-i", f"{source},scale={w}:{h}",
        "-frames:v", str(frames), "-f", "rawvideo", "-pix_fmt", layout, "-",
    ]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    frame_bytes = sum(a * b for a, b in shapes)
    assert len(raw) == frames * frame_bytes, f"ffmpeg gave {len(raw)} bytes for {frames} x {frame_bytes}"
    data = np.frombuffer(raw, dtype=np.uint8)
    out = []
    for f in range(frames):
        pos, planes = f * frame_bytes, []
        for ph, pw in shapes:
            planes.append(data[pos : pos + ph * pw].reshape(ph, pw))
            pos += ph * pw
        out.append(tuple(planes))
    return tuple(out)


def decode(source: str, w: int, h: int, layout: str, frames: int = 2) -> list[Frame]:
    """Decoded frames as fresh writable plane lists (the cache keeps read-only originals)."""
    return [[p.copy() for p in frame] for frame in _decode_cached(source, w, h, layout, frames)]


FG_SRC = "testsrc2=size=64x48:rate=5"
BG_SRC = "testsrc=size=160x120:rate=5"


def fg_frames(w: int, h: int, layout: str) -> list[Frame]:
    return decode(FG_SRC, w, h, layout)


def bg_frames(w: int, h: int, layout: str) -> list[Frame]:
    return decode(BG_SRC, w, h, layout)


def composite(fg: Frame, bg: Frame, x: int, y: int, feather: int = 0) -> Frame:
    """Run the Compositor on a copy of bg."""
    out = [p.copy() for p in bg]
    Compositor([p.shape for p in fg], [p.shape for p in bg], x, y, feather).paste(out, fg)
    return out


def blend(f: np.ndarray, b: np.ndarray, a: np.ndarray | int) -> np.ndarray:
    """The documented integer blend, for expected values."""
    f, b, a = (np.asarray(v, dtype=np.int64) for v in (f, b, a))
    return ((f * a + b * (255 - a) + 127) // 255).astype(np.uint8)


def expected_luma_alpha(bg_hw: tuple[int, int], fg_hw: tuple[int, int], x: int, y: int, feather: int) -> np.ndarray:
    """Luma alpha over the whole bg frame from the spec, in plain float math (0 outside the fg rect)."""
    (H, W), (h, w) = bg_hw, fg_hw
    Y, X = np.mgrid[0:H, 0:W].astype(np.float64)
    inside = (Y >= y) & (Y < y + h) & (X >= x) & (X < x + w)
    alpha = np.full((H, W), 255.0)
    if feather:
        edges = []
        if x > 0:
            edges.append(X - x)
        if x + w < W:
            edges.append(x + w - 1 - X)
        if y > 0:
            edges.append(Y - y)
        if y + h < H:
            edges.append(y + h - 1 - Y)
        for d in edges:
            alpha = np.minimum(alpha, 255.0 * (d + 0.5) / feather)
    return np.where(inside, np.floor(np.clip(alpha, 0.0, 255.0) + 0.5), 0.0)


def reference(fg: Frame, bg: Frame, x: int, y: int, feather: int) -> Frame:
    """An independent, per-sample float implementation of the documented semantics."""
    (H, W), (h, w) = bg[0].shape, fg[0].shape
    A = expected_luma_alpha((H, W), (h, w), x, y, feather)
    out = [p.copy() for p in bg]
    fg_full = np.zeros((H, W), dtype=np.uint8)  # fg where it lies inside bg
    Y, X = np.mgrid[0:H, 0:W]
    inside = (Y >= y) & (Y < y + h) & (X >= x) & (X < x + w)
    fg_full[inside] = fg[0][Y[inside] - y, X[inside] - x]
    out[0] = np.where(A > 0, blend(fg_full, bg[0], A.astype(np.int64)), bg[0])
    for plane in (1, 2)[: len(bg) - 1]:
        fc, bc = fg[plane], bg[plane]
        sy, sx = (1 if bc.shape[0] == H else 2), (1 if bc.shape[1] == W else 2)
        # Only samples whose luma block meets a fg row and column inside bg can change; the rest stay bg.
        for my in sorted({Y // sy for Y in range(max(y, 0), min(y + h, H))}):
            for mx in sorted({X // sx for X in range(max(x, 0), min(x + w, W))}):
                a = math.floor(A[my * sy : my * sy + sy, mx * sx : mx * sx + sx].mean() + 0.5)
                if a == 0:
                    continue
                cy, cx = (my * sy - y) / sy, (mx * sx - x) / sx
                rows = [min(max(r, 0), fc.shape[0] - 1) for r in (math.floor(cy), math.ceil(cy))]
                cols = [min(max(c, 0), fc.shape[1] - 1) for c in (math.floor(cx), math.ceil(cx))]
                v = math.floor(sum(int(fc[r, c]) for r in rows for c in cols) / 4 + 0.5)
                out[plane][my, mx] = blend(v, bc[my, mx], a)
    return out


def touched(plane_hw: tuple[int, int], luma_hw: tuple[int, int], fg_hw: tuple[int, int], x: int, y: int) -> np.ndarray:
    """Mask of the samples of a plane whose luma block meets the fg rect."""
    (ph, pw), (H, W), (h, w) = plane_hw, luma_hw, fg_hw
    sy, sx = (1 if ph == H else 2), (1 if pw == W else 2)
    mask = np.zeros((ph, pw), dtype=bool)
    mask[max(y, 0) // sy : -(-min(y + h, H) // sy), max(x, 0) // sx : -(-min(x + w, W) // sx)] = True
    return mask


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_plain_paste_is_bit_exact_and_leaves_bg_outside(layout: str) -> None:
    fgs, bgs = fg_frames(64, 48, layout), bg_frames(160, 120, layout)
    x, y = 40, 30
    comp = Compositor(plane_shapes(64, 48, layout), plane_shapes(160, 120, layout), x, y)
    for fg, bg in zip(fgs, bgs):  # one Compositor reused across frames, as the pipeline does
        out = [p.copy() for p in bg]
        comp.paste(out, fg)
        for plane, (o, f, b) in enumerate(zip(out, fg, bg)):
            sy, sx = (1, 1) if plane == 0 else LAYOUTS[layout]
            window = (slice(y // sy, y // sy + f.shape[0]), slice(x // sx, x // sx + f.shape[1]))
            np.testing.assert_array_equal(o[window], f)
            outside = ~touched(o.shape, bg[0].shape, fg[0].shape, x, y)
            np.testing.assert_array_equal(o[outside], b[outside])


def test_feather_matches_formula_on_luma() -> None:
    fg, bg = fg_frames(64, 48, "yuv420p")[0], bg_frames(160, 120, "yuv420p")[0]
    x, y, px = 50, 30, 6
    out = composite(fg, bg, x, y, px)
    alpha = expected_luma_alpha((120, 160), (48, 64), x, y, px)[y : y + 48, x : x + 64]
    assert alpha.min() < 50 and alpha.max() == 255
    expected = blend(fg[0], bg[0][y : y + 48, x : x + 64], alpha.astype(np.int64))
    np.testing.assert_array_equal(out[0][y : y + 48, x : x + 64], expected)
    np.testing.assert_array_equal(out[0][y + px : y + 48 - px, x + px : x + 64 - px], fg[0][px:-px, px:-px])
    # The outermost fg column is mostly bg: alpha round(255 * 0.5 / 6) = 21 there.
    assert alpha[20, 0] == 21
    np.testing.assert_array_equal(out[0][y + 20, x], blend(fg[0][20, 0], bg[0][y + 20, x], 21))
    for plane in range(3):
        np.testing.assert_array_equal(out[plane], reference(fg, bg, x, y, px)[plane])


@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
def test_flush_edges_are_not_feathered(corner: str) -> None:
    fg, bg = fg_frames(64, 48, "yuv420p")[0], bg_frames(160, 120, "yuv420p")[0]
    x, y = (0, 0) if corner == "top-left" else (160 - 64, 120 - 48)
    out = composite(fg, bg, x, y, feather=6)
    lum = out[0][y : y + 48, x : x + 64]
    flush_row, flush_col, far_row, far_col = (0, 0, -1, -1) if corner == "top-left" else (-1, -1, 0, 0)
    np.testing.assert_array_equal(lum[flush_row, 6:-6], fg[0][flush_row, 6:-6])
    np.testing.assert_array_equal(lum[6:-6, flush_col], fg[0][6:-6, flush_col])
    differs = fg[0] != bg[0][y : y + 48, x : x + 64]
    assert (lum[far_row] != fg[0][far_row])[differs[far_row]].any()
    assert (lum[:, far_col] != fg[0][:, far_col])[differs[:, far_col]].any()
    for plane in range(3):
        np.testing.assert_array_equal(out[plane], reference(fg, bg, x, y, 6)[plane])


def half_mean(c: np.ndarray, axis: int) -> np.ndarray:
    """Rounded (half up) mean of each pair of neighbouring samples along axis."""
    c = c.astype(np.int64)
    lo, hi = (c[:-1], c[1:]) if axis == 0 else (c[:, :-1], c[:, 1:])
    return ((lo + hi + 1) // 2).astype(np.uint8)


@pytest.mark.parametrize("x, y", [(41, 30), (40, 31), (41, 31)])
def test_odd_offsets_resample_chroma_at_the_fg_position(x: int, y: int) -> None:
    fg, bg = fg_frames(64, 48, "yuv420p")[1], bg_frames(160, 120, "yuv420p")[1]
    out = composite(fg, bg, x, y)
    np.testing.assert_array_equal(out[0][y : y + 48, x : x + 64], fg[0])
    luma_outside = np.ones((120, 160), dtype=bool)
    luma_outside[y : y + 48, x : x + 64] = False
    np.testing.assert_array_equal(out[0][luma_outside], bg[0][luma_outside])
    for plane in (1, 2):
        fc, bc, oc = fg[plane].astype(np.int64), bg[plane], out[plane]
        r0, c0 = y // 2, x // 2  # first touched bg chroma sample
        # the bg chroma window: one more sample per odd axis, partly covered at both ends
        win = oc[r0 : r0 + 24 + y % 2, c0 : c0 + 32 + x % 2]
        bwin = bc[r0 : r0 + 24 + y % 2, c0 : c0 + 32 + x % 2]
        if x % 2 and y % 2:
            inner = (fc[:-1, :-1] + fc[:-1, 1:] + fc[1:, :-1] + fc[1:, 1:] + 2) // 4
            np.testing.assert_array_equal(win[1:-1, 1:-1], inner)
            np.testing.assert_array_equal(win[0, 1:-1], blend(half_mean(fc[:1], 1)[0], bwin[0, 1:-1], 128))
            np.testing.assert_array_equal(win[1:-1, 0], blend(half_mean(fc[:, :1], 0)[:, 0], bwin[1:-1, 0], 128))
            assert win[0, 0] == blend(fc[0, 0], bwin[0, 0], 64)  # a quarter covered
            assert win[-1, -1] == blend(fc[-1, -1], bwin[-1, -1], 64)
        elif x % 2:
            np.testing.assert_array_equal(win[:, 1:-1], half_mean(fc, 1))
            np.testing.assert_array_equal(win[:, 0], blend(fc[:, 0], bwin[:, 0], 128))
            np.testing.assert_array_equal(win[:, -1], blend(fc[:, -1], bwin[:, -1], 128))
        else:
            np.testing.assert_array_equal(win[1:-1], half_mean(fc, 0))
            np.testing.assert_array_equal(win[0], blend(fc[0], bwin[0], 128))
            np.testing.assert_array_equal(win[-1], blend(fc[-1], bwin[-1], 128))
        outside = ~touched(oc.shape, (120, 160), (48, 64), x, y)
        np.testing.assert_array_equal(oc[outside], bc[outside])
        np.testing.assert_array_equal(oc, reference(fg, bg, x, y, 0)[plane])


@pytest.mark.parametrize("layout", ["yuv420p", "yuv422p"])
def test_uniform_fg_at_odd_offset_keeps_its_colour(layout: str) -> None:
    fg = decode("color=c=0x3080C0:size=32x32:rate=5", 30, 20, layout, frames=1)[0]
    bg = bg_frames(160, 120, layout)[0]
    assert all(p.min() == p.max() for p in fg) and fg[1][0, 0] != fg[2][0, 0]
    x, y = 41, 31
    out = composite(fg, bg, x, y)
    sy, sx = LAYOUTS[layout]
    for plane, (o, f) in enumerate(zip(out, fg)):
        if plane == 0:
            inner = o[y : y + 20, x : x + 30]
        else:  # chroma samples whose whole luma block lies inside the rect
            inner = o[-(-y // sy) : (y + 20) // sy, -(-x // sx) : (x + 30) // sx]
        assert inner.size > 0
        assert np.all(inner == f[0, 0]), f"plane {plane}: {np.unique(inner)} != {f[0, 0]}"


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("w, h", [(160, 120), (161, 121)])
@pytest.mark.parametrize("feather", [0, 5])
def test_fg_filling_bg_equals_fg(layout: str, w: int, h: int, feather: int) -> None:
    fg, bg = fg_frames(w, h, layout)[0], bg_frames(w, h, layout)[0]
    assert not np.array_equal(fg[0], bg[0])
    out = composite(fg, bg, 0, 0, feather)
    for o, f in zip(out, fg):
        np.testing.assert_array_equal(o, f)


@pytest.mark.parametrize(
    "layout, fg_wh, bg_wh, x, y, feather",
    [
        ("yuv420p", (63, 47), (161, 121), 98, 74, 0),  # odd sizes, flush bottom-right at odd offsets
        ("yuv420p", (63, 47), (161, 121), 33, 17, 7),
        ("yuv420p", (64, 48), (161, 121), 97, 73, 4),  # even fg flush with an odd frame edge
        ("yuv422p", (63, 47), (160, 120), 13, 9, 3),
        ("yuv444p", (64, 48), (160, 120), 7, 0, 9),
        ("gray", (63, 47), (160, 120), 97, 5, 30),  # feather wider than half the fg
        ("yuv420p", (64, 48), (160, 120), 41, 31, 200),  # alpha down to 1 at the edges
        ("yuv420p", (64, 48), (160, 120), -7, -13, 4),  # hanging over the top-left corner, odd offsets
        ("yuv420p", (63, 47), (161, 121), 130, 101, 5),  # over the bottom-right corner
        ("yuv422p", (64, 130), (160, 120), 9, -5, 3),  # taller than bg: letterbox bars outside it
        ("yuv420p", (170, 48), (160, 120), -5, 40, 0),  # wider than bg
    ],
)
def test_matches_independent_reference(
    layout: str, fg_wh: tuple[int, int], bg_wh: tuple[int, int], x: int, y: int, feather: int
) -> None:
    fg, bg = fg_frames(*fg_wh, layout)[0], bg_frames(*bg_wh, layout)[0]
    out = composite(fg, bg, x, y, feather)
    for o, r in zip(out, reference(fg, bg, x, y, feather)):
        np.testing.assert_array_equal(o, r)


@pytest.mark.parametrize(
    "fg_wh, x, y, feather, message",
    [
        ((64, 48), 160, 0, 0, "fg 64x48 at x=160,y=0 lies outside bg 160x120"),
        ((64, 48), 0, 120, 0, "fg 64x48 at x=0,y=120 lies outside bg 160x120"),
        ((64, 48), -64, 0, 0, "fg 64x48 at x=-64,y=0 lies outside bg 160x120"),
        ((64, 48), 0, -48, 0, "fg 64x48 at x=0,y=-48 lies outside bg 160x120"),
        ((64, 48), 0, 0, -2, "feather must be >= 0, got -2"),
        ((0, 48), 0, 0, 0, "fg 0x48 is empty"),
    ],
)
def test_placement_errors_name_the_sizes(fg_wh: tuple[int, int], x: int, y: int, feather: int, message: str) -> None:
    with pytest.raises(VidkompyError) as info:
        Compositor(plane_shapes(*fg_wh, "yuv420p"), plane_shapes(160, 120, "yuv420p"), x, y, feather)
    assert str(info.value) == message


def test_read_only_fg_planes_from_a_byte_buffer() -> None:
    """The pipeline may hand over fg planes that are read-only views of the bytes ffmpeg wrote."""
    fg = list(_decode_cached(FG_SRC, 64, 48, "yuv420p", 2)[0])
    assert not fg[0].flags.writeable
    bg = bg_frames(160, 120, "yuv420p")[0]
    for x, y, feather in [(40, 30, 0), (41, 31, 4)]:
        out = composite(fg, bg, x, y, feather)
        for o, r in zip(out, reference(fg, bg, x, y, feather)):
            np.testing.assert_array_equal(o, r)


def test_layout_mismatch_is_an_error() -> None:
    with pytest.raises(VidkompyError, match="differ in layout"):
        Compositor(plane_shapes(64, 48, "yuv444p"), plane_shapes(160, 120, "yuv420p"), 0, 0)


def test_paste_rejects_wrong_buffers() -> None:
    comp = Compositor(plane_shapes(64, 48, "yuv420p"), plane_shapes(160, 120, "yuv420p"), 0, 0)
    bg, fg = bg_frames(160, 120, "yuv420p")[0], fg_frames(64, 48, "yuv420p")[0]
    with pytest.raises(ValueError, match="expected uint8"):
        comp.paste(bg, [fg[0][:-2], fg[1], fg[2]])


def test_paste_allocates_no_frame_sized_arrays() -> None:
    bg, fg = bg_frames(160, 120, "yuv420p")[0], fg_frames(64, 48, "yuv420p")[0]
    comp = Compositor(plane_shapes(64, 48, "yuv420p"), plane_shapes(160, 120, "yuv420p"), 41, 31, feather=5)
    comp.paste(bg, fg)  # compile / warm up outside the measurement
    tracemalloc.start()
    try:
        comp.paste(bg, fg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 48 // 4, f"paste allocated {peak} bytes"


@st.composite
def scenes(draw: st.DrawFn) -> tuple[str, Frame, Frame, int, int, int]:
    """A random layout, bg/fg sizes, offset and feather, with planes cut from real video or noise."""
    layout = draw(st.sampled_from(list(LAYOUTS)))
    W, H = draw(st.integers(1, 22)), draw(st.integers(1, 18))
    w, h = draw(st.integers(1, W + 4)), draw(st.integers(1, H + 4))
    if draw(st.booleans()):  # inside bg
        w, h = min(w, W), min(h, H)
        x, y = draw(st.integers(0, W - w)), draw(st.integers(0, H - h))
    else:  # anywhere it meets bg, over its edges too (bg 2 px at least: at 1 px the chroma factor is fg's)
        W, H = max(W, 2), max(H, 2)
        x, y = draw(st.integers(1 - w, W - 1)), draw(st.integers(1 - h, H - 1))
    feather = draw(st.integers(0, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    fg_shapes, bg_shapes = plane_shapes(w, h, layout), plane_shapes(W, H, layout)
    if draw(st.booleans()):
        frame = _decode_cached(BG_SRC, 160, 120, layout, 2)[int(rng.integers(2))]

        def cut(shapes: list[tuple[int, int]]) -> Frame:
            """A window of each plane of the video frame, at a random place."""
            out = []
            for (ph, pw), video in zip(shapes, frame):
                r, c = rng.integers(video.shape[0] - ph + 1), rng.integers(video.shape[1] - pw + 1)
                out.append(video[r : r + ph, c : c + pw].copy())
            return out

        fg, bg = cut(fg_shapes), cut(bg_shapes)
    else:
        fg = [rng.integers(0, 256, s, dtype=np.uint8) for s in fg_shapes]
        bg = [rng.integers(0, 256, s, dtype=np.uint8) for s in bg_shapes]
    return layout, fg, bg, x, y, feather


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_composite_properties(scene: tuple[str, Frame, Frame, int, int, int]) -> None:
    layout, fg, bg, x, y, feather = scene
    (H, W), (h, w) = bg[0].shape, fg[0].shape
    out = composite(fg, bg, x, y, feather)

    # fg rows/columns deeper than the feather from every feathered edge, and inside bg, are exact copies
    lo_y, lo_x = (feather if y > 0 else max(0, -y)), (feather if x > 0 else max(0, -x))
    hi_y = min(h - (feather if y + h < H else 0), H - y)
    hi_x = min(w - (feather if x + w < W else 0), W - x)
    if hi_y > lo_y and hi_x > lo_x:
        np.testing.assert_array_equal(out[0][y + lo_y : y + hi_y, x + lo_x : x + hi_x], fg[0][lo_y:hi_y, lo_x:hi_x])

    for plane, (o, b, f) in enumerate(zip(out, bg, fg)):
        outside = ~touched(o.shape, (H, W), (h, w), x, y)
        np.testing.assert_array_equal(o[outside], b[outside])
        # Bound each touched sample by bg and the fg samples it may draw on (its clamped neighbours).
        sy, sx = (1 if o.shape[0] == H else 2), (1 if o.shape[1] == W else 2)
        for my, mx in zip(*np.nonzero(~outside)):
            cy, cx = (my * sy - y) / sy, (mx * sx - x) / sx
            rows = np.clip([math.floor(cy), math.ceil(cy)], 0, f.shape[0] - 1)
            cols = np.clip([math.floor(cx), math.ceil(cx)], 0, f.shape[1] - 1)
            near = f[np.ix_(rows, cols)]
            assert min(near.min(), b[my, mx]) <= o[my, mx] <= max(near.max(), b[my, mx])

    for o, r in zip(out, reference(fg, bg, x, y, feather)):
        np.testing.assert_array_equal(o, r)
