"""The head: what re-runs when a parameter moves.

:class:`BandHead` is the fast path for the shipped kind of model, a
``conv_in`` TunableNet (any ``tuned_channels``), or one with all of conv19
tuned (``conv``), ending ``conv19 -> norm19 -> ReLU -> conv20``. Per
parameter vector it folds everything that does not vary over the image into
two small matrices. norm19's statistics come from the trunk's moments (exact,
see :func:`~paramops.models.layers.input_slice_stats`), giving its scale
``a`` and shift ``b`` per channel, and ``relu(a * z + b) = |a| * relu(s * z +
s * b / a)`` where ``s``, the sign of ``a``, is the sign of norm19's learned
scale, the same for all parameters. So ``fixed`` is stored multiplied by
``s`` once, ``|a|`` goes into conv20's weights, and per row band, so every
intermediate stays in the CPU's caches::

    z   = s*fixed + [s*w | s*b/a] @ [patches(h); 1]  # conv19 + norm19: a copy, one GEMM
                                                     # (conv: a direct convolution of h, no fixed)
    z   = relu(z)
    m   = (W20 * |a|) @ z                            # conv20's 9 taps, one GEMM
    out = sum of the 9 shifted taps of m + image     # (or + 0.5, non-residual)

``fixed`` (conv19's learned part) is read once from memory, nothing of the
image's size is allocated, and the result goes straight into the caller's
dtype. On the CPU the bands are spread over the
:mod:`~paramops.service.workers`, threads that each run torch
single-threaded: no synchronisation inside the small per-band operations,
which matters on a busy machine.

A window renders from the features around it alone (a margin of 2 pixels),
and every output pixel is computed by the same arithmetic whatever the
window or band it falls in (the GEMMs' per-column results do not depend on
the number of columns), so a region equals the same window of the full
render bit for bit on the CPU. A fully predicted conv19 (no ``fixed``) is
convolved directly, which is much faster than patches of all its input
channels for a GEMM with few outputs, from channels-last ``h`` (in place
where a band spans most of the image's width); the convolution's rounding
may depend on the band's shape, so its regions agree with the full render
to float rounding (1 ulp seen), not bit for bit.

With ``norm_windows`` norm19 differs from pixel to pixel (each pixel blends
its windows' statistics, :mod:`paramops.models.windows`), so nothing folds:
conv19 is computed plainly, each band blends the windows' scales and shifts
for its rows (the columns are blended once per render) and applies them
before the ReLU, and conv20's taps are its own.

:class:`GenericHead` covers every other TunableNet through
:meth:`TunableNet.head`, window by window; it agrees with the fast path to
float rounding, and for positions whose head is not windowed (see
:attr:`TunableNet.windowed_head`) each window costs a full-image pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from paramops.models.base import RELU, Conv, Norm
from paramops.models.detail import GATE, Readout, readout, readout_weights
from paramops.models.features import TrunkFeatures
from paramops.models.layers import NORM_EPS, input_slice_stats
from paramops.models.tunable import TunableNet
from paramops.service.workers import workers

Window = tuple[int, int, int, int]
# sink(values (3, rows, cols) in working units, window of the output they cover)
Sink = Callable[[torch.Tensor, Window], None]

# Pixels per band, measured best on the 2-core Xeon here (32 to 96 Ki pixels tried
# for the shipped model, with and without norm_windows): smaller bands pay more
# per-op overhead and convolve more halo rows, larger ones fall out of cache. On a
# GPU, bands only bound memory.
CPU_BAND_PIXELS = 48 * 1024
GPU_BAND_PIXELS = 4 * 1024 * 1024
# Pixels per tile of the generic head.
GENERIC_TILE_PIXELS = 1024 * 1024


def make_head(net: torch.nn.Module, device: torch.device):
    if not isinstance(net, TunableNet):
        return ForwardHead(net)
    return BandHead(net, device) if BandHead.supports(net) else GenericHead(net)


class ForwardHead:
    """Networks without a trunk/head split: the whole forward pass, features being the input image."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net = net

    def adapt(self, features: TrunkFeatures) -> TrunkFeatures:
        return features

    def render(self, features: TrunkFeatures, p: torch.Tensor, window: Window, sink: Sink) -> None:
        y0, y1, x0, x1 = window
        sink(self.net(features.h, p)[0, :, y0:y1, x0:x1], window)


