"""Crop consistency: does an operator give a crop what it gives the whole image?

Training pairs are cut from small crops unless the operator's registry
``context`` is ``"image"``. This measures whether that is safe: the image is
cut into ``patch``-sized tiles, each tile is processed with ``margin`` pixels
of context around it (reflected at the image border), and the stitched tile
centres are compared with the operator run on the whole image. A local
operator scores near the 8-bit ceiling; a low score is an upper bound on what
any network trained on such crops can reach against the whole-image result.
"""

from __future__ import annotations

import numpy as np

from paramops.evaluation.metrics import psnr
from paramops.operators.reference import reference


def tiled_reference(image: np.ndarray, op: str, *, patch: int = 64, margin: int = 16, **params: float) -> np.ndarray:
    """``op`` run tile by tile: each ``patch`` x ``patch`` tile sees ``margin`` px of context.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)
    op : str
        A deterministic operator (restorations draw noise per call).
    patch, margin : int
        Tile size and context on each side, in pixels; ``patch >= 1``, ``margin >= 0``.
    **params
        The operator's parameters.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
    """
    if patch < 1 or margin < 0:
        raise ValueError(f"need patch >= 1 and margin >= 0, got patch={patch}, margin={margin}")
    h, w = image.shape[:2]
    padded = np.pad(image, ((margin, margin + patch), (margin, margin + patch), (0, 0)), mode="reflect")
    out = np.empty_like(image)
    for y in range(0, h, patch):
        for x in range(0, w, patch):
            window = padded[y : y + patch + 2 * margin, x : x + patch + 2 * margin]
            tile = reference(window, op, **params)[margin : margin + patch, margin : margin + patch]
            out[y : y + patch, x : x + patch] = tile[: h - y, : w - x]
    return out


def crop_consistency(image: np.ndarray, op: str, *, patch: int = 64, margin: int = 16, **params: float) -> float:
    """PSNR (dB) of :func:`tiled_reference` against ``op`` on the whole ``image``."""
    whole = reference(image, op, **params)
    return psnr(tiled_reference(image, op, patch=patch, margin=margin, **params), whole)
