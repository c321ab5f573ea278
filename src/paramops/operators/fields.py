"""Fields: what an operator's output depends on that no crop of the image can tell, as input channels.

A network that takes a field as an input channel (``fields`` in its config)
sees it in every window and crop, which carry their fields with them. Two
kinds, named here as ``"module:function"`` (as the registry names
implementations) so that reading the names imports no image-processing code:

* position fields: an operator that lays a fixed pattern from the image's
  top-left corner (the pencil drawing's paper texture) gives a pixel an output
  that depends on its place in the pattern. The field is the pattern's
  periodic tile, laid where each pixel lies (:func:`position_field`); the
  registry names it as the operator's ``position_field``.
* image fields: an operator that divides by a number of the whole image (the
  pencil drawing's strokes, by their range) gives a crop another output than
  the same region of the whole image. The field is the network's edge map
  times the field's gain, :func:`field_gain` of the whole image, so that edges
  come scaled as the operator scales them; the registry names it as the
  operator's ``image_field``.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import numpy as np

# Position fields: the function giving the tile.
FIELDS = {"pencil_paper": "paramops.operators.stylize:pencil_texture"}


class ImageField(NamedTuple):
    """An image field: the edge map scaled by a typical range of ``local_map`` over the image's own."""

    local_map: str  # "module:function": RGB (H, W, 3) in [0, 1] -> (H, W), each value from the pixels within radius
    radius: int  # px
    typical: float  # the map's range on a typical photograph, where the gain is 1
    spread: float  # the standard deviation of the range's logarithm over photographs


# The stroke range of the BSDS500 training photographs: median 15.6 and 10.7 to
# 20.6 between the 10th and 90th percentiles over the first 60 in name order
# (the typical range the shipped weights were trained with); median 16.9 and
# standard deviation of the logarithm 0.24 over all 400.
IMAGE_FIELDS = {"pencil_strokes": ImageField("paramops.operators.stylize:luminance_strokes", 18, 15.6, 0.24)}


def check_field(name: str) -> str:
    """``name`` if it is a known field of either kind, else ``ValueError`` listing them."""
    if name not in FIELDS and name not in IMAGE_FIELDS:
        raise ValueError(f"unknown field {name!r}; position fields: {', '.join(FIELDS)}; "
                         f"image fields: {', '.join(IMAGE_FIELDS)}")
    return name


def is_image_field(name: str) -> bool:
    """Whether field ``name`` is an image field (else a position field)."""
    return check_field(name) in IMAGE_FIELDS


def _function(spec: str):
    module, function = spec.split(":")
    return getattr(importlib.import_module(module), function)


def field_tile(name: str) -> np.ndarray:
    """The periodic tile of position field ``name``: float32, (T, T), values in (0, 1)."""
    if is_image_field(name):
        raise ValueError(f"{name!r} is an image field: it has a gain, not a tile")
    return _function(FIELDS[name])()


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


def _image_field(name: str) -> ImageField:
    if not is_image_field(name):
        raise ValueError(f"{name!r} is a position field: it has a tile, not a gain")
    return IMAGE_FIELDS[name]


def field_map(name: str, rgb: np.ndarray) -> np.ndarray:
    """The local map of image field ``name`` on ``rgb`` (float32, (H, W, 3) in [0, 1]): float32, (H, W).

    A pixel's value depends only on the pixels within the field's ``radius``,
    so a crop reaching that far around a region gives the region's values.
    """
    return _function(_image_field(name).local_map)(rgb)


def gain_of_extremes(name: str, low: float, high: float) -> float:
    """Image field ``name``'s gain on an image where its map runs from ``low`` to ``high``: the typical
    range over that one, or 0 where the map is flat (an image with no edges to scale)."""
    spread = high - low
    return _image_field(name).typical / spread if spread > 1e-12 else 0.0


def field_gain(name: str, rgb: np.ndarray) -> float:
    """The gain of image field ``name`` on an image: the typical range of the field's map over the image's own.

    Parameters
    ----------
    name : str
        An image field (:data:`IMAGE_FIELDS`).
    rgb : ndarray of float32, shape (H, W, 3)
        The whole image the operator runs on, values in [0, 1].

    Returns
    -------
    float
        0 or more; 0 where the map is flat.
    """
    values = field_map(name, rgb)
    return gain_of_extremes(name, float(values.min()), float(values.max()))


def typical_gains(name: str, rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` gains of image field ``name`` drawn as photographs give them: log-normal around 1 with
    the spread of the field's range over photographs (float64, (count,))."""
    return np.exp(rng.normal(0.0, _image_field(name).spread, count))
