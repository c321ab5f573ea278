"""The detail branch: a norm-free full-resolution path whose readout is predicted from the parameters.

B works at half resolution between conv3 and conv18, and every layer is
followed by instance norm, conv19 included, so the output's amplitude at a
pixel is whatever norm19's learned scale makes it. Restorations need the
opposite: full-resolution detail at the amplitude of the degradation (noise
of a given sigma, the blur of a given scale). A plain stack of 3x3 convs
without norm, the kind of network super-resolution and denoising use, learns
that in a few thousand steps where B does not in forty thousand
(``docs/training.md``, twelfth session). The branch adds one to B::

    out = B(x, p) + readout(p) * branch(x)

``branch`` is ``depth`` 3x3 convs with ReLUs on the network input, part of
the trunk (it does not depend on the parameters; the trunk keeps its output),
and ``readout`` a 3x3 conv to RGB predicted from the parameter vector, part
of the head. The readout starts at zero, so a network given a branch starts
as the one without. Without norms the branch has no statistics: it runs
window by window with the trunk, and a window of the readout needs one pixel
more of the branch's features around it, nothing else.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from paramops.models.base import IMAGE_CHANNELS, INPUT_CHANNELS, RELU, Conv, Op, he_std, run_ops
from paramops.models.layers import conv
from paramops.models.predictor import Target

READOUT = "detail.readout"


def branch_program(width: int, depth: int) -> tuple[Op, ...]:
    """``depth`` 3x3 convs, ``detail1`` to ``detail<depth>``, each followed by a ReLU."""
    ops: list[Op] = []
    for k in range(1, depth + 1):
        ops += [Conv(f"detail{k}", INPUT_CHANNELS if k == 1 else width, width), RELU]
    return tuple(ops)


def branch_weights(ops: tuple[Op, ...]) -> nn.ParameterDict:
    """He-initialised weights of the branch's convs."""
    return nn.ParameterDict({op.name: nn.Parameter(torch.randn(op.weight_shape) * he_std(op))
                             for op in ops if isinstance(op, Conv)})


def readout_spec(width: int) -> Conv:
    return Conv(READOUT, width, IMAGE_CHANNELS)


def readout_target(width: int) -> dict[str, Target]:
    """The predicted readout, zero at first (a network with a branch starts as the one without)."""
    return {READOUT: Target(readout_spec(width).weight_shape, spread=0.0)}


def run_branch(ops: tuple[Op, ...], weights: nn.ParameterDict, inp: torch.Tensor) -> torch.Tensor:
    """The branch's features of the padded network input ``inp`` (N, 4, H', W'): (N, width, H', W')."""
    h, _ = run_ops(ops, inp, (), weights, {})
    return h


def readout(features: torch.Tensor, weight: torch.Tensor, area: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """The readout of the branch's ``features`` (N, C, H', W') over ``area`` (y0, y1, x0, x1), all if None.

    ``weight``: the predicted readout, (1 or N, 3, C, 3, 3). Equal to the same
    window of the readout over all of ``features`` (zero padding at the
    image's border only).
    """
    height, width = features.shape[-2:]
    y0, y1, x0, x1 = area or (0, height, 0, width)
    spec = readout_spec(features.shape[1])
    m = spec.radius
    window = features[..., max(0, y0 - m) : min(height, y1 + m), max(0, x0 - m) : min(width, x1 + m)]
    # Zero padding where the margin lies outside the image, none inside: conv pads m on every side,
    # so trim what lies inside.
    top, left = min(m, y0), min(m, x0)
    bottom, right = min(m, height - y1), min(m, width - x1)
    out = conv(window.to(weight.dtype), weight, spec)  # features may be stored in float16
    return out[..., top : out.shape[-2] - bottom, left : out.shape[-1] - right]
