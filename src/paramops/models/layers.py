"""Tensor-level building blocks shared by every network.

* :func:`network_input` -- the image plus its edge map, centred (paper section
  3.2; the public code subtracts 128 from all four 8-bit channels, i.e. 0.5 here).
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

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from paramops.models.base import Conv

Stats = tuple[torch.Tensor, torch.Tensor]

# torch's InstanceNorm2d default.
NORM_EPS = 1e-5


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
    """(N, 3, H, W) image in [0, 1] -> (N, 4, H, W) centred image and edge map."""
    return torch.cat([x, edge_map(x)], dim=1) - 0.5


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
    """Per-sample, per-channel (mean, biased variance) over H and W, each (N, C)."""
    var, mean = torch.var_mean(h, dim=(2, 3), correction=0)
    return mean, var


def apply_norm(h: torch.Tensor, stats: Stats, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Instance-normalise ``h`` with ``stats``, then scale and shift.

    ``scale`` and ``shift`` are (C,) (learned), or (B, C) with B 1 or N
    (predicted per parameter vector). Fused into one multiply-add per element.
    """
    mean, var = stats
    a = scale * torch.rsqrt(var + NORM_EPS)
    b = shift - mean * a
    return torch.addcmul(b[..., None, None].to(h.dtype), h, a[..., None, None].to(h.dtype))


def input_slice_moments(x: torch.Tensor, rest: torch.Tensor, spec: Conv) -> dict[str, torch.Tensor]:
    """Whole-image moments from which :func:`input_slice_stats` gives exact output statistics.

    For ``y = rest + conv(x, w)`` with ``x`` some input channels (N, J, H, W),
    ``rest`` (N, C, H, W) the conv's output from its other input channels, and
    ``w`` (C, J, k, k) any weight, the instance-norm statistics of ``y`` follow
    from these (N, ...) tensors alone: ``y - mean(y)`` is ``rest - mean(rest)``
    plus ``w`` times the centred J x k x k patches of ``x``. Everything is a
    covariance, so no large means cancel. Computed in at least float32.
    """
    dtype = torch.promote_types(x.dtype, torch.float32)
    x, rest = x.to(dtype), rest.to(dtype)
    patches = F.unfold(x, spec.k, dilation=spec.dilation, padding=spec.padding)  # (N, J*k*k, H*W), as w.flatten(1)
    patch_mean = patches.mean(dim=-1)
    centred = patches - patch_mean[..., None]
    pixels = centred.shape[-1]
    rest_mean, rest_var = instance_stats(rest)
    return {
        "rest_mean": rest_mean,
        "rest_var": rest_var,
        "patch_mean": patch_mean,
        "cross_cov": rest.flatten(2) @ centred.transpose(1, 2) / pixels,  # (N, C, J*k*k)
        "patch_cov": centred @ centred.transpose(1, 2) / pixels,  # (N, J*k*k, J*k*k)
    }


def input_slice_stats(moments: dict[str, torch.Tensor], weight: torch.Tensor) -> Stats:
    """Instance-norm (mean, var) of ``rest + conv(x, weight)`` from :func:`input_slice_moments`.

    ``weight`` is (C, J, k, k), or (B, C, J, k, k) with B 1 or N.
    """
    w = weight.flatten(-3)
    w = w if w.dim() == 3 else w[None]  # (B, C, k*k)
    mean = moments["rest_mean"] + (w * moments["patch_mean"][:, None, :]).sum(-1)
    var = (
        moments["rest_var"]
        + 2 * (w * moments["cross_cov"]).sum(-1)
        + ((w @ moments["patch_cov"]) * w).sum(-1)
    )
    return mean, var.clamp_min(0)
