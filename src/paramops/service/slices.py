"""The plane of a host array that the network runs on, and the way into and out of the network's range.

Host arrays are (..., Y, X) or (..., Y, X, C) numpy arrays, dask arrays or
anything else that slices like them; the leading axes are a stack, and an
``index`` picks one plane. Into the network, values are mapped to [0, 1] by
:func:`paramops.image.to_working`: 8-bit data and floats already in [0, 1] by
their dtype's range, 12- and 16-bit data and other floats by robust
percentiles (:data:`paramops.image.PERCENTILES`), so microscopy data that
uses a fraction of the dtype's range gets the network's full contrast. Out of
the network, :class:`OutputWriter` inverts that mapping exactly (same scale
and offset, in torch, on the model's device) into the caller's dtype and shape.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from paramops.image import Intensity, Layout, check_image, color_values, intensity_range, to_working

Window = tuple[int, int, int, int]  # y0, y1, x0, x1: ends exclusive, image coordinates


def infer_rgb(shape: tuple[int, ...], rgb: bool | None) -> bool:
    """Whether the last axis holds channels: ``rgb`` if given, else ndim >= 3 and 3 or 4 entries."""
    if rgb is None:
        return len(shape) >= 3 and shape[-1] in (3, 4)
    if not isinstance(rgb, (bool, np.bool_)):
        raise ValueError(f"rgb must be True, False or None, got {rgb!r}")
    return bool(rgb)


def leading_shape(shape: tuple[int, ...], rgb: bool) -> tuple[int, ...]:
    """The stack axes in front of (Y, X) or (Y, X, C)."""
    plane = 3 if rgb else 2
    if len(shape) < plane:
        expected = "(..., Y, X, C)" if rgb else "(..., Y, X)"
        raise ValueError(f"image of shape {tuple(shape)} has too few axes for rgb={rgb}: expected {expected}")
    if rgb and shape[-1] not in (1, 3, 4):
        raise ValueError(f"rgb=True needs 1, 3 or 4 channels on the last axis, got shape {tuple(shape)}")
    return tuple(shape[: len(shape) - plane])


def check_index(index, leading: tuple[int, ...]) -> tuple[int, ...]:
    """Validate a position along the leading axes; one integer per axis, inside it."""
    try:
        index = tuple(int(i) for i in index)
    except (TypeError, ValueError):
        raise ValueError(f"index must be a tuple of integers, got {index!r}") from None
    if len(index) != len(leading):
        raise ValueError(
            f"index {index} has {len(index)} entries but the image has {len(leading)} leading axes "
            f"{leading} in front of the plane; give one position per leading axis"
        )
    for i, n in zip(index, leading):
        if not 0 <= i < n:
            raise ValueError(f"index {index} is outside the leading axes {leading}")
    return index


def check_array(image) -> None:
    """Refuse what is not an array (lists of arrays, such as napari multiscale data, included)."""
    if isinstance(image, (list, tuple)) or not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise ValueError(
            f"expected an array (numpy, dask, ...) with shape and dtype, got {type(image).__name__}; "
            "for multiscale data pass one level"
        )


def read_plane(image, index: tuple[int, ...]) -> np.ndarray:
    """``image[index]`` as a numpy array (dask and other lazy arrays are computed), validated."""
    plane = image[index] if index else image
    if hasattr(plane, "compute") and not isinstance(plane, np.ndarray):
        plane = plane.compute()
    return check_image(np.asarray(plane))


def fingerprint(plane: np.ndarray, rgb: bool) -> str:
    """A digest of the plane's values, dtype, shape and channel reading: changed data, new digest."""
    digest = hashlib.sha256(f"{plane.dtype.str}|{plane.shape}|{rgb}|".encode())
    digest.update(np.ascontiguousarray(plane).view(np.uint8).reshape(-1).data)
    return digest.hexdigest()


def intensity_mode(plane: np.ndarray) -> Intensity:
    """``"dtype"`` for 8-bit data and colour floats inside [0, 1]; ``"percentile"`` for 12/16-bit data and other floats.

    Alpha does not count, as in :func:`paramops.image.intensity_range`.
    """
    if plane.dtype == np.uint8:
        return "dtype"
    color = color_values(plane)
    if plane.dtype.kind == "f" and float(color.min()) >= 0.0 and float(color.max()) <= 1.0:
        return "dtype"
    return "percentile"


