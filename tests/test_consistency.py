import numpy as np
import pytest
from skimage import data as samples

from paramops.evaluation.consistency import crop_consistency, tiled
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
