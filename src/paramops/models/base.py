"""The base network B as a flat program of operations, and what every network shares.

B (paper section 3.2 and its public code), at the defaults: twenty 3x3 convs
without bias; conv3 has stride 2; convs 4-17 form seven residual blocks with
dilations 2, 4, 4, 8, 8, 16, 1 (conv-IN-ReLU, conv-IN, add the block input,
ReLU); conv18 is a 4x4 stride-2 transposed conv back to full resolution; conv19
64->64; conv20 64->3. Instance norm with affine scale and shift, then ReLU,
follows conv1 to conv19. Norm ``k`` follows conv ``k``.

The networks differ only in where the weights come from (learned, predicted
from the parameter vector, or a mix), so B is written once as a tuple of ops
that :func:`run_ops` interprets with a weight lookup. The same program also lets
:class:`~paramops.models.tunable.TunableNet` stop and resume at any op (its
trunk/head split), run on tiles, and compute receptive fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from paramops.models.bank import BANK_WEIGHTS, bank_of, bank_offset
from paramops.models.layers import (
    IMAGE_CHANNELS,
    Stats,
    apply_norm,
    conv,
    instance_stats,
    network_input,
    pad_even,
    with_fields,
)
from paramops.models.tone import COLOR, CURVE, luminance_cdf, tone_offset

PAPER_DILATIONS = (2, 4, 4, 8, 8, 16, 1)
INPUT_CHANNELS = 4  # image + edge map

Weights = Mapping[str, torch.Tensor]
Affines = Mapping[str, tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Conv:
    """One bias-free convolution of B."""

    name: str
    cin: int
    cout: int
    k: int = 3
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    transposed: bool = False

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        if self.transposed:
            return (self.cin, self.cout // self.groups, self.k, self.k)
        return (self.cout, self.cin // self.groups, self.k, self.k)

    @property
    def padding(self) -> int:
        # The transposed conv is 4x4, stride 2, padding 1: exactly 2x upsampling.
        return 1 if self.transposed else self.dilation * (self.k - 1) // 2

    @property
    def radius(self) -> int:
        """How far (in pixels of its input) an output pixel sees."""
        return 1 if self.transposed else self.dilation * (self.k - 1) // 2

    @property
    def fan_in(self) -> float:
        """Inputs feeding one output value, for He initialisation."""
        if self.transposed:
            return self.cin // self.groups * (self.k / self.stride) ** 2
        return self.cin // self.groups * self.k * self.k


@dataclass(frozen=True)
class Norm:
    """Instance normalisation with affine scale and shift, after the conv of the same number."""

    name: str
    channels: int


@dataclass(frozen=True)
class Marker:
    """ReLU, or the start (push the block input) / end (add it back) of a residual block."""

    kind: str

    def __reduce__(self):
        # The network programs compare markers by identity: a copy or an
        # unpickled network must get the module's own instances back.
        return (marker, (self.kind,))


RELU, PUSH, ADD = Marker("relu"), Marker("push"), Marker("add")


def marker(kind: str) -> Marker:
    """The module's :class:`Marker` of ``kind`` ("relu", "push" or "add")."""
    return {m.kind: m for m in (RELU, PUSH, ADD)}[kind]
Op = Conv | Norm | Marker


def build_program(
    *,
    in_channels: int = INPUT_CHANNELS,
    width: int = 64,
    dilations: Sequence[int] = PAPER_DILATIONS,
    blocks: str = "standard",
    expand: int = 2,
    last_width: int | None = None,
    skip: bool = False,
) -> tuple[Op, ...]:
    """The ops of B, ending with the output conv.

    Parameters
    ----------
    in_channels : int
        4 (image and edge map), more for :class:`ParamChannelNet`.
    width : int
        Feature channels (the paper: 64; its real-time variant: 128).
    dilations : sequence of int
        One residual block per entry, at half resolution.
    blocks : {"standard", "separable"}
        ``"standard"``: two dilated 3x3 convs per block. ``"separable"`` (the
        paper's real-time variant, section 5): 1x1 expand to ``expand * width``,
        3x3 depthwise with the block's dilation, 1x1 project, each followed by
        instance norm.
    last_width : int, optional
        Output channels of the last hidden conv (conv19); the real-time variant
        uses 64 with ``width=128``. Default ``width``.
    skip : bool
        Add conv2's full-resolution features to conv18's upsampled ones (a
        U-Net-style long skip; not in the paper's B). Without it, everything
        the output needs at full resolution, such as the detail a smoothing
        filter keeps or the noise a denoiser removes, must pass through the
        half-resolution blocks, which a short training does not learn.
    """
    last_width = last_width or width
    ops: list[Op] = []

    def layer(cin: int, cout: int, *, norm: bool = True, relu: bool = True, **kw) -> None:
        spec = Conv(f"conv{sum(isinstance(op, Conv) for op in ops) + 1}", cin, cout, **kw)
        ops.append(spec)
        if norm:
            ops.append(Norm(spec.name.replace("conv", "norm"), cout))
        if relu:
            ops.append(RELU)

    layer(in_channels, width)
    layer(width, width)
    if skip:
        ops.append(PUSH)
    layer(width, width, stride=2)
    for d in dilations:
        ops.append(PUSH)
        if blocks == "standard":
            layer(width, width, dilation=d)
            layer(width, width, dilation=d, relu=False)
        else:
            wide = expand * width
            layer(width, wide, k=1)
            layer(wide, wide, dilation=d, groups=wide)
            layer(wide, width, k=1, relu=False)
        ops += [ADD, RELU]
    layer(width, width, k=4, stride=2, transposed=True)
    if skip:
        ops.append(ADD)  # both summands follow a ReLU: no ReLU needed after
    layer(width, last_width)
    layer(last_width, IMAGE_CHANNELS, norm=False, relu=False)
    return tuple(ops)


