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
of the head. With ``hidden`` channels the readout is two predicted convs, the
first with a predicted bias and a ReLU: the parameters then choose which of
the branch's features pass, not only how they mix, which is what a plain
network does with the parameter as an input (``docs/plain_restorer.md``,
thirteenth session). The readout's last conv starts at zero, so a network
given a branch starts as the one without. Without norms the branch has no
statistics: it runs window by window with the trunk, and a window of the
readout needs one pixel more of the branch's features around it per conv,
nothing else.

With a *gate* the readout no longer has to learn B's error where B is wrong
(the restorations, ``docs/training.md``, fourteenth session)::

    out = x + gate(p) * (B(x, p) - x) + readout(p) * branch(x)

``gate`` is one number predicted from the parameters, 1 at first (so a
network given a gate starts as the one without); it scales B's residual, its
output conv and its tone head alike, so it folds into their weights
(:func:`gated`) and costs nothing per pixel.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn

from paramops.models.base import IMAGE_CHANNELS, INPUT_CHANNELS, RELU, Conv, Op, he_std, run_ops
from paramops.models.layers import conv
from paramops.models.own_branches import SLOT_BRANCHES
from paramops.models.predictor import Target
from paramops.models.tone import COLOR, CURVE

READOUT = "detail.readout"
HIDDEN = "detail.hidden"
HIDDEN_BIAS = "detail.hidden_bias"
GATE = "detail.gate"


def branch_program(width: int, depth: int, in_channels: int = INPUT_CHANNELS, name: str = "detail") -> tuple[Op, ...]:
    """``depth`` 3x3 convs, ``<name>1`` to ``<name><depth>``, each followed by a ReLU."""
    ops: list[Op] = []
    for k in range(1, depth + 1):
        ops += [Conv(f"{name}{k}", in_channels if k == 1 else width, width), RELU]
    return tuple(ops)


def branch_weights(ops: tuple[Op, ...]) -> nn.ParameterDict:
    """He-initialised weights of the branch's convs."""
    return nn.ParameterDict({op.name: nn.Parameter(torch.randn(op.weight_shape) * he_std(op))
                             for op in ops if isinstance(op, Conv)})


class Readout(NamedTuple):
    """The predicted readout: ``out`` (B, 3, C', 3, 3); with a hidden layer, ``hidden`` (B, C', C, 3, 3) and
    ``hidden_bias`` (B, C') before it, C' the hidden channels (``out`` reads C channels without).

    With branches only some operators read (:mod:`paramops.models.own_branches`), ``slots`` holds each
    one's readout (B, 3, F, 3, 3), in order: each reads the F channels of its features, which follow the C
    of the detail branch's.
    """

    out: torch.Tensor
    hidden: torch.Tensor | None = None
    hidden_bias: torch.Tensor | None = None
    slots: tuple[torch.Tensor, ...] = ()

    @property
    def margin(self) -> int:
        """Pixels of the branch's features around a window that this readout reads."""
        return readout_margin(0 if self.hidden is None else self.hidden.shape[-4])


def readout_specs(width: int, hidden: int = 0) -> tuple[Conv, ...]:
    """The readout's convs: ``width`` -> 3, or ``width`` -> ``hidden`` -> 3."""
    if not hidden:
        return (Conv(READOUT, width, IMAGE_CHANNELS),)
    return Conv(HIDDEN, width, hidden), Conv(READOUT, hidden, IMAGE_CHANNELS)


def readout_margin(hidden: int = 0) -> int:
    """Pixels of the branch's features around a window that its readout reads: one per 3x3 conv."""
    return len(readout_specs(1, hidden))


def readout_targets(width: int, hidden: int = 0) -> dict[str, Target]:
    """The predicted readout. Its last conv is zero at first: a network with a branch starts as the one without."""
    *first, last = readout_specs(width, hidden)
    targets = {last.name: Target(last.weight_shape, spread=0.0)}
    for spec in first:
        std = he_std(spec)
        targets |= {spec.name: Target(spec.weight_shape, std=std, spread=0.1 * std),
                    HIDDEN_BIAS: Target((spec.cout,), spread=0.1)}
    return targets


def readout_weights(predicted: dict[str, torch.Tensor]) -> Readout:
    """The readout's tensors among the predicted ones (:meth:`TunableNet.predict`)."""
    slots = tuple(predicted[name] for _, name in SLOT_BRANCHES if name in predicted)
    return Readout(predicted[READOUT], predicted.get(HIDDEN), predicted.get(HIDDEN_BIAS), slots)


def run_branch(ops: tuple[Op, ...], weights: nn.ParameterDict, inp: torch.Tensor) -> torch.Tensor:
    """The branch's features of the padded network input ``inp`` (N, 4 + fields, H', W'): (N, width, H', W')."""
    h, _ = run_ops(ops, inp, (), weights, {})
    return h


def readout(features: torch.Tensor, weights: Readout, area: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """The readout of the branch's ``features`` (N, C, H', W') over ``area`` (y0, y1, x0, x1), all if None.

    Equal to the same window of the readout over all of ``features`` (zero
    padding at the image's border only, before each conv).
    """
    height, width = features.shape[-2:]
    y0, y1, x0, x1 = area or (0, height, 0, width)
    m = weights.margin
    window = features[..., max(0, y0 - m) : min(height, y1 + m), max(0, x0 - m) : min(width, x1 + m)]
    h = window.to(weights.out.dtype)  # features may be stored in float16
    widths = [slot.shape[-3] for slot in weights.slots]  # each branch's channels after the one before
    h, *parts = torch.split(h, [h.shape[1] - sum(widths), *widths], dim=1)
    if weights.hidden is not None:
        hidden = Conv(HIDDEN, h.shape[1], weights.hidden.shape[-4])
        h = torch.relu(conv(h, weights.hidden, hidden) + weights.hidden_bias[..., None, None])
    out = conv(h, weights.out, Conv(READOUT, h.shape[1], IMAGE_CHANNELS))
    for part, slot in zip(parts, weights.slots):
        # Zero for every operator but those that read the branch: skipped then, where no gradient needs it.
        if slot.requires_grad or slot.any():
            # One conv: its spoiled ring lies inside the margin the detail readout needs, which is at least one.
            out = out + conv(part, slot, Conv(READOUT, part.shape[1], IMAGE_CHANNELS))
    # Each conv zero pads every side of the window, which is the image's own padding only at its border:
    # inside, the padding spoils one ring per conv, m in all, which lies in the margin. Trim it.
    top, left = min(m, y0), min(m, x0)
    bottom, right = min(m, height - y1), min(m, width - x1)
    return out[..., top : out.shape[-2] - bottom, left : out.shape[-1] - right]


def gate_target() -> dict[str, Target]:
    """The predicted gate, exactly 1 at first for every parameter vector."""
    return {GATE: Target((1,), mean=1.0, spread=0.0)}


def gated(predicted: dict[str, torch.Tensor], output_conv: str, weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """The predictor's ``predicted`` tensors with the gate folded into B's residual.

    ``weight`` is B's learned output conv ``output_conv``; it comes back per
    sample, times the gate, under that name, as a predicted conv does. The
    tone head's colour matrix and curve are scaled too; the readout is not.
    """
    gate = predicted[GATE]  # (N, 1)
    folded = {output_conv: gate.view(-1, 1, 1, 1, 1) * weight}
    for name in (COLOR, CURVE):
        if name in predicted:
            value = predicted[name]
            folded[name] = gate.view(-1, *[1] * (value.dim() - 1)) * value
    return {**predicted, **folded}
