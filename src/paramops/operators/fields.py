"""Position fields: what an operator's output depends on besides the image, where a pixel lies.

An operator that lays a fixed pattern from the image's top-left corner (the
pencil drawing's paper texture) gives a pixel an output that depends on its
place in the pattern, which no crop of the image alone can tell. The registry
names such an operator's field (``OperatorSpec.position_field``); a network that takes
the field as input channels (``fields`` in its config) sees that place.

Every field is a periodic tile, named here as ``"module:function"`` (as the
registry names implementations) so that reading the names imports no
image-processing code.
"""

from __future__ import annotations

import importlib

import numpy as np

FIELDS = {"pencil_paper": "paramops.operators.stylize:pencil_texture"}


def check_field(name: str) -> str:
    """``name`` if it is a known field, else ``ValueError`` listing them."""
    if name not in FIELDS:
        raise ValueError(f"unknown position field {name!r}; fields: {', '.join(FIELDS)}")
    return name


def field_tile(name: str) -> np.ndarray:
    """The periodic tile of field ``name``: float32, (T, T), values in (0, 1)."""
    module, function = FIELDS[check_field(name)].split(":")
    return getattr(importlib.import_module(module), function)()


def lay_tile(tile: np.ndarray, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``tile`` repeated over an image of ``shape`` (H, W), with tile pixel ``origin`` at the image's top-left.

    ``origin`` is (row, column) in px, any integers (taken modulo the tile).
    """
    rows = (np.arange(shape[0]) + origin[0]) % tile.shape[0]
    cols = (np.arange(shape[1]) + origin[1]) % tile.shape[1]
    return tile[np.ix_(rows, cols)]


def position_field(name: str, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Field ``name`` over an image of ``shape`` (H, W) whose top-left pixel lies at ``origin`` of the image
    the operator runs on (a crop's offset in it; (0, 0) for the whole image). float32, (H, W)."""
    return lay_tile(field_tile(name), shape, origin)
