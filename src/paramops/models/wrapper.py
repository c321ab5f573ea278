"""``ParamModel``: a trained network with its parameter encoding, applied to numpy images."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from paramops.image import from_working, to_working
from paramops.models.encoding import ParamEncoding


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class ParamModel:
    """A network, the encoding it was trained with, its config and metadata.

    Parameters
    ----------
    net : torch.nn.Module
        Built by :func:`paramops.models.build_model`.
    encoding : ParamEncoding
    meta : mapping, optional
        What the checkpoint recorded (training steps, data, scores).
    device : str or torch.device, optional
        Default: CUDA when available, else the CPU.
    """

    def __init__(
        self,
        net: torch.nn.Module,
        encoding: ParamEncoding,
        *,
        meta: Mapping | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.net = net.to(self.device).eval()
        self.encoding = encoding
        self.config = dict(net.config)
        self.meta = dict(meta or {})

    @property
    def operators(self) -> tuple[str, ...]:
        """The operators this model reproduces."""
        return self.encoding.operators

    def to(self, device: str | torch.device) -> ParamModel:
        self.device = torch.device(device)
        self.net.to(self.device)
        return self

    def with_norm_windows(self, norm_windows: list[int] | None) -> ParamModel:
        """The same weights with instance norm over ``[window, stride]`` windows, or over the whole image (None).

        Windows (see :mod:`paramops.models.windows`) give a patch-trained
        network the statistics it learned, at about 2.3 times the trunk's and
        3 to 4 times the head's work on the CPU (``docs/service.md``). Only for
        ``TunableNet`` with a moment head (``tuned`` conv or conv_in).
        """
        from paramops.models.registry import build_model

        if self.config["arch"] != "tunable":
            raise ValueError(f"norm_windows applies to arch 'tunable', not {self.config['arch']!r}")
        net = build_model({**self.config, "norm_windows": norm_windows})
        net.load_state_dict(self.net.state_dict())
        return ParamModel(net, self.encoding, meta=self.meta, device=self.device)

    def encode(self, op: str, **params: float) -> torch.Tensor:
        """The (1, param_dim) parameter tensor for ``op`` with ``params`` on this model's device."""
        return torch.from_numpy(self.encoding.encode(op, params))[None].to(self.device)

    def apply(self, image: np.ndarray, op: str, **params: float) -> np.ndarray:
        """Run the network as operator ``op`` with ``params`` on one image.

        Parameters
        ----------
        image : ndarray
            (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, uint16 or float,
            as :func:`paramops.image.to_working` accepts.
        op : str
            One of :attr:`operators`.
        **params : float
            The operator's parameters in their registry units; missing ones
            take their defaults.

        Returns
        -------
        ndarray
            Same shape and dtype as ``image``; the network's output is clipped
            to [0, 1] of the image's value range, like the reference operators.
        """
        p = self.encode(op, **params)
        rgb, layout = to_working(image)
        with torch.inference_mode():
            x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(self.device)
            out = self.net(x, p).clamp_(0.0, 1.0)[0].permute(1, 2, 0).cpu().numpy()
        return from_working(out, layout)

    def __repr__(self) -> str:
        return (
            f"ParamModel(arch={self.config['arch']!r}, operators={list(self.operators)}, "
            f"param_dim={self.encoding.dim}, device={str(self.device)!r})"
        )
