"""The plane's eight symmetries (flips of either axis, with and without a transpose).

Training draws one per batch to augment its patches (every operator here is
isotropic up to its random draws); the service's self-ensemble runs a plane
under all eight and averages the results turned back, since the networks are
not exactly invariant to them (test-time self-ensembling, as in EDSR+).
"""

from __future__ import annotations

import torch

SYMMETRIES = 8


def turn(x: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th symmetry (0 <= k < 8) of ``x`` over its last two axes: flipped left-right when bit 0 of k is
    set, upside down when bit 1 is, then transposed when bit 2 is. k = 0 is ``x`` itself."""
    if k & 1:
        x = torch.flip(x, dims=[-1])
    if k & 2:
        x = torch.flip(x, dims=[-2])
    return x.transpose(-2, -1) if k & 4 else x


def turn_back(x: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of :func:`turn`: ``turn_back(turn(x, k), k)`` equals ``x``."""
    if k & 4:
        x = x.transpose(-2, -1)
    if k & 2:
        x = torch.flip(x, dims=[-2])
    return torch.flip(x, dims=[-1]) if k & 1 else x
