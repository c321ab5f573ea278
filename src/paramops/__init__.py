"""paramops: slow parameterized image operators as networks you tune live.

Implements the decoupled learning framework of Fan et al., "A General Decoupled
Learning Framework for Parameterized Image Operators" (ECCV 2018 / TPAMI).

Heavy modules (torch, napari) load on first use, so ``import paramops`` is fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# ``paramops.operators`` is the subpackage, callable as ``paramops.operators()``
# to get the registry; it imports only numpy, so loading it eagerly is cheap.
from paramops import operators  # noqa: E402
from paramops.operators.reference import reference  # noqa: E402

_LAZY = {
    "load_model": "paramops.models.checkpoint",
    "ModelService": "paramops.service",
    "apply": "paramops.api",
    "apply_dask": "paramops.api",
}

__all__ = sorted([*_LAZY, "operators", "reference"])

if TYPE_CHECKING:
    from paramops.api import apply, apply_dask
    from paramops.models.checkpoint import load_model
    from paramops.service import ModelService


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'paramops' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
