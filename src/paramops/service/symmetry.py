"""The plane's eight symmetries (rotations by quarter turns, with and without a transpose), for self-ensembling.

The networks are trained on patches under all eight, but are not exactly
invariant to them: the mean of the results under each, turned back, is a
better estimate than any one (test-time self-ensembling, as in EDSR+).
"""

from __future__ import annotations

import torch

SYMMETRIES = 8


def turn(x: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th symmetry (0 <= k < 8) of ``x`` over its last two axes: transposed when k >= 4, then
    rotated by k quarter turns. k = 0 is ``x`` itself."""
    if k >= 4:
        x = x.transpose(-2, -1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def turn_back(x: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of :func:`turn`: ``turn_back(turn(x, k), k)`` equals ``x``."""
    x = torch.rot90(x, -(k % 4), dims=(-2, -1))
    return x.transpose(-2, -1) if k >= 4 else x