def mapped_range(plane: np.ndarray) -> tuple[float, float]:
    """The values of ``plane`` that map to [0, 1]: its colour's range in :func:`intensity_mode`."""
    return intensity_range(plane, intensity_mode(plane))


def to_network(plane: np.ndarray, device: torch.device,
               value_range: tuple[float, float] | None = None) -> tuple[torch.Tensor, Layout]:
    """The (1, 3, H, W) float32 network input in [0, 1] on ``device``, and the layout to map back.

    ``value_range`` maps to [0, 1] (default :func:`mapped_range` of ``plane``;
    a tile of a larger plane takes the plane's). Values outside it (the 0.1 %
    tails of percentile-mapped data) are clipped, as the networks were
    trained on [0, 1] images.
    """
    rgb, layout = to_working(plane, value_range=mapped_range(plane) if value_range is None else value_range)
    x = torch.from_numpy(rgb).to(device).permute(2, 0, 1).clamp_(0.0, 1.0).contiguous()[None]
    return x, layout


def window_of(region, size: tuple[int, int]) -> Window:
    """``region`` (a pair of slices, or y0, y1, x0, x1) as a checked window; None is the whole plane."""
    height, width = size
    if region is None:
        return 0, height, 0, width
    if len(region) == 2 and all(isinstance(s, slice) for s in region):
        bounds = []
        for s, n in zip(region, size):
            if s.step not in (None, 1):
                raise ValueError(f"region slices must have step 1, got {region!r}")
            # Negative ends count from the far side as in numpy, but nothing is clamped:
            # a window reaching outside the plane is refused, not silently shrunk.
            for end, default in ((s.start, 0), (s.stop, n)):
                end = default if end is None else int(end)
                bounds.append(end + n if end < 0 else end)
        y0, y1, x0, x1 = bounds
    elif len(region) == 4:
        y0, y1, x0, x1 = (int(v) for v in region)
    else:
        raise ValueError(f"region must be (slice_y, slice_x) or (y0, y1, x0, x1), got {region!r}")
    if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
        raise ValueError(f"region {region!r} is not a non-empty window of the {height}x{width} plane")
    return y0, y1, x0, x1


@dataclass(frozen=True)
class OutputWriter:
    """Writes network outputs (working values, (3, rows, cols)) into a plane of the caller's dtype.

    The inverse of :func:`to_network`'s mapping: clip to [0, 1], scale and
    offset back, average the channels of a gray image, round and clip
    integers to their dtype; alpha is copied from the input. Runs in torch on
    the tensors' device; only the final dtype crosses to the host.
    """

    layout: Layout

    def allocate(self, window: Window) -> np.ndarray:
        y0, y1, x0, x1 = window
        out = np.empty((y1 - y0, x1 - x0, *self.layout.shape[2:]), dtype=self.layout.dtype)
        if self.layout.alpha is not None:
            out[..., 3] = self.layout.alpha[y0:y1, x0:x1]
        return out

    def write(self, values: torch.Tensor, dest: np.ndarray) -> None:
        """Convert ``values`` (3, rows, cols) in place and store them in ``dest`` (rows, cols[, C])."""
        layout = self.layout
        values = values.clamp_(0.0, 1.0)
        if layout.gray:
            values = (values[0] + values[1] + values[2]).div_(3.0)[None]
        scale, offset = float(np.float32(layout.hi - layout.lo)), float(np.float32(layout.lo))
        if scale != 1.0:
            values = values.mul_(scale)
        if offset != 0.0:
            values = values.add_(offset)
        if layout.dtype.kind in "ui":
            values = values.round_()
            info = np.iinfo(layout.dtype)
            if not info.min <= layout.lo <= layout.hi <= info.max:  # a range given beyond the dtype's
                values = values.clamp_(info.min, info.max)
        values = values.permute(1, 2, 0)  # (rows, cols, 1 or 3)
        if dest.ndim == 2:
            dest = dest[..., None]
        elif layout.alpha is not None:
            dest = dest[..., :3]
        if dest.dtype.isnative and dest.dtype in _TORCH_DTYPES:
            torch.from_numpy(dest).copy_(values)
        else:  # e.g. big-endian floats from a TIFF
            dest[...] = values.cpu().numpy()


_TORCH_DTYPES = {np.dtype(t) for t in ("uint8", "uint16", "float16", "float32", "float64")}
