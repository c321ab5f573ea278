"""``TunableNet``: the cheap parameter-tuning network (paper sections 3.3, 5 and 6.3.2).

B's weights are ordinary learned weights except at one place, the *tuned*
layer, whose weights the weight-learning network predicts from the parameter
vector. Everything before the tuned layer is the :meth:`TunableNet.trunk`, run
once per image; the tuned layer and everything after it is the
:meth:`TunableNet.head`, re-run when a parameter moves.

``tuned`` (configuration):

* ``"normK"`` -- instance norm K's scale and shift (the paper's ablation uses
  K = 1, 7, 14, 19);
* ``"conv"`` -- all weights of the last hidden conv (conv19 at the defaults);
* ``"conv_in"`` / ``"conv_out"`` -- one input-channel slice ``W[:, 0]`` or one
  output-channel slice ``W[0]`` of them (the paper's "conv channel1/2");
  ``tuned_channels: k`` makes ``conv_in`` predict ``W[:, :k]`` (not in the
  paper; its head does ``k`` times the conv work, and stays windowed);
* ``"norms"`` / ``"convs"`` -- every norm / every conv.

Default: ``"conv_in"``, the cheapest of the paper's good positions. Its
Table XII (ten filters trained jointly, average PSNR / SSIM):

=====================  ============  ====================================
tuned (paper's name)   quality       head work per pixel, width 64
=====================  ============  ====================================
norm19 (its default)   28.67 / .889  affine + ReLU + conv20 (1.7k MAC)
conv_in (channel1)     30.03 / .916  + a 1->64 3x3 conv (0.6k MAC), an add
conv (conv19)          30.85 / .932  + a 64->64 3x3 conv (37k MAC)
conv_out (channel2)    24.96 / .778  + a 64->1 3x3 conv (0.6k MAC)
=====================  ============  ====================================

``conv_in`` gains 1.4 dB over the paper's own default for about 1.6x its
head time (1 MP, 2 CPU threads: 0.41 s against 0.25 s; the trunk takes 5.4 s);
``conv`` gains 0.8 dB more for a head about 7 times as much work. The
statistics of the norm after the tuned conv change with the parameters, but
follow exactly from small whole-image moments the trunk stores (for
``conv_in``, the learned 63 input channels' output and the covariances of the
tuned channel's 3x3 patches; for ``conv``, the covariances of all input
channels' 3x3 patches), so a window renders exactly, in proportion to its
area, from a 2-pixel margin. With ``tuned_channels: k`` the moments are those
of the k tuned channels' 3x3 patches, and the head's conv19 work grows
k-fold; at width 16, all fifteen operators, k = 4 and 8 of 16 gained 0.80 and
1.01 dB over k = 1 on Set5, all of conv19 1.68 dB (``docs/analysis.md``, "The
long skip"); at width 32, k = 8 of 32 gained in training-sized windows but not
on whole images (``docs/training.md``, fifth session).
``"norm19"`` (or ``"norm"``, the last norm) remains the paper's choice and the
real-time preset's. The shipped ``default`` model tunes ``conv`` with conv19
narrowed to 8 channels (``last_width: 8``), whose head does about the work
of ``tuned_channels: 8`` and, unlike it, kept its gain on whole images
(``configs/default.yaml``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace

import torch

from paramops.models.bank import BANK_WEIGHTS, bank_readout
from paramops.models.base import (
    BaseNet,
    IMAGE_CHANNELS,
    INPUT_CHANNELS,
    Conv,
    Norm,
    check_params,
    convs_of,
    init_std,
    norms_of,
    open_pushes,
    receptive_radius,
    run_ops,
    scales_of,
)
from paramops.models.detail import (
    branch_program,
    branch_weights,
    gate_target,
    gated,
    readout,
    readout_margin,
    readout_targets,
    readout_weights,
    run_branch,
)
from paramops.models.features import TrunkFeatures
from paramops.models.own_branches import SLOT_BRANCHES, SlotReadout
from paramops.models.layers import (
    NORM_EPS,
    Stats,
    apply_norm,
    conv,
    input_slice_moments,
    input_slice_stats,
    instance_stats,
    network_input,
    pad_even,
)
from paramops.models.predictor import Target, WeightPredictor, conv_target, norm_targets
from paramops.models.tone import tone_targets
from paramops.models.tiling import even_up, inner, paste, tile_windows
from paramops.models.windows import WindowGrid, check_norm_windows

CONV_MODES = ("conv", "conv_in", "conv_out")
TUNED_CHOICES = ("norm", "normK", *CONV_MODES, "norms", "convs")


class TunableNet(BaseNet):
    """B with one parameter-dependent place. Build with ``arch="tunable"``.

    ``forward(x, p)`` runs the whole network with the predicted weights put in
    place; ``head(trunk(x), p)`` computes the same thing in two parts.
    """

    def __init__(self, config: dict) -> None:
        super().__init__(config, in_channels=INPUT_CHANNELS + len(config["fields"]))
        self.tuned = config["tuned"]
        self.tuned_channels = config["tuned_channels"]
        convs, norms = convs_of(self.ops), norms_of(self.ops)
        norm_names = [n.name for n in norms]
        self.tuning_conv = convs[-2]  # conv19: the last hidden conv
        if re.fullmatch(r"norm\d+", self.tuned):
            if self.tuned not in norm_names:
                raise ValueError(f"tuned={self.tuned!r}: this network has norm1 to {norm_names[-1]}")
            split, tuned_norms, tuned_convs = self.ops.index(norms[norm_names.index(self.tuned)]), [self.tuned], []
        elif self.tuned in CONV_MODES:
            if min(self.tuning_conv.cin, self.tuning_conv.cout) < 2:
                raise ValueError(f"tuned={self.tuned!r} needs at least 2 channels in and out of {self.tuning_conv.name}")
            if self.tuned == "conv_in" and self.tuned_channels >= self.tuning_conv.cin:
                raise ValueError(f"tuned_channels={self.tuned_channels}: conv_in predicts fewer than all "
                                 f"{self.tuning_conv.cin} input channels of {self.tuning_conv.name} "
                                 f"(tuned=conv predicts all of them)")
            split, tuned_norms, tuned_convs = self.ops.index(self.tuning_conv), [], [self.tuning_conv]
        elif self.tuned == "norms":
            split, tuned_norms, tuned_convs = self.ops.index(norms[0]), norm_names, []
        elif self.tuned == "convs":
            split, tuned_norms, tuned_convs = 0, [], convs
        else:
            raise ValueError(f"unknown tuned layer {self.tuned!r}; use one of {', '.join(TUNED_CHOICES)}")
        if self.tuned != "conv_in" and self.tuned_channels != 1:
            raise ValueError(f"tuned_channels={self.tuned_channels} applies to tuned=conv_in only, not {self.tuned!r}")
        self.split = split
        self.last_norm = max(i for i, op in enumerate(self.ops) if isinstance(op, Norm))

        targets: dict[str, Target] = {}
        for spec in tuned_convs:
            targets[spec.name] = conv_target(self._predicted_shape(spec), init_std(spec, spec is self.output_conv))
        for norm in norms:
            if norm.name in tuned_norms:
                targets.update(norm_targets(norm.name, norm.channels))
        self.tone_curve = config["tone_curve"]
        if not _is_count(self.tone_curve) or self.tone_curve == 1:
            raise ValueError(f"tone_curve is the number of the tone curve's knots: 0 (no tone head) or at least 2, "
                             f"got {self.tone_curve!r}")
        if self.tone_curve:
            if not self.residual:
                raise ValueError("tone_curve needs residual: true (the tone head is a residual term)")
            targets.update(tone_targets(self.tone_curve))
        self.detail_branch = config["detail_branch"]
        if not _is_count(self.detail_branch):
            raise ValueError(f"detail_branch is the number of the detail branch's convs, 0 (none) or more, "
                             f"got {self.detail_branch!r}")
        self.detail_hidden = config["detail_hidden"]
        if not _is_count(self.detail_hidden):
            raise ValueError(f"detail_hidden is the number of the detail readout's hidden channels, 0 (none) or more, "
                             f"got {self.detail_hidden!r}")
        if self.detail_hidden and not self.detail_branch:
            raise ValueError("detail_hidden needs detail_branch: it is the hidden layer of the branch's readout")
        if self.detail_branch:
            if not self.residual:
                raise ValueError("detail_branch needs residual: true (the branch adds detail to the image)")
            if not config["norm_windows"]:
                # Without windows, trunks run in stages or streamed from the middle, where the input is gone.
                raise ValueError("detail_branch needs norm_windows: the branch runs window by window with the trunk")
            targets.update(readout_targets(config["width"], self.detail_hidden))
            self.detail_ops = branch_program(config["width"], self.detail_branch, INPUT_CHANNELS + len(self.fields))
            self.detail_convs = branch_weights(self.detail_ops)
        self._build_slot_branches(config)
        self._build_bank(config["bank_slots"])
        self.detail_gate = config["detail_gate"]
        if not isinstance(self.detail_gate, bool):
            raise ValueError(f"detail_gate must be true or false, got {self.detail_gate!r}")
        if self.detail_gate:
            if not self.detail_branch:
                raise ValueError("detail_gate needs detail_branch: the gate scales B's residual beside the branch's")
            targets.update(gate_target())
        self.predictor = WeightPredictor(self.param_dim, targets, kind=config["fc"], hidden=config["fc_hidden"])

        predicted = {spec.name for spec in tuned_convs if self.tuned in ("conv", "convs")}
        self.convs = self.learned_convs([s.name for s in convs if s.name not in predicted])
        if self.tuned in ("conv_in", "conv_out"):
            # Keep only the learned part of the tuned conv; the predicted slice comes first.
            name, k = self.tuning_conv.name, self.tuned_channels
            full = self.convs[name].detach()
            self.convs[name] = torch.nn.Parameter((full[:, k:] if self.tuned == "conv_in" else full[1:]).clone())
        learned = [n for n in norm_names if n not in tuned_norms]
        self.norm_scale, self.norm_shift = self.learned_norms(learned)
        self.norm_windows = check_norm_windows(config["norm_windows"])
        if self.norm_windows and not (self.moment_head and set(self._feature_scales()) == {1}
                                      and not open_pushes(self.ops)[self.split]):
            raise ValueError(f"norm_windows needs tuned=conv or conv_in at the last hidden conv, at full "
                             f"resolution with no residual input open (got tuned={self.tuned!r})")

    def _build_slot_branches(self, config: dict) -> None:
        """The branches only some operators read (:mod:`paramops.models.own_branches`); their prefixes
        in :attr:`slot_branches`."""
        present = []
        for prefix, _ in SLOT_BRANCHES:
            depth, width, slots = (config[f"{prefix}_{key}"] for key in ("branch", "width", "slots"))
            setattr(self, f"{prefix}_branch", depth)
            if not _is_count(depth):
                raise ValueError(f"{prefix}_branch is the number of the {prefix} branch's convs, 0 (none) or more, "
                                 f"got {depth!r}")
            if not depth:
                if slots:
                    raise ValueError(f"{prefix}_slots needs {prefix}_branch: they are what the {prefix} branch's "
                                     f"readout reads")
                continue
            if prefix == "field" and not self.fields:
                raise ValueError("field_branch needs fields: it reads the fields")
            if not self.detail_branch:
                raise ValueError(f"{prefix}_branch needs detail_branch: its features travel with the detail branch's")
            if not _is_count(width) or not width:
                raise ValueError(f"{prefix}_width is the {prefix} branch's channels, at least 1, got {width!r}")
            self._check_slots(f"{prefix}_slots", slots, f"the {prefix} branch")
            ops = branch_program(width, depth, INPUT_CHANNELS + len(self.fields), name=prefix)
            setattr(self, f"{prefix}_ops", ops)
            setattr(self, f"{prefix}_convs", branch_weights(ops))
            setattr(self, f"{prefix}_readout", SlotReadout(slots, (IMAGE_CHANNELS, width, 3, 3)))
            present.append(prefix)
        self.slot_branches = tuple(present)

    def _build_bank(self, slots) -> None:
        """The Laplacian bank's readout (:mod:`paramops.models.bank`), if ``slots`` name its readers."""
        if not isinstance(slots, (list, tuple)):
            raise ValueError(f"bank_slots must be a list of parameter-vector entries, got {slots!r}")
        if not slots:
            return
        if not self.residual:
            raise ValueError("bank_slots needs residual: true (the bank adds detail to the image)")
        self._check_slots("bank_slots", slots, "the Laplacian bank")
        self.bank_slots = tuple(slots)
        self.bank_readout = bank_readout(slots)

    def _check_slots(self, option: str, slots, reader: str) -> None:
        if (not isinstance(slots, (list, tuple)) or not slots or len(set(slots)) != len(slots)
                or not all(_is_count(s) and s < self.param_dim for s in slots)):
            raise ValueError(f"{option} must be distinct entries of the parameter vector (0 to "
                             f"{self.param_dim - 1}), those of the operators that read {reader}; got {slots!r}")

    @property
    def moment_head(self) -> bool:
        """True when the head gets the statistics of the norm after the tuned conv from trunk moments.

        ``conv_in`` and ``conv`` (conv19 followed by the last norm): see
        :func:`~paramops.models.layers.input_slice_moments`.
        """
        return self.tuned in ("conv_in", "conv") and self.split + 1 == self.last_norm

    @property
    def windowed_head(self) -> bool:
        """True when ``head(..., region=w)`` costs in proportion to the window, not the image.

        That holds for ``conv_in``, ``conv`` and a tuned last norm, whose head
        statistics come from the trunk; other positions first run their
        parameter-dependent layers over the whole image.
        """
        return self.split == self.last_norm or self.moment_head

    @property
    def head_margin(self) -> int:
        """Pixels of context around a window that ``head(..., region=...)`` reads from the features.

        2 for ``conv_in`` and ``conv`` (conv19 and conv20, both 3x3), 1 for a tuned last
        norm (conv20); for other positions, the 1 pixel of conv20 after a
        full-image pass up to the last norm. At least the detail readout's 1 or 2.
        """
        first = self.split if self.windowed_head else self.last_norm
        detail = readout_margin(self.detail_hidden) if self.detail_branch else 0
        return max(receptive_radius(self.ops[first:]), detail)

    def _predicted_shape(self, spec: Conv) -> tuple[int, ...]:
        shape = spec.weight_shape
        if spec is self.tuning_conv and self.tuned == "conv_in":
            return (shape[0], self.tuned_channels, *shape[2:])
        if spec is self.tuning_conv and self.tuned == "conv_out":
            return (1, *shape[1:])
        return shape

    def predict(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weight predictor's tensors for ``p`` (N, param_dim), with the detail gate folded in where there is one.

        The gate then appears as B's output conv, per sample, and as the tone
        head's scaled colour matrix and curve (:func:`~paramops.models.detail.gated`).
        """
        predicted = self.predictor(p)
        for prefix, name in SLOT_BRANCHES:
            if prefix in self.slot_branches:
                predicted[name] = getattr(self, f"{prefix}_readout")(p)
        if self.bank_slots:
            predicted[BANK_WEIGHTS] = self.bank_readout(p)
        if not self.detail_gate:
            return predicted
        name = self.output_conv.name
        return gated(predicted, name, self.convs[name])

    def _affines(self, predicted: dict[str, torch.Tensor] | None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        affines = {name: (self.norm_scale[name], self.norm_shift[name]) for name in self.norm_scale}
        for name in predicted or {}:
            if name.endswith(".scale"):
                norm = name[: -len(".scale")]
                affines[norm] = (predicted[name], predicted[f"{norm}.shift"])
        return affines

    def _weights(self, predicted: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Learned and predicted conv weights; a predicted slice stays a slice."""
        weights = dict(self.convs)
        weights.update({name: w for name, w in predicted.items() if "." not in name})
        return weights

    def _assembled(self, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Put a predicted ``conv_in`` / ``conv_out`` slice into the full per-sample weight."""
        if self.tuned not in ("conv_in", "conv_out"):
            return weights
        name = self.tuning_conv.name
        part = weights[name]
        learned = self.convs[name].expand(part.shape[0], *self.convs[name].shape)
        return {**weights, name: torch.cat([part, learned], dim=2 if self.tuned == "conv_in" else 1)}

    def forward(self, x: torch.Tensor, p: torch.Tensor, cdf: torch.Tensor | None = None,
                bank: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] (or positioned: :meth:`positioned`), (N or 1, param_dim) -> (N, 3, H, W).

        In one pass, unless ``norm_windows`` is set and the image is larger
        than a window: then ``head(trunk(x), p)``. ``cdf``: with a tone head,
        the luminance histogram (N, 256) of the image ``x`` was cut from
        (training patches: the operator's whole input), by default ``x``'s own;
        ``bank``: with a Laplacian bank, its maps (N, J, H, W) of that image, cut as ``x``.
        """
        x = self.positioned(x)
        if self.norm_windows and max(x.shape[-2:]) > self.norm_windows[0]:
            features = self.trunk(x)
            if cdf is not None:
                features.cdf = cdf
            if bank is not None:
                features.image = self.residual_image(x, bank)
            return self.head(features, p)
        inp = self.prepare(x, p)
        predicted = self.predict(p)
        h, _ = run_ops(self.ops, inp, (), self._assembled(self._weights(predicted)), self._affines(predicted))
        if self.detail_branch:
            h = h + readout(self._branches(inp), readout_weights(predicted))
        if cdf is None:
            cdf = self.image_context(x)
        return self.finish(h, self.residual_base(self.residual_image(x, bank), cdf, predicted), x.shape[-2:])

    # -- trunk ---------------------------------------------------------------------------------

    def trunk(self, x: torch.Tensor, norm_stats: dict[str, Stats] | None = None) -> TrunkFeatures:
        """Everything that does not depend on the parameters.

        Parameters
        ----------
        x : Tensor, shape (N, 3, H, W)
            Images in [0, 1]; or positioned (:meth:`positioned`), as a crop
            of a larger image must be for a network with ``fields``.
        norm_stats : dict of str to (mean, var), optional
            Instance-norm statistics to use instead of computing them, by norm
            name (see :meth:`trunk_statistics`); for tiled or approximate runs.
            Not with ``norm_windows``, whose statistics are each window's.
        """
        x = self.positioned(x)
        if self.norm_windows:
            if norm_stats is not None:
                raise ValueError("norm_stats: a network with norm_windows normalises each window with its own statistics")
            return self.trunk_windows(x)
        return self._complete(self._trunk_part(pad_even(network_input(x)), norm_stats), x)

    def trunk_windows(
        self,
        x: torch.Tensor,
        on_window: Callable[[int, int], None] | None = None,
        map_windows: Callable[[Callable, Iterable], Iterable] = map,
    ) -> TrunkFeatures:
        """The trunk run on overlapping windows, blended (``norm_windows``; see :mod:`paramops.models.windows`).

        ``on_window(done, total)`` is called after each window, for progress
        or cancellation (it may raise). ``map_windows(fn, windows)`` gives
        ``fn`` of each window in order, as :func:`map` does (the default) or
        on other threads (the service's workers); each window runs with the
        caller's grad mode. Memory: the features, and the activations of the
        windows in flight.
        """
        x = self.positioned(x)
        if not self.norm_windows:
            raise ValueError("trunk_windows needs a network configured with norm_windows")
        height, width = x.shape[-2:]
        grid = WindowGrid(even_up(height), even_up(width), *self.norm_windows)  # over the padded image, as trunk's
        grad = torch.is_grad_enabled()

        def window_features(window: tuple[int, int, int, int]) -> tuple[TrunkFeatures, dict[str, torch.Tensor]]:
            y0, y1, x0, x1 = window
            with torch.set_grad_enabled(grad):
                # Each window is an image of its own, edge map and padding included, like a training patch;
                # one at an odd edge is padded to the window's size.
                crop = x[..., y0 : min(y1, height), x0 : min(x1, width)]
                part = self._trunk_part(pad_even(network_input(crop)), None)
                return part, input_slice_moments(part.h, part.fixed, self.tuning_conv)

        spatial: list[torch.Tensor] = []
        moments: list[dict[str, torch.Tensor]] = []
        results = map_windows(window_features, grid)
        try:
            for done, (window, (part, moment)) in enumerate(zip(grid, results), 1):
                moments.append(moment)
                if not spatial:
                    spatial = [t.new_zeros(*t.shape[:2], grid.height, grid.width) for t in part.spatial()]
                    # h channels last: the layout a convolution over it reads fastest on the CPU.
                    spatial[0] = spatial[0].contiguous(memory_format=torch.channels_last)
                share = grid.pixel_weights(window, x.dtype).to(x.device)
                y0, y1, x0, x1 = window
                for out, t in zip(spatial, part.spatial()):
                    out[..., y0:y1, x0:x1].addcmul_(t, share)
                if on_window is not None:
                    on_window(done, len(grid))
        finally:
            if hasattr(results, "close"):
                results.close()  # a generator stopped early (cancelled): let it drop the windows in flight
        blended = replace(part, stats={}, size=tuple(x.shape[-2:]), image=self.residual_image(x), windows=grid,
                          cdf=self.image_context(x),
                          moments={name: torch.stack([m[name] for m in moments], dim=1) for name in moments[0]})
        return blended.with_spatial(spatial)

    def _complete(self, features: TrunkFeatures, x: torch.Tensor) -> TrunkFeatures:
        """Add what needs the whole image: its size, the image itself (residual), the head's moments."""
        features.size = tuple(x.shape[-2:])
        features.image = self.residual_image(x)
        features.cdf = self.image_context(x)
        if self.moment_head:
            features.moments = input_slice_moments(features.h, features.fixed, self.tuning_conv)
        return features

    def _with_detail(self, h: torch.Tensor, features: TrunkFeatures, predicted: dict[str, torch.Tensor],
                     area: tuple[int, int, int, int]) -> torch.Tensor:
        """``h`` (the head's output over ``area`` of the padded image) plus the detail branch's readout there."""
        if features.detail is None:
            return h
        return h + readout(features.detail, readout_weights(predicted), area)

    def _trunk_part(
        self,
        inp: torch.Tensor,
        norm_stats: dict[str, Stats] | None,
        record: dict[str, Stats] | None = None,
        *,
        start: int = 0,
        skips: tuple[torch.Tensor, ...] = (),
    ) -> TrunkFeatures:
        """The trunk from op ``start`` (whose input is ``inp``, with the open residual inputs ``skips``)."""
        # The detail branch runs on the network input, so only a trunk run from the start has it (windows).
        detail = self._branches(inp) if self.detail_branch and start == 0 else None
        h, skips = run_ops(self.ops[start : self.split], inp, skips, self.convs, self._affines(None),
                           norm_stats=norm_stats, record=record)
        op = self.ops[self.split]
        stats, fixed = {}, None
        if isinstance(op, Norm):
            given = norm_stats.get(op.name) if norm_stats else None
            stats[op.name] = instance_stats(h) if given is None else given
            if record is not None:
                record[op.name] = stats[op.name]
        elif self.tuned == "conv_in":
            k = self.tuned_channels
            h, fixed = h[:, :k], conv(h[:, k:], self.convs[op.name], op)
        elif self.tuned == "conv_out":
            fixed = conv(h, self.convs[op.name], op)
        return TrunkFeatures(h, stats, tuple(inp.shape[-2:]), skips, fixed, detail=detail)

    def _branches(self, inp: torch.Tensor) -> torch.Tensor:
        """The detail branch's features of the padded network input, then those of the branches only some
        operators read."""
        features = [run_branch(self.detail_ops, self.detail_convs, inp)]
        for prefix in self.slot_branches:
            features.append(run_branch(getattr(self, f"{prefix}_ops"), getattr(self, f"{prefix}_convs"), inp))
        return features[0] if len(features) == 1 else torch.cat(features, dim=1)

    def window_span(self, region: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
        """``norm_windows``: the part of a ``size`` image from which :meth:`trunk_windows` and
        ``head(..., region=...)`` render ``region`` (all four in image coordinates) as from the whole image."""
        y0, y1, x0, x1 = _check_region(region, size)
        m = self.head_margin
        grid = WindowGrid(even_up(size[0]), even_up(size[1]), *self.norm_windows)
        y0, y1, x0, x1 = grid.covering((max(0, y0 - m), y1 + m, max(0, x0 - m), x1 + m))
        return y0, min(y1, size[0]), x0, min(x1, size[1])

    def trunk_statistics(self, x: torch.Tensor, tile: int | None = None) -> dict[str, Stats]:
        """Whole-image statistics of every instance norm the trunk uses (the tuned one included).

        ``tile=None``: one untiled pass. With ``tile``, memory stays bounded by
        the tile size: norm ``j``'s statistics are accumulated over tiles run
        up to norm ``j`` with the statistics of norms before it, which re-runs
        the early layers once per norm (about ``n_norms / 2`` trunk passes).
        """
        x = self.positioned(x)
        if self.norm_windows:
            raise ValueError("trunk_statistics: a network with norm_windows has no whole-image statistics")
        inp = pad_even(network_input(x))
        if tile is None:
            record: dict[str, Stats] = {}
            self._trunk_part(inp, None, record)
            return record
        stats: dict[str, Stats] = {}
        end = self.split + 1 if isinstance(self.ops[self.split], Norm) else self.split
        scales, halo = scales_of(self.ops), self._trunk_halo()
        for index in range(end):
            op = self.ops[index]
            if not isinstance(op, Norm):
                continue
            total = sq = 0.0
            count = 0
            for window, crop in tile_windows(*inp.shape[-2:], tile, halo):
                h, _ = run_ops(self.ops[:index], inp[..., crop[0] : crop[1], crop[2] : crop[3]], (), self.convs,
                               self._affines(None), norm_stats=stats)
                part = inner(h, window, crop, scales[index]).double()
                total = total + part.sum((2, 3))
                sq = sq + (part * part).sum((2, 3))
                count += part.shape[2] * part.shape[3]
            mean = total / count
            stats[op.name] = (mean.to(inp.dtype), (sq / count - mean * mean).clamp_min(0).to(inp.dtype))
        return stats

    def _trunk_halo(self) -> int:
        return even_up(receptive_radius(self.ops[: self.split + 1]))

    def trunk_tiled(self, x: torch.Tensor, tile: int = 512, norm_stats: dict[str, Stats] | None = None) -> TrunkFeatures:
        """:meth:`trunk` computed tile by tile, equal to it up to float rounding.

        Each tile is run with a halo as wide as the trunk's receptive field and
        with whole-image instance-norm statistics: ``norm_stats`` if given (for
        example from :meth:`trunk_statistics` of a downscaled copy, for speed),
        else exact ones from ``trunk_statistics(x, tile)``. Peak memory is that
        of one tile plus its halo, plus the output features. With
        ``norm_windows``, :meth:`trunk` (windows, whose memory is already that of a window).
        """
        x = self.positioned(x)
        if self.norm_windows:
            return self.trunk(x, norm_stats)
        if norm_stats is None:
            norm_stats = self.trunk_statistics(x, tile)
        inp = pad_even(network_input(x))
        scales = self._feature_scales()
        result: TrunkFeatures | None = None
        for window, crop in tile_windows(*inp.shape[-2:], tile, self._trunk_halo()):
            part = self._trunk_part(inp[..., crop[0] : crop[1], crop[2] : crop[3]], norm_stats)
            if result is None:
                result = part.with_spatial(
                    [t.new_empty(*t.shape[:2], inp.shape[-2] // s, inp.shape[-1] // s)
                     for t, s in zip(part.spatial(), scales)]
                )
            for out, t, s in zip(result.spatial(), part.spatial(), scales):
                paste(out, inner(t, window, crop, s), window, s)
        return self._complete(result, x)

    def _feature_scales(self) -> list[int]:
        """Downsampling factor of each tensor in ``TrunkFeatures.spatial()``."""
        scales = scales_of(self.ops)
        skips = [scales[p] for p in open_pushes(self.ops)[self.split]]
        fixed = [scales[self.split]] if self.tuned in ("conv_in", "conv_out") else []
        detail = [1] if self.detail_branch else []
        return [scales[self.split], *skips, *fixed, *detail]

    # -- head ----------------------------------------------------------------------------------

    def head(
        self, features: TrunkFeatures, p: torch.Tensor, region: tuple[int, int, int, int] | None = None
    ) -> torch.Tensor:
        """The parameter-dependent rest of the network.

        Parameters
        ----------
        features : TrunkFeatures
            From :meth:`trunk` (or :meth:`trunk_tiled`), batch N.
        p : Tensor, shape (N, param_dim) or (1, param_dim)
            One parameter vector per image, or one for all. Batch-1 features
            with M vectors render the image M ways.
        region : (y0, y1, x0, x1), optional
            Render only this window of the output (pixel coordinates of the
            image, ends exclusive); the result equals the same window of the
            full render. Needs ``head_margin`` pixels of context on each side,
            which it takes from ``features``; cheap when ``windowed_head``.

        Returns
        -------
        Tensor, shape (N, 3, H, W) or (N, 3, y1 - y0, x1 - x0)
        """
        if features.batch == 1 and p.dim() == 2 and p.shape[0] > 1:
            features = features.expand(p.shape[0])
        check_params(p, self.param_dim, features.batch)
        predicted = self.predict(p)
        weights, affines = self._weights(predicted), self._affines(predicted)
        known = {}
        if self.moment_head:
            known[self.ops[self.last_norm].name] = input_slice_stats(features.moments, weights[self.tuning_conv.name])
        if region is None:
            area = (0, features.h.shape[-2], 0, features.h.shape[-1])
            h = self._with_detail(self._tuned_onwards(features, weights, affines, known, area), features, predicted, area)
            return self.finish(h, self.residual_base(features.image, features.cdf, predicted), features.size)

        y0, y1, x0, x1 = _check_region(region, features.size)
        m = self.head_margin
        if self.windowed_head:
            height, width = features.h.shape[-2:]
            cy0, cy1, cx0, cx1 = max(0, y0 - m), min(height, y1 + m), max(0, x0 - m), min(width, x1 + m)
            part = features.with_spatial([t[..., cy0:cy1, cx0:cx1] for t in features.spatial()])
            h = self._tuned_onwards(part, weights, affines, known, (cy0, cy1, cx0, cx1))
        else:
            h, skips = self._tuned_layer(features, weights, affines)
            pre, _ = run_ops(self.ops[self.split + 1 : self.last_norm], h, skips, weights, affines)
            height, width = pre.shape[-2:]
            cy0, cy1, cx0, cx1 = max(0, y0 - m), min(height, y1 + m), max(0, x0 - m), min(width, x1 + m)
            known = {self.ops[self.last_norm].name: instance_stats(pre)}
            h, _ = run_ops(self.ops[self.last_norm :], pre[..., cy0:cy1, cx0:cx1], (), weights, affines,
                           norm_stats=known)
        h = self._with_detail(h[..., y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0], features, predicted, (y0, y1, x0, x1))
        image = None if features.image is None else features.image[..., y0:y1, x0:x1]
        return self.finish(h, self.residual_base(image, features.cdf, predicted), (y1 - y0, x1 - x0))

    def _tuned_onwards(self, features: TrunkFeatures, weights, affines, known: dict[str, Stats],
                       area: tuple[int, int, int, int]) -> torch.Tensor:
        """The tuned layer and everything after it, on ``features`` that cover ``area`` of the padded image."""
        h, skips = self._tuned_layer(features, weights, affines)
        grid = features.windows
        if grid is None:
            h, _ = run_ops(self.ops[self.split + 1 :], h, skips, weights, affines, norm_stats=known)
            return h
        # norm_windows: every window's norm is an affine map of h; a pixel gets their blend, weighted as
        # the trunk blended the windows' features. One pass over the image, whatever the windows' overlap.
        norm = self.ops[self.last_norm]
        mean, var = known[norm.name]  # (N, windows, C)
        scale, shift = (t.unsqueeze(-2) for t in affines[norm.name])
        a = scale * torch.rsqrt(var + NORM_EPS)
        h = torch.addcmul(grid.spread(shift - mean * a, area), h, grid.spread(a, area))
        h, _ = run_ops(self.ops[self.last_norm + 1 :], h, skips, weights, affines)
        return h

    def _tuned_layer(self, features: TrunkFeatures, weights, affines) -> tuple[torch.Tensor, tuple]:
        op = self.ops[self.split]
        if isinstance(op, Norm):
            h = apply_norm(features.h, features.stats[op.name], *affines[op.name])
        elif self.tuned == "conv_in":
            h = conv(features.h, weights[op.name], op).add_(features.fixed)  # in place: one image-sized buffer less
        elif self.tuned == "conv_out":
            h = torch.cat([conv(features.h, weights[op.name], op), features.fixed], dim=1)
        else:
            h = conv(features.h, weights[op.name], op)
        return h, features.skips


def _is_count(value) -> bool:
    """Whether an option that counts parts (knots, convs, channels) is an int of 0 or more (bools are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_region(region, size: tuple[int, int]) -> tuple[int, int, int, int]:
    y0, y1, x0, x1 = (int(v) for v in region)
    if not (0 <= y0 < y1 <= size[0] and 0 <= x0 < x1 <= size[1]):
        raise ValueError(f"region {region} is not a non-empty window of the {size[0]}x{size[1]} image")
    return y0, y1, x0, x1

