"""Build networks from plain, JSON-serialisable config dicts (timm style).

``build_model({"arch": "tunable", "width": 32, "param_dim": 2})`` fills in the
defaults, validates every key, and returns the network with the complete
config in ``net.config``, which checkpoints store so the same network can be
rebuilt. ``model_config(name, **overrides)`` gives the named presets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from paramops.models.base import PAPER_DILATIONS, build_program, norms_of
from paramops.models.predictor import FC_KINDS
from paramops.operators.fields import check_field

if TYPE_CHECKING:
    import torch.nn as nn

ARCHS = ("decoupled", "tunable", "paramchannel")
BLOCKS = ("standard", "separable")

# Options every architecture has, with the paper's values.
COMMON = {
    "width": 64,
    "dilations": list(PAPER_DILATIONS),
    "param_dim": 1,
    "residual": False,
    "blocks": "standard",
    "expand": 2,
    "last_width": None,  # None: same as width
    "skip": False,  # conv2 -> conv18 long skip (see build_program); not in the paper
}
# Options added after models were first trained, each with the value that builds
# the network those models are: at that value an option is left out of what
# identifies a network's function (weights_digest), so adding one does not
# invalidate every cached score.
LATER_DEFAULTS = {"skip": False, "tuned_channels": 1, "norm_windows": None, "tone_curve": 0, "detail_branch": 0,
                  "detail_hidden": 0, "detail_gate": False, "fields": [], "field_branch": 0, "field_width": 16,
                  "field_slots": [], "own_branch": 0, "own_width": 16, "own_slots": [], "bank_slots": []}
ARCH_OPTIONS = {
    "decoupled": {"fc": "fc1", "fc_hidden": 4},
    # tuned_channels: how many of conv19's input channels "conv_in" predicts;
    # norm_windows: [window, stride] of instance norm's windows (paramops.models.windows);
    # tone_curve: knots of the tone head's curve, 0 for none (paramops.models.tone);
    # detail_branch: convs of the norm-free full-resolution branch, 0 for none (paramops.models.detail);
    # detail_hidden: hidden channels of its predicted readout, 0 for a single conv;
    # detail_gate: B's residual scaled by a factor predicted from the parameters, the readout's not;
    # fields: position fields taken as input channels (paramops.operators.fields), [] for none;
    # field_branch: convs of a branch that reads them for the operators that lay them alone, 0 for none
    # (paramops.models.own_branches), field_width its channels, field_slots the parameter-vector entries its
    # readout reads (a training config fills them in from the encoding);
    # own_branch, own_width, own_slots: the same for the operators a training config names (model.own_operators);
    # bank_slots: the entries of the operators that read a Laplacian bank (paramops.models.bank), [] for none
    # (a training config fills them in from model.bank_operators)
    "tunable": {"fc": "fc1", "fc_hidden": 4, "tuned": "conv_in", "tuned_channels": 1, "norm_windows": None,
                "tone_curve": 0, "detail_branch": 0, "detail_hidden": 0, "detail_gate": False, "fields": [],
                "field_branch": 0, "field_width": 16, "field_slots": [], "own_branch": 0, "own_width": 16,
                "own_slots": [], "bank_slots": []},
    "paramchannel": {},
}
# The paper's real-time configuration (section 5 and the public code's
# train_10_operator_model_realtime.py): 128 channels, depthwise-separable
# residual blocks (1x1 expand to 256, 3x3 depthwise, 1x1 project), conv19 to
# 64 channels whose norm's scale and shift come from two param_dim -> 16 -> 64
# ReLU MLPs, and a residual output.
ARCH_PRESETS = {
    "realtime": {
        "width": 128,
        "blocks": "separable",
        "expand": 2,
        "last_width": 64,
        "fc": "fc2R",
        "fc_hidden": 16,
        "residual": True,
        "tuned": "norm",
    }
}
PRESET_ARCH = {"realtime": "tunable"}

NAMED = {
    "decoupled": {"arch": "decoupled"},
    "decoupled-fc2": {"arch": "decoupled", "fc": "fc2"},
    "decoupled-fc2R": {"arch": "decoupled", "fc": "fc2R"},
    "tunable": {"arch": "tunable"},
    "tunable-norm": {"arch": "tunable", "tuned": "norm"},
    "tunable-conv": {"arch": "tunable", "tuned": "conv"},
    "tunable-realtime": {"arch": "tunable", "preset": "realtime"},
    "paramchannel": {"arch": "paramchannel"},
}


def resolve_config(config: Mapping) -> dict:
    """Validate ``config`` and fill in every default; raise ``ValueError`` naming what is wrong."""
    arch = config.get("arch")
    if arch not in ARCHS:
        raise ValueError(f"config needs 'arch', one of {', '.join(ARCHS)}; got {arch!r}")
    allowed = {"arch", "preset", *COMMON, *ARCH_OPTIONS[arch]}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for arch {arch!r}; allowed: {', '.join(sorted(allowed))}")
    preset = config.get("preset")
    if preset is not None and PRESET_ARCH.get(preset) != arch:
        choices = ", ".join(f"{name} (arch {a})" for name, a in PRESET_ARCH.items())
        raise ValueError(f"unknown preset {preset!r} for arch {arch!r}; presets: {choices}")
    out = {**COMMON, **ARCH_OPTIONS[arch], **ARCH_PRESETS.get(preset, {}), **config}
    optional = tuple(key for key in ("fc_hidden", "tuned_channels") if key in out)
    for key in ("width", "param_dim", "expand", *optional):
        _positive_int(out, key)
    out["last_width"] = out["width"] if out["last_width"] is None else _positive_int(out, "last_width")
    dilations = out["dilations"]
    if not isinstance(dilations, (list, tuple)) or not all(isinstance(d, int) and d >= 1 for d in dilations):
        raise ValueError(f"dilations must be a list of positive integers, got {dilations!r}")
    out["dilations"] = list(dilations)
    for key in ("residual", "skip"):
        if not isinstance(out[key], bool):
            raise ValueError(f"{key} must be true or false, got {out[key]!r}")
    if out["blocks"] not in BLOCKS:
        raise ValueError(f"blocks must be one of {', '.join(BLOCKS)}, got {out['blocks']!r}")
    if "fields" in out:
        out["fields"] = _field_names(out["fields"])
    if "fc" in out and out["fc"] not in FC_KINDS:
        raise ValueError(f"fc must be one of {', '.join(FC_KINDS)}, got {out['fc']!r}")
    if arch == "tunable" and out["tuned"] == "norm":  # the last norm, named explicitly
        ops = build_program(width=1, dilations=out["dilations"], blocks=out["blocks"], expand=1, last_width=1)
        out["tuned"] = norms_of(ops)[-1].name
    return out


def without_later_defaults(config: Mapping) -> dict:
    """``config`` without the options of ``LATER_DEFAULTS`` that hold their original value."""
    return {key: value for key, value in config.items()
            if key not in LATER_DEFAULTS or value != LATER_DEFAULTS[key]}


def _field_names(fields) -> list[str]:
    if not isinstance(fields, (list, tuple)) or len(set(fields)) != len(fields):
        raise ValueError(f"fields must be a list of distinct field names, got {fields!r}")
    return [check_field(name) for name in fields]


def _positive_int(config: dict, key: str) -> int:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return value


def build_model(config: Mapping) -> nn.Module:
    """Build a network from a config dict; ``net.config`` holds the complete config.

    Keys: ``arch`` ("decoupled", "tunable", "paramchannel"), ``param_dim``,
    ``width``, ``dilations``, ``residual``, ``blocks`` ("standard",
    "separable"), ``expand``, ``last_width``, ``skip``; for "decoupled" and "tunable"
    also ``fc`` ("fc1", "fc2", "fc2R") and ``fc_hidden``; for "tunable"
    ``tuned`` and ``tuned_channels`` (see :mod:`paramops.models.tunable`),
    ``norm_windows``, ``tone_curve``, ``detail_branch``, ``detail_hidden``, ``detail_gate``, ``fields``,
    ``field_branch``, ``field_width``, ``field_slots``, ``own_branch``, ``own_width``, ``own_slots``, ``bank_slots`` and
    ``preset`` ("realtime").
    """
    from paramops.models.decoupled import DecoupledNet
    from paramops.models.paramchannel import ParamChannelNet
    from paramops.models.tunable import TunableNet

    resolved = resolve_config(config)
    cls = {"decoupled": DecoupledNet, "tunable": TunableNet, "paramchannel": ParamChannelNet}[resolved["arch"]]
    return cls(resolved)


def model_config(name: str, **overrides) -> dict:
    """The complete config of a named preset, e.g. ``model_config("tunable-realtime", param_dim=2)``."""
    if name not in NAMED:
        raise ValueError(f"unknown model preset {name!r}; presets: {', '.join(NAMED)}")
    return resolve_config({**NAMED[name], **overrides})
