"""A network on a plane too large to hold, tile by tile, equal to the whole-plane run.

Every paramops network is a program of ops run by
:func:`~paramops.models.base.run_ops`. A tile run with a halo as wide as the
receptive field of the ops it runs gives, inside the tile, what a whole-plane
run gives (see :mod:`paramops.models.tiling`), except for instance norm,
whose statistics are those of the whole plane. Norm ``k``'s statistics depend
on the whole-plane output of everything before it, so they are gathered in
order, one pass per norm (what :meth:`TunableNet.trunk_statistics` does on a
tensor in memory):

1. for each norm ``k`` in order, for each tile independently: run the ops
   before norm ``k`` on the tile and its halo with the statistics of norms
   ``1 .. k-1``; keep (count, mean, sum of squared deviations) of the tile's
   interior (:meth:`ChunkPlan.moments`); merge the tiles' moments in float64
   (:func:`merge_moments`, Chan et al.'s pairwise update);
2. for each output tile independently: run the whole network on it and its
   halo with every statistic known (:meth:`ChunkPlan.render`).

The plane's intensity mapping (its value range) is gathered the same way
beforehand (:mod:`paramops.service.percentiles`), and so are the extremes
of the maps of a network's image fields (:mod:`paramops.operators.fields`). Only the summation order of
the statistics differs from a whole-plane run, so the output matches it to
float rounding. Planes of at most ``WHOLE_TILES`` tiles run in one piece
(:meth:`ChunkPlan.render` without statistics), being cheaper whole.

One exception: a Laplacian bank (:mod:`paramops.models.bank`) is a pyramid
of the whole image down to one pixel, which no plane too large to hold has.
A tile computes it from the block its run reads (the tile and its halo), so
the operators that read a bank (the default's ``llf`` and ``llf_remap``)
differ from a whole-plane run in their coarsest levels on planes of more than
``WHOLE_TILES`` tiles; every other operator reads no bank and matches.

Cost: pass ``k`` runs the ops before norm ``k``, so the statistics take about
``n_norms / 2`` network passes (the paper's network: 19 norms, about 9), each
tile being larger by its halo (the paper's dilations: 180 pixels a side at
most). Memory: one tile with its halo per running task; nothing the size of
the plane.

The methods take numpy blocks of the plane, read by the caller, and return
small numpy results or output blocks in the plane's dtype; a
:class:`ChunkPlan` pickles with its network, so any scheduler can
run them on any machine. :mod:`paramops.batch` builds the dask graphs.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from paramops.image import Layout, check_image
from paramops.models.base import Norm, receptive_radius, run_ops, scales_of
from paramops.models.layers import Stats
from paramops.models.tiling import Window, even_up, inner, tile_windows
from paramops.models.wrapper import ParamModel, default_device
from paramops.operators.fields import IMAGE_FIELDS, field_map, gain_of_extremes, is_image_field
from paramops.operators.registry import get_operator
from paramops.service.slices import OutputWriter, mapped_range, to_network
from paramops.service.trunk import _input_crop

# Side of the square tiles, in pixels.
TILE = 1024
# Planes of at most this many tiles' pixels run whole, in one task.
WHOLE_TILES = 4

StatsArrays = dict[str, tuple[np.ndarray, np.ndarray]]  # norm name -> (mean, var), float32 (1, C)


@dataclass(frozen=True)
class Moments:
    """Count, per-channel mean and sum of squared deviations of one tile's values (float64)."""

    count: int
    mean: np.ndarray
    m2: np.ndarray


def merge_moments(parts: list[Moments]) -> tuple[np.ndarray, np.ndarray]:
    """The (mean, variance) of the union of tiles, as float32 (1, C), like :func:`instance_stats`."""
    count, mean, m2 = 0, 0.0, 0.0
    for part in parts:
        total = count + part.count
        delta = part.mean - mean
        mean = mean + delta * (part.count / total)
        m2 = m2 + part.m2 + delta * delta * (count * part.count / total)
        count = total
    return np.asarray(mean, np.float32)[None], np.asarray(m2 / count, np.float32)[None]


