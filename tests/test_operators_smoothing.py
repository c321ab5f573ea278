"""Edge-preserving smoothing reference operators: L0, WLS, RTV, RGF, WMF, WLS enhancement."""

import cv2
import numpy as np
import pytest
from skimage import data

import paramops
from paramops.operators.reference import implementation
from paramops.operators.registry import get_operator
from paramops.operators.smoothing import (
    l0_smooth,
    rgf_smooth,
    rtv_smooth,
    wls_enhance,
    wls_matrix,
    wls_smooth,
    wmf_smooth,
)

SMOOTHING_OPS = ("l0", "wls", "rtv", "rgf", "wmf", "wls_enhance")


@pytest.fixture(scope="module")
def face():
    """A 64x64 float32 RGB crop with a face, hair texture and strong edges."""
    return data.astronaut()[100:164, 180:244].astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def coffee():
    """A 48x80 (non-square) float32 RGB crop."""
    return data.coffee()[200:248, 200:280].astype(np.float32) / 255.0


def total_variation(rgb):
    return np.abs(np.diff(rgb, axis=0)).sum() + np.abs(np.diff(rgb, axis=1)).sum()


@pytest.mark.parametrize("op", SMOOTHING_OPS)
@pytest.mark.parametrize("shape", [(2, 2), (5, 3), (17, 30)])
def test_any_size_keeps_shape_and_input(op, shape):
    rgb = np.random.default_rng(0).random((*shape, 3), dtype=np.float32)
    before = rgb.copy()
    func = implementation(get_operator(op))
    out = func(rgb, **get_operator(op).defaults())
    assert out.shape == rgb.shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(rgb, before)

    as_uint8 = (rgb * 255).astype(np.uint8)
    via_reference = paramops.reference(as_uint8, op)
    assert via_reference.shape == as_uint8.shape and via_reference.dtype == np.uint8


# --- WLS -------------------------------------------------------------------


@pytest.mark.parametrize("lam", get_operator("wls").param("lam").test_values)
def test_wls_output_solves_its_linear_system(face, lam):
    matrix = wls_matrix(face, lam=lam)
    for out in (wls_smooth(face, lam=lam), paramops.reference(face, "wls", lam=lam)):
        for c in range(3):
            b = face[..., c].ravel().astype(np.float64)
            residual = np.linalg.norm(matrix @ out[..., c].ravel().astype(np.float64) - b)
            assert residual / np.linalg.norm(b) < 1e-3


def test_wls_residual_detects_a_different_lambda(face):
    out = wls_smooth(face, lam=1.0)
    matrix = wls_matrix(face, lam=4.0)
    b = face[..., 0].ravel().astype(np.float64)
    assert np.linalg.norm(matrix @ out[..., 0].ravel() - b) / np.linalg.norm(b) > 1e-2


def test_wls_reads_alpha_from_the_registry(face, monkeypatch):
    default = wls_smooth(face, lam=1.0)
    monkeypatch.setitem(get_operator("wls").extra, "alpha", 2.0)
    assert np.abs(wls_smooth(face, lam=1.0) - default).max() > 1e-3


def test_wls_smooths_more_with_larger_lambda(face):
    tvs = [total_variation(wls_smooth(face, lam=lam)) for lam in get_operator("wls").param("lam").test_values]
    assert all(a > b for a, b in zip(tvs, tvs[1:]))
    assert tvs[0] < total_variation(face)


# --- L0 ----------------------------------------------------------------------


def nonzero_gradients(rgb, threshold=1 / 255):
    """Count of pixels whose colour gradient (all channels, as in Xu et al.) exceeds ``threshold``."""
    rgb = rgb.astype(np.float64)
    dx = np.diff(rgb, axis=1)[:-1]
    dy = np.diff(rgb, axis=0)[:, :-1]
    return int((np.sqrt((dx**2 + dy**2).sum(axis=2)) > threshold).sum())


def test_l0_nonzero_gradients_fall_as_lambda_grows(face):
    lams = get_operator("l0").param("lam").test_values
    counts = [nonzero_gradients(l0_smooth(face, lam=lam)) for lam in lams]
    assert all(a > b for a, b in zip(counts, counts[1:]))
    assert counts[0] < 0.8 * nonzero_gradients(face)
    assert nonzero_gradients(paramops.reference(face, "l0", lam=lams[-1])) == counts[-1]


def test_l0_recovers_a_noisy_step_and_keeps_the_mean():
    clean = np.full((32, 40, 3), 0.2, np.float32)
    clean[:, 20:] = (0.8, 0.6, 0.3)
    noisy = clean + np.random.default_rng(1).normal(0, 0.02, clean.shape).astype(np.float32)
    out = l0_smooth(noisy, lam=0.02)
    assert np.median(np.abs(out - clean)) < 0.1 * np.median(np.abs(noisy - clean))
    np.testing.assert_allclose(out[:, 30] - out[:, 10], clean[:, 30] - clean[:, 10], atol=0.01)
    # The Fourier solve leaves the mean of each channel untouched
    # (cv2.ximgproc.l0Smooth 5.0.0 does not, which is why it is not used).
    np.testing.assert_allclose(out.mean(axis=(0, 1)), noisy.mean(axis=(0, 1)), atol=1e-5)


