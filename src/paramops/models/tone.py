"""The tone head: a per-parameter colour matrix and tone curve of the pixel's rank in its image.

Several filters reach across the whole image: histogram matching (``style``,
``pencil``), value-range normalisation (``llf``, ``llf_remap``). Instance norm
over windows hides from the network where a pixel's value lies in its image's
distribution, so no width or schedule teaches it those operators
(``docs/training.md``, eleventh session). The tone head gives it that, as a
residual term outside every norm::

    out = image + net + image @ C(p)^T + T(p)[rank]

``rank`` is the pixel's luminance rank in the image the operator sees: the
mid-bin cumulative histogram of the 8-bit BT.601 luminance (256 levels),
read at the pixel's level; a histogram-matching operator is a function of
it. ``T`` is a piecewise-linear curve over ``knots`` evenly spaced ranks and
``C`` a 3x3 matrix (which can, say, turn colour to gray), both predicted from
the parameter vector, so each operator and value gets its own. The image's
part is its cumulative histogram, 256 numbers that the trunk keeps, so any
window renders as in the whole image.
"""

from __future__ import annotations

import torch

from paramops.models.predictor import Target

LEVELS = 256
LUMA = (0.299, 0.587, 0.114)
# The predictor's names for the head's colour matrix and curve.
COLOR = "tone.color"
CURVE = "tone.curve"


def luminance_levels(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, H, W) int64 levels 0-255 of the BT.601 luminance."""
    luma = torch.tensor(LUMA, dtype=x.dtype, device=x.device)
    lum = torch.einsum("nchw,c->nhw", x, luma)
    return lum.mul(LEVELS - 1).round_().clamp_(0, LEVELS - 1).long()


def level_counts(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, 256) float64: how many pixels of each image are at each luminance level."""
    levels = luminance_levels(x).flatten(1)
    counts = torch.zeros(levels.shape[0], LEVELS, dtype=torch.float64, device=x.device)
    return counts.scatter_add_(1, levels, torch.ones_like(levels, dtype=torch.float64))


def cdf_of_counts(counts: torch.Tensor) -> torch.Tensor:
    """(N, 256) level counts -> the mid-bin cumulative histogram (N, 256) in [0, 1], float64.

    Entry ``v`` is the share of pixels darker than level ``v`` plus half of
    those at it, so a flat image ranks 0.5. Counts of tiles add up to the
    whole image's, which is how a plane too large to hold gets its histogram.
    """
    return (counts.cumsum(1) - counts / 2) / counts.sum(1, keepdim=True)


def luminance_cdf(x: torch.Tensor) -> torch.Tensor:
    """The mid-bin cumulative luminance histogram of each image: (N, 3, H, W) -> (N, 256) in [0, 1]."""
    return cdf_of_counts(level_counts(x)).to(x.dtype)


def tone_targets(knots: int) -> dict[str, Target]:
    """The predicted colour matrix and curve; both start at zero, so the head starts as a plain residual."""
    return {COLOR: Target((3, 3), spread=0.0), CURVE: Target((knots,), spread=0.0)}


def tone_offset(image: torch.Tensor, cdf: torch.Tensor, color: torch.Tensor, curve: torch.Tensor) -> torch.Tensor:
    """``image + image @ color^T + curve[rank]``: the residual base of a network with a tone head.

    Parameters
    ----------
    image : Tensor, shape (N, 3, H, W)
        The input image, or a window of it, in [0, 1].
    cdf : Tensor, shape (N, 256)
        :func:`luminance_cdf` of the whole image.
    color : Tensor, shape (N, 3, 3)
    curve : Tensor, shape (N, K), K >= 2
        The curve's values at ranks ``0, 1 / (K - 1), ..., 1``.
    """
    knots = curve.shape[1]
    position = cdf * (knots - 1)
    left = position.floor().long().clamp_(max=knots - 2)
    frac = position - left
    table = torch.gather(curve, 1, left) * (1 - frac) + torch.gather(curve, 1, left + 1) * frac  # (N, 256)
    levels = luminance_levels(image)
    shift = torch.gather(table, 1, levels.flatten(1)).view(levels.shape)
    return image + torch.einsum("ncd,ndhw->nchw", color, image) + shift.unsqueeze(1)
