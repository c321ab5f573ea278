"""``ModelService``: cached trunk features, a cheap head per parameter change, for any host."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Hashable
from concurrent.futures import Future

import numpy as np
import torch

from paramops.models.features import TrunkFeatures
from paramops.models.tunable import TunableNet
from paramops.models.wrapper import ParamModel
from paramops.service import trunk as trunks
from paramops.service.cache import Entry, FeatureCache
from paramops.service.coalesce import RenderQueue
from paramops.service.head import BandHead, make_head
from paramops.service.progress import CancelArg, Progress, ProgressFn
from paramops.service.slices import (
    OutputWriter,
    Window,
    check_array,
    check_index,
    fingerprint,
    infer_rgb,
    leading_shape,
    read_plane,
    to_network,
    window_of,
)
from paramops.models.symmetry import SYMMETRIES, turn, turn_back

# Side of the square tiles of the streamed trunk, in pixels.
TILE = 1024
# Fractions of the machine's memory the defaults may use.
CACHE_FRACTION = 0.25
WHOLE_TRUNK_FRACTION = 0.125


class ModelService:
    """Run a :class:`~paramops.models.tunable.TunableNet` for interactive tuning.

    ``prepare`` runs the expensive trunk once per image (or slice of a stack)
    and keeps its features; ``render`` recomputes only the cheap head for an
    operator and parameters, for the whole image or a window of it;
    ``submit`` does the same asynchronously, dropping requests that a newer
    one made obsolete. Hosts (the napari plugin, the command line, scripts)
    never touch torch. Every method may be called from any thread.

    Parameters
    ----------
    model : str, ParamModel or None
        None: the shipped default model. A str: a shipped model's name or a
        checkpoint path, for :func:`paramops.load_model`. A
        :class:`~paramops.models.ParamModel` is used as is (copied if
        ``device`` asks for another device). Other architectures than
        ``tunable`` (``decoupled``, ``paramchannel``) work too, but every
        render runs the whole network on the whole plane: nothing to cache,
        nothing tiled.
    device : str or torch.device, optional
        Where the network runs and the features live. Default: the model's
        device (CUDA where present, else the CPU).
    cache_bytes : int, optional
        Byte budget of the feature cache; least recently used features are
        evicted beyond it (the newest are always kept). Default: a quarter
        of the device's memory.
    tile_pixels : int, optional
        Planes with more pixels run the trunk tile by tile
        (:func:`paramops.service.trunk.trunk_streamed`), with memory bounded
        by the tile rather than the image, and keep their largest feature
        (``fixed``, or ``h`` when all of conv19 is tuned) in float16.
        Default: the largest plane whose whole-image trunk needs at most an
        eighth of the device's memory (about 5 megapixels at width 32 on 24
        GB).
    tile : int
        Side of the trunk's tiles, in pixels.

    Examples
    --------
    One image::

        service = paramops.ModelService()
        service.prepare("photo", image)                # the trunk: seconds
        out = service.render("photo", "l0", lam=0.02)  # the head: milliseconds
        window = service.render("photo", "l0", (slice(0, 256), slice(0, 256)), lam=0.05)

    A stack, one slice live, then all of it::

        service.prepare("cells", stack, index=(12,))
        live = service.render("cells", "wls", lam=2.0)
        result = service.apply(stack, "wls", lam=2.0, progress=print)
    """

    def __init__(
        self,
        model: str | os.PathLike | ParamModel | None = None,
        device: str | torch.device | None = None,
        cache_bytes: int | None = None,
        *,
        tile_pixels: int | None = None,
        tile: int = TILE,
    ) -> None:
        self._model = _resolve_model(model, device)
        net = self._model.net
        self.device = self._model.device
        self.tile = _positive("tile", tile)
        memory = _device_memory(self.device)
        self._cache = FeatureCache(int(memory * CACHE_FRACTION) if cache_bytes is None else cache_bytes)
        if tile_pixels is None:
            per_pixel = max(1, trunks.whole_bytes(net, 1) if isinstance(net, TunableNet) else 0)
            tile_pixels = max(self.tile * self.tile, int(memory * WHOLE_TRUNK_FRACTION) // per_pixel)
        self.tile_pixels = _positive("tile_pixels", tile_pixels)
        self._head = make_head(net, self.device)
        self._queue = RenderQueue()

    # -- what it runs ---------------------------------------------------------------------

    @property
    def model(self) -> ParamModel:
        """The model: its ``encoding``, ``operators``, ``config`` and ``meta``."""
        return self._model

    @property
    def operators(self) -> tuple[str, ...]:
        """The operators the model covers, in registry order."""
        from paramops.operators.registry import operators

        covered = set(self._model.operators)
        return tuple(name for name in operators() if name in covered)

    def __repr__(self) -> str:
        info = self.cache_info()
        return (f"ModelService(arch={self._model.config['arch']!r}, operators={len(self._model.operators)}, "
                f"device={str(self.device)!r}, cache={info['entries']} entries, {info['bytes'] / 2**20:.0f} MiB)")

    # -- features ---------------------------------------------------------------------------

    def prepare(
        self,
        key: Hashable,
        image,
        *,
        rgb: bool | None = None,
        index: tuple[int, ...] = (),
        progress: ProgressFn | None = None,
        cancel: CancelArg = None,
    ) -> None:
        """Run the trunk on one plane of ``image`` and keep its features under ``key``.

        Returns at once when features of exactly this data are held.

        Parameters
        ----------
        key : hashable
            The caller's name for the image (e.g. a layer id).
        image : array, shape (..., Y, X) or (..., Y, X, C)
            numpy, dask or any array that slices like numpy; uint8, uint16 or
            float; gray, RGB or RGBA (C = 1, 3 or 4). Never modified.
        rgb : bool, optional
            Whether the last axis holds channels. Default: True when
            ``image.ndim >= 3`` and it has 3 or 4 entries.
        index : tuple of int
            The plane's position along the leading axes, () for a 2-D image.
        progress : callable, optional
            Called with the fraction done, in [0, 1].
        cancel : callable or threading.Event, optional
            Polled during the trunk; when true, :class:`Cancelled` is raised
            and nothing is stored.

        Raises
        ------
        ValueError
            Unusable image, index or key.
        Cancelled
            ``cancel`` turned true.
        """
        key = _check_key(key)
        report = Progress(progress, cancel)
        check_array(image)
        rgb = infer_rgb(tuple(image.shape), rgb)
        index = check_index(index, leading_shape(tuple(image.shape), rgb))
        ticket = self._cache.ticket()
        report.check()
        plane = read_plane(image, index)
        digest = fingerprint(plane, rgb)
        if self._cache.lookup(key, index, digest):
            report(1.0)
            return
        entry = self._entry(plane, digest, ticket, report)
        _, evicted = self._cache.put(key, index, entry)
        del entry
        self._free(evicted)
        report(1.0)

    def _entry(self, plane: np.ndarray, digest: str, ticket: int, report: Progress) -> Entry:
        x, layout = to_network(plane, self.device)
        return Entry(self._features(x, report), layout, digest, ticket)

    def _features(self, x: torch.Tensor, report: Progress) -> TrunkFeatures:
        net = self._model.net
        if not isinstance(net, TunableNet):
            return TrunkFeatures(x, {}, tuple(x.shape[-2:]))  # no trunk: the head is the whole network
        x = net.positioned(x)
        with torch.inference_mode():
            if net.norm_windows:
                features = trunks.trunk_windowed(net, x, report.check, report)
            elif x.shape[-2] * x.shape[-1] <= self.tile_pixels:
                features = trunks.trunk_whole(net, x, report.check, report)
            else:
                # The band head converts each band it reads; the others would compute in float16.
                storage = torch.float16 if isinstance(self._head, BandHead) else torch.float32
                features = trunks.trunk_streamed(net, x, tile=self.tile, check=report.check, progress=report,
                                                 storage_dtype=storage)
            return self._head.adapt(features)

    def release(self, key: Hashable) -> None:
        """Drop every feature of ``key`` (all slices) and free their memory (GPU memory too).

        Renders of ``key`` still waiting in the :meth:`submit` queue are cancelled.
        """
        key = _check_key(key)
        self._queue.cancel(lambda lane: lane[0] == key)
        self._free(self._cache.release(key))

    def clear(self) -> None:
        """Drop all features."""
        self._queue.cancel()
        self._free(self._cache.clear())

    def cache_info(self) -> dict:
        """``{"bytes": held, "budget": budget, "entries": count}``."""
        return self._cache.info()

    def _free(self, entries: list[Entry]) -> None:
        if entries and self.device.type == "cuda":
            entries.clear()
            torch.cuda.empty_cache()

    # -- the head ----------------------------------------------------------------------------

    def render(self, key: Hashable, op: str, region=None, *, index: tuple[int, ...] | None = None,
               **params: float) -> np.ndarray:
        """The plane prepared under ``key`` as operator ``op`` with ``params``: the head only.

        Parameters
        ----------
        key : hashable
            As given to :meth:`prepare`.
        op : str
            One of :attr:`operators`.
        region : (slice, slice) or (y0, y1, x0, x1), optional
            Compute only this window (image coordinates, step 1); the result
            equals the same window of the full render. Cost is in proportion
            to the window's area.
        index : tuple of int, optional
            Which prepared slice; default the one prepared last for ``key``.
        **params : float
            The operator's parameters in registry units; missing ones take
            their defaults.

        Returns
        -------
        ndarray
            The plane's (or window's) shape, dtype and value range: (Y, X) or
            (Y, X, C).

        Raises
        ------
        ValueError
            ``key`` (at ``index``) was not prepared, or was released or
            evicted; unknown operator or bad parameters; bad region.
        """
        key = _check_key(key)
        p = self._model.encode(op, **params)
        index, entry = self._cache.get(key, None if index is None else tuple(index))
        return self._render(entry, p, window_of(region, entry.size))

    def _render(self, entry: Entry, p: torch.Tensor, window: Window) -> np.ndarray:
        writer = OutputWriter(entry.layout)
        out = writer.allocate(window)
        y0, _, x0, _ = window

        def sink(values: torch.Tensor, part: Window) -> None:
            writer.write(values, out[part[0] - y0 : part[1] - y0, part[2] - x0 : part[3] - x0])

        with torch.inference_mode():
            self._head.render(entry.features, p, window, sink)
        return out

    def submit(
        self,
        key: Hashable,
        op: str,
        region=None,
        *,
        index: tuple[int, ...] | None = None,
        callback: Callable[[np.ndarray], None] | None = None,
        **params: float,
    ) -> Future:
        """:meth:`render` on the service's worker thread, coalesced.

        A request replaces the one still waiting for the same key, slice and
        region (whose future is cancelled); the worker takes requests oldest
        first, so results arrive in request order and a stale result never
        lands after a newer one. ``callback(result)`` runs on the worker
        thread before the future completes. Checks ``op``, ``params`` and
        ``region`` at once (ValueError); a missing key raises here too.

        Returns
        -------
        concurrent.futures.Future
            Resolves to the rendered array; cancelled when superseded.
        """
        key = _check_key(key)
        p = self._model.encode(op, **params)
        index, entry = self._cache.get(key, None if index is None else tuple(index))
        window = window_of(region, entry.size)
        lane = (key, index, None if region is None else window)

        def render() -> np.ndarray:
            _, current = self._cache.get(key, index)  # the features held now, not those at submit time
            return self._render(current, p, window_of(region, current.size))

        del entry
        return self._queue.submit(lane, render, callback)

    # -- whole arrays ------------------------------------------------------------------------

    def apply(self, image, op: str, *, rgb: bool | None = None, self_ensemble: bool = False,
              progress: ProgressFn | None = None, cancel: CancelArg = None, **params: float) -> np.ndarray:
        """Run ``op`` on every plane of ``image``; nothing is cached.

        Parameters
        ----------
        image : array, shape (..., Y, X) or (..., Y, X, C)
            As for :meth:`prepare`; dask arrays are computed plane by plane.
        op, params
            As for :meth:`render`.
        self_ensemble : bool
            Run each plane under its eight rotations and transposes and return
            the mean of the eight results, turned back and averaged before
            rounding to the image's dtype. Eight times the work, for a little
            more fidelity (``docs/results.md``, "Self-ensembling"); not for
            live tuning.
        rgb, progress, cancel
            As for :meth:`prepare`; progress covers the whole stack.

        Returns
        -------
        ndarray
            ``image``'s shape and dtype (a numpy array, also for dask input).
            Planes too large for a whole-image trunk run tile by tile.
        """
        report = Progress(progress, cancel)
        check_array(image)
        p = self._model.encode(op, **params)
        rgb = infer_rgb(tuple(image.shape), rgb)
        leading = leading_shape(tuple(image.shape), rgb)
        planes = list(np.ndindex(*leading))
        out = None
        for number, index in enumerate(planes):
            report.check()
            plane = read_plane(image, index)
            step = Progress(report.part(number / len(planes), (number + 1) / len(planes)), cancel)
            result = self._ensembled(plane, p, step, cancel) if self_ensemble else self._once(plane, p, step)
            if out is None:
                out = np.empty(tuple(image.shape), dtype=result.dtype)
            out[index] = result
            report((number + 1) / len(planes))
        return out

    def _once(self, plane: np.ndarray, p: torch.Tensor, report: Progress) -> np.ndarray:
        entry = self._entry(plane, "", 0, report)
        return self._render(entry, p, window_of(None, entry.size))

    def _ensembled(self, plane: np.ndarray, p: torch.Tensor, report: Progress, cancel: CancelArg) -> np.ndarray:
        """The mean of the plane's results under its eight symmetries, in working values, then rounded once."""
        x, layout = to_network(plane, self.device)
        positioned = self._model.net.positioned(x)  # before turning: a pixel's fields turn with it
        with torch.inference_mode():
            total = torch.zeros_like(x[0])
            for k in range(SYMMETRIES):
                step = Progress(report.part(k / SYMMETRIES, (k + 1) / SYMMETRIES), cancel)
                features = self._features(turn(positioned, k).contiguous(), step)
                total += turn_back(self._working(features, p), k)
                del features
            writer = OutputWriter(layout)
            out = writer.allocate(window_of(None, tuple(x.shape[-2:])))
            writer.write(total.div_(SYMMETRIES), out)
        return out

    def _working(self, features: TrunkFeatures, p: torch.Tensor) -> torch.Tensor:
        """The head's whole output in working values, (3, Y, X) clipped to [0, 1], as the writer would clip it."""
        values = torch.empty((3, *features.size), device=self.device)

        def sink(part_values: torch.Tensor, part: Window) -> None:
            with torch.inference_mode():  # the head's worker threads start outside it
                values[:, part[0] : part[1], part[2] : part[3]] = part_values.clamp(0.0, 1.0)

        self._head.render(features, p, window_of(None, features.size), sink)
        return values


def _resolve_model(model, device) -> ParamModel:
    if model is None or isinstance(model, (str, os.PathLike)):
        from paramops.models.checkpoint import load_model

        return load_model("default" if model is None else model, device=device)
    if not isinstance(model, ParamModel):
        raise ValueError(f"model must be None, a model name or path, or a ParamModel; got {type(model).__name__}")
    if device is not None and torch.device(device) != model.device:
        return ParamModel(copy.deepcopy(model.net), model.encoding, meta=model.meta, device=device)
    return model


def _check_key(key: Hashable) -> Hashable:
    try:
        hash(key)
    except TypeError:
        raise ValueError(f"key must be hashable (a str, int, tuple, ...), got {type(key).__name__}") from None
    return key


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _device_memory(device: torch.device) -> int:
    """Total memory of ``device`` in bytes (the machine's RAM for the CPU)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30

