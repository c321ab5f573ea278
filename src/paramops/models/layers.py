"""Tensor-level building blocks shared by every network.

* :func:`network_input` -- the image plus its edge map, centred (paper section
  3.2; the public code subtracts 128 from all four 8-bit channels, i.e. 0.5 here),
  and the fields of a positioned image (:func:`with_fields`).
* :func:`pad_even` -- odd sizes are padded to even ones so the stride-2 conv and
  the stride-2 transposed conv give back the input size exactly.
* :func:`conv` -- one convolution whose weight is either shared by the batch or
  given per sample; per-sample weights fold the batch into the groups of a
  grouped convolution, so a batch of different parameter vectors runs in one
  call, without a Python loop.
* :func:`instance_stats` / :func:`apply_norm` -- instance normalisation split
  into its statistics and their use, so statistics can be carried to a head
  that renders a window, or supplied from a tiled statistics pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from paramops.operators.fields import field_gain, is_image_field, position_field

if TYPE_CHECKING:
    from paramops.models.base import Conv

Stats = tuple[torch.Tensor, torch.Tensor]

# An image field is the edge map times its gain times this: the edge map spreads about a quarter as much as
# the image channels (standard deviations 0.048 and 0.20 over the training photographs), and scaled to match,
# the weights that read it learn at the pace of the others (docs/training.md, twenty-fourth session).
IMAGE_FIELD_SCALE = 4.0

# torch's InstanceNorm2d default.
NORM_EPS = 1e-5
IMAGE_CHANNELS = 3


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of each pixel to its 4 neighbours, averaged over channels.

    Parameters
    ----------
    x : Tensor, shape (N, C, H, W)
        Images in [0, 1].

    Returns
    -------
    Tensor, shape (N, 1, H, W)
        In [0, 1]. A neighbour outside the image counts as a difference of 0,
        as in the paper's public code (the sum is still divided by 4).
    """
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    centre = padded[..., 1:-1, 1:-1]
    diff = (
        (padded[..., :-2, 1:-1] - centre).abs()
        + (padded[..., 2:, 1:-1] - centre).abs()
        + (padded[..., 1:-1, :-2] - centre).abs()
        + (padded[..., 1:-1, 2:] - centre).abs()
    )
    return diff.mean(dim=1, keepdim=True) / 4


def network_input(x: torch.Tensor) -> torch.Tensor:
    """(N, 3 + F, H, W) image in [0, 1] and its F fields -> (N, 4 + F, H, W): centred image,
    edge map and fields."""
    image = x[:, :IMAGE_CHANNELS]
    return torch.cat([image, edge_map(image), x[:, IMAGE_CHANNELS:]], dim=1) - 0.5


def with_fields(
    x: torch.Tensor,
    names: Sequence[str],
    origins: Sequence[tuple[int, int]],
    gains: np.ndarray | None = None,
) -> torch.Tensor:
    """Images (N, 3, H, W) positioned: their fields ``names`` appended as channels (N, 3 + F, H, W).

    Image ``n``'s top-left pixel lies at ``origins[n]`` (row, column) of the
    image its operator runs on: (0, 0) for a whole image, a crop's offset for
    a crop; position fields are laid from there. Image fields are the edge map
    times ``IMAGE_FIELD_SCALE`` times image ``n``'s gain for them, ``gains[n]`` (N, image fields among
    ``names``, in their order): the gains of the images the operator runs on
    (:func:`~paramops.operators.fields.field_gain`); by default each image's
    own, for whole images. Cutting, padding or turning the result keeps every
    pixel's fields with it, which is why fields travel as channels of the image.
    """
    if not names:
        return x
    image = x[:, :IMAGE_CHANNELS]
    scaled = [name for name in names if is_image_field(name)]
    if scaled and gains is None:
        gains = np.array([[field_gain(name, rgb) for name in scaled]
                          for rgb in image.permute(0, 2, 3, 1).cpu().numpy()])
    planes = []
    for name in names:
        if name in scaled:
            gain = torch.as_tensor(np.asarray(gains)[:, scaled.index(name)], dtype=x.dtype, device=x.device)
            planes.append(edge_map(image) * (IMAGE_FIELD_SCALE * gain.view(-1, 1, 1, 1)))
        else:
            laid = np.stack([position_field(name, tuple(x.shape[-2:]), tuple(origin)) for origin in origins])
            planes.append(torch.from_numpy(laid[:, None]).to(x.device, x.dtype))
    return torch.cat([x, *planes], dim=1)


