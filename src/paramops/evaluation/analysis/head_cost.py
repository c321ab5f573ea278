"""What a parameter change costs a ``TunableNet``: its head against its trunk (paper section 6.3.2).

Two measures per tuned position:

* conv multiply-accumulates of the head as a share of the whole network's,
  counted from the layer shapes (machine-independent; the tuned conv's
  predicted slice is in the head, its learned rest in the trunk);
* the measured head time as a share of trunk + head time on one image,
  median of a few runs: on a busy machine the ratio holds better than the
  absolute times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REPEAT = 3


@dataclass(frozen=True)
class HeadCost:
    tuned: str
    head_macs: int
    total_macs: int
    trunk_ms: float
    head_ms: float

    @property
    def mac_share(self) -> float:
        return self.head_macs / self.total_macs

    @property
    def time_share(self) -> float:
        return self.head_ms / (self.trunk_ms + self.head_ms)


def conv_macs(net, height: int, width: int) -> tuple[int, int]:
    """``(head, total)`` conv multiply-accumulates of a ``TunableNet`` on an ``height`` x ``width`` image."""
    from paramops.models.base import Conv, scales_of

    h, w = height + height % 2, width + width % 2  # the network pads to even sizes
    head = total = 0
    for index, (op, scale) in enumerate(zip(net.ops, scales_of(net.ops))):
        if not isinstance(op, Conv):
            continue
        numel = math.prod(op.weight_shape)
        pixels = (h // scale) * (w // scale) if op.transposed else (h // (scale * op.stride)) * (w // (scale * op.stride))
        target = net.predictor.targets.get(op.name)
        predicted = target.numel if target is not None else 0
        total += numel * pixels
        if index > net.split:
            head += numel * pixels
        elif index == net.split:
            head += predicted * pixels
    if getattr(net, "detail_branch", 0):
        # Full resolution throughout: the branch's convs in the trunk, its predicted readout in the head.
        from paramops.models.detail import readout_specs

        branch = [op for op in net.detail_ops if isinstance(op, Conv)]
        readout = sum(math.prod(op.weight_shape) for op in readout_specs(net.config["width"], net.detail_hidden)) * h * w
        for prefix in net.slot_branches:  # beside it: their convs in the trunk, a conv to RGB each in the head
            branch += [op for op in getattr(net, f"{prefix}_ops") if isinstance(op, Conv)]
            readout += math.prod(getattr(net, f"{prefix}_readout").shape) * h * w
        head += readout
        total += readout + sum(math.prod(op.weight_shape) for op in branch) * h * w
    return head, total


def head_cost(net, image, p, repeat: int = REPEAT) -> HeadCost:
    """Count and time ``net.head(net.trunk(x), p)`` against ``net.trunk(x)`` on one image.

    Parameters
    ----------
    net : TunableNet
    image : ndarray, shape (H, W, 3)
        Float RGB in [0, 1].
    p : Tensor, shape (1, param_dim)
    repeat : int
        Timed runs per part, after a warm-up; the median is kept.
    """
    import numpy as np
    import torch

    from paramops.models.tunable import TunableNet
    from paramops.service.bench import median_ms

    if not isinstance(net, TunableNet):
        raise ValueError(f"head_cost needs a TunableNet (a trunk and a head), got {type(net).__name__}")
    device = next(net.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None].to(device)
    p = p.to(device)
    def timed(fn):
        def run(_):
            fn()
            if device.type == "cuda":  # kernels run asynchronously
                torch.cuda.synchronize(device)
        return run

    with torch.inference_mode():
        features = net.trunk(x)
        trunk_ms = median_ms(timed(lambda: net.trunk(x)), repeat)
        head_ms = median_ms(timed(lambda: net.head(features, p)), repeat)
    head, total = conv_macs(net, *image.shape[:2])
    return HeadCost(net.tuned, head, total, trunk_ms, head_ms)
