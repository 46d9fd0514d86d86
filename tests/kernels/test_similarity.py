"""The one zero-mean unit vector (`unit`, `unit_rows`) and the ZNCC built on it (`zncc`), against OpenCV's
TM_CCOEFF_NORMED and a float64 reference."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidkompy_stream.kernels.similarity import unit, unit_rows, zncc


def test_unit_is_zero_mean_unit_norm_and_zero_when_flat() -> None:
    rng = np.random.default_rng(1)
    v = unit(rng.integers(0, 256, (18, 30), dtype=np.uint8))
    assert v.dtype == np.float32 and v.shape == (540,)
    assert abs(float(v.mean())) < 1e-6 and abs(float(v @ v) - 1.0) < 1e-5
    assert not unit(np.full((18, 30), 77, np.uint8)).any()
    # blind to brightness and contrast: an affine change of the luma gives the same vector
    patch = rng.integers(20, 120, (18, 30)).astype(np.uint8)
    np.testing.assert_allclose(unit(patch), unit((patch * 2 + 10).astype(np.uint8)), atol=1e-6)
    # a crop is a strided view into its frame: the same vector as a contiguous copy
    frame = rng.integers(0, 256, (40, 60), dtype=np.uint8)
    np.testing.assert_array_equal(unit(frame[5:23, 7:37]), unit(frame[5:23, 7:37].copy()))


def test_unit_rows_makes_each_row_as_unit_makes_its_picture() -> None:
    rng = np.random.default_rng(2)
    pictures = rng.integers(0, 256, (5, 12, 16), dtype=np.uint8)
    pictures[3] = 90  # a flat one: all zero
    rows = pictures.reshape(5, -1).astype(np.float32)
    unit_rows(rows)
    for row, picture in zip(rows, pictures, strict=True):
        np.testing.assert_allclose(row, unit(picture), atol=1e-6)
    assert not rows[3].any()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(2, 40), w=st.integers(2, 40), laplacian=st.booleans())
def test_zncc_is_opencvs_normalised_correlation_at_one_position(seed: int, h: int, w: int, laplacian: bool) -> None:
    """uint8 pictures, or float32 ones (a Laplacian, as the search's detail score takes): the same value as
    TM_CCOEFF_NORMED of one template over a patch its size, and as a float64 reference."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w), dtype=np.uint8)
    b = cv2.addWeighted(a, 0.6, rng.integers(0, 256, (h, w), dtype=np.uint8), 0.4, 0)
    if laplacian:
        a, b = cv2.Laplacian(a, cv2.CV_32F), cv2.Laplacian(b, cv2.CV_32F)
    da, db = a.astype(np.float64) - a.mean(), b.astype(np.float64) - b.mean()
    den = np.sqrt((da * da).sum() * (db * db).sum())
    if den < 1e-3:  # flat: zncc says 0
        assert zncc(a, b) == 0.0
        return
    reference = float((da * db).sum() / den)
    assert zncc(a, b) == pytest.approx(reference, abs=1e-5)
    assert zncc(a, b) == pytest.approx(float(cv2.matchTemplate(b, a, cv2.TM_CCOEFF_NORMED)[0, 0]), abs=1e-4)


def test_zncc_of_flat_empty_or_unlike_shapes_is_zero() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (10, 12), dtype=np.uint8)
    assert zncc(a, np.full((10, 12), 7, np.uint8)) == 0.0
    assert zncc(a, a[:, :11]) == 0.0
    assert zncc(a[:0], a[:0]) == 0.0
    assert zncc(a, a) == pytest.approx(1.0, abs=1e-6)
    assert zncc(a, (255 - a).astype(np.uint8)) == pytest.approx(-1.0, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(2, 60), w=st.integers(2, 60))
def test_zncc_of_a_picture_with_itself_is_one_at_most(seed: int, h: int, w: int) -> None:
    """A correlation lies in [-1, 1]: a float32 sum of a picture's unit vector with itself can round past 1."""
    a = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    assert zncc(a, a) == pytest.approx(1.0, abs=1e-6) and zncc(a, a) <= 1.0
    assert -1.0 <= zncc(a, 255 - a) <= -1.0 + 1e-6
