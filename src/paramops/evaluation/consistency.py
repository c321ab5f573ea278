"""Crop consistency: does an operator give a crop what it gives the whole image?

Training pairs are cut from small crops unless the operator's registry
``context`` is ``"image"``. This measures whether that is safe: the image is
cut into ``patch``-sized tiles, each tile is processed with ``margin`` pixels
of context around it (reflected at the image border), and the stitched tile
centres are compared with the operator run on the whole image. A local
operator scores near the 8-bit ceiling; a low score says that training
targets made on such crops teach another operator than the whole-image one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from paramops.evaluation.metrics import psnr
from paramops.models.windows import tent, window_starts
from paramops.operators.reference import reference


def tiled(image: np.ndarray, process: Callable[[np.ndarray], np.ndarray], *, patch: int = 64,
          margin: int = 16) -> np.ndarray:
    """``process`` run tile by tile: each ``patch`` x ``patch`` tile sees ``margin`` px of context.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    process : callable
        Maps a window of ``image`` to an array of the same shape and dtype: a
        deterministic operator (restorations draw noise per call) or a network.
    patch, margin : int
        Tile size and context on each side, in pixels; ``patch >= 1``, ``margin >= 0``.
        Windows are reflected at the image border.

    Returns
    -------
    ndarray, like ``image``
    """
    if patch < 1 or margin < 0:
        raise ValueError(f"need patch >= 1 and margin >= 0, got patch={patch}, margin={margin}")
    h, w = image.shape[:2]
    around = ((margin, margin + patch), (margin, margin + patch)) + ((0, 0),) * (image.ndim - 2)
    padded = np.pad(image, around, mode="reflect")
    out = np.empty_like(image)
    for y in range(0, h, patch):
        for x in range(0, w, patch):
            window = padded[y : y + patch + 2 * margin, x : x + patch + 2 * margin]
            done = process(window)[margin : margin + patch, margin : margin + patch]
            out[y : y + patch, x : x + patch] = done[: h - y, : w - x]
    return out


def blended(image: np.ndarray, process: Callable[[np.ndarray], np.ndarray], *, window: int = 96,
            stride: int = 48) -> np.ndarray:
    """``process`` run on overlapping windows whose results are blended: seamless, unlike :func:`tiled`.

    Each pixel is the mean of the windows that contain it, weighted by a tent
    that falls from the window's centre to nearly zero at its edges, so the
    result is continuous where windows begin and end.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    process : callable
        Maps a window of ``image`` to an array of the same shape and dtype.
    window, stride : int
        Window side and the step between windows, in pixels; ``1 <= stride <=
        window``. The last window of a row or column is moved back to end at
        the image's edge; an image smaller than ``window`` is one window.

    Returns
    -------
    ndarray, like ``image`` (integer dtypes rounded)
    """
    if not 1 <= stride <= window:
        raise ValueError(f"need 1 <= stride <= window, got window={window}, stride={stride}")
    h, w = image.shape[:2]
    channels = image.shape[2:]  # () for a gray image, which is blended as one channel
    total = np.zeros((h, w, int(np.prod(channels))))
    weights = np.zeros((h, w, 1))
    for y in window_starts(h, window, stride):
        for x in window_starts(w, window, stride):
            part = image[y : y + window, x : x + window]
            weight = tent(part.shape[0]).numpy()[:, None, None] * tent(part.shape[1]).numpy()[None, :, None]
            done = process(part).reshape(*part.shape[:2], -1)
            total[y : y + window, x : x + window] += done * weight
            weights[y : y + window, x : x + window] += weight
    out = (total / weights).reshape(image.shape)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(image.dtype)


def crop_consistency(image: np.ndarray, op: str, *, patch: int = 64, margin: int = 16, **params: float) -> float:
    """PSNR (dB) of ``op`` run by :func:`tiled` against ``op`` on the whole ``image``."""
    pieces = tiled(image, lambda window: reference(window, op, **params), patch=patch, margin=margin)
    return psnr(pieces, reference(image, op, **params))
