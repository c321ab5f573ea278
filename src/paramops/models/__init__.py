"""The networks: ``DecoupledNet`` (B + N), ``TunableNet`` (cheap tuning), ``ParamChannelNet`` (baseline).

Torch loads on first use of anything here except :mod:`paramops.models.encoding`,
so reading the encoding stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_LAZY = {
    "build_model": "paramops.models.registry",
    "model_config": "paramops.models.registry",
    "resolve_config": "paramops.models.registry",
    "DecoupledNet": "paramops.models.decoupled",
    "TunableNet": "paramops.models.tunable",
    "ParamChannelNet": "paramops.models.paramchannel",
    "TrunkFeatures": "paramops.models.features",
    "ParamModel": "paramops.models.wrapper",
    "save_checkpoint": "paramops.models.checkpoint",
    "load_checkpoint": "paramops.models.checkpoint",
    "load_model": "paramops.models.checkpoint",
    "available_models": "paramops.models.checkpoint",
    "ParamEncoding": "paramops.models.encoding",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:
    from paramops.models.checkpoint import available_models, load_checkpoint, load_model, save_checkpoint
    from paramops.models.decoupled import DecoupledNet
    from paramops.models.encoding import ParamEncoding
    from paramops.models.features import TrunkFeatures
    from paramops.models.paramchannel import ParamChannelNet
    from paramops.models.registry import build_model, model_config, resolve_config
    from paramops.models.tunable import TunableNet
    from paramops.models.wrapper import ParamModel


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'paramops.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
