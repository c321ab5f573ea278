"""The weight-learning network N: parameter vector -> weights of base-network layers (paper eq. 4).

One small network per predicted tensor:

* ``"fc1"`` -- a single fully connected layer (the paper's default); the
  predicted weights are an affine function of the parameter vector.
* ``"fc2"`` -- two fully connected layers, ``param_dim -> hidden -> weights``
  (section 6.5.2, "nume. (fc2)"); the paper does not give ``hidden``.
* ``"fc2R"`` -- the same with a ReLU between them ("nume. (fc2R)"). With
  ``hidden=16`` this is the real-time variant's MLP of the public code
  (``param_dim -> 16 -> channels``, one for the scale and one for the shift).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn

FC_KINDS = ("fc1", "fc2", "fc2R")

# How much the predicted weights vary over the parameter range at
# initialisation, relative to their base scale.
SPREAD = 0.5


@dataclass(frozen=True)
class Target:
    """A predicted tensor and the initial distribution of its values.

    At initialisation the prediction is ``mean + std * noise`` (drawn once, in
    the last layer's bias) plus a parameter-dependent part of scale ``spread``.
    """

    shape: tuple[int, ...]
    mean: float = 0.0
    std: float = 0.0
    spread: float = 0.1

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def _fc_stack(param_dim: int, numel: int, kind: str, hidden: int) -> nn.Sequential:
    if kind == "fc1":
        return nn.Sequential(nn.Linear(param_dim, numel))
    middle = [nn.ReLU()] if kind == "fc2R" else []
    return nn.Sequential(nn.Linear(param_dim, hidden), *middle, nn.Linear(hidden, numel))


class WeightPredictor(nn.Module):
    """Predict every tensor in ``targets`` from the parameter vector.

    Parameters
    ----------
    param_dim : int
        Length of the parameter vector.
    targets : mapping of str to Target
        Name and shape of each predicted tensor.
    kind : {"fc1", "fc2", "fc2R"}
    hidden : int
        Width of the hidden layer of ``"fc2"`` / ``"fc2R"``.
    """

    def __init__(self, param_dim: int, targets: Mapping[str, Target], kind: str = "fc1", hidden: int = 4) -> None:
        super().__init__()
        if kind not in FC_KINDS:
            raise ValueError(f"unknown weight-learning network {kind!r}; use one of {', '.join(FC_KINDS)}")
        self.targets = dict(targets)
        # Module names may not contain dots ("norm19.scale").
        self.layers = nn.ModuleDict(
            {
                _key(name): _fc_stack(param_dim, t.numel, kind, hidden)
                for name, t in self.targets.items()
            }
        )
        with torch.no_grad():
            for name, t in self.targets.items():
                last = self.layers[_key(name)][-1]
                last.bias.fill_(t.mean).add_(torch.randn_like(last.bias) * t.std)
                last.weight.normal_(0.0, t.spread / math.sqrt(last.in_features))

    def forward(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, param_dim) -> {name: (B, *shape)}."""
        return {
            name: self.layers[_key(name)](p).reshape(p.shape[0], *t.shape) for name, t in self.targets.items()
        }


def _key(name: str) -> str:
    return name.replace(".", "_")


def conv_target(shape: tuple[int, ...], std: float) -> Target:
    """A predicted conv weight: He-scaled base kernel, parameter dependence of relative size SPREAD."""
    return Target(tuple(shape), 0.0, std, SPREAD * std)


def norm_targets(name: str, channels: int) -> dict[str, Target]:
    """Predicted instance-norm scale (starting near 1) and shift (near 0)."""
    return {f"{name}.scale": Target((channels,), 1.0), f"{name}.shift": Target((channels,), 0.0)}