def pad_even(x: torch.Tensor) -> torch.Tensor:
    """Pad the bottom and right by at most one pixel so that H and W are even.

    Reflect padding where the side is long enough, replicate for a 1-pixel side
    (reflect needs at least two pixels).
    """
    h, w = x.shape[-2:]
    if h % 2:
        x = F.pad(x, (0, 0, 0, 1), mode="reflect" if h > 1 else "replicate")
    if w % 2:
        x = F.pad(x, (0, 1, 0, 0), mode="reflect" if w > 1 else "replicate")
    return x


def conv(x: torch.Tensor, weight: torch.Tensor, spec: Conv) -> torch.Tensor:
    """Apply convolution ``spec`` with a shared or a per-sample weight.

    Parameters
    ----------
    x : Tensor, shape (N, C_in, H, W)
    weight : Tensor
        ``spec.weight_shape`` (shared), or ``(B, *spec.weight_shape)`` with
        ``B == 1`` (shared) or ``B == N`` (one weight per sample).
    spec : Conv
        Kernel size, stride, dilation, groups and whether it is transposed.
    """
    if weight.dim() == 5 and weight.shape[0] == 1:
        weight = weight[0]
    if weight.dim() == 4:
        return _conv(x, weight, spec, spec.groups)
    n = x.shape[0]
    if weight.shape[0] != n:
        raise ValueError(f"{spec.name}: {weight.shape[0]} per-sample weights for a batch of {n}")
    folded = x.reshape(1, n * x.shape[1], *x.shape[2:])
    out = _conv(folded, weight.reshape(-1, *weight.shape[2:]), spec, spec.groups * n)
    return out.reshape(n, -1, *out.shape[2:])


def _conv(x: torch.Tensor, weight: torch.Tensor, spec: Conv, groups: int) -> torch.Tensor:
    if spec.transposed:
        return F.conv_transpose2d(x, weight, stride=spec.stride, padding=spec.padding, groups=groups)
    return F.conv2d(x, weight, stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=groups)


def instance_stats(h: torch.Tensor) -> Stats:
    """Per-sample, per-channel (mean, biased variance) over H and W, each (N, C).

    In two passes, the mean and then the mean square of the deviations from
    it: as accurate as :func:`torch.var_mean` (1e-7 on unit-variance data),
    and 1.1 to 2 times faster on this CPU (torch 2.13): a training step of
    ``default`` 14 % faster, its windowed trunk 18 %.
    """
    mean = h.mean((2, 3), keepdim=True)
    return mean[..., 0, 0], (h - mean).square().mean((2, 3))


