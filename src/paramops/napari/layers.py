"""napari layer plumbing for the Operator tuner: slices, visible regions and output layers.

Output layers have the input's full shape (zeros until a slice is rendered,
which costs no memory until written) so that they line up with the input on
every dims position and keep its scale, translate and units.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from napari.layers import Image
    from napari.viewer import Viewer

METADATA_KEY = "paramops"


def output_name(source: Image, op: str, *, reference: bool = False) -> str:
    """``"<input> [<op>]"``, or ``"<input> [<op> reference]"`` for the exact operator."""
    return f"{source.name} [{op}{' reference' if reference else ''}]"


def is_output(layer: Any) -> bool:
    """Whether ``layer`` was made by the tuner."""
    return METADATA_KEY in getattr(layer, "metadata", {})


def leading_ndim(source: Image) -> int:
    """Number of axes before (Y, X): z, t, ... (the RGB channel axis is not counted)."""
    return source.data.ndim - 2 - int(source.rgb)


def slice_index(source: Image, world_point) -> tuple[int, ...]:
    """The index along ``source``'s leading axes at the viewer's dims position."""
    n = leading_ndim(source)
    if n == 0:
        return ()
    data_point = np.asarray(source.world_to_data(world_point), dtype=float)
    shape = source.data.shape[:n]
    return tuple(int(np.clip(np.floor(p + 0.5), 0, s - 1)) for p, s in zip(data_point[:n], shape, strict=True))


# Render the on-screen window first only when it is at most this fraction of
# the slice; for more, the extra pass would cost more than it gains.
REGION_FIRST_MAX = 0.5


def visible_region(layer: Image) -> tuple[slice, slice] | None:
    """The (Y, X) window of ``layer`` on screen, or None when most of it is (or nothing is known)."""
    corners = np.asarray(layer.corner_pixels)
    height, width = layer.data.shape[leading_ndim(layer) : leading_ndim(layer) + 2]
    (y0, x0), (y1, x1) = corners[0, -2:], corners[1, -2:]
    y0, x0 = max(int(y0), 0), max(int(x0), 0)
    y1, x1 = min(int(y1) + 1, height), min(int(x1) + 1, width)
    if y1 - y0 < 2 or x1 - x0 < 2 or (y1 - y0) * (x1 - x0) > REGION_FIRST_MAX * height * width:
        return None
    return slice(y0, y1), slice(x0, x1)


def find_output(viewer: Viewer, name: str) -> Image | None:
    """The tuner's output layer called ``name``, if it is in the viewer."""
    for layer in viewer.layers:
        if layer.name == name and is_output(layer):
            return layer
    return None


def ensure_output(viewer: Viewer, source: Image, name: str) -> Image:
    """Get or create output layer ``name`` for ``source``: same shape, dtype and placement."""
    shape, dtype = source.data.shape, np.dtype(source.data.dtype)
    layer = find_output(viewer, name)
    if layer is not None:
        if layer.data.shape != shape or layer.data.dtype != dtype:
            layer.data = np.zeros(shape, dtype)
        return layer
    kwargs: dict[str, Any] = {
        "name": name,
        "rgb": source.rgb,
        "scale": source.scale,
        "translate": source.translate,
        "units": source.units,
        "metadata": {METADATA_KEY: {"source": source.name}},
    }
    if not source.rgb:
        kwargs.update(contrast_limits=source.contrast_limits, colormap=source.colormap, gamma=source.gamma)
    return viewer.add_image(np.zeros(shape, dtype), **kwargs)


def write_slice(
    layer: Image,
    index: tuple[int, ...],
    region: tuple[slice, slice] | None,
    values: np.ndarray,
    record: Mapping[str, Any],
) -> None:
    """Write ``values`` into ``layer`` at slice ``index`` (and ``region``) in place, and record how."""
    window = (*index, *(region or (slice(None), slice(None))))
    layer.data[window] = values
    layer.metadata[METADATA_KEY] = {**layer.metadata.get(METADATA_KEY, {}), **record}
    layer.refresh()
