"""Tile geometry for running a network part on overlapping crops.

A crop carries a halo at least as wide as the receptive field, so the part of
its result inside the tile equals the same part of an untiled run: zero padding
at a crop edge only disturbs values within the receptive radius of that edge.
All tile and halo sizes are even so crops start on the stride-2 grid.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

Window = tuple[int, int, int, int]  # y0, y1, x0, x1


def even_up(n: int) -> int:
    return n + n % 2


def tile_windows(height: int, width: int, tile: int, halo: int) -> Iterator[tuple[Window, Window]]:
    """Yield (tile, crop) windows covering a ``height`` x ``width`` image (both even)."""
    tile, halo = even_up(max(tile, 2)), even_up(halo)
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            crop = (max(0, y0 - halo), min(height, y1 + halo), max(0, x0 - halo), min(width, x1 + halo))
            yield (y0, y1, x0, x1), crop


def inner(t: torch.Tensor, tile: Window, crop: Window, scale: int) -> torch.Tensor:
    """The part of ``t`` (computed on ``crop``, at 1/``scale`` resolution) that lies inside ``tile``."""
    y0, y1, x0, x1 = (v // scale for v in tile)
    cy, cx = crop[0] // scale, crop[2] // scale
    return t[..., y0 - cy : y1 - cy, x0 - cx : x1 - cx]


def paste(out: torch.Tensor, part: torch.Tensor, tile: Window, scale: int) -> None:
    y0, y1, x0, x1 = (v // scale for v in tile)
    out[..., y0:y1, x0:x1] = part
