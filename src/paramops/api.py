"""One-call use of the networks: ``paramops.apply`` and ``paramops.apply_dask``.

Both go through a process-wide :class:`~paramops.service.ModelService` per
model name, created on first use and shared by every caller, so the model
loads once::

    import paramops

    smooth = paramops.apply(image, "l0", lam=0.02)           # numpy in, numpy out
    smooth = paramops.apply(viewer.layers["cells"], "wls", lam=2.0)   # a napari Image layer
    lazy = paramops.apply_dask(big_stack, "denoise", sigma=25)       # a dask array, computed on demand

``apply_dask`` builds the graph of :mod:`paramops.batch`: tiles with halos and
whole-plane statistics, for planes of any size, on any dask scheduler.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from paramops.service.progress import CancelArg, ProgressFn

_SERVICES: dict[str, object] = {}
_LOCK = threading.Lock()


def shared_service(model="default"):
    """The process-wide :class:`~paramops.service.ModelService` of ``model``.

    ``model``: a shipped model's name or a checkpoint path (one service per
    name, created on first use; None is ``"default"``), a ``ModelService`` (returned as is) or a
    ``ParamModel`` (wrapped in a new service each call: services of
    in-memory models are not kept).
    """
    from paramops.models.wrapper import ParamModel
    from paramops.service import ModelService

    if model is None:
        model = "default"
    if isinstance(model, ModelService):
        return model
    if isinstance(model, ParamModel):
        return ModelService(model)
    if not isinstance(model, (str, os.PathLike)):
        raise ValueError(
            f"model must be a model name or path, a ModelService or a ParamModel; got {type(model).__name__}"
        )
    name = os.fspath(model)
    with _LOCK:
        if name not in _SERVICES:
            _SERVICES[name] = ModelService(name)
        return _SERVICES[name]


def _unwrap(layer_or_array, rgb: bool | None):
    """(data, rgb) of a napari Image layer (duck-typed: ``.data`` and ``.rgb``) or an array."""
    is_layer = hasattr(layer_or_array, "data") and hasattr(layer_or_array, "rgb")
    if is_layer and not isinstance(layer_or_array, np.ndarray):
        if getattr(layer_or_array, "multiscale", False):
            raise ValueError("multiscale layers are not supported; pass one level, e.g. layer.data[0]")
        return layer_or_array.data, layer_or_array.rgb if rgb is None else rgb
    return layer_or_array, rgb


def apply(
    layer_or_array,
    op: str,
    *,
    model="default",
    rgb: bool | None = None,
    self_ensemble: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelArg = None,
    **params: float,
) -> np.ndarray:
    """Run the network as operator ``op`` on an image, a stack or a napari Image layer.

    Parameters
    ----------
    layer_or_array : array or napari Image layer
        (..., Y, X) or (..., Y, X, C) numpy or dask array (uint8, uint16 or
        float; gray, RGB or RGBA), or a layer with ``.data`` and ``.rgb``.
        Never modified.
    op : str
        An operator the model covers (``paramops list``).
    model : str, ModelService or ParamModel
        Default: the shipped ``"default"`` model.
    rgb : bool, optional
        Whether the last axis holds channels; default the layer's ``rgb``, or
        for arrays True when it has 3 or 4 entries (and ndim >= 3).
    self_ensemble, progress, cancel
        See :meth:`ModelService.apply`.
    **params : float
        The operator's parameters in registry units; missing ones take their
        defaults.

    Returns
    -------
    ndarray
        Same shape and dtype as the input. Every plane of a stack is
        processed; planes too large for memory run tile by tile.

    Examples
    --------
    >>> import numpy as np, paramops
    >>> image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    >>> paramops.apply(image, "l0", lam=0.02).shape  # doctest: +SKIP
    (64, 64, 3)
    """
    data, rgb = _unwrap(layer_or_array, rgb)
    return shared_service(model).apply(data, op, rgb=rgb, self_ensemble=self_ensemble, progress=progress,
                                       cancel=cancel, **params)


def apply_dask(array, op: str, *, model="default", rgb: bool | None = None, tile: int | None = None,
               **params: float):
    """Lazily run ``op`` on every plane of a dask array, equal to whole-plane processing.

    Planes of any size: each is processed in square tiles with halos as wide
    as the network's receptive field, and every instance norm uses the
    whole plane's statistics, gathered by passes over the tiles that are part
    of the same graph, as is the plane's intensity range (see
    :mod:`paramops.service.chunked`). The result matches :func:`apply` on the
    whole plane to float rounding. Planes of at most 4 tiles run whole, in one
    task. Works under any dask scheduler, ``dask.distributed`` included.

    Parameters
    ----------
    array : dask array, numpy array or napari Image layer
        (..., Y, X) or (..., Y, X, C); uint8, uint16 or float.
    op, model, rgb, **params
        As for :func:`apply`; ``op`` and ``params`` are checked at once.
    tile : int, optional
        Side of the tiles in pixels (default 1024). Each running task holds
        one tile with its halo (the paper's network: 180 pixels a side), at
        about 16 bytes per pixel and feature channel: 0.9 GB for the
        default tile at the shipped width of 32.

    Returns
    -------
    dask.array.Array
        Same shape, dtype and chunks as ``array``. Nothing runs until it is
        computed; one ``compute`` (or ``store``, ``to_zarr``, ``persist``)
        runs the statistics passes once for all the chunks it computes, so
        compute what you need in one call, or persist the result.

    Examples
    --------
    >>> import dask.array as da, paramops
    >>> big = da.from_zarr("slide.zarr")                                  # doctest: +SKIP
    >>> paramops.apply_dask(big, "l0", lam=0.02).to_zarr("smooth.zarr")  # doctest: +SKIP
    """
    from paramops import batch
    from paramops.models.wrapper import ParamModel

    data, rgb = _unwrap(array, rgb)
    network = model if isinstance(model, ParamModel) else shared_service(model).model
    return batch.apply_dask(data, op, model=network, rgb=rgb, tile=tile, **params)