# --- RTV ---------------------------------------------------------------------


def test_rtv_smoother_for_larger_lambda(face):
    lams = get_operator("rtv").param("lam").test_values
    outs = [rtv_smooth(face, lam=lam, sigma=3.0, sharpness=0.02, iterations=4.0) for lam in lams]
    tvs = [total_variation(out) for out in outs]
    assert all(a > b for a, b in zip(tvs, tvs[1:]))
    assert tvs[0] < total_variation(face)
    via_reference = paramops.reference(face, "rtv", lam=lams[-1], sigma=3.0, sharpness=0.02, iterations=4)
    assert total_variation(via_reference) == pytest.approx(tvs[-1], rel=1e-3)


def test_rtv_iterations_matter(face):
    once = rtv_smooth(face, lam=0.01, sigma=3.0, sharpness=0.02, iterations=1.0)
    four = rtv_smooth(face, lam=0.01, sigma=3.0, sharpness=0.02, iterations=4.0)
    assert total_variation(four) < total_variation(once)


# --- RGF ---------------------------------------------------------------------


def expected_rgf(rgb, sigma_s, sigma_r, iterations):
    """Zhang et al.'s loop from OpenCV primitives: a Gaussian step, then joint bilateral steps."""
    window = 2 * max(round(1.5 * sigma_s), 1) + 1
    out = cv2.GaussianBlur(rgb, (window, window), sigma_s)
    for _ in range(iterations - 1):
        out = cv2.ximgproc.jointBilateralFilter(out, rgb, window, sigma_r, sigma_s)
    return out


@pytest.mark.parametrize("sigma_s", [2.0, 5.5])
def test_rgf_matches_opencv(coffee, sigma_s):
    extra = get_operator("rgf").extra
    expected = expected_rgf(coffee, sigma_s, float(extra["sigma_r"]), int(extra["iterations"]))
    np.testing.assert_allclose(rgf_smooth(coffee, sigma_s=sigma_s), expected, atol=1e-4)
    np.testing.assert_allclose(paramops.reference(coffee, "rgf", sigma_s=sigma_s), expected, atol=1e-4)


def test_rgf_reads_registry_constants(coffee, monkeypatch):
    monkeypatch.setitem(get_operator("rgf").extra, "iterations", 1)
    np.testing.assert_allclose(rgf_smooth(coffee, sigma_s=2.0), expected_rgf(coffee, 2.0, 0.05, 1), atol=1e-4)


def test_rgf_removes_small_texture_and_keeps_large_edges():
    yy, xx = np.mgrid[:48, :48]
    base = np.where(xx < 24, 0.25, 0.75)
    texture = 0.1 * ((xx // 2 + yy // 2) % 2 - 0.5)
    rgb = np.repeat((base + texture)[..., None], 3, axis=2).astype(np.float32)
    out = rgf_smooth(rgb, sigma_s=3.0)[..., 0]
    inside = (slice(8, 40), np.r_[4:16, 32:44])
    assert np.abs(out - base)[inside].max() < 0.02
    assert out[24, 30] - out[24, 17] > 0.45


# --- WMF ---------------------------------------------------------------------


@pytest.mark.parametrize("radius", [1, 4])
def test_wmf_matches_opencv(coffee, radius):
    joint = np.round(coffee * 255).astype(np.uint8)
    cv2.setRNGSeed(0)
    expected = cv2.ximgproc.weightedMedianFilter(joint, coffee, radius, 25.5)
    np.testing.assert_array_equal(wmf_smooth(coffee, radius=float(radius)), expected)
    np.testing.assert_allclose(paramops.reference(coffee, "wmf", radius=radius), expected, atol=1e-6)


def test_wmf_is_reproducible(face):
    # OpenCV clusters the joint colours with a random k-means start.
    first = wmf_smooth(face, radius=3.0)
    cv2.setRNGSeed(12345)
    np.testing.assert_array_equal(wmf_smooth(face, radius=3.0), first)


# --- WLS enhancement ---------------------------------------------------------


def local_contrast(rgb):
    return np.abs(rgb - cv2.GaussianBlur(rgb, (0, 0), 2.0)).mean()


def test_wls_enhance_increases_local_contrast(face):
    for out in (wls_enhance(face), paramops.reference(face, "wls_enhance")):
        assert local_contrast(out) > 1.5 * local_contrast(face)
        # Details are boosted, the overall tone is not.
        np.testing.assert_allclose(out.mean(axis=(0, 1)), face.mean(axis=(0, 1)), atol=0.02)
