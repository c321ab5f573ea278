"""Starting a run from a network whose detail branch changes: grown deeper, or closed channels drawn again.

Both keep the network's function at the start (``train.init`` with a deeper
``model.detail_branch``; ``train.revive``), so a fine-tune starts where its
init left off. See :mod:`paramops.models.detail` for the branch itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn

from paramops.models.base import Conv, Op, he_std
from paramops.models.layers import conv


def deepen(weights: nn.ParameterDict, ops: tuple[Op, ...], depth: int) -> None:
    """Make the branch's convs after its first ``depth`` pass their input through, so the branch is the one
    of ``depth`` convs.

    Each conv's input is a ReLU's, never negative, so a conv that copies it
    and the ReLU after it change nothing: a branch grown this way starts as
    the shallower one, and training makes the new convs more than copies.
    """
    if depth < 1:
        raise ValueError(f"a branch grows from one of 1 conv or more, got {depth}")
    for op in [op for op in ops if isinstance(op, Conv)][depth:]:
        copy = torch.zeros(op.weight_shape)
        copy[range(op.cout), range(op.cin), op.k // 2, op.k // 2] = 1.0
        with torch.no_grad():
            weights[op.name].copy_(copy)


def closed_channels(ops: tuple[Op, ...], weights: nn.ParameterDict,
                    batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per conv of the branch, which of its output channels no pixel of ``batches`` (network inputs, N x 4 x H x W)
    opens: their ReLU gives 0 everywhere."""
    opened: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for inp in batches:
            h = inp
            for op in ops:
                if isinstance(op, Conv):
                    h = torch.relu(conv(h, weights[op.name], op))
                    seen = h.amax(dim=(0, 2, 3)) > 0
                    opened[op.name] = opened[op.name] | seen if op.name in opened else seen
    return {name: ~seen for name, seen in opened.items()}


def revive(ops: tuple[Op, ...], weights: nn.ParameterDict, closed: dict[str, torch.Tensor],
           generator: torch.Generator | None = None) -> dict[str, int]:
    """Draw the ``closed`` channels of each conv but the last again, and zero the next conv's weights that read them.

    A channel that never opens passes nothing on and gets no gradient, so
    it stays closed for good: capacity the branch has lost. Drawn again (He),
    it opens where its new weights say; read with zero weights, it changes
    nothing, so the network is the same as before wherever the channel was
    closed (everywhere in ``batches`` of :func:`closed_channels`), and
    training makes it useful. The last conv's channels are left alone: the
    predicted readout reads them. Returns how many channels each conv got back.
    """
    convs = [op for op in ops if isinstance(op, Conv)]
    revived = {}
    with torch.no_grad():
        for op, reader in zip(convs, convs[1:]):
            closed_here = closed[op.name]
            count = int(closed_here.sum())
            if count:
                shape = (count, *op.weight_shape[1:])
                weights[op.name][closed_here] = torch.randn(shape, generator=generator) * he_std(op)
                weights[reader.name][:, closed_here] = 0.0
            revived[op.name] = count
    return revived
