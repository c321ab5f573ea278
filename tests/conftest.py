"""Fixtures shared by the test files: tiny trained-looking checkpoints and the scripts/ modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def save_tiny_model():
    """``save(path, ops, arch="decoupled", fixed=None, **config)``: a width-4 checkpoint with training metadata."""

    def save(path: Path, ops, arch: str = "decoupled", fixed: dict | None = None, **config) -> None:
        import torch

        from paramops.models import ParamEncoding, build_model, save_checkpoint

        torch.manual_seed(0)
        encoding = ParamEncoding(tuple(ops))
        net = build_model({"arch": arch, "width": 4, "param_dim": encoding.dim, "residual": True, **config})
        meta = {"steps": 20, "train_seconds": 1.5, "device": "cpu", "batch": 4, "fixed": fixed or {},
                "data": {"folder": "train", "pairs": 40, "patch": 32}}
        save_checkpoint(path, net, encoding, meta=meta)

    return save


@pytest.fixture(scope="session")
def load_script():
    """``load(name)``: the module ``scripts/<name>.py``."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
