"""Image-quality metrics (scikit-image's), on any two images of the same shape and dtype."""

from __future__ import annotations

import numpy as np


def _range(image: np.ndarray) -> float:
    if image.dtype == np.uint8:
        return 255.0
    if image.dtype == np.uint16:
        return 65535.0
    return 1.0


def psnr(result: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all channels (the dtype's full range as peak)."""
    from skimage.metrics import peak_signal_noise_ratio

    if result.shape != truth.shape:
        raise ValueError(f"shapes differ: {result.shape} vs {truth.shape}")
    if np.array_equal(result, truth):
        return float("inf")
    return float(peak_signal_noise_ratio(truth, result, data_range=_range(truth)))


def ssim(result: np.ndarray, truth: np.ndarray) -> float:
    """Structural similarity, averaged over colour channels for RGB images."""
    from skimage.metrics import structural_similarity

    if result.shape != truth.shape:
        raise ValueError(f"shapes differ: {result.shape} vs {truth.shape}")
    channel_axis = -1 if truth.ndim == 3 else None
    return float(structural_similarity(truth, result, data_range=_range(truth), channel_axis=channel_axis))