class GenericHead:
    """Any TunableNet: :meth:`TunableNet.head` on windows of at most about a megapixel."""

    def __init__(self, net: TunableNet) -> None:
        self.net = net

    def adapt(self, features: TrunkFeatures) -> TrunkFeatures:
        return features

    def render(self, features: TrunkFeatures, p: torch.Tensor, window: Window, sink: Sink) -> None:
        y0, y1, x0, x1 = window
        if not self.net.windowed_head:
            full = (0, 0, *features.size) == (y0, x0, y1, x1)
            sink(self.net.head(features, p, region=None if full else window)[0], window)
            return
        rows = max(1, GENERIC_TILE_PIXELS // (x1 - x0))
        for r0 in range(y0, y1, rows):
            part = (r0, min(y1, r0 + rows), x0, x1)
            sink(self.net.head(features, p, region=part)[0], part)


class BandHead:
    """The ``conv_in`` / ``conv`` head in row bands (see the module docstring)."""

    @staticmethod
    def supports(net: TunableNet) -> bool:
        tail = net.ops[net.split :]
        if not net.moment_head or len(tail) != 4:
            return False
        first, norm, relu, last = tail
        plain = all(
            isinstance(c, Conv) and c.stride == 1 and c.dilation == 1 and c.groups == 1 and not c.transposed
            and c.k % 2 == 1 for c in (first, last)
        )
        return plain and isinstance(norm, Norm) and relu is RELU and last is net.output_conv

    def __init__(self, net: TunableNet, device: torch.device) -> None:
        self.net = net
        self.device = device
        self.first, norm, _, self.last = net.ops[net.split :]
        self.norm_scale = net.norm_scale[norm.name].detach()
        self.norm_shift = net.norm_shift[norm.name].detach()
        # relu(a * z + b) = |a| * relu(s * z + s * b / a) with s = sign(a) = sign(norm scale), which
        # does not depend on the parameters: fixed is stored times s (adapt), |a| goes into conv20.
        # A zero norm scale makes its channel the constant relu(b): s = 0 there, and no |a|.
        self.sign = torch.sign(self.norm_scale)
        weight = net.convs[self.last.name].detach()  # (3, C, k, k)
        k = self.last.k
        # Rows ordered (ky, kx, output channel): one GEMM gives every tap of every output channel.
        self.taps = weight.permute(2, 3, 0, 1).reshape(k * k * weight.shape[0], weight.shape[1]).contiguous()
        self.band_pixels = CPU_BAND_PIXELS if device.type == "cpu" else GPU_BAND_PIXELS
        if device.type == "cpu":
            workers()  # start them now, before hosts start threads of their own (see workers)

    def adapt(self, features: TrunkFeatures) -> TrunkFeatures:
        """Features as :meth:`render` reads them: ``fixed`` times the signs of norm19's scale (in place).

        Not over windows, where norm19 is applied per pixel and nothing is folded.
        """
        if features.windows is None and features.fixed is not None and bool((self.sign != 1).any()):
            features.fixed.mul_(self.sign.to(features.fixed.dtype)[:, None, None])
        if features.fixed is None:  # conv19 is convolved directly: fastest from channels-last h (a no-op if it is)
            features.h = features.h.contiguous(memory_format=torch.channels_last)
        return features

    def coefficients(self, features: TrunkFeatures, p: torch.Tensor) -> Coefficients:
        """What :meth:`render` needs for the parameter vector ``p`` (1, param_dim); see :class:`Coefficients`."""
        everything = self.net.predict(p)
        predicted = everything[self.first.name]  # (1, C, J, k, k)
        base = ((lambda image: self.net.residual_base(image, features.cdf, everything))
                if self.net.reshapes_image else None)
        detail = readout_weights(everything) if self.net.detail_branch else None
        mean, var = input_slice_stats(features.moments, predicted)  # (1, C), or (1, windows, C)
        a = self.norm_scale * torch.rsqrt(var + NORM_EPS)  # norm19's scale and shift, as in apply_norm
        b = self.norm_shift - mean * a
        channels = a.shape[-1]
        w = predicted[0].reshape(channels, -1)
        taps = self.taps if GATE not in everything else self.taps * everything[GATE][0]
        if features.windows is not None:
            return Coefficients(torch.cat([w, w.new_zeros(channels, 1)], dim=1), taps, torch.cat([a, b], -1), base,
                                detail)
        a, b = a[0], b[0]
        s = self.sign
        live = s != 0
        offset = torch.where(live, s * (b / torch.where(live, a, 1.0)), b)
        gain = torch.where(live, a.abs(), 1.0)
        return Coefficients(torch.cat([w * s[:, None], offset[:, None]], dim=1), taps * gain[None, :], None, base,
                            detail)

    def render(self, features: TrunkFeatures, p: torch.Tensor, window: Window, sink: Sink) -> None:
        if features.batch != 1:
            raise ValueError(f"the service renders one image at a time, these features have batch {features.batch}")
        coefficients = self.coefficients(features, p)
        y0, y1, x0, x1 = window
        across = None
        if coefficients.window_norms is not None:
            m2, width = self.last.k // 2, features.h.shape[-1]
            across = features.windows.spread_across(coefficients.window_norms, max(0, x0 - m2), min(width, x1 + m2))
        pool = workers() if self.device.type == "cpu" else None
        if pool is None:
            self._rows(features, coefficients, across, (y0, y1), x0, x1, sink)
            return
        # Even a single chunk goes to the pool: torch ops this small, run on several threads,
        # spend more time synchronising than computing when other processes keep the cores busy.
        parts = 1 if (y1 - y0) * (x1 - x0) <= 2 * self.band_pixels else pool[1]
        jobs = [pool[0].submit(self._rows, features, coefficients, across, rows, x0, x1, sink)
                for rows in _split(y0, y1, parts)]
        for job in jobs:
            job.result()

    def _rows(self, features: TrunkFeatures, coefficients: Coefficients, across: torch.Tensor | None,
              rows: tuple[int, int], x0: int, x1: int, sink: Sink) -> None:
        """Render output rows ``rows`` x columns [x0, x1) band by band.

        ``across``: over windows, norm19's per-window scales and shifts blended along the columns
        conv19's output covers (:meth:`WindowGrid.spread_across`); each band blends its rows.
        """
        wb, taps = coefficients.wb, coefficients.taps
        # (J, H', W') and (C, H', W') or None (all of conv19 tuned): padded, even sizes
        h, fixed = features.h[0], None if features.fixed is None else features.fixed[0]
        offset = None if features.image is None else features.image[0]
        tuned, height, width = h.shape
        k1, k2 = self.first.k, self.last.k
        m1, m2 = k1 // 2, k2 // 2
        channels = wb.shape[0]
        zc0, zc1 = max(0, x0 - m2), min(width, x1 + m2)
        cw = zc1 - zc0
        band = max(1, min(rows[1] - rows[0], self.band_pixels // cw))
        most = (band + 2 * m2) * cw
        new = dict(device=h.device, dtype=torch.float32)
        window_rows, window_cols = band + 2 * (m1 + m2), cw + 2 * m1
        if fixed is None:
            # Batched and channels last as features.h is (see adapt): a 3-d view of it makes the convolution copy it.
            window_h = torch.empty(1, window_rows, window_cols, tuned, **new).permute(0, 3, 1, 2)
            kernel = wb[:, :-1].reshape(channels, tuned, k1, k1)
        else:
            window_h = torch.empty(1, tuned, window_rows, window_cols, **new)
            patches = torch.empty(tuned * k1 * k1 + 1, most, **new)
            patches[-1] = 1.0  # multiplies the offset column of wb
        z = torch.empty(channels, most, **new)
        products = torch.empty(taps.shape[0], most, **new)
        out = torch.empty(3, band, x1 - x0, **new)
        for r0 in range(rows[0], rows[1], band):
            r1 = min(rows[1], r0 + band)
            zr0, zr1 = max(0, r0 - m2), min(height, r1 + m2)
            n = (zr1 - zr0) * cw
            zz = z[:, :n]
            norm = None if across is None else features.windows.spread_down(across, zr0, zr1)[0]  # (2C, rows, cw)
            if fixed is None:
                # All of conv19's inputs: a direct convolution beats building 9 * J patch rows for a few outputs.
                conv19 = _direct_conv(features.h, kernel, wb[:, -1], (zr0, zr1), (zc0, zc1), window_h)
                if norm is None:
                    zz.view(channels, zr1 - zr0, cw).copy_(conv19)
                else:
                    torch.addcmul(norm[channels:], conv19, norm[:channels], out=zz.view(channels, zr1 - zr0, cw))
            else:
                hw = window_h[..., : zr1 - zr0 + 2 * m1, :]
                _zero_padded(hw, features.h, zr0 - m1, zc0 - m1)
                # The k x k shifted views of the h window, (channel, ky, kx, row, col) as in w, copied in one go.
                rs, cs = hw.stride(1), hw.stride(2)
                shifted = hw[0].as_strided((tuned, k1, k1, zr1 - zr0, cw), (rs, cs, 1, cs, 1))
                patches[:-1, :n].view(tuned, k1, k1, zr1 - zr0, cw).copy_(shifted)
                zz.view(channels, zr1 - zr0, cw).copy_(fixed[:, zr0:zr1, zc0:zc1])  # float16 storage converts here
                zz.addmm_(wb, patches[:, :n])
                if norm is not None:
                    zz.view(channels, zr1 - zr0, cw).mul_(norm[:channels]).add_(norm[channels:])
            zz.relu_()
            tt = products[:, :n]
            torch.mm(taps, zz, out=tt)
            tt = tt.view(k2 * k2, 3, zr1 - zr0, cw)
            oo = out[:, : r1 - r0]
            # Output (y, x) takes tap (ky, kx) from z at (y + ky - m2, x + kx - m2) when that lies
            # in the image (zero padding otherwise); the centre tap always does.
            for ky, kx in [(m2, m2)] + [(i, j) for i in range(k2) for j in range(k2) if (i, j) != (m2, m2)]:
                dy, dx = ky - m2, kx - m2
                ra, rb = max(r0, zr0 - dy), min(r1, zr1 - dy)
                ca, cb = max(x0, zc0 - dx), min(x1, zc1 - dx)
                if ra >= rb or ca >= cb:
                    continue
                src = tt[ky * k2 + kx, :, ra + dy - zr0 : rb + dy - zr0, ca + dx - zc0 : cb + dx - zc0]
                dst = oo[:, ra - r0 : rb - r0, ca - x0 : cb - x0]
                if (ky, kx) == (m2, m2):
                    dst.copy_(src)
                else:
                    dst.add_(src)
            if offset is None:
                oo.add_(0.5)
            elif coefficients.base is None:
                oo.add_(offset[:, r0:r1, x0:x1])
            else:
                oo.add_(coefficients.base(offset[None, :, r0:r1, x0:x1])[0])
            if coefficients.detail is not None:
                oo.add_(readout(features.detail, coefficients.detail, (r0, r1, x0, x1))[0])
            sink(oo, (r0, r1, x0, x1))


class Coefficients(NamedTuple):
    """Per parameter vector: conv19's weights and conv20's taps, and how norm19 is applied.

    Whole-image statistics fold norm19 into both (see the module docstring):
    ``wb`` is ``[s * w | s * b / a]`` as (C, J*k*k + 1) and ``taps`` conv20's
    taps times ``|a|``. Over windows (``norm_windows``) norm19 differs from
    pixel to pixel, so ``wb`` is ``[w | 0]``, ``taps`` conv20's own, and
    ``window_norms`` (1, windows, 2C) each window's scales and shifts, blended
    per pixel as the trunk blended the windows. With a detail gate ``taps``
    are also times the gate (:mod:`paramops.models.detail`). ``base``: with a tone head,
    what turns a window of the image into the residual base it adds
    (:meth:`TunableNet.residual_base` with these parameters). ``detail``: with
    a detail branch, its predicted readout (:mod:`paramops.models.detail`).
    """

    wb: torch.Tensor
    taps: torch.Tensor
    window_norms: torch.Tensor | None = None
    base: Callable[[torch.Tensor], torch.Tensor] | None = None
    detail: Readout | None = None


def _direct_conv(h: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor, rows: tuple[int, int],
                 cols: tuple[int, int], buffer: torch.Tensor) -> torch.Tensor:
    """The convolution of ``h`` (1, J, H', W'), zero padded, over output ``rows`` x ``cols``: (C, rows, cols).

    ``buffer`` (1, J, rows + k - 1, cols + k - 1) at least, channels last like ``h``, takes a copy of
    the window where the convolution cannot read ``h`` in place.
    """
    (r0, r1), (c0, c1) = rows, cols
    m = kernel.shape[-1] // 2
    height, width = h.shape[-2:]
    if r0 >= m and r1 + m <= height and h.dtype == kernel.dtype and 5 * (c1 - c0) >= 4 * width:
        # Whole rows of channels-last h lie together in memory: convolve them where they are, padding only
        # the columns. Cheaper than copying the window out, unless it is much narrower than the image.
        return F.conv2d(h[..., r0 - m : r1 + m, :], kernel, bias, padding=(0, m))[0, :, :, c0:c1]
    window = buffer[..., : r1 - r0 + 2 * m, : c1 - c0 + 2 * m]
    _zero_padded(window, h, r0 - m, c0 - m)
    return F.conv2d(window, kernel, bias)[0]


def _zero_padded(dest: torch.Tensor, source: torch.Tensor, top: int, left: int) -> None:
    """Fill ``dest`` (..., rows, cols) with ``source[..., top:, left:]``, zero where that lies outside ``source``."""
    rows, cols = dest.shape[-2:]
    height, width = source.shape[-2:]
    ya, yb = max(0, top) - top, min(height, top + rows) - top
    xa, xb = max(0, left) - left, min(width, left + cols) - left
    for strip in (dest[..., :ya, :], dest[..., yb:, :], dest[..., ya:yb, :xa], dest[..., ya:yb, xb:]):
        strip.zero_()
    dest[..., ya:yb, xa:xb].copy_(source[..., ya + top : yb + top, xa + left : xb + left])


def _split(start: int, stop: int, parts: int) -> list[tuple[int, int]]:
    bounds = [start + (stop - start) * i // parts for i in range(parts + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
