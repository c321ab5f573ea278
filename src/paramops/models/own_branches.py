"""The field branch: where the operators that lay a position field learn it, and no other operator looks.

A network given a position field (:mod:`paramops.operators.fields`) as input
channels lets every operator read it through B and the detail branch, so
training it on pencil's paper texture moves every operator's function
(``docs/training.md``, twenty-first session). The field branch reads the
field where only the operators that lay it look::

    out = B(x, p) + readout(p) * branch(x) + field_readout(p) * field_branch(x)

``field_branch`` is ``depth`` 3x3 convs with ReLUs on the network input
(image, edge map, fields), part of the trunk beside the detail branch, whose
features it travels with (:class:`~paramops.models.features.TrunkFeatures`
``detail``, its channels last). Its readout, one 3x3 conv to RGB, is a linear
map *without bias* of the parameter vector's entries that belong to those
operators alone (:meth:`~paramops.models.encoding.ParamEncoding.own_slots`,
the model's ``field_slots``). Every other operator has zeros there, so its
readout is exactly zero and its output exactly that of the network without
the branch, however the branch is trained. The map starts at zero, so a
network given the branch also starts as the one without for the operators
that read it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn

from paramops.models.base import IMAGE_CHANNELS

FIELD_READOUT = "field.readout"


class FieldReadout(nn.Module):
    """The field branch's readout conv (N, 3, width, 3, 3) from the parameter vectors (N, param_dim).

    Parameters
    ----------
    slots : sequence of int
        The entries of the parameter vector it reads: those of the operators
        that lay the network's fields, and nobody else's.
    width : int
        Channels of the field branch.
    """

    def __init__(self, slots: Sequence[int], width: int) -> None:
        super().__init__()
        # Part of the config (field_slots), not of the weights.
        self.register_buffer("slots", torch.tensor(list(slots), dtype=torch.long), persistent=False)
        self.shape = (IMAGE_CHANNELS, width, 3, 3)
        self.map = nn.Linear(len(slots), math.prod(self.shape), bias=False)
        nn.init.zeros_(self.map.weight)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.map(p[:, self.slots]).reshape(p.shape[0], *self.shape)