@dataclass(frozen=True)
class PlaneStatistics:
    """What a plane's output tiles need from the whole plane: its value range, every norm's statistics,
    for a network with a tone head its luminance level counts (256, float64; :mod:`paramops.models.tone`)
    and for one with image fields their gains (:mod:`paramops.operators.fields`), in the network's order."""

    value_range: tuple[float, float]
    norms: StatsArrays
    levels: np.ndarray | None = None
    gains: tuple[float, ...] = ()


class _PlaneView:
    """A block of the plane's network image, positioned ((1, 3 + fields, h, w)), addressed in plane coordinates.

    :func:`paramops.service.trunk._input_crop` reads only ``shape``, ``device``
    and ``x[..., rows, cols]``, so it builds the network input of any crop
    from a block that covers the crop and one pixel (two at the odd edge) around it.
    """

    def __init__(self, x: torch.Tensor, origin: tuple[int, int], size: tuple[int, int]) -> None:
        self.x, self.origin, self.size = x, origin, size

    @property
    def shape(self) -> tuple[int, ...]:
        return (*self.x.shape[:2], *self.size)

    @property
    def device(self) -> torch.device:
        return self.x.device

    def __getitem__(self, key) -> torch.Tensor:
        _, rows, cols = key
        (oy, ox), (h, w) = self.origin, self.x.shape[-2:]
        if not (oy <= rows.start and rows.stop <= oy + h and ox <= cols.start and cols.stop <= ox + w):
            raise ValueError(f"rows {rows} x cols {cols} are outside the block read at {self.origin}")
        return self.x[..., rows.start - oy : rows.stop - oy, cols.start - ox : cols.stop - ox]


@dataclass
class _Runtime:
    """The network on this process's device, with the weights for the plan's parameters."""

    device: torch.device
    net: torch.nn.Module
    weights: Mapping[str, torch.Tensor]
    affines: Mapping[str, tuple[torch.Tensor, torch.Tensor]]
    param_planes: torch.Tensor | None  # ParamChannelNet: the parameter vector as input channels
    predicted: Mapping[str, torch.Tensor]  # TunableNet: what the predictor gives (the tone head's part)

    def stats(self, arrays: StatsArrays) -> dict[str, Stats]:
        return {name: (torch.from_numpy(m).to(self.device), torch.from_numpy(v).to(self.device))
                for name, (m, v) in arrays.items()}


def _program(net: torch.nn.Module, p: torch.Tensor):
    """(weights, affines, parameter planes, predicted) with which ``run_ops(net.ops, ...)`` is ``net.forward``."""
    from paramops.models.decoupled import DecoupledNet
    from paramops.models.paramchannel import ParamChannelNet
    from paramops.models.tunable import TunableNet

    if isinstance(net, TunableNet):
        predicted = net.predict(p)
        return net._assembled(net._weights(predicted)), net._affines(predicted), None, predicted
    affines = {name: (net.norm_scale[name], net.norm_shift[name]) for name in net.norm_scale}
    if isinstance(net, DecoupledNet):
        return net.predictor(p), affines, None, {}
    if isinstance(net, ParamChannelNet):
        return net.convs, affines, p, {}
    raise ValueError(f"no chunked program for {type(net).__name__}; use a TunableNet, DecoupledNet or ParamChannelNet")


# Chunks of one process run one at a time when torch already spreads one over
# several threads (or runs on a GPU); with one thread per process (dask.distributed
# workers set OMP_NUM_THREADS=1), the scheduler's threads run side by side.
_TORCH_LOCK = threading.Lock()


def _torch_slot(device: torch.device):
    if device.type != "cpu" or torch.get_num_threads() > 1:
        return _TORCH_LOCK
    return contextlib.nullcontext()


