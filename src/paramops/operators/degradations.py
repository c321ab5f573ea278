"""Restoration degradations: clean image in, corrupted image out.

These are the reference operators of the restoration family. They make the
training pairs (the corrupted image is the network's input, the clean image
its target), so they follow the synthetic corruptions of the benchmarks the
paper evaluates on: bicubic blur (BSD100), Gaussian noise (BSD68), JPEG
(LIVE1) and rain streaks (RAIN12).

Every function takes and returns float32 RGB of shape (H, W, 3) in [0, 1];
:func:`paramops.reference` validates the parameters against the registry,
converts the caller's image and calls them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from paramops.operators.registry import get_operator


def bicubic_blur(rgb: np.ndarray, *, scale: float) -> np.ndarray:
    """Bicubic down-sampling by ``scale``, then bicubic up-sampling back.

    Uses Pillow's bicubic resampling on float32 channels: the Keys cubic with
    ``a = -0.5``, whose support widens by the factor when shrinking, so the
    down-sampling is antialiased. That is the kernel and the antialiasing of
    MATLAB's ``imresize``, with which the super-resolution benchmarks (BSD100,
    Set5) were made; only the borders differ (Pillow renormalises the weights
    there, MATLAB mirrors the image). OpenCV's ``INTER_CUBIC`` was not used: it
    does not antialias, so at x4 it aliases where cameras and the benchmarks
    do not.

    Parameters
    ----------
    rgb : ndarray of float32, shape (H, W, 3)
        Values in [0, 1]; any H and W.
    scale : float
        Down-sampling factor (registry range, e.g. 2 to 4). The small image has
        ``max(1, round(H / scale))`` by ``max(1, round(W / scale))`` pixels.

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
        The blurred image, unclipped (bicubic overshoots slightly at edges).
    """
    h, w = rgb.shape[:2]
    small = (max(1, round(w / scale)), max(1, round(h / scale)))  # Pillow sizes are (width, height)
    channels = []
    for c in range(rgb.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(rgb[..., c], dtype=np.float32))  # mode "F"
        plane = plane.resize(small, Image.Resampling.BICUBIC).resize((w, h), Image.Resampling.BICUBIC)
        channels.append(np.asarray(plane, dtype=np.float32))
    return np.stack(channels, axis=2)


def gaussian_noise(rgb: np.ndarray, *, sigma: float, seed: int | None = None) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``sigma / 255`` and clip to [0, 1].

    Parameters
    ----------
    rgb : ndarray of float32, shape (H, W, 3)
        Values in [0, 1].
    sigma : float
        Noise standard deviation on the 0-255 scale (registry range, e.g. 10 to 70).
    seed : int, optional
        Seed of the ``numpy.random.Generator``; the same seed gives the same noise.

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
        Colour noise, independent per channel. A gray image (three equal
        channels) gets one noise field on all three, so it stays gray and its
        noise keeps the std ``sigma`` once converted back to one channel.
    """
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    gray = np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
    noise = rng.standard_normal((h, w, 1) if gray else (h, w, 3), dtype=np.float32)
    return np.clip(rgb + noise * np.float32(sigma / 255.0), 0.0, 1.0)


def jpeg_compress(rgb: np.ndarray, *, quality: float) -> np.ndarray:
    """Encode as JPEG at ``quality`` and decode again, with OpenCV's libjpeg.

    The image is rounded to 8 bits first (JPEG holds 8 bits). OpenCV's
    defaults apply otherwise: baseline, 4:2:0 chroma subsampling, the standard
    quantisation tables scaled by ``quality``.

    Parameters
    ----------
    rgb : ndarray of float32, shape (H, W, 3)
        Values in [0, 1].
    quality : float
        JPEG quality factor, rounded to an integer (registry range, e.g. 10 to 90).

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
        The decoded image, a multiple of 1/255.
    """
    pixels = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    # OpenCV encodes BGR.
    ok, encoded = cv2.imencode(".jpg", pixels[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(round(quality))])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    return decoded.astype(np.float32) / np.float32(255.0)


def add_rain(rgb: np.ndarray, *, seed: int | None = None) -> np.ndarray:
    """Draw synthetic rain streaks over the image.

    Drops start at random pixels, each with a random brightness, and are
    smeared along a line of random length and angle from vertical: a motion
    blur of sparse noise. The line is antialiased and softened by a Gaussian,
    so streaks are about 2 px wide. Density, angle and length are drawn once
    per call, so the streaks of one image are parallel. The streak layer is
    screen-blended, ``1 - (1 - image) * (1 - streaks)``: rain only brightens,
    and whitens fully only where streaks overlap.

    The ranges, drawn from uniformly, are the registry's ``derain`` ``extra``:
    ``density`` (fraction of pixels where a drop starts), ``angle_deg`` (from
    vertical, positive tilts the lower end to the right), ``length_px``,
    ``brightness`` (peak of a lone streak, drawn per drop) and the fixed
    ``width_sigma_px``.

    Parameters
    ----------
    rgb : ndarray of float32, shape (H, W, 3)
        Values in [0, 1].
    seed : int, optional
        Seed of the ``numpy.random.Generator``; the same seed gives the same rain.

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
        The rainy image; streaks are white (equal on the three channels).
    """
    rain = get_operator("derain").extra
    rng = np.random.default_rng(seed)
    density = rng.uniform(*rain["density"])
    angle = rng.uniform(*rain["angle_deg"])
    length = rng.uniform(*rain["length_px"])
    kernel = _streak_kernel(length, angle, float(rain["width_sigma_px"]))
    # Drops outside the frame must streak into it: draw on a padded canvas.
    pad = kernel.shape[0] // 2
    h, w = rgb.shape[:2]
    shape = (h + 2 * pad, w + 2 * pad)
    starts = rng.random(shape) < density
    drops = np.where(starts, rng.uniform(*rain["brightness"], size=shape), 0.0).astype(np.float32)
    streaks = cv2.filter2D(drops, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    streaks = np.clip(streaks[pad : pad + h, pad : pad + w], 0.0, 1.0)[..., None]
    return 1.0 - (1.0 - rgb) * (1.0 - streaks)


def _streak_kernel(length: float, angle_deg: float, width_sigma: float) -> np.ndarray:
    """The streak of one drop: a softened line through the kernel's centre, peaking at 1."""
    margin = 2 + math.ceil(3 * width_sigma)
    size = 2 * (math.ceil(length / 2) + margin) + 1
    canvas = np.zeros((size, size), dtype=np.uint8)
    centre = size // 2
    theta = math.radians(angle_deg)
    dx, dy = 0.5 * length * math.sin(theta), 0.5 * length * math.cos(theta)
    shift = 4  # cv2.line takes fixed-point coordinates with this many fractional bits
    ends = [(round((centre + sx * dx) * 2**shift), round((centre + sx * dy) * 2**shift)) for sx in (-1, 1)]
    cv2.line(canvas, ends[0], ends[1], 255, thickness=1, lineType=cv2.LINE_AA, shift=shift)
    kernel = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), width_sigma)
    return kernel / kernel.max()
