"""The restoration degradations (sr, denoise, deblock, derain), checked against
independent implementations and against the statistics they promise."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from paramops import operators, reference


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 96x128 uint8 RGB crop with face, hair and suit: edges and texture."""
    return data.astronaut()[40:136, 150:278].copy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


# --- deblock -----------------------------------------------------------------


@pytest.mark.parametrize("quality", operators()["deblock"].param("quality").test_values)
def test_deblock_matches_an_independent_jpeg_round_trip(photo, quality):
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=int(quality))  # Pillow's libjpeg, 4:2:0
    expected = np.asarray(Image.open(buffer)).astype(np.int16)
    out = reference(photo, "deblock", quality=quality)
    assert out.dtype == np.uint8
    diff = np.abs(out.astype(np.int16) - expected)
    assert diff.mean() < 0.5 and diff.max() <= 4
    assert psnr(out, photo) < 40  # it did compress


def test_deblock_lower_quality_means_more_loss_and_8x8_blocks(photo):
    errors = [psnr(reference(photo, "deblock", quality=q), photo) for q in (10, 30, 90)]
    assert errors[0] < errors[1] < errors[2]
    # The signature of JPEG: jumps across the 8x8 block borders beat jumps inside blocks.
    flat = np.full((64, 64, 3), 0.5, np.float32) + np.linspace(0, 0.3, 64, dtype=np.float32)[None, :, None]
    out = reference(flat, "deblock", quality=10)
    steps = np.abs(np.diff(out.mean(axis=2), axis=1)).mean(axis=0)  # step between column j and j+1
    at_borders = steps[7::8].mean()
    inside = np.delete(steps, np.s_[7::8]).mean()
    assert at_borders > 2 * inside


# --- denoise -----------------------------------------------------------------


@pytest.mark.parametrize("sigma", operators()["denoise"].param("sigma").test_values)
def test_denoise_noise_has_the_requested_std(sigma):
    mid = np.full((128, 128, 3), [0.49, 0.5, 0.51], np.float32)  # near mid-gray, but colour
    noise = (reference(mid, "denoise", seed=1, sigma=sigma) - mid) * 255
    # Clipping to [0, 255] trims the tails a little at large sigma.
    expected_std = np.std(np.clip(np.random.default_rng(0).normal(127.5, sigma, 10**6), 0, 255))
    assert abs(noise.mean()) < 0.05 * sigma
    assert noise.std() == pytest.approx(expected_std, rel=0.03)
    channel_corr = np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]
    assert abs(channel_corr) < 0.05  # colour noise: channels independent


def test_denoise_gray_image_stays_gray_with_exact_sigma():
    gray = np.full((128, 128), 128, np.uint8)
    noisy = reference(gray, "denoise", seed=3, sigma=20)
    assert noisy.shape == gray.shape
    assert (noisy.astype(np.float64) - 128).std() == pytest.approx(20, rel=0.03)


def test_denoise_is_reproducible_with_a_seed(photo):
    a = reference(photo, "denoise", seed=7, sigma=30)
    assert np.array_equal(a, reference(photo, "denoise", seed=7, sigma=30))
    assert not np.array_equal(a, reference(photo, "denoise", seed=8, sigma=30))
    assert not np.array_equal(reference(photo, "denoise", sigma=30), reference(photo, "denoise", sigma=30))


# --- sr ----------------------------------------------------------------------


@pytest.mark.parametrize("scale", [*operators()["sr"].param("scale").test_values, 2.5])
@pytest.mark.parametrize("shape", [(96, 128), (37, 53)])
def test_sr_matches_an_independent_bicubic_pair(photo, scale, shape):
    """torch's antialiased bicubic is a separate implementation of the same kernel as Pillow's."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rgb = photo[: shape[0], : shape[1]].astype(np.float32) / 255
    small = (max(1, round(shape[0] / scale)), max(1, round(shape[1] / scale)))
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=small, mode="bicubic", antialias=True, align_corners=False)
    x = F.interpolate(x, size=shape, mode="bicubic", antialias=True, align_corners=False)
    expected = np.clip(x[0].permute(1, 2, 0).numpy(), 0, 1)
    out = reference(rgb, "sr", scale=scale)
    assert out.shape == rgb.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_sr_larger_scale_blurs_more_and_keeps_flat_images(photo):
    errors = [psnr(reference(photo, "sr", scale=s), photo) for s in (2, 3, 4)]
    assert errors[0] > errors[1] > errors[2]
    flat = np.full((40, 50, 3), 77, np.uint8)
    assert np.array_equal(reference(flat, "sr", scale=3.3), flat)


def test_sr_handles_images_smaller_than_the_scale():
    tiny = np.random.default_rng(0).random((2, 3, 3)).astype(np.float32)
    out = reference(tiny, "sr", scale=4)
    assert out.shape == tiny.shape
    # Down to one pixel, so up again to a constant inside the input's range.
    assert np.ptp(out, axis=(0, 1)).max() < 1e-6
    assert (tiny.min(axis=(0, 1)) <= out[0, 0]).all() and (out[0, 0] <= tiny.max(axis=(0, 1))).all()


# --- derain ------------------------------------------------------------------


def structure_tensor_orientation(image: np.ndarray) -> tuple[float, float]:
    """Global coherence (0 isotropic, 1 all edges parallel) and the edges' angle from vertical, degrees."""
    gy, gx = np.gradient(image.astype(np.float64))
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    coherence = np.hypot(jxx - jyy, 2 * jxy) / (jxx + jyy)
    # Dominant gradient direction, measured from the x axis; lines run perpendicular to it.
    gradient_angle = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))
    return float(coherence), float(-gradient_angle)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_derain_adds_bright_parallel_streaks(seed):
    rng = np.random.default_rng(100 + seed)
    # A dark, textured background: the streaks must stand out from isotropic texture.
    background = (0.2 + 0.05 * rng.random((128, 128, 3))).astype(np.float32)
    out = reference(background, "derain", seed=seed)
    added = (out - background).mean(axis=2)
    assert (out >= background - 1e-6).all()  # screen blending only brightens
    streak = added > 0.1
    assert 0.01 < streak.mean() < 0.6
    assert added.max() > 0.4  # bright, not a faint haze
    coherence, angle = structure_tensor_orientation(added)
    low, high = operators()["derain"].extra["angle_deg"]
    assert coherence > 0.5, "streaks are not parallel lines"
    assert low - 5 <= angle <= high + 5
    # Isotropic noise of the same density has no orientation: the measure can tell.
    assert structure_tensor_orientation(rng.random((128, 128)) * (rng.random((128, 128)) < 0.05))[0] < 0.2


def test_derain_streaks_are_white_on_colour_and_gray_stays_gray(photo):
    out = reference(photo, "derain", seed=5).astype(np.int16)
    added = out - photo
    assert (added >= 0).all()
    gray = photo.mean(axis=2).astype(np.uint8)
    assert reference(gray, "derain", seed=5).shape == gray.shape
    # Screen blend with white streaks raises every channel by a share of its headroom.
    mask = added.min(axis=2) > 20
    assert mask.any()
    headroom = 255 - photo[mask].astype(np.float64)
    share = added[mask] / np.maximum(headroom, 1)
    assert np.abs(share - share.mean(axis=1, keepdims=True)).max() < 0.1


def test_derain_is_reproducible_with_a_seed(photo):
    a = reference(photo, "derain", seed=11)
    assert np.array_equal(a, reference(photo, "derain", seed=11))
    assert not np.array_equal(a, reference(photo, "derain", seed=12))
    assert not np.array_equal(reference(photo, "derain"), reference(photo, "derain"))