class ChunkPlan:
    """One network, operator and parameter vector on planes of one shape and dtype, tile by tile.

    Parameters
    ----------
    model : ParamModel
        Any paramops network (TunableNet, DecoupledNet, ParamChannelNet).
    op : str
        An operator the model covers.
    params : mapping of str to float
        Its parameters in registry units (checked; missing ones take defaults).
    shape : tuple of int
        The plane's shape, (Y, X) or (Y, X, C) with C in 1, 3, 4.
    dtype : numpy dtype
        uint8, uint16 or a float type.
    tile : int
        Side of the square tiles in pixels (rounded up to even).

    The network runs on the worker's default device (CUDA where present);
    the plan holds a CPU copy, so it pickles anywhere.
    """

    def __init__(self, model: ParamModel, op: str, params: Mapping[str, float], *, shape: tuple[int, ...],
                 dtype, tile: int = TILE) -> None:
        if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 16:
            raise ValueError(f"tile must be an integer of at least 16 pixels, got {tile!r}")
        if len(shape) not in (2, 3) or min(shape[:2]) < 2:
            raise ValueError(f"a plane must be (Y, X) or (Y, X, C) and at least 2x2 pixels, got {tuple(shape)}")
        check_image(np.zeros((2, 2, *shape[2:]), dtype=dtype))  # dtype and channels, with the usual messages
        self.p = np.asarray(model.encoding.encode(op, dict(params)), dtype=np.float32)  # checks op and params
        self.op, self.params = op, get_operator(op).resolve(params)
        net = model.net
        self.net = net if next(net.parameters()).device.type == "cpu" else copy.deepcopy(net).cpu()
        with torch.no_grad():
            _program(self.net, torch.from_numpy(self.p)[None])  # refuse an unknown architecture now
        self.encoding = model.encoding
        self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        self.tile = even_up(int(tile))
        height, width = self.shape[:2]
        self.padded = (height + height % 2, width + width % 2)
        # norm_windows: statistics are each window's, so no passes; a tile runs on the windows around it.
        self.windowed = bool(getattr(self.net, "norm_windows", None))
        # A tone head ranks each pixel in the whole plane: one pass counts its luminance levels.
        self.toned = bool(getattr(self.net, "tone_curve", 0))
        # Image fields scale edges by a range over the whole plane: one pass finds each map's extremes.
        self.scaled = tuple(name for name in self.net.fields if is_image_field(name))
        self.norms = [] if self.windowed else [i for i, op in enumerate(self.net.ops) if isinstance(op, Norm)]
        self._scales = scales_of(self.net.ops)
        self._lock = threading.Lock()
        self._runtime: _Runtime | None = None
        self._fingerprint: str | None = None

    # -- geometry ---------------------------------------------------------------------------

    @property
    def whole(self) -> bool:
        """True when the plane runs in one piece (at most ``WHOLE_TILES`` tiles' pixels)."""
        return self.shape[0] * self.shape[1] <= WHOLE_TILES * self.tile * self.tile

    def norm_name(self, norm: int) -> str:
        return self.net.ops[norm].name

    def halo(self, stop: int | None = None) -> int:
        """Receptive radius (even) of the ops before op ``stop`` (None: the whole network)."""
        return even_up(receptive_radius(self.net.ops[:stop]))

    def tiles(self) -> list[Window]:
        """The output tiles: a grid of ``tile``-sided windows over the plane, row by row."""
        return [window for window, _ in tile_windows(*self.shape[:2], self.tile, 0)]

    def statistics_tiles(self, norm: int) -> list[tuple[Window, Window]]:
        """(tile, crop) pairs of the pass for norm op ``norm``, over the padded plane that the norms see."""
        return list(tile_windows(*self.padded, self.tile, self.halo(norm)))

    def span(self, crop: Window) -> Window:
        """The block of the plane whose pixels the network input on ``crop`` (padded coordinates) reads."""
        height, width = self.shape[:2]
        # One pixel around for the edge map; reflecting the padding row adds one more at the odd edge.
        return max(0, crop[0] - 2), min(height, crop[1] + 1), max(0, crop[2] - 2), min(width, crop[3] + 1)

    def field_span(self, window: Window) -> Window:
        """The block of the plane from which :meth:`field_extremes` reads tile ``window``'s maps."""
        height, width = self.shape[:2]
        reach = max(IMAGE_FIELDS[name].radius for name in self.scaled)
        y0, y1, x0, x1 = window
        return max(0, y0 - reach), min(height, y1 + reach), max(0, x0 - reach), min(width, x1 + reach)

    def render_crop(self, window: Window) -> tuple[Window, Window]:
        """(core, crop) for output tile ``window``: the padded core covering it and the core with its halo.

        With ``norm_windows``: the tile itself and the windows it needs
        (:meth:`TunableNet.window_span`).
        """
        if self.windowed:
            return window, self.net.window_span(window, self.shape[:2])
        y0, y1, x0, x1 = window
        hp, wp = self.padded
        core = (y0, min(y1 + y1 % 2, hp), x0, min(x1 + x1 % 2, wp))
        if core[0] % 2 or core[2] % 2:
            raise ValueError(f"output tiles must start on even pixels, got {window}")
        halo = self.halo()
        return core, (max(0, core[0] - halo), min(hp, core[1] + halo), max(0, core[2] - halo), min(wp, core[3] + halo))

    @property
    def has_alpha(self) -> bool:
        return len(self.shape) == 3 and self.shape[2] == 4

    # -- computing ------------------------------------------------------------------------------

    def _network(self) -> _Runtime:
        with self._lock:
            if self._runtime is None:
                device = default_device()
                net = self.net if device.type == "cpu" else copy.deepcopy(self.net).to(device)
                with torch.inference_mode():
                    program = _program(net, torch.from_numpy(self.p)[None].to(device))
                self._runtime = _Runtime(device, net, *program)
            return self._runtime

    def _input(self, rt: _Runtime, view: _PlaneView, crop: Window) -> torch.Tensor:
        inp = _input_crop(view, crop)
        if rt.param_planes is not None:
            planes = rt.param_planes[:, :, None, None].expand(1, -1, *inp.shape[-2:])
            inp = torch.cat([inp, planes.to(inp.dtype)], dim=1)
        return inp

    def _view(self, rt: _Runtime, block: np.ndarray, origin: tuple[int, int],
              value_range: tuple[float, float], gains: tuple[float, ...] | None) -> _PlaneView:
        """The block positioned; ``gains``: the plane's image-field gains, None for a block that is the plane."""
        x, _ = to_network(block, rt.device, value_range)
        return _PlaneView(rt.net.positioned(x, tuple(origin), gains), tuple(origin), self.shape[:2])

    def moments(self, block: np.ndarray, origin: tuple[int, int], window: Window, crop: Window, norm: int,
                statistics: StatsArrays, value_range: tuple[float, float], gains: tuple[float, ...] = ()) -> Moments:
        """Moments of norm op ``norm``'s input over tile ``window``, from the block covering ``span(crop)``.

        ``statistics`` holds every norm before ``norm``; ``origin`` is the
        block's top-left pixel in the plane; ``gains`` the plane's image-field
        gains (:meth:`plane_gains`).
        """
        rt = self._network()
        with _torch_slot(rt.device), torch.inference_mode():
            view = self._view(rt, block, origin, value_range, gains)
            h, _ = run_ops(self.net.ops[:norm], self._input(rt, view, crop), (), rt.weights, rt.affines,
                           norm_stats=rt.stats(statistics))
            part = inner(h, window, crop, self._scales[norm])
            count = part.shape[-2] * part.shape[-1]
            var, mean = torch.var_mean(part, dim=(2, 3), correction=0)
            mean, m2 = mean[0].double().cpu().numpy(), (var[0].double() * count).cpu().numpy()
        return Moments(count, mean, m2)

    def levels(self, block: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
        """How many pixels of ``block`` are at each of the network image's 256 luminance levels (float64)."""
        from paramops.models.tone import level_counts

        rt = self._network()
        with _torch_slot(rt.device), torch.inference_mode():
            x, _ = to_network(block, rt.device, value_range)
            return level_counts(x)[0].cpu().numpy()

    def field_extremes(self, block: np.ndarray, origin: tuple[int, int], window: Window,
                       value_range: tuple[float, float]) -> np.ndarray:
        """(image fields, 2) float64: the low and high of each image field's map over tile ``window``, from
        the block covering ``field_span(window)`` and starting at ``origin``."""
        rt = self._network()
        with _torch_slot(rt.device), torch.inference_mode():
            x, _ = to_network(block, rt.device, value_range)
        rgb = x[0].permute(1, 2, 0).cpu().numpy()
        (y0, y1, x0, x1), (oy, ox) = window, origin
        maps = [field_map(name, rgb)[y0 - oy : y1 - oy, x0 - ox : x1 - ox] for name in self.scaled]
        return np.array([[float(m.min()), float(m.max())] for m in maps])

    def plane_gains(self, extremes: list[np.ndarray]) -> tuple[float, ...]:
        """The plane's image-field gains from its tiles' :meth:`field_extremes`."""
        stacked = np.stack(extremes)
        return tuple(gain_of_extremes(name, float(stacked[:, i, 0].min()), float(stacked[:, i, 1].max()))
                     for i, name in enumerate(self.scaled))

    def render(self, block: np.ndarray, origin: tuple[int, int], window: Window,
               statistics: PlaneStatistics | None) -> np.ndarray:
        """The output of tile ``window`` (plane coordinates), in the plane's dtype and layout.

        ``block`` covers ``span(render_crop(window)[1])``, starting at
        ``origin``. With ``statistics`` None, ``block`` and ``window`` must be
        the whole plane, which then runs in one piece with its own statistics.
        """
        rt = self._network()
        if statistics is None:
            height, width = self.shape[:2]
            if tuple(origin) != (0, 0) or block.shape[:2] != (height, width) or window != (0, height, 0, width):
                raise ValueError("without statistics, the block and the window must be the whole plane")
            mapped, norms, gains = mapped_range(block), {}, None
        else:
            mapped, norms, gains = statistics.value_range, statistics.norms, statistics.gains
        y0, y1, x0, x1 = window
        core, crop = self.render_crop(window)
        oy, ox = origin
        with _torch_slot(rt.device), torch.inference_mode():
            view = self._view(rt, block, origin, mapped, gains)
            # A tone head's histogram: the whole plane's own, or summed from its tiles' level counts.
            cdf = None
            if self.toned and statistics is None:
                cdf = rt.net.image_context(view.x)
            elif self.toned:
                from paramops.models.tone import cdf_of_counts

                cdf = cdf_of_counts(torch.from_numpy(statistics.levels)[None]).to(rt.device, view.x.dtype)
            if self.windowed:
                c0, c1, d0, d1 = crop
                features = rt.net.trunk_windows(view[..., c0:c1, d0:d1])
                features.cdf = cdf
                p = torch.from_numpy(self.p)[None].to(rt.device)
                values = rt.net.head(features, p, region=(y0 - c0, y1 - c0, x0 - d0, x1 - d0))[0]
            else:
                h, _ = run_ops(self.net.ops, self._input(rt, view, crop), (), rt.weights, rt.affines,
                               norm_stats=rt.stats(norms))
                values = inner(h, core, crop, 1)[0, :, : y1 - y0, : x1 - x0]
                if self.net.residual:
                    image = rt.net.residual_image(view[..., y0:y1, x0:x1])
                    values = values + rt.net.residual_base(image, cdf, rt.predicted)[0]
                else:
                    values = values + 0.5
            alpha = block[y0 - oy : y1 - oy, x0 - ox : x1 - ox, 3] if self.has_alpha else None
            layout = Layout(self.dtype, (y1 - y0, x1 - x0, *self.shape[2:]), *mapped, alpha)
            writer = OutputWriter(layout)
            out = writer.allocate((0, y1 - y0, 0, x1 - x0))
            writer.write(values, out)
        return out

    # -- identity --------------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """A digest of everything the output depends on: weights, parameter vector, plane shape, dtype, tiles."""
        if self._fingerprint is None:
            from paramops.models.checkpoint import weights_digest

            digest = hashlib.sha256(weights_digest(self.net, self.encoding).encode())
            digest.update(json.dumps([self.op, self.params, self.shape, self.dtype.str, self.tile]).encode())
            digest.update(self.p.tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def __dask_tokenize__(self) -> str:
        return self.fingerprint

    def __getstate__(self) -> dict:
        # The lock and the device-side runtime belong to one process; the network pickles as is.
        return {**self.__dict__, "_lock": None, "_runtime": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"ChunkPlan({self.net.config['arch']!r}, op={self.op!r}, plane={self.shape} {self.dtype}, "
                f"tile={self.tile}, {'whole' if self.whole else f'{len(self.norms)} statistics passes'})")
