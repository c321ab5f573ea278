"""Branches only some operators read: the field branch and the own branch.

Such a branch is ``depth`` 3x3 convs with ReLUs on the network input (image,
edge map, fields), part of the trunk beside the detail branch, whose features
it travels with (:class:`~paramops.models.features.TrunkFeatures` ``detail``,
its channels after the detail branch's)::

    out = B(x, p) + readout(p) * branch(x) + field_readout(p) * field_branch(x) + own_readout(p) * own_branch(x)

Its readout, one 3x3 conv to RGB, is a linear map *without bias* of the
parameter vector's entries that belong to its operators alone
(:meth:`~paramops.models.encoding.ParamEncoding.own_slots`, the model's
``field_slots`` or ``own_slots``). Every other operator has zeros there, so
its readout is exactly zero and its output exactly that of the network
without the branch, however the branch is trained. The map starts at zero, so
a network given a branch also starts as the one without for the operators
that read it.

The *field branch* reads the position fields (:mod:`paramops.operators.fields`)
for the operators that lay them. A network given a field as input channels
lets every operator read it through B and the detail branch, so training it
on pencil's paper texture moves every operator's function
(``docs/training.md``, twenty-first session); the field branch reads the
field where only the operators that lay it look.

The *own branch* is full-resolution capacity of their own for the operators a
training config names (``model.own_operators``): deblocking, which fourteen
other operators' share of B and the detail branch leaves short of its bar
(``docs/training.md``, twenty-ninth session).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn


FIELD_READOUT = "field.readout"
OWN_READOUT = "own.readout"
# Each branch's prefix (its options <prefix>_branch, _width and _slots; its weights <prefix>_convs and
# <prefix>_readout) and its predicted readout's name, in the order their features follow the detail branch's.
SLOT_BRANCHES = (("field", FIELD_READOUT), ("own", OWN_READOUT))


class SlotReadout(nn.Module):
    """A predicted tensor of some operators alone: a linear map without bias of their entries of the
    parameter vectors (N, param_dim), zero at the start.

    Parameters
    ----------
    slots : sequence of int
        The entries of the parameter vector it reads: those of the operators
        that read it, and nobody else's.
    shape : tuple of int
        The predicted tensor's shape, for one vector: a branch's readout conv
        (3, width, 3, 3), the Laplacian bank's weights (J,).
    """

    def __init__(self, slots: Sequence[int], shape: tuple[int, ...]) -> None:
        super().__init__()
        # Part of the config (<prefix>_slots), not of the weights.
        self.register_buffer("slots", torch.tensor(list(slots), dtype=torch.long), persistent=False)
        self.shape = tuple(shape)
        self.map = nn.Linear(len(slots), math.prod(self.shape), bias=False)
        nn.init.zeros_(self.map.weight)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.map(p[:, self.slots]).reshape(p.shape[0], *self.shape)
