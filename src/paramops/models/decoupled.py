"""``DecoupledNet``: base network B whose conv weights all come from the weight-learning network N.

Paper section 3.2, eq. 4: every conv of B gets its weights from its own
fully connected layer of N; only the instance-norm scales and shifts of B are
learned directly. At the defaults with ``param_dim=2`` that is 2,088,768
numbers in N plus 2,432 in B's norms; B's 696,256 conv weights are predicted.
"""

from __future__ import annotations

import torch

from paramops.models.base import BaseNet, convs_of, init_std, norms_of, run_ops
from paramops.models.predictor import WeightPredictor, conv_target


class DecoupledNet(BaseNet):
    """B + N. Build through :func:`paramops.models.build_model` with ``arch="decoupled"``."""

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.predictor = WeightPredictor(
            self.param_dim,
            {
                spec.name: conv_target(spec.weight_shape, init_std(spec, spec is self.output_conv))
                for spec in convs_of(self.ops)
            },
            kind=config["fc"],
            hidden=config["fc_hidden"],
        )
        self.norm_scale, self.norm_shift = self.learned_norms([n.name for n in norms_of(self.ops)])

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1], (N or 1, param_dim) -> (N, 3, H, W).

        Samples with different parameter vectors get their own weights in one
        grouped convolution per layer.
        """
        h = self.prepare(x, p)
        affines = {name: (self.norm_scale[name], self.norm_shift[name]) for name in self.norm_scale}
        h, _ = run_ops(self.ops, h, (), self.predictor(p), affines)
        return self.finish(h, x, x.shape[-2:])
