"""Image conventions shared by every entry point.

Operators and networks work on float32 RGB in [0, 1] of shape (H, W, 3).
:func:`to_working` brings any accepted image there and returns the
:class:`Layout` that :func:`from_working` needs to give the caller back an
image of the same dtype, shape and value range.

Accepted: ``uint8``, ``uint16`` and floating-point images; grayscale (H, W)
or (H, W, 1), RGB (H, W, 3) and RGBA (H, W, 4, alpha passed through untouched).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Intensity = Literal["dtype", "percentile"]

# Robust range for microscopy data: a few hot or dead pixels must not squash
# the contrast of everything else.
PERCENTILES = (0.1, 99.9)


@dataclass(frozen=True)
class Layout:
    """What :func:`from_working` needs to restore the caller's format."""

    dtype: np.dtype
    shape: tuple[int, ...]
    lo: float
    hi: float
    alpha: np.ndarray | None = None

    @property
    def gray(self) -> bool:
        return len(self.shape) == 2 or self.shape[-1] == 1


def check_image(image: np.ndarray, *, min_size: int = 2) -> np.ndarray:
    """Validate an image and return it as an ndarray; raise a one-line ``ValueError`` if it is unusable."""
    if not isinstance(image, np.ndarray):
        image = np.asarray(image)
    if image.dtype == bool or not (
        image.dtype in (np.uint8, np.uint16) or np.issubdtype(image.dtype, np.floating)
    ):
        raise ValueError(f"unsupported dtype {image.dtype}; use uint8, uint16 or a float type")
    if image.ndim not in (2, 3):
        raise ValueError(
            f"image must be (H, W) or (H, W, C), got shape {image.shape}; "
            "pass stacks slice by slice or through ModelService.apply"
        )
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise ValueError(f"unsupported channel count {image.shape[2]}; use 1 (gray), 3 (RGB) or 4 (RGBA)")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    if min(h, w) < min_size:
        raise ValueError(f"image is {h}x{w} pixels; at least {min_size}x{min_size} is needed")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ValueError("image contains NaN or Inf values")
    return image


def color_values(image: np.ndarray) -> np.ndarray:
    """``image`` without its alpha channel (the fourth of (H, W, 4)): the values an intensity range is taken over."""
    return image[..., :3] if image.ndim == 3 and image.shape[-1] == 4 else image


def intensity_range(image: np.ndarray, intensity: Intensity = "dtype") -> tuple[float, float]:
    """The value range that maps to [0, 1].

    ``"dtype"``: the dtype's full range for integers; [0, 1] for floats inside
    it, else their min and max. ``"percentile"``: robust percentiles, for 12-
    and 16-bit microscopy data that use a fraction of the dtype's range.
    An alpha channel (the fourth of (H, W, 4)) is passed through, not mapped,
    so it does not count.
    """
    image = color_values(image)
    if intensity == "percentile" and image.dtype != np.uint8:
        lo, hi = (float(v) for v in np.percentile(image, PERCENTILES))
        if hi > lo:
            return lo, hi
    if image.dtype == np.uint8:
        return 0.0, 255.0
    if image.dtype == np.uint16:
        return 0.0, 65535.0
    lo, hi = float(image.min()), float(image.max())
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def to_working(
    image: np.ndarray, *, intensity: Intensity = "dtype", value_range: tuple[float, float] | None = None
) -> tuple[np.ndarray, Layout]:
    """Convert ``image`` to float32 RGB in [0, 1]; never modifies ``image``.

    Parameters
    ----------
    image : ndarray
        (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, uint16 or float.
    intensity : {"dtype", "percentile"}
        How the value range is chosen, see :func:`intensity_range`.
    value_range : (float, float), optional
        Use this range instead (for example one computed over a whole stack).

    Returns
    -------
    rgb : ndarray of float32, shape (H, W, 3)
        Values outside the range are kept (not clipped), so the mapping is
        exactly invertible.
    layout : Layout
    """
    image = check_image(image)
    lo, hi = value_range if value_range is not None else intensity_range(image, intensity)
    alpha = None
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[..., 3].copy()
        color = image[..., :3]
    elif image.ndim == 3 and image.shape[2] == 3:
        color = image
    else:
        gray = image if image.ndim == 2 else image[..., 0]
        color = np.repeat(gray[..., None], 3, axis=2)
    rgb = (color.astype(np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    return rgb, Layout(image.dtype, image.shape, lo, hi, alpha)


def from_working(rgb: np.ndarray, layout: Layout) -> np.ndarray:
    """Inverse of :func:`to_working`: back to the caller's dtype, shape and range.

    Gray images come back as the mean of the three channels; integer dtypes are
    rounded and clipped to the dtype's limits.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    values = rgb * np.float32(layout.hi - layout.lo) + np.float32(layout.lo)
    if layout.gray:
        values = values.mean(axis=2)
        if len(layout.shape) == 3:
            values = values[..., None]
    if layout.dtype.kind in "ui":
        info = np.iinfo(layout.dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    out = values.astype(layout.dtype)
    if layout.alpha is not None:
        out = np.concatenate([out, layout.alpha[..., None].astype(layout.dtype)], axis=2)
    return out
