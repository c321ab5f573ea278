"""How alike the conv weights of two networks are, layer by layer (paper section 6.3.1, Table XI).

The paper compares a network trained over a whole parameter range with one
trained at a single value: per conv layer, the correlation coefficient of the
two weight tensors and each one's mean and variance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerStats:
    """One conv layer: Pearson correlation of the two flattened weight tensors, their means and variances."""

    layer: int
    name: str
    shape: tuple[int, ...]
    correlation: float
    mean_a: float
    mean_b: float
    var_a: float
    var_b: float


def conv_weights(net, p) -> dict[str, np.ndarray]:
    """Every conv weight of a ``DecoupledNet`` at the encoded parameters ``p`` (1, param_dim), in layer order.

    The weight-learning network predicts them all; a ``TunableNet`` or
    ``ParamChannelNet`` learns most of its weights directly and is refused.
    """
    import torch

    from paramops.models.base import convs_of
    from paramops.models.decoupled import DecoupledNet

    if not isinstance(net, DecoupledNet):
        raise ValueError(f"conv_weights needs a DecoupledNet (every conv predicted), got {type(net).__name__}")
    if p.dim() != 2 or p.shape[0] != 1:
        raise ValueError(f"p must be one parameter vector of shape (1, param_dim), got {tuple(p.shape)}")
    with torch.no_grad():
        predicted = net.predictor(p.to(next(net.parameters()).device))
    return {spec.name: predicted[spec.name][0].double().cpu().numpy() for spec in convs_of(net.ops)}


def compare_weights(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> list[LayerStats]:
    """Per layer of ``a`` (in its order), the statistics of Table XI against the same layer of ``b``.

    Both mappings must name the same layers with the same shapes. A layer
    whose weights are constant has no correlation (``nan``).
    """
    if list(a) != list(b):
        raise ValueError(f"the networks have different conv layers: {list(a)} vs {list(b)}")
    stats = []
    for index, name in enumerate(a, start=1):
        wa, wb = np.asarray(a[name], np.float64).ravel(), np.asarray(b[name], np.float64).ravel()
        if a[name].shape != b[name].shape:
            raise ValueError(f"{name}: shapes differ, {a[name].shape} vs {b[name].shape}")
        constant = wa.std() == 0 or wb.std() == 0
        correlation = float("nan") if constant else float(np.corrcoef(wa, wb)[0, 1])
        stats.append(LayerStats(index, name, tuple(a[name].shape), correlation, float(wa.mean()), float(wb.mean()),
                                float(wa.var()), float(wb.var())))
    return stats
