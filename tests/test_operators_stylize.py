"""Stylisation operators: shock filter and pencil drawing."""

import cv2
import numpy as np
import pytest
from skimage import data

import paramops
from paramops.operators.laplacian import luminance
from paramops.operators.stylize import (
    line_kernel,
    luminance,
    pencil_drawing,
    pencil_layers,
    pencil_texture,
    stroke_map,
    stroke_sum,
    tone_histogram,
)


def blurred_step(height: int = 32, width: int = 64) -> np.ndarray:
    """A vertical step from 0.2 to 0.8 blurred by a Gaussian of 2 px, as gray RGB."""
    step = np.zeros((height, width), np.float32)
    step[:, width // 2 :] = 1.0
    step = 0.2 + 0.6 * cv2.GaussianBlur(step, (0, 0), 2.0)
    return np.repeat(step[..., None], 3, axis=2)


def square(background: float = 0.75, inside: float = 0.35, size: int = 96) -> np.ndarray:
    image = np.full((size, size), background, np.float32)
    image[32:64, 32:64] = inside
    return np.repeat(image[..., None], 3, axis=2)


def intermediate_count(gray: np.ndarray) -> int:
    """Pixels more than 0.1 away from both plateaus of the step."""
    return int(((gray > 0.3) & (gray < 0.7)).sum())


def test_shock_sharpens_a_blurred_step():
    step = blurred_step()
    out = paramops.reference(step, "shock")
    assert intermediate_count(out[..., 0]) < 0.75 * intermediate_count(step[..., 0])
    row = out[10, :, 0]
    # Still a single monotonic step at the same place, with its plateaus kept.
    assert np.all(np.diff(row) >= -1e-6)
    assert abs(row[:30].mean() - 0.2) < 0.02 and abs(row[34:].mean() - 0.8) < 0.02


def test_shock_keeps_flat_regions_and_chroma():
    flat = np.ones((20, 30, 3), np.float32) * np.array([0.6, 0.3, 0.2], np.float32)
    assert np.allclose(paramops.reference(flat, "shock"), flat, atol=1e-6)
    coloured = data.astronaut()[100:164, 150:214].astype(np.float32) / 255.0
    out = paramops.reference(coloured, "shock")
    inside = np.all((out > 0.01) & (out < 0.99), axis=2)
    chroma_in = coloured - luminance(coloured)[..., None]
    chroma_out = out - luminance(out)[..., None]
    assert np.allclose(chroma_in[inside], chroma_out[inside], atol=1e-5)


def test_pencil_strokes_darken_edges_and_stay_gray():
    image = square()
    out = paramops.reference(image, "pencil")
    gray = out[..., 0]
    assert np.abs(out - gray[..., None]).max() < 1e-5  # gray in, gray out
    outer_band = np.zeros(gray.shape, bool)
    outer_band[29:67, 29:67] = True
    outer_band[32:64, 32:64] = False
    far_background = np.zeros(gray.shape, bool)
    far_background[:12, :] = far_background[-12:, :] = True
    inner_band = np.zeros(gray.shape, bool)
    inner_band[32:64, 32:64] = True
    inner_band[35:61, 35:61] = False
    interior = np.zeros(gray.shape, bool)
    interior[40:56, 40:56] = True
    assert gray[outer_band].mean() < gray[far_background].mean() - 0.1
    assert gray[inner_band].mean() < gray[interior].mean() - 0.05
    # The tone follows the input: the square stays darker than the paper.
    assert gray[interior].mean() < gray[far_background].mean()


def test_pencil_is_its_stroke_layer_times_its_texture_layer():
    rgb = data.astronaut()[100:164, 150:230].astype(np.float32) / 255.0
    lum, strokes, texture = pencil_layers(rgb, texture_origin=(3, 5))
    np.testing.assert_array_equal(lum, luminance(rgb))
    np.testing.assert_allclose(luminance(pencil_drawing(rgb, texture_origin=(3, 5))), strokes * texture, atol=1e-6)
    # The stroke layer is the stroke sum normalised by its range over the image, inverted.
    raw = stroke_sum(lum)
    assert raw.min() > -1e-6 and raw.dtype == np.float32  # filter2D convolves large kernels by DFT
    np.testing.assert_allclose(strokes, 1 - (raw - raw.min()) / np.ptp(raw), atol=1e-6)
    assert 0 < texture.min() and texture.max() < 1


def test_pencil_keeps_chroma_of_colour_input():
    coloured = data.astronaut()[100:164, 150:214].astype(np.float32) / 255.0
    out = paramops.reference(coloured, "pencil")
    inside = np.all((out > 0.01) & (out < 0.99), axis=2)
    chroma_in = coloured - luminance(coloured)[..., None]
    chroma_out = out - luminance(out)[..., None]
    assert np.allclose(chroma_in[inside], chroma_out[inside], atol=1e-5)


def test_stroke_map_is_paper_white_without_edges():
    assert np.array_equal(stroke_map(np.full((9, 13), 0.5, np.float32)), np.ones((9, 13), np.float32))


def test_tone_model_is_mostly_bright():
    hist = tone_histogram()
    assert hist.shape == (256,) and np.isclose(hist.sum(), 1.0)
    assert (hist * np.arange(256)).sum() / 255 > 0.7
    assert hist[200:].sum() > 0.5 and hist[:100].sum() < 0.15


def test_line_kernel_directions():
    horizontal = line_kernel(0.0, half_length=4, half_width=0)
    assert horizontal.shape == (9, 9) and np.allclose(horizontal[4], 1) and horizontal.sum() == 9
    vertical = line_kernel(np.pi / 2, half_length=4, half_width=0)
    assert np.allclose(vertical, horizontal.T, atol=1e-6)


def test_pencil_texture_is_deterministic_tileable_and_light():
    texture = pencil_texture()
    pencil_texture.cache_clear()
    assert np.array_equal(texture, pencil_texture())
    assert 0.6 < texture.mean() < 0.8 and texture.min() > 0 and texture.max() < 1
    # Wraps seamlessly: the jump across the tile seam is like any other.
    seam = np.abs(texture[:, 0] - texture[:, -1]).mean()
    inner = np.abs(np.diff(texture, axis=1)).mean()
    assert seam < 1.5 * inner


def test_pencil_texture_origin_moves_the_paper_modulo_its_tile():
    image = np.random.default_rng(1).random((40, 50, 3)).astype(np.float32)
    corner = pencil_drawing(image)
    assert np.array_equal(corner, pencil_drawing(image, texture_origin=(256, -512)))
    moved = pencil_drawing(image, texture_origin=(5, 7))
    assert np.abs(moved - corner).mean() > 0.01


@pytest.mark.parametrize("op", ["shock", "pencil"])
@pytest.mark.parametrize("shape", [(2, 2), (2, 5), (7, 3), (300, 4)])
def test_tiny_and_thin_images(op, shape):
    image = np.random.default_rng(3).random(shape + (3,)).astype(np.float32)
    out = paramops.reference(image, op)
    assert out.shape == image.shape and np.isfinite(out).all()
