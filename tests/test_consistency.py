import numpy as np
import pytest
from skimage import data as samples

from paramops.evaluation.consistency import blended, crop_consistency, tiled
from paramops.operators.reference import reference


@pytest.fixture(scope="module")
def photo():
    return samples.astronaut()[100:196, 150:246]


def test_tiles_cover_the_image_with_seams_at_zero_margin(photo):
    pieces = tiled(photo, lambda window: reference(window, "wls", lam=0.1), patch=32, margin=0)
    assert pieces.shape == photo.shape and pieces.dtype == photo.dtype
    assert not np.array_equal(pieces, reference(photo, "wls", lam=0.1))  # seams at 0 margin
    # A pointwise process is exact tile by tile, whatever the margin.
    np.testing.assert_array_equal(tiled(photo, lambda window: 255 - window, patch=40, margin=7), 255 - photo)


def test_local_operators_are_crop_consistent_and_global_ones_are_not(photo):
    assert crop_consistency(photo, "wls", patch=32, margin=16, lam=0.1) > 45
    assert crop_consistency(photo, "pencil", patch=32, margin=16) < 30


def test_bad_tiling_is_refused(photo):
    with pytest.raises(ValueError, match="patch >= 1"):
        tiled(photo, lambda window: window, patch=0)


def test_blended_windows_are_exact_for_pointwise_processes_and_cover_every_size(photo):
    for shape in [(96, 96), (70, 50), (30, 20)]:  # the window fits several times, once with a remainder, not at all
        part = photo[: shape[0], : shape[1]]
        np.testing.assert_array_equal(blended(part, lambda window: 255 - window, window=32, stride=16), 255 - part)
    gray = photo[..., 1]
    np.testing.assert_array_equal(blended(gray, lambda window: 255 - window, window=32, stride=16), 255 - gray)
    smooth = blended(photo.astype(float), lambda window: window * window.mean(), window=32, stride=8)
    assert not np.allclose(smooth, photo * photo.mean())  # each window's own mean: not the whole image's


def test_blended_windows_leave_no_seams(photo):
    image = photo.astype(float)
    offsets = blended(image, lambda window: window + window.mean(), window=32, stride=16) - image
    # Each window adds a constant: blended with tents, the added field changes a little from pixel to pixel.
    assert np.abs(np.diff(offsets, axis=1)).max() < 0.25 * np.ptp(offsets)
    cut = tiled(image, lambda window: window + window.mean(), patch=16, margin=8) - image
    assert np.abs(np.diff(cut, axis=1)).max() > np.abs(np.diff(offsets, axis=1)).max()


def test_bad_blending_is_refused(photo):
    with pytest.raises(ValueError, match="1 <= stride <= window"):
        blended(photo, lambda window: window, window=16, stride=17)
