"""One-file checkpoints: architecture config, operators and encoding, weights, checksum.

A checkpoint is a ``torch.save`` of a plain dict, loadable with
``torch.load(weights_only=True)``::

    {"format": "paramops-checkpoint", "format_version": 1,
     "config": <JSON>, "encoding": <JSON>, "meta": <JSON>,
     "state_dict": {name: tensor}, "sha256": <hex>}

The checksum covers the version, the three JSON strings and every tensor's
name, dtype, shape and bytes, so a damaged or hand-edited file is refused
instead of producing silently wrong images.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch

import paramops
from paramops.models.encoding import ParamEncoding
from paramops.models.registry import build_model, without_later_defaults
from paramops.models.wrapper import ParamModel

FORMAT = "paramops-checkpoint"
FORMAT_VERSION = 1
SUFFIX = ".pt"
REQUIRED = ("format_version", "config", "encoding", "meta", "state_dict", "sha256")


def weights_dir() -> Path:
    """Where shipped models live: ``weights/`` inside the installed package."""
    return Path(paramops.__file__).parent / "weights"


def available_models() -> list[str]:
    """Names of the shipped models, for :func:`load_model`."""
    folder = weights_dir()
    return sorted(p.stem for p in folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def checksum(config: str, encoding: str, meta: str, state_dict: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(f"{FORMAT}/{FORMAT_VERSION}\n{config}\n{encoding}\n{meta}\n".encode())
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def weights_digest(net: torch.nn.Module, encoding: ParamEncoding) -> str:
    """The :func:`checksum` of a network and its encoding without metadata: what its outputs depend on.

    Options added to the architecture later are left out at their original
    value (:data:`~paramops.models.registry.LATER_DEFAULTS`): the same network
    keeps its digest.
    """
    texts = (json.dumps(without_later_defaults(net.config), sort_keys=True), json.dumps(encoding.to_config(), sort_keys=True), "")
    return checksum(*texts, net.state_dict())


def save_checkpoint(
    path: str | os.PathLike, net: torch.nn.Module, encoding: ParamEncoding, *, meta: Mapping | None = None
) -> Path:
    """Write ``net`` (built by :func:`build_model`), its encoding and ``meta`` to ``path`` atomically.

    ``meta`` is any JSON-serialisable mapping (training steps, data, scores).
    The file appears complete or not at all: it is written beside ``path`` and
    renamed into place.
    """
    path = Path(path)
    config = getattr(net, "config", None)
    if not isinstance(config, Mapping) or "arch" not in config:
        raise ValueError("net has no architecture config; build it with paramops.models.build_model")
    if int(config["param_dim"]) != encoding.dim:
        raise ValueError(f"net takes param_dim={config['param_dim']} but the encoding gives {encoding.dim}")
    texts = [json.dumps(dict(config), sort_keys=True), json.dumps(encoding.to_config(), sort_keys=True),
             json.dumps(dict(meta or {}), sort_keys=True)]
    state = {name: t.detach().cpu().contiguous() for name, t in net.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": texts[0],
        "encoding": texts[1],
        "meta": texts[2],
        "state_dict": state,
        "sha256": checksum(*texts, state),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[torch.nn.Module, ParamEncoding, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`; return ``(net, encoding, meta)``.

    The net is on the CPU, in eval mode. Raises ``FileNotFoundError`` for a
    missing file and ``ValueError`` naming the file and the problem for a
    truncated or corrupt file, a file that is not a paramops checkpoint, an
    unsupported format version, a checksum mismatch, or weights that do not
    fit the stored architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")

    def fail(problem: str) -> ValueError:
        return ValueError(f"checkpoint {path}: {problem}")

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for damaged archives
        raise fail(f"cannot be read, the file is truncated or corrupt ({type(err).__name__}: {err})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise fail("not a paramops checkpoint (no 'format': 'paramops-checkpoint' entry)")
    missing = [key for key in REQUIRED if key not in payload]
    if missing:
        raise fail(f"incomplete, missing {', '.join(missing)}")
    if payload["format_version"] != FORMAT_VERSION:
        raise fail(f"format version {payload['format_version']} is not supported (this paramops reads {FORMAT_VERSION})")
    state = payload["state_dict"]
    texts = [payload["config"], payload["encoding"], payload["meta"]]
    if not all(isinstance(t, str) for t in texts) or not isinstance(state, dict):
        raise fail("malformed entries (config, encoding and meta must be JSON strings, state_dict a dict)")
    if checksum(*texts, state) != payload["sha256"]:
        raise fail("checksum mismatch, the weights or settings were damaged or edited")
    try:
        config, encoding_config, meta = (json.loads(t) for t in texts)
        net = build_model(config)
        encoding = ParamEncoding.from_config(encoding_config)
    except (ValueError, KeyError, TypeError) as err:
        raise fail(f"invalid settings: {err}") from None
    if encoding.dim != net.param_dim:
        raise fail(f"the encoding gives {encoding.dim} numbers but the network takes param_dim={net.param_dim}")
    _load_weights(net, state, fail)
    return net.eval(), encoding, meta


def _load_weights(net: torch.nn.Module, state: Mapping[str, torch.Tensor], fail) -> None:
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = [f"missing {', '.join(missing[:5])}" if missing else "", f"unexpected {', '.join(unexpected[:5])}" if unexpected else ""]
        raise fail(f"weights do not match the architecture: {'; '.join(p for p in parts if p)}")
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        raise fail(f"weights do not match the architecture (stored != expected shape): {', '.join(wrong[:5])}")
    net.load_state_dict(state)


def load_model(name_or_path: str | os.PathLike, device: str | torch.device | None = None) -> ParamModel:
    """Load a shipped model by name (see :func:`available_models`) or a checkpoint by path.

    Parameters
    ----------
    name_or_path : str or path
        A name such as ``"default"`` (the file ``weights/default.pt`` shipped
        with paramops), or the path of a checkpoint file.
    device : str or torch.device, optional
        Default: CUDA when available, else the CPU.
    """
    path = Path(name_or_path)
    if not path.is_file():
        name = str(name_or_path)
        # Shipped names may hold dots ("single-l0-0.02"), so only the checkpoint
        # suffix or a folder separator marks a path.
        if name.endswith(SUFFIX) or os.sep in name or "/" in name:
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        path = weights_dir() / f"{name}{SUFFIX}"
        if not path.is_file():
            names = available_models()
            raise ValueError(f"unknown model {name!r}; shipped models: {', '.join(names) if names else 'none'}")
    net, encoding, meta = load_checkpoint(path)
    return ParamModel(net, encoding, meta=meta, device=device)
