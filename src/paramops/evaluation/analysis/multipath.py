"""A conv layer whose weights come from one FC layer is a sum of d+1 fixed convolutions (paper section 6.4, eq. 5).

With ``W(p) = A p + b`` (``A`` of shape (numel, d)), linearity of convolution gives

    conv(h, W(p)) = conv(h, B_0) + sum_i p_i conv(h, B_i),   B_0 = b, B_i = A[:, i]

(each reshaped to the kernel's shape): a block of d+1 parallel convolutions
with fixed kernels, mixed by the elements of the parameter vector and a
constant 1. Two FC layers without a ReLU between them (``fc2``) are still
affine in ``p``, so the same holds with the collapsed matrix; with a ReLU
(``fc2R``) it does not.

:func:`check_multipath` verifies this on a real forward pass: it runs the
network op by op, replaces every conv by its multi-path block, and compares
each layer's output, and the final image, with the ordinary network's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PathCheck:
    """One conv layer: the d+1 paths' output against the predicted-weight conv's, on the same input."""

    name: str
    shape: tuple[int, ...]
    paths: int
    scale: float  # largest |output| of the ordinary conv
    max_abs_diff: float


def affine_map(stack):
    """``(A, b)`` with ``stack(p) == p @ A.T + b`` for a stack of ``nn.Linear`` layers, in float64.

    Raises ``ValueError`` for anything but linear layers (a ReLU makes the map non-affine).
    """
    import torch
    import torch.nn as nn

    matrix = offset = None
    for layer in stack:
        if not isinstance(layer, nn.Linear):
            raise ValueError(
                f"the weight-learning network has a {type(layer).__name__} between its layers: its output is not an "
                "affine function of the parameters, so it is no sum of fixed convolutions"
            )
        w, b = layer.weight.detach().double(), layer.bias.detach().double()
        if matrix is None:
            matrix, offset = w, b
        else:
            matrix, offset = w @ matrix, w @ offset + b
    if matrix is None:
        raise ValueError("empty weight-learning network")
    return matrix, offset if offset is not None else torch.zeros(matrix.shape[0], dtype=torch.float64)


def path_kernels(net, name: str):
    """The d+1 fixed kernels of conv ``name`` of a ``DecoupledNet``: (d+1, *weight_shape), float64.

    Index 0 is the constant path (``b``), index ``i`` the path weighted by ``p_i``.
    """
    import torch

    target = net.predictor.targets.get(name)
    if target is None:
        predicted = ", ".join(net.predictor.targets)
        raise ValueError(f"{name!r} is not predicted by the weight-learning network; predicted: {predicted}")
    # Conv names have no dots, so they are the predictor's module keys.
    matrix, offset = affine_map(net.predictor.layers[name])
    return torch.cat([offset[None], matrix.T]).reshape(-1, *target.shape)


def multipath_conv(h, kernels, p, spec):
    """``conv(h, K_0) + sum_i p_i conv(h, K_i)`` for one parameter vector ``p`` (d,)."""
    from paramops.models.layers import conv

    out = conv(h, kernels[0], spec)
    for weight, kernel in zip(p, kernels[1:]):
        out = out + weight * conv(h, kernel, spec)
    return out


def check_multipath(net, image: np.ndarray, p) -> tuple[list[PathCheck], float, float]:
    """Run a ``DecoupledNet`` with every conv as its multi-path block, in float64.

    Parameters
    ----------
    net : DecoupledNet
        With an affine weight-learning network (``fc1`` or ``fc2``); not modified.
    image : ndarray, shape (H, W, 3)
        Float RGB in [0, 1].
    p : Tensor, shape (1, param_dim)

    Returns
    -------
    checks : list of PathCheck
        Per conv, the multi-path block against the ordinary conv on the same input.
    max_abs_diff : float
        Largest difference between the multi-path network's output image and the ordinary one's.
    scale : float
        Largest absolute value of the ordinary network's output image.
    """
    import torch

    from paramops.models.base import Conv, run_ops
    from paramops.models.decoupled import DecoupledNet
    from paramops.models.layers import conv
    from paramops.models.registry import build_model

    if not isinstance(net, DecoupledNet):
        raise ValueError(f"check_multipath needs a DecoupledNet (every conv predicted), got {type(net).__name__}")
    # A float64 copy. Rebuilt from the config, not deep-copied: the program's
    # markers (ReLU, residual push/add) are compared by identity.
    state = net.state_dict()
    net = build_model(net.config).double().eval()
    net.load_state_dict(state)
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float64)).permute(2, 0, 1)[None]
    p = p.detach().double().cpu()
    checks = []
    with torch.no_grad():
        expected = net(x, p)
        weights = net.predictor(p)
        affines = {name: (net.norm_scale[name], net.norm_shift[name]) for name in net.norm_scale}
        h, skips = net.prepare(x, p), ()
        for op in net.ops:
            if not isinstance(op, Conv):
                h, skips = run_ops((op,), h, skips, weights, affines)
                continue
            kernels = path_kernels(net, op.name)
            direct = conv(h, weights[op.name], op)
            h = multipath_conv(h, kernels, p[0], op)
            checks.append(PathCheck(op.name, tuple(kernels.shape[1:]), kernels.shape[0], float(direct.abs().max()),
                                    float((h - direct).abs().max())))
        result = net.finish(h, x, x.shape[-2:])
    return checks, float((result - expected).abs().max()), float(expected.abs().max())