def apply_norm(h: torch.Tensor, stats: Stats, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Instance-normalise ``h`` with ``stats``, then scale and shift.

    ``scale`` and ``shift`` are (C,) (learned), or (B, C) with B 1 or N
    (predicted per parameter vector). Fused into one multiply-add per element.
    """
    mean, var = stats
    a = scale * torch.rsqrt(var + NORM_EPS)
    b = shift - mean * a
    return torch.addcmul(b[..., None, None].to(h.dtype), h, a[..., None, None].to(h.dtype))


# Output pixels whose patches are unfolded at a time by SliceMoments: bounds its
# memory to about 4 * (in channels * k * k) * MOMENT_CHUNK_PIXELS bytes.
MOMENT_CHUNK_PIXELS = 64 * 1024


class SliceMoments:
    """The moments of :func:`input_slice_moments` accumulated over windows of the image, in float64.

    Sums are of values shifted by the first window's means, so no large means
    cancel in the covariances. ``rest=None`` is a conv with no learned part
    (all its input channels tuned): its terms are zero. Computed and returned
    in ``x``'s dtype, at least float32.
    """

    def __init__(self, spec: Conv) -> None:
        self.spec = spec
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.shift: dict[str, torch.Tensor] = {}
        self.dtype = torch.float32

    def add(self, x: torch.Tensor, rest: torch.Tensor | None, core: tuple[int, int, int, int]) -> None:
        """Output pixels ``core`` (y0, y1, x0, x1) of ``x`` (N, J, h, w) and ``rest`` (N, C, h, w), crop-relative.

        ``x`` must hold the conv's margin around ``core`` except where that
        lies outside the image, where the conv reads zeros.
        """
        y0, y1, x0, x1 = core
        pad = self.spec.padding
        self.dtype = torch.promote_types(x.dtype, torch.float32)
        rows = max(1, MOMENT_CHUNK_PIXELS // (x1 - x0))
        for r0 in range(y0, y1, rows):
            r1 = min(y1, r0 + rows)
            a0, a1, b0, b1 = max(0, r0 - pad), min(x.shape[-2], r1 + pad), max(0, x0 - pad), min(x.shape[-1], x1 + pad)
            part = x[..., a0:a1, b0:b1].to(self.dtype)
            patches = F.unfold(part, self.spec.k, dilation=self.spec.dilation, padding=pad)
            patches = patches.view(*patches.shape[:2], a1 - a0, b1 - b0)[..., r0 - a0 : r1 - a0, x0 - b0 : x1 - b0]
            values = {"patch": patches.flatten(2)}  # (N, J*k*k, n), ordered as w.flatten(1)
            if rest is not None:
                values["rest"] = rest[..., r0:r1, x0:x1].to(self.dtype).flatten(2)  # (N, C, n)
            self._add(values)

    def _add(self, values: dict[str, torch.Tensor]) -> None:
        if not self.shift:
            self.shift = {name: v.mean(-1, keepdim=True) for name, v in values.items()}
        v = {name: t - self.shift[name] for name, t in values.items()}
        parts = {"patch": v["patch"].sum(-1), "patch_sq": v["patch"] @ v["patch"].transpose(1, 2)}
        if "rest" in v:
            parts.update(rest=v["rest"].sum(-1), rest_sq=(v["rest"] * v["rest"]).sum(-1),
                         cross=v["rest"] @ v["patch"].transpose(1, 2))
        for name, value in parts.items():
            self.sums[name] = self.sums.get(name, 0) + value.double()
        self.count += v["patch"].shape[-1]

    def result(self) -> dict[str, torch.Tensor]:
        s, n = self.sums, self.count
        patch_mean = s["patch"] / n  # of the shifted values
        moments = {
            "patch_mean": patch_mean + self.shift["patch"][..., 0].double(),
            "patch_cov": s["patch_sq"] / n - patch_mean[..., :, None] * patch_mean[..., None, :],
        }
        if "rest" in s:
            rest_mean = s["rest"] / n
            moments.update(
                rest_mean=rest_mean + self.shift["rest"][..., 0].double(),
                rest_var=(s["rest_sq"] / n - rest_mean * rest_mean).clamp_min(0),
                cross_cov=s["cross"] / n - rest_mean[..., :, None] * patch_mean[..., None, :],
            )
        else:
            batch, cout, taps = patch_mean.shape[0], self.spec.cout, patch_mean.shape[-1]
            zero = patch_mean.new_zeros
            moments.update(rest_mean=zero(batch, cout), rest_var=zero(batch, cout), cross_cov=zero(batch, cout, taps))
        return {name: t.to(self.dtype) for name, t in moments.items()}


def input_slice_moments(x: torch.Tensor, rest: torch.Tensor | None, spec: Conv) -> dict[str, torch.Tensor]:
    """Whole-image moments from which :func:`input_slice_stats` gives exact output statistics.

    For ``y = rest + conv(x, w)`` with ``x`` some input channels (N, J, H, W),
    ``rest`` (N, C, H, W) the conv's output from its other input channels (None
    when there are none), and ``w`` (C, J, k, k) any weight, the instance-norm
    statistics of ``y`` follow from these (N, ...) tensors alone: ``y -
    mean(y)`` is ``rest - mean(rest)`` plus ``w`` times the centred J x k x k
    patches of ``x``. Everything is a covariance, so no large means cancel.
    Computed in at least float32, summed in float64, a band of rows at a time.
    """
    moments = SliceMoments(spec)
    moments.add(x, rest, (0, x.shape[-2], 0, x.shape[-1]))
    return moments.result()


def input_slice_stats(moments: dict[str, torch.Tensor], weight: torch.Tensor) -> Stats:
    """Instance-norm (mean, var) of ``rest + conv(x, weight)`` from :func:`input_slice_moments`.

    ``weight`` is (C, J, k, k), or (B, C, J, k, k) with B 1 or N. Moments with
    more leading axes than the batch (one set per window: (N, windows, ...))
    give statistics with the same axes, (N, windows, C).
    """
    w = weight.flatten(-3)
    w = w if w.dim() == 3 else w[None]  # (B, C, J*k*k)
    extra = moments["patch_mean"].dim() - 2
    w = w.reshape(w.shape[0], *[1] * extra, *w.shape[1:])
    mean = moments["rest_mean"] + (w * moments["patch_mean"][..., None, :]).sum(-1)
    var = (
        moments["rest_var"]
        + 2 * (w * moments["cross_cov"]).sum(-1)
        + ((w @ moments["patch_cov"]) * w).sum(-1)
    )
    return mean, var.clamp_min(0)