def convs_of(ops: Sequence[Op]) -> list[Conv]:
    return [op for op in ops if isinstance(op, Conv)]


def norms_of(ops: Sequence[Op]) -> list[Norm]:
    return [op for op in ops if isinstance(op, Norm)]


def run_ops(
    ops: Sequence[Op],
    h: torch.Tensor,
    skips: tuple[torch.Tensor, ...],
    weights: Weights,
    affines: Affines,
    *,
    norm_stats: Mapping[str, Stats] | None = None,
    record: dict[str, Stats] | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Run ``ops`` on ``h`` with the open residual inputs ``skips``.

    ``norm_stats`` supplies instance-norm statistics by norm name instead of
    computing them from ``h`` (whole-image statistics for a tile or a window);
    ``record``, when given, receives the statistics each norm used.
    """
    for op in ops:
        if isinstance(op, Conv):
            h = conv(h, weights[op.name], op)
        elif isinstance(op, Norm):
            stats = norm_stats.get(op.name) if norm_stats else None
            stats = instance_stats(h) if stats is None else stats
            if record is not None:
                record[op.name] = stats
            h = apply_norm(h, stats, *affines[op.name])
        elif op is RELU:
            # In place: ReLU follows a norm or a residual add, whose outputs
            # nothing else holds (autograd would refuse otherwise).
            h = F.relu(h, inplace=True)
        elif op is PUSH:
            skips = (*skips, h)
        else:
            h = h + skips[-1]
            skips = skips[:-1]
    return h, skips


def scales_of(ops: Sequence[Op]) -> list[int]:
    """Downsampling factor of the tensor entering each op (1 or 2 in B)."""
    scales, s = [], 1
    for op in ops:
        scales.append(s)
        if isinstance(op, Conv):
            s = s // op.stride if op.transposed else s * op.stride
    return scales


def open_pushes(ops: Sequence[Op]) -> list[tuple[int, ...]]:
    """In front of each op, the indices of the PUSH ops whose residual inputs are still open, innermost last."""
    opened, stack = [], []
    for i, op in enumerate(ops):
        opened.append(tuple(stack))
        if op is PUSH:
            stack.append(i)
        elif op is ADD:
            stack.pop()
    return opened


def receptive_radius(ops: Sequence[Op]) -> int:
    """Radius, in input pixels, of the region the output of ``ops`` depends on."""
    radius = 0
    for op, s in zip(ops, scales_of(ops)):
        if isinstance(op, Conv):
            radius += op.radius * s
    return radius


def he_std(spec: Conv) -> float:
    return math.sqrt(2.0 / spec.fan_in)


# The output conv starts small, so an untrained net is close to its offset
# (mid-grey, or the input image for residual nets).
OUTPUT_INIT_GAIN = 0.1


def init_std(spec: Conv, output: bool) -> float:
    return he_std(spec) * (OUTPUT_INIT_GAIN if output else 1.0)


def check_images(x: torch.Tensor, fields: int = 0) -> None:
    if x.dim() != 4 or x.shape[1] not in {IMAGE_CHANNELS, IMAGE_CHANNELS + fields}:
        shapes = "(N, 3, H, W)" + (f" or, positioned, (N, {IMAGE_CHANNELS + fields}, H, W)" if fields else "")
        raise ValueError(f"x must be {shapes}, got shape {tuple(x.shape)}")


def check_params(p: torch.Tensor, param_dim: int, batch: int) -> None:
    if p.dim() != 2 or p.shape[1] != param_dim:
        raise ValueError(f"p must be (N, {param_dim}) or (1, {param_dim}), got shape {tuple(p.shape)}")
    if p.shape[0] not in (1, batch):
        raise ValueError(f"p has {p.shape[0]} rows for a batch of {batch} images; give 1 or {batch}")


class BaseNet(nn.Module):
    """What every network shares: the program of B, its input and output conventions.

    Subclasses set ``self.ops`` and provide ``forward(x, p)`` with ``x``
    (N, 3, H, W) in [0, 1] and ``p`` (N or 1, param_dim), returning (N, 3, H, W).
    Any H, W >= 1: the input is padded to even sizes and the output cropped back.
    """

    def __init__(self, config: dict, *, in_channels: int = INPUT_CHANNELS) -> None:
        super().__init__()
        self.config = dict(config)
        self.param_dim = int(config["param_dim"])
        self.residual = bool(config["residual"])
        self.tone_curve = 0  # knots of a tone head (paramops.models.tone); TunableNet may have one
        self.bank_slots: tuple[int, ...] = ()  # readers' entries of a Laplacian bank (paramops.models.bank); likewise
        self.fields = tuple(config.get("fields", ()))  # fields (paramops.operators.fields) it takes
        self.ops = build_program(
            in_channels=in_channels,
            width=config["width"],
            dilations=config["dilations"],
            blocks=config["blocks"],
            expand=config["expand"],
            last_width=config["last_width"],
            skip=config["skip"],
        )
        self.output_conv = convs_of(self.ops)[-1]

    def learned_convs(self, names: Sequence[str]) -> nn.ParameterDict:
        """He-initialised learned weights for the convs ``names``."""
        specs = {spec.name: spec for spec in convs_of(self.ops)}
        return nn.ParameterDict(
            {
                name: nn.Parameter(
                    torch.randn(specs[name].weight_shape) * init_std(specs[name], specs[name] is self.output_conv)
                )
                for name in names
            }
        )

    def learned_norms(self, names: Sequence[str]) -> tuple[nn.ParameterDict, nn.ParameterDict]:
        """Learned instance-norm scales (ones) and shifts (zeros) for the norms ``names``."""
        channels = {op.name: op.channels for op in norms_of(self.ops)}
        scale = nn.ParameterDict({n: nn.Parameter(torch.ones(channels[n])) for n in names})
        shift = nn.ParameterDict({n: nn.Parameter(torch.zeros(channels[n])) for n in names})
        return scale, shift

    def positioned(self, x: torch.Tensor, origin: tuple[int, int] = (0, 0),
                   gains: Sequence[float] | None = None) -> torch.Tensor:
        """``x`` (N, 3, H, W) with the network's fields appended (:func:`with_fields`), laid for images
        whose top-left pixel lies at ``origin`` of the image the operator runs on, and scaled by that
        image's ``gains`` for the network's image fields (by default ``x``'s own: whole images).

        An ``x`` that has them already (a cut of a positioned image) is
        returned as is, so every entry point takes either: a whole image
        without, a crop, window or turned image with the fields it was cut
        with.
        """
        check_images(x, len(self.fields))
        if x.shape[1] > IMAGE_CHANNELS:
            return x
        return with_fields(x, self.fields, [origin] * x.shape[0],
                           None if gains is None else np.tile(np.asarray(gains, dtype=np.float64), (x.shape[0], 1)))

    def prepare(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Validate the inputs; return the padded network input (N, 4 + fields, H', W')."""
        x = self.positioned(x)
        check_params(p, self.param_dim, x.shape[0])
        return pad_even(network_input(x))

    def residual_image(self, x: torch.Tensor, bank: torch.Tensor | None = None) -> torch.Tensor | None:
        """What a residual network's output is added to: ``x``'s image channels (None if not residual), then,
        with a Laplacian bank, its maps (:mod:`paramops.models.bank`), so that windows of it carry theirs.

        ``bank``: the bank of the image ``x`` was cut from, cut as ``x`` (training patches); by default ``x``'s own.
        """
        if not self.residual:
            return None
        image = x[:, :IMAGE_CHANNELS]
        if not self.bank_slots:
            return image
        return torch.cat([image, bank_of(image) if bank is None else bank.to(image.dtype)], dim=1)

    def image_context(self, x: torch.Tensor) -> torch.Tensor | None:
        """What the output needs of the whole image (its first three channels, if positioned) beyond the
        network's features: a tone head's histogram."""
        return luminance_cdf(x[:, :IMAGE_CHANNELS]) if self.tone_curve else None

    @property
    def reshapes_image(self) -> bool:
        """Whether :meth:`residual_base` is more than the image: through a tone head, with a bank's detail."""
        return bool(self.tone_curve or self.bank_slots)

    def residual_base(self, image: torch.Tensor | None, cdf: torch.Tensor | None,
                      predicted: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
        """What the output is added to: the image (or a window of it), through the tone head if there is one,
        plus the Laplacian bank's detail if there is one.

        ``image`` is :meth:`residual_image` (or a window of it), ``cdf``
        :meth:`image_context` of the whole image, ``predicted`` the weight
        predictor's output for the parameters.
        """
        if image is None:
            return None
        rgb = image[:, :IMAGE_CHANNELS]
        base = tone_offset(rgb, cdf.to(rgb.dtype), predicted[COLOR], predicted[CURVE]) if self.tone_curve else rgb
        # Other operators' bank weights are exactly zero: they skip the bank's work, as a network without one.
        # Weights that learn do not, zero as they start, or they would get no gradient.
        weights = predicted.get(BANK_WEIGHTS)
        if weights is not None and (weights.requires_grad or bool(weights.any())):
            base = base + bank_offset(rgb, image[:, IMAGE_CHANNELS:], weights)
        return base

    def finish(self, out: torch.Tensor, image: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        """Crop the padding away and add the offset: the input image (residual) or mid-grey.

        The network predicts the centred output (like its centred input), so a
        non-residual net adds back 0.5.
        """
        out = out[..., : size[0], : size[1]]
        return out + image if self.residual else out + 0.5
