"""The trunk of a :class:`~paramops.models.tunable.TunableNet`, whole or streamed tile by tile.

Whole (:func:`trunk_whole`): :meth:`TunableNet.trunk` run in stages, checking
for cancellation and reporting progress between them; the features are the
same tensors, bit for bit.

Streamed (:func:`trunk_streamed`), for planes too large to run whole. Instance
norm needs statistics over the whole image, so tiles cannot simply be run
independently. The trunk is cut at *checkpoints*: the ends of the residual
blocks (and of the layers before them), where no residual block is open and
the activations are at half resolution. A long skip (``skip: true``) stays
open across them; each tile recomputes its input, two full-resolution convs
from the image, rather than keeping a full-resolution tensor of every
channel. For each stage between two checkpoints:

1. for each instance norm of the stage, in order, run every tile from the
   stage's input up to that norm, using the statistics already known, and
   accumulate the norm's sums over the tile's interior (in float64);
2. run every tile through the whole stage with the now complete statistics
   and paste its interior into the next checkpoint.

Each tile carries a halo as wide as the stage's receptive field, so its
interior equals the whole-image computation; only the summation order of the
statistics differs, so the result matches :func:`trunk_whole` to float
rounding. Each stage costs its own convolutions a few times over (not the
trunk from the start, as :meth:`TunableNet.trunk_statistics` does), about 2.3
trunk passes in all for the paper's network, and the halos are those of one
stage (at most 64 pixels), not of the whole trunk.

Memory, for an image of P pixels and a trunk of width C: two checkpoints of C
channels at half resolution (2 * C bytes per pixel in float32), the features
being built, the float32 input image (12 bytes per pixel), and the work of
one tile with its halo; see :func:`streamed_bytes`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from paramops.models.base import RELU, Conv, Norm, open_pushes, run_ops, scales_of
from paramops.models.features import TrunkFeatures
from paramops.models.layers import SliceMoments, network_input, pad_even
from paramops.models.tiling import Window, even_up, inner, paste, tile_windows
from paramops.models.tunable import TunableNet
from paramops.service.workers import ordered_map

ProgressFn = Callable[[float], None]
# Largest magnitude stored in float16 (its maximum is 65504).
FLOAT16_MAX = 60000.0


def checkpoints(net: TunableNet) -> list[int]:
    """Op indices before the tuned layer where the trunk can be cut.

    After a ReLU, at the lowest resolution, with no residual block open; a
    long skip opened at full resolution may be, because a tile recomputes its
    input (:func:`_open_skips`).
    """
    ops = net.ops[: net.split]
    if not ops:
        return []
    scales, opened = scales_of(net.ops), open_pushes(net.ops)
    coarsest = max(scales[: net.split + 1])
    return [i for i in range(1, net.split)
            if ops[i - 1] is RELU and scales[i] == coarsest and all(scales[p] == 1 for p in opened[i])]


def _stages(net: TunableNet) -> list[tuple[int, int]]:
    cuts = checkpoints(net)
    return list(zip([0, *cuts], [*cuts, net.split]))


def _uses_open_skips(net: TunableNet, start: int, stop: int) -> bool:
    """Whether ``ops[start:stop]`` needs the residual inputs open at ``start``.

    It does when it adds one of them, or when it ends at the tuned layer with
    one open: the features keep it for the head.
    """
    opened = open_pushes(net.ops)
    if stop == net.split and opened[start]:
        return True
    # An ADD at op i closes one of them when fewer are open in front of op i + 1.
    return any(len(opened[i]) < len(opened[start]) for i in range(start + 1, stop + 1))


def _skip_radius(net: TunableNet, start: int, stop: int) -> int:
    """The extra halo ``ops[start:stop]`` needs to recompute the skips it uses (:func:`_open_skips`)."""
    if not _uses_open_skips(net, start, stop):
        return 0
    return _radius(net, 0, open_pushes(net.ops)[start][-1])


def _open_skips(net: TunableNet, x: torch.Tensor, crop: Window, start: int, stats) -> tuple[torch.Tensor, ...]:
    """The residual inputs open at op ``start`` over ``crop``, recomputed from the image.

    Only long skips opened at full resolution are open at a checkpoint: a few
    convolutions from the input, cheaper than keeping a full-resolution
    tensor of every channel for a large image, and run only for the stage that
    uses them. Exact inside ``crop`` but for a border of
    :func:`_skip_radius` pixels, which that stage's halo covers.
    """
    opened = open_pushes(net.ops)[start]
    if not opened:
        return ()
    _, skips = run_ops(net.ops[: opened[-1] + 1], _input_crop(x, crop), (), net.convs, net._affines(None),
                       norm_stats=stats)
    return skips


def trunk_whole(net: TunableNet, x: torch.Tensor, check: Callable[[], None], progress: ProgressFn) -> TrunkFeatures:
    """:meth:`TunableNet.trunk` of ``x`` (1, 3, H, W), calling ``check()`` and ``progress`` between stages."""
    stages = _stages(net)
    h, skips, record = pad_even(network_input(x)), (), {}
    affines = net._affines(None)
    for number, (start, stop) in enumerate(stages[:-1]):
        check()
        h, skips = run_ops(net.ops[start:stop], h, skips, net.convs, affines, record=record)
        progress((number + 1) / len(stages))
    check()
    features = net._trunk_part(h, None, record, start=stages[-1][0], skips=skips)
    return net._complete(features, x)


def trunk_windowed(net: TunableNet, x: torch.Tensor, check: Callable[[], None], progress: ProgressFn) -> TrunkFeatures:
    """:meth:`TunableNet.trunk_windows` of ``x`` (1, 3, H, W), calling ``check()`` and ``progress`` per window.

    Memory is bounded by the activations of the windows in flight (two per
    worker) at any plane size, so there is no streamed variant; the features
    stay in float32.
    """
    def step(done: int, total: int) -> None:
        check()
        progress(done / total)

    check()
    # On the CPU the windows are shared among the workers: each is small, and from a host's thread
    # torch's own threads would take twice as long (see paramops.service.workers).
    spread = ordered_map if x.device.type == "cpu" else map
    return net.trunk_windows(x, on_window=step, map_windows=spread)


def _input_crop(x: torch.Tensor, crop: Window) -> torch.Tensor:
    """``pad_even(network_input(x))[..., y0:y1, x0:x1]`` computed from a crop of ``x`` alone."""
    height, width = x.shape[-2:]
    y0, y1, x0, x1 = crop

    def source(start: int, stop: int, n: int) -> tuple[torch.Tensor, int, int]:
        # Padded row r is row r of the image, or its reflection for the one padding row.
        index = torch.arange(start, stop, device=x.device)
        index = torch.where(index < n, index, (2 * (n - 1) - index).clamp_min(0))
        lo, hi = max(int(index.min()) - 1, 0), min(int(index.max()) + 2, n)  # +-1 for the edge map
        return index - lo, lo, hi

    rows, r0, r1 = source(y0, y1, height)
    cols, c0, c1 = source(x0, x1, width)
    part = network_input(x[..., r0:r1, c0:c1])
    return part.index_select(-2, rows).index_select(-1, cols)


def _radius(net: TunableNet, start: int, stop: int) -> int:
    """Receptive radius of ``ops[start:stop]`` in full-resolution pixels."""
    scales = scales_of(net.ops)
    return sum(op.radius * scales[i] for i, op in enumerate(net.ops[start:stop], start) if isinstance(op, Conv))


class _Statistics:
    """Whole-image instance-norm (mean, variance) from per-tile ones, combined in float64 (Chan et al.)."""

    def __init__(self) -> None:
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, part: torch.Tensor) -> None:
        n = part.shape[-2] * part.shape[-1]
        var, mean = torch.var_mean(part, dim=(2, 3), correction=0)
        mean, m2 = mean.double(), var.double() * n
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta * delta * (self.count * n / total)
        self.count = total

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mean.float(), (self.m2 / self.count).float()


def trunk_streamed(
    net: TunableNet,
    x: torch.Tensor,
    *,
    tile: int,
    check: Callable[[], None],
    progress: ProgressFn,
    storage_dtype: torch.dtype = torch.float32,
) -> TrunkFeatures:
    """The trunk of ``x`` (1, 3, H, W) stage by stage and tile by tile (see the module docstring).

    ``storage_dtype``: storage type of the largest feature, ``fixed``
    (``conv_in`` / ``conv_out``) or else ``h`` (all of conv19 tuned: its 32
    input channels); float16 halves it. The head's moments are accumulated
    from the float32 values before storage.
    """
    height, width = x.shape[-2:]
    padded = (height + height % 2, width + width % 2)
    ops, scales = net.ops, scales_of(net.ops)
    affines = net._affines(None)
    stages = _stages(net)
    windows = {start: list(tile_windows(*padded, tile, _radius(net, start, stop + 1) + _skip_radius(net, start, stop)))
               for start, stop in stages}
    split_norm = isinstance(ops[net.split], Norm)
    passes = []  # (stage start, norm index or None for the stage's output)
    for start, stop in stages:
        last = stop + 1 if stop == net.split and split_norm else stop
        passes += [(start, j) for j in range(start, last) if isinstance(ops[j], Norm)] + [(start, None)]
    total = sum(len(windows[start]) for start, _ in passes)
    done = 0
    stats: dict = {}
    state: torch.Tensor | None = None  # the last checkpoint

    def crops(start: int, stop: int):
        """Each tile's window, crop, input at ``ops[start]`` and the residual inputs ``ops[start:stop]`` uses."""
        nonlocal done
        recompute = _uses_open_skips(net, start, stop)
        for window, crop in windows[start]:
            check()
            if start == 0:
                source = _input_crop(x, crop)
            else:
                s = scales[start]
                source = state[..., crop[0] // s : crop[1] // s, crop[2] // s : crop[3] // s]
            yield window, crop, source, _open_skips(net, x, crop, start, stats) if recompute else ()
            done += 1
            progress(done / total)

    for start, stop in stages:
        for norm in [j for s, j in passes if s == start and j is not None]:
            moments = _Statistics()
            for window, crop, source, skips in crops(start, norm):
                h, _ = run_ops(ops[start:norm], source, skips, net.convs, affines, norm_stats=stats)
                moments.add(inner(h, window, crop, scales[norm]))
            stats[ops[norm].name] = moments.result()
        if stop < net.split:
            s = scales[stop]
            following = None
            for window, crop, source, skips in crops(start, stop):
                h, _ = run_ops(ops[start:stop], source, skips, net.convs, affines, norm_stats=stats)
                if following is None:
                    following = h.new_empty(*h.shape[:2], padded[0] // s, padded[1] // s)
                paste(following, inner(h, window, crop, s), window, s)
            state = following
        else:
            features = _final_stage(net, start, crops(start, stop), stats, padded, storage_dtype)
    features.size = (height, width)
    features.image = net.residual_image(x)
    features.cdf = net.image_context(x)
    return features


def _final_stage(net: TunableNet, start: int, crops, stats, padded, storage_dtype) -> TrunkFeatures:
    """Run the last stage up to the tuned layer on every tile; assemble the features (and the head's moments)."""
    scales = net._feature_scales()
    moments = SliceMoments(net.tuning_conv) if net.moment_head else None
    result: TrunkFeatures | None = None
    for window, crop, source, skips in crops:
        part = net._trunk_part(source, stats, start=start, skips=skips)
        largest = -1 if part.fixed is not None else 0  # in spatial(): fixed, else h
        if result is None:
            dtypes = [torch.float32] * len(scales)
            dtypes[largest] = storage_dtype
            result = part.with_spatial([
                t.new_empty(*t.shape[:2], padded[0] // s, padded[1] // s, dtype=dtype)
                for t, s, dtype in zip(part.spatial(), scales, dtypes)
            ])
        stored = result.spatial()
        if stored[largest].dtype == torch.float16 and part.spatial()[largest].abs().max() > FLOAT16_MAX:
            stored[largest] = stored[largest].float()  # float16 would overflow: keep float32 (rare, costs memory)
            result = result.with_spatial(stored)
        for out, t, s in zip(result.spatial(), part.spatial(), scales):
            paste(out, inner(t, window, crop, s), window, s)
        if moments is not None:
            core = (window[0] - crop[0], window[1] - crop[0], window[2] - crop[2], window[3] - crop[2])
            moments.add(part.h, part.fixed, core)
    if moments is not None:
        result.moments = moments.result()
    return result


def whole_bytes(net: TunableNet, pixels: int) -> int:
    """Rough peak bytes of :func:`trunk_whole`: three full-resolution activations (four with a long skip, which
    holds conv2's), the input, the features."""
    activations = 4 if net.config["skip"] else 3
    return pixels * (4 * activations * net.config["width"] + 16) + feature_bytes(net, pixels, torch.float32)


def feature_bytes(net: TunableNet, pixels: int, storage_dtype: torch.dtype) -> int:
    """Bytes per image of the features (image, ``h``, ``fixed``, the detail branch's), ignoring half-resolution skips.

    ``storage_dtype`` is that of the largest of them, as in :func:`trunk_streamed`.
    """
    spec = net.tuning_conv
    element = torch.empty((), dtype=storage_dtype).element_size()
    if net.tuned == "conv_in":
        per_pixel = 12 + 4 * net.tuned_channels + element * spec.cout
    elif net.tuned == "conv_out":
        per_pixel = 12 + 4 * spec.cin + element * (spec.cout - 1)
    else:
        per_pixel = 12 + element * max(spec.cin, spec.cout)
    detail = element * net.config["width"] if net.detail_branch else 0  # the branch is as wide as the trunk
    return pixels * (per_pixel + detail)


def stage_halo(net: TunableNet) -> int:
    """The widest halo of a stage of :func:`trunk_streamed`, in pixels."""
    return max(even_up(_radius(net, start, stop + 1)) for start, stop in _stages(net))


def streamed_bytes(net: TunableNet, pixels: int, tile: int, storage_dtype: torch.dtype) -> int:
    """Rough peak bytes of :func:`trunk_streamed`: two checkpoints, the features, one tile's work.

    Two float32 checkpoints of ``width`` channels at half resolution are
    ``2 * width`` bytes per pixel; a tile's work is about four activations
    of ``width`` channels over the tile and its halo.
    """
    crop = (tile + 2 * stage_halo(net)) ** 2
    return pixels * 2 * net.config["width"] + feature_bytes(net, pixels, storage_dtype) + crop * 16 * net.config["width"]
