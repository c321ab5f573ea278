"""Effective receptive field of one output pixel (paper section 6.2, Fig. 4).

Run the network on the whole image, back-propagate from one output pixel only
(all three colour channels), and call an input pixel *inside* the effective
receptive field when the magnitude of its gradient exceeds a fraction of the
largest one. The paper compares a point in a flat region, one on a moderate
edge and one on a strong edge across L0's smoothing strengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paramops.evaluation.paper import ERF_GRADIENT_FRACTION

POINT_KINDS = ("non-edge", "moderate edge", "strong edge")
# A moderate edge: a ridge of the gradient magnitude at about this fraction of the strongest edge's.
MODERATE_LEVEL = 0.35


@dataclass(frozen=True)
class ReceptiveField:
    """The effective receptive field of ``point``: its mask and two summaries.

    ``area`` is the number of pixels in the mask; ``extent`` the largest
    distance (pixels, Chebyshev) of a mask pixel from ``point``.
    """

    point: tuple[int, int]
    mask: np.ndarray
    area: int
    extent: int


def input_gradient(net, image: np.ndarray, p, point: tuple[int, int]) -> np.ndarray:
    """Magnitude of d(output at ``point``)/d(input), per input pixel.

    Parameters
    ----------
    net : torch.nn.Module
        Any paramops network (``forward(x, p)``).
    image : ndarray, shape (H, W, 3)
        Float RGB in [0, 1].
    p : Tensor, shape (1, param_dim)
        The encoded parameters.
    point : (int, int)
        Row and column of the output pixel.

    Returns
    -------
    ndarray, shape (H, W)
        Sum over the three input channels of the absolute gradient of the sum
        of the three output channels at ``point``; float64.
    """
    import torch

    y, x = point
    if not (0 <= y < image.shape[0] and 0 <= x < image.shape[1]):
        raise ValueError(f"point {point} is outside the {image.shape[0]}x{image.shape[1]} image")
    param = next(net.parameters())
    with torch.enable_grad():
        inp = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
        inp = inp.to(param.device).requires_grad_(True)
        out = net(inp, p.to(param.device))
        # Only the gradient to the input: the weights' .grad stay untouched.
        (grad,) = torch.autograd.grad(out[0, :, y, x].sum(), inp)
    return grad[0].abs().sum(0).double().cpu().numpy()


def receptive_field(
    gradient: np.ndarray, point: tuple[int, int], fraction: float = ERF_GRADIENT_FRACTION
) -> ReceptiveField:
    """The pixels whose gradient exceeds ``fraction`` of the largest (``0 < fraction < 1``)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be between 0 and 1 (exclusive), got {fraction}")
    peak = float(gradient.max())
    mask = gradient > fraction * peak if peak > 0 else np.zeros(gradient.shape, bool)
    rows, cols = np.nonzero(mask)
    extent = int(max(np.abs(rows - point[0]).max(), np.abs(cols - point[1]).max())) if rows.size else 0
    return ReceptiveField(tuple(point), mask, int(mask.sum()), extent)


def edge_strength(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the lightly smoothed (sigma 1 px) grey image, (H, W)."""
    from skimage.color import rgb2gray
    from skimage.filters import gaussian, sobel

    grey = rgb2gray(image) if image.ndim == 3 else image
    return sobel(gaussian(grey, sigma=1.0))


def edge_points(image: np.ndarray, margin: int = 24) -> dict[str, tuple[int, int]]:
    """A non-edge, a moderate-edge and a strong-edge pixel of ``image``, at least ``margin`` px inside.

    * strong edge: the largest :func:`edge_strength`;
    * non-edge: the centre of the flattest 15 x 15 window;
    * moderate edge: a ridge pixel (a local maximum of the edge strength in
      its 5 x 5 neighbourhood, so not the flank of a stronger edge) whose
      strength is nearest ``MODERATE_LEVEL`` times the strongest.
    """
    from scipy.ndimage import maximum_filter, uniform_filter

    strength = edge_strength(image)
    h, w = strength.shape
    if min(h, w) <= 2 * margin:
        raise ValueError(f"image of {h}x{w} px is too small for a margin of {margin} px")
    inside = np.zeros_like(strength, bool)
    inside[margin : h - margin, margin : w - margin] = True

    def best(score: np.ndarray) -> tuple[int, int]:
        score = np.where(inside, score, np.inf)
        y, x = np.unravel_index(int(np.argmin(score)), score.shape)
        return int(y), int(x)

    strong = best(-strength)
    flat = best(uniform_filter(strength, 15))
    ridge = (strength == maximum_filter(strength, 5)) & (strength > 0)
    target = MODERATE_LEVEL * strength[strong]
    moderate = best(np.where(ridge, np.abs(strength - target), np.inf))
    return {"non-edge": flat, "moderate edge": moderate, "strong edge": strong}
