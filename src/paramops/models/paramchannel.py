"""``ParamChannelNet``: the baseline of Chen, Xu and Koltun 2017 ([18] in the paper, section 4.5).

The same base network B with ordinary learned weights; the parameter vector
enters as extra constant input channels, one per element, and nothing is
predicted.
"""

from __future__ import annotations

import torch

from paramops.models.base import INPUT_CHANNELS, BaseNet, convs_of, norms_of, run_ops


class ParamChannelNet(BaseNet):
    """B with ``param_dim`` constant input channels. Build with ``arch="paramchannel"``."""

    def __init__(self, config: dict) -> None:
        super().__init__(config, in_channels=INPUT_CHANNELS + int(config["param_dim"]))
        self.convs = self.learned_convs([spec.name for spec in convs_of(self.ops)])
        self.norm_scale, self.norm_shift = self.learned_norms([n.name for n in norms_of(self.ops)])

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1], (N or 1, param_dim) -> (N, 3, H, W)."""
        h = self.prepare(x, p)
        planes = p.to(h.dtype)[:, :, None, None].expand(h.shape[0], -1, *h.shape[2:])
        affines = {name: (self.norm_scale[name], self.norm_shift[name]) for name in self.norm_scale}
        h, _ = run_ops(self.ops, torch.cat([h, planes], dim=1), (), self.convs, affines)
        return self.finish(h, x, x.shape[-2:])
