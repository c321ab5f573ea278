"""Local Laplacian operators: llf (detail), llf_remap (tone), style (exemplar look)."""

import cv2
import numpy as np
import pytest
from skimage import data

import paramops
from paramops.operators import get_operator
from paramops.operators.laplacian import (
    collapse,
    fast_local_laplacian,
    laplacian_pyramid,
    luminance,
    pyramid_depth,
    style_exemplar,
)


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A 96x96 float RGB crop with a face, hair and fabric: edges and fine detail."""
    return data.astronaut()[80:176, 170:266].astype(np.float32) / 255.0


def local_contrast(gray: np.ndarray) -> float:
    """Mean absolute difference to a 2-px Gaussian blur: fine-scale detail."""
    return float(np.abs(gray - cv2.GaussianBlur(gray, (0, 0), 2.0)).mean())


def lum_of(image: np.ndarray) -> np.ndarray:
    return luminance(np.asarray(image, dtype=np.float32))


@pytest.mark.parametrize("shape", [(2, 2), (3, 7), (33, 20), (2, 65)])
def test_pyramid_round_trip_any_size(shape):
    x = np.random.default_rng(1).random(shape).astype(np.float32)
    assert np.allclose(collapse(laplacian_pyramid(x, pyramid_depth(shape))), x, atol=1e-5)


def test_identity_remapping_leaves_image_unchanged(crop):
    gray = lum_of(crop)[:61, :47]  # odd, non-square
    assert np.allclose(fast_local_laplacian(gray, lambda d: d, samples=7), gray, atol=1e-5)


def test_llf_local_contrast_increases_with_detail(crop):
    values = get_operator("llf").param("detail").test_values
    contrast = [local_contrast(lum_of(paramops.reference(crop, "llf", detail=v))) for v in values]
    assert local_contrast(lum_of(crop)) < contrast[0]
    assert all(a < b for a, b in zip(contrast, contrast[1:])), contrast


def _texture(shape: tuple[int, int], amplitude: float) -> np.ndarray:
    """A 4-px period checker-like texture of the given amplitude."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    return (amplitude * np.sin(x * np.pi / 2) * np.sin(y * np.pi / 2 + 0.5)).astype(np.float32)


def _band_std(gray: np.ndarray, region: tuple[slice, slice]) -> float:
    return float((gray - cv2.GaussianBlur(gray, (0, 0), 2.0))[region].std())


def test_llf_amplifies_detail_but_not_edges():
    """Edge-aware: a 0.01 texture grows by about 1 + detail, a 0.6 step much less."""
    step = np.full((48, 64), 0.2, np.float32)
    step[:, 32:] = 0.8
    image = step + _texture(step.shape, 0.01)
    out = lum_of(paramops.reference(np.repeat(image[..., None], 3, axis=2), "llf", detail=8.0))
    left, right = (slice(8, -8), slice(6, 22)), (slice(8, -8), slice(42, 58))
    detail_gain = _band_std(out, left) / _band_std(image, left)
    step_gain = (out[right].mean() - out[left].mean()) / (image[right].mean() - image[left].mean())
    assert detail_gain > 5.0 and step_gain < 1.5, (detail_gain, step_gain)


@pytest.mark.parametrize("op", ["llf", "llf_remap"])
@pytest.mark.parametrize("color", [(0.4, 0.4, 0.4), (0.7, 0.3, 0.1)])
def test_flat_input_stays_flat(op, color):
    flat = np.ones((40, 29, 3), np.float32) * np.array(color, np.float32)
    assert np.allclose(paramops.reference(flat, op), flat, atol=1e-5)


def test_llf_remap_compresses_range_and_keeps_detail(crop):
    before, after = lum_of(crop), lum_of(paramops.reference(crop, "llf_remap"))
    assert after.std() < 0.85 * before.std()
    assert np.percentile(after, 99) - np.percentile(after, 1) < np.percentile(before, 99) - np.percentile(before, 1)
    median_detail = [np.median(np.abs(g - cv2.GaussianBlur(g, (0, 0), 2.0))) for g in (before, after)]
    assert median_detail[1] > 0.9 * median_detail[0]


def test_llf_remap_boosts_fine_texture_on_a_compressed_ramp():
    ramp = np.linspace(0.1, 0.9, 96, dtype=np.float32)[None, :].repeat(96, axis=0)
    image = ramp + _texture(ramp.shape, 0.03)
    out = lum_of(paramops.reference(np.repeat(image[..., None], 3, axis=2), "llf_remap"))
    inner = (slice(16, -16), slice(16, -16))
    assert out.std() < 0.8 * image.std()
    assert _band_std(out, inner) > 1.1 * _band_std(image, inner)


def _histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's distance between two value distributions (mean quantile gap)."""
    q = np.linspace(0, 1, 101)
    return float(np.abs(np.quantile(a, q) - np.quantile(b, q)).mean())


def test_style_moves_luminance_histogram_toward_exemplar(crop):
    out = paramops.reference(crop, "style")
    exemplar = style_exemplar()
    assert _histogram_distance(lum_of(out), exemplar) < 0.5 * _histogram_distance(lum_of(crop), exemplar)
    # A black-and-white look from a black-and-white exemplar.
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    # Still the same picture, not the exemplar pasted over it.
    assert np.corrcoef(lum_of(out).ravel(), lum_of(crop).ravel())[0, 1] > 0.8


def test_style_exemplar_is_shipped_gray_and_cached():
    exemplar = style_exemplar()
    assert exemplar.shape == (256, 256) and exemplar.dtype == np.float32
    assert 0.0 <= exemplar.min() < exemplar.max() <= 1.0
    assert style_exemplar() is exemplar and not exemplar.flags.writeable


@pytest.mark.parametrize("op", ["llf", "llf_remap", "style"])
@pytest.mark.parametrize("shape", [(2, 2), (2, 5), (7, 3)])
def test_tiny_images(op, shape):
    image = np.random.default_rng(3).random(shape + (3,)).astype(np.float32)
    out = paramops.reference(image, op)
    assert out.shape == image.shape and np.isfinite(out).all()
