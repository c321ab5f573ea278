"""Training some operators' own entries of the weight-learning network and nothing else (``train.tune_only``).

With the one-hot layout an operator's indicator and parameter slots are zero
for every other operator (:meth:`~paramops.models.encoding.ParamEncoding.own_slots`).
The columns of the predictor's first layers that read those slots are the
operator's alone: whatever they learn, every other operator's predicted
weights, and so its output, stay bit for bit what they were. Everything else
is frozen, the trunk and the first layers' biases included, so such a run
gives the operators a head of their own on the features all operators share,
and costs the trunk's forward pass and the head's backward pass a step.
With ``train.own_lr`` the own branch learns too, at that rate
(:mod:`paramops.models.own_branches`): only tuned operators read it, so
the others' outputs stay as they were all the same.

Adam moves a weight only by its gradient's running moments; a column whose
gradient is always zero has zero moments and never moves.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def own_columns(net: torch.nn.Module, ops: Sequence[str], slots: Sequence[int]) -> list[torch.nn.Parameter]:
    """Freeze ``net`` but the columns ``slots`` (``ops``' own) of its predictor's first layers.

    Returns the first layers' weights, to be trained: their other columns get
    zero gradients (a hook masks them), so they do not move.

    Raises ``ValueError`` for a network without a weight-learning network (the
    parameter-channel baseline) or operators without own slots.
    """
    predictor = getattr(net, "predictor", None)
    if predictor is None:
        raise ValueError(f"train.tune_only needs a network whose weights are predicted from the parameters; "
                         f"{type(net).__name__} takes them as input channels")
    if not slots:
        raise ValueError(f"train.tune_only: {', '.join(ops)} have no entries of their own in the parameter vector")
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    weights = []
    for stack in predictor.layers.values():
        weight = stack[0].weight
        mask = torch.zeros(weight.shape[1], dtype=weight.dtype, device=weight.device)
        mask[list(slots)] = 1
        weight.requires_grad_(True)
        weight.register_hook(lambda grad, mask=mask: grad * mask)
        weights.append(weight)
    return weights
