"""The Laplacian bank: edge-aware detail at every scale of the whole image, mixed per parameter.

The local Laplacian operators (``llf``, ``llf_remap``) rebuild each level of
the image's Laplacian pyramid, down to a single pixel, from the input
remapped around the level's local value, with reference values spread over
the image's own range (:mod:`paramops.operators.laplacian`). A window of
the image cannot show a network either: B, whose windows are a training
patch wide, reached 25.4 dB on ``llf`` where the bar is 28
(``docs/error_bands_llf.md``). The bank gives the network what the windows
hide, as a residual term outside every norm, like the tone head::

    out = ... + ratio * sum_j w_j(p) * bank_j

``bank_j`` is what the fast local Laplacian filter (Aubry et al. 2014) with
remapping ``r_j`` adds to the coarsest level of the whole image's luminance
(:func:`~paramops.operators.laplacian.local_laplacian_details`), for a fixed
family of remappings: the identity (the image's own detail) and
``d * exp(-d^2 / (2 sigma^2))`` for ``sigma`` in :data:`BANK_SIGMAS`
(texture below ``sigma``, no edges), with ``BANK_SAMPLES`` reference levels.
Those maps are linear in the remapping, so the filters whose remapping is a
weighted sum of the family, ``llf`` and ``llf_remap`` among them, are exactly
the image plus such a sum, put back in colour by the ratio
``(rgb + eps) / (luminance + eps)`` as they do (:func:`~paramops.operators.laplacian.recolor`).
The weights ``w(p)`` are a linear map without bias of the entries of the
parameter vector that belong to the operators a training config names
(``model.bank_operators``, the model's ``bank_slots``): every other operator
gets zero weights, so its output is exactly that of the network without the
bank. They start at zero.

The bank is a fixed function of the image, with no weights: the trunk
computes it once per image on the CPU (OpenCV's pyramids, about 0.3 s a
megapixel on one core) and keeps it beside the image (16 bytes a pixel), so
any window renders as in the whole image; the head's work is a few
multiply-adds a pixel. Training patches carry the bank of the whole photo
they were cut from (:func:`paramops.training.pairs.make_pairs`), so only
operators whose pairs come from whole photos may read it (a crop's bank is
not the image's).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from paramops.models.own_branches import SlotReadout
from paramops.models.tone import LUMA
from paramops.operators.laplacian import RECOLOR_EPS

# The scales (on [0, 1] luminance) of the texture remappings: Aubry's usual sigma_r, halved and doubled.
BANK_SIGMAS = (0.05, 0.1, 0.2)
# Reference levels spread over the image's luminance range: Aubry's choice, about one per 0.1.
BANK_SAMPLES = 10
# The maps of the bank, in order: the image's own detail, then one texture remapping per sigma.
BANK_SIZE = 1 + len(BANK_SIGMAS)
# What identifies the bank's maps, for caches of training pairs that carry them.
BANK_SIGNATURE = {"sigmas": list(BANK_SIGMAS), "samples": BANK_SAMPLES, "identity": True}
# The predictor's name for the bank's weights.
BANK_WEIGHTS = "bank.weights"


def laplacian_bank(rgb: np.ndarray) -> np.ndarray:
    """The bank's maps of a whole image.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3)
        Float RGB in [0, 1] (uint8 is scaled by 1/255).

    Returns
    -------
    ndarray of float32, shape (BANK_SIZE, H, W)
        Zeros for a flat image.
    """
    from paramops.operators.laplacian import detail_remap, local_laplacian_details, luminance

    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        rgb = rgb.astype(np.float32) / np.float32(255)
    remaps = [_identity] + [detail_remap(gain=1.0, slope=0.0, sigma_r=sigma) for sigma in BANK_SIGMAS]
    return local_laplacian_details(luminance(rgb), remaps, samples=BANK_SAMPLES)


def _identity(d: np.ndarray) -> np.ndarray:
    return d


def bank_of(x: torch.Tensor) -> torch.Tensor:
    """:func:`laplacian_bank` of each image of a batch: (N, 3, H, W) in [0, 1] -> (N, BANK_SIZE, H, W)."""
    rgb = x.detach().permute(0, 2, 3, 1).to("cpu", torch.float32).numpy()
    maps = np.stack([laplacian_bank(image) for image in rgb])
    return torch.from_numpy(maps).to(x.device, x.dtype)


def bank_readout(slots: Sequence[int]) -> SlotReadout:
    """The bank's weights (N, BANK_SIZE) from the parameter vectors, reading the entries ``slots`` alone."""
    return SlotReadout(slots, (BANK_SIZE,))


def bank_offset(rgb: torch.Tensor, bank: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``ratio * sum_j weights_j * bank_j``: what the bank adds to the output.

    Parameters
    ----------
    rgb : Tensor, shape (N, 3, H, W)
        The input image, or a window of it, in [0, 1].
    bank : Tensor, shape (N, BANK_SIZE, H, W)
        :func:`bank_of` the whole image, the same window of it.
    weights : Tensor, shape (N, BANK_SIZE)
    """
    luma = torch.tensor(LUMA, dtype=rgb.dtype, device=rgb.device)
    lum = torch.einsum("nchw,c->nhw", rgb, luma).unsqueeze(1)
    change = torch.einsum("nj,njhw->nhw", weights.to(bank.dtype), bank).unsqueeze(1).to(rgb.dtype)
    return (rgb + RECOLOR_EPS) / (lum + RECOLOR_EPS) * change
