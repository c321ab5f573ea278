"""``TrunkFeatures``: what :meth:`TunableNet.trunk` computes once per image, for any number of heads."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from paramops.models.layers import Stats
from paramops.models.windows import WindowGrid


@dataclass
class TrunkFeatures:
    """The parameter-independent part of a :class:`~paramops.models.tunable.TunableNet` pass.

    Attributes
    ----------
    h : Tensor, shape (N, C, H', W')
        What the tuned layer consumes: the pre-normalisation activations of a
        tuned norm, the input of a tuned conv (only its first
        ``tuned_channels`` for ``conv_in``). H', W' are the padded (even) sizes, or half of them when
        the tuned layer sits in the half-resolution middle of the network.
    stats : dict of str to (mean, var)
        Whole-image instance-norm statistics, each (N, C), of a tuned norm:
        they do not depend on the parameters, so a head can normalise any
        window of ``h`` exactly as the full image.
    size : (int, int)
        The image's height and width before padding.
    skips : tuple of Tensor
        Inputs of residual blocks still open at the tuned layer.
    fixed : Tensor or None
        ``conv_in`` / ``conv_out``: the output of the tuned conv's learned part.
    image : Tensor or None
        The input image (N, 3, H, W), for residual networks; with a Laplacian
        bank, its maps after it (N, 3 + J, H, W) (:meth:`BaseNet.residual_image`).
    moments : dict of str to Tensor
        ``conv_in`` and ``conv``: small whole-image moments from which the head
        gets the statistics of the norm after the tuned conv, for any
        parameters, without a full-image pass (see
        :func:`~paramops.models.layers.input_slice_moments`); with
        ``windows``, one set per window, (N, windows, ...).
    windows : WindowGrid or None
        The windows of a network with ``norm_windows`` (:meth:`TunableNet.trunk_windows`).
    cdf : Tensor or None
        A network with a tone head: the image's cumulative luminance histogram
        (N, 256), :func:`~paramops.models.tone.luminance_cdf`.
    detail : Tensor or None
        A network with a detail branch: the branch's features (N, C, H', W'),
        padded as ``h`` (:mod:`paramops.models.detail`), then those of the
        branches only some operators read (:mod:`paramops.models.own_branches`).
    """

    h: torch.Tensor
    stats: dict[str, Stats]
    size: tuple[int, int]
    skips: tuple[torch.Tensor, ...] = ()
    fixed: torch.Tensor | None = None
    image: torch.Tensor | None = None
    moments: dict[str, torch.Tensor] = field(default_factory=dict)
    windows: WindowGrid | None = None
    cdf: torch.Tensor | None = None
    detail: torch.Tensor | None = None

    def tensors(self) -> list[torch.Tensor]:
        held = [self.h, *self.skips, *(t for pair in self.stats.values() for t in pair), *self.moments.values()]
        return held + [t for t in (self.fixed, self.image, self.cdf, self.detail) if t is not None]

    def spatial(self) -> list[torch.Tensor]:
        """The image-shaped tensors: ``h``, the ``skips``, ``fixed`` and ``detail`` if present."""
        return [self.h, *self.skips] + [t for t in (self.fixed, self.detail) if t is not None]

    def with_spatial(self, tensors: list[torch.Tensor]) -> TrunkFeatures:
        """A copy holding ``tensors`` in place of :meth:`spatial`."""
        rest = iter(tensors[1 + len(self.skips) :])
        skips = tuple(tensors[1 : 1 + len(self.skips)])
        fixed = None if self.fixed is None else next(rest)
        detail = None if self.detail is None else next(rest)
        return replace(self, h=tensors[0], skips=skips, fixed=fixed, detail=detail)

    @property
    def batch(self) -> int:
        return self.h.shape[0]

    @property
    def nbytes(self) -> int:
        """Bytes held by all tensors, for cache budgets."""
        return sum(t.numel() * t.element_size() for t in self.tensors())

    def _map(self, fn) -> TrunkFeatures:
        return replace(
            self,
            h=fn(self.h),
            stats={name: (fn(m), fn(v)) for name, (m, v) in self.stats.items()},
            skips=tuple(fn(t) for t in self.skips),
            fixed=None if self.fixed is None else fn(self.fixed),
            image=None if self.image is None else fn(self.image),
            cdf=None if self.cdf is None else fn(self.cdf),
            detail=None if self.detail is None else fn(self.detail),
            moments={name: fn(t) for name, t in self.moments.items()},
        )

    def to(self, *args, **kwargs) -> TrunkFeatures:
        """Move or cast every tensor, like :meth:`torch.Tensor.to`."""
        return self._map(lambda t: t.to(*args, **kwargs))

    def detach(self) -> TrunkFeatures:
        return self._map(torch.Tensor.detach)

    def expand(self, n: int) -> TrunkFeatures:
        """A batch-1 feature set seen as ``n`` copies (no memory copied), for ``n`` parameter vectors."""
        if self.batch != 1:
            raise ValueError(f"only batch-1 features can be expanded, these have batch {self.batch}")
        return self._map(lambda t: t.expand(n, *t.shape[1:]))
