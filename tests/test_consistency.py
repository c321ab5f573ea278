import numpy as np
import pytest
from skimage import data as samples

from paramops.evaluation.consistency import crop_consistency, tiled_reference
from paramops.operators.reference import reference


@pytest.fixture(scope="module")
def photo():
    return samples.astronaut()[100:196, 150:246]


def test_tiles_cover_the_image_with_seams_at_zero_margin(photo):
    tiled = tiled_reference(photo, "wls", patch=32, margin=0, lam=0.1)
    assert tiled.shape == photo.shape and tiled.dtype == photo.dtype
    assert not np.array_equal(tiled, reference(photo, "wls", lam=0.1))  # seams at 0 margin


def test_local_operators_are_crop_consistent_and_global_ones_are_not(photo):
    assert crop_consistency(photo, "wls", patch=32, margin=16, lam=0.1) > 45
    assert crop_consistency(photo, "pencil", patch=32, margin=16) < 30


def test_bad_tiling_is_refused(photo):
    with pytest.raises(ValueError, match="patch >= 1"):
        tiled_reference(photo, "wls", patch=0)
