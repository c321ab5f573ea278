"""How fast the service is: the numbers of ``paramops bench`` and ``scripts/bench_service.py``.

* ``forward_ms``: the whole network once (:meth:`ParamModel.apply`, what a
  host without the service pays per parameter change);
* ``trunk_ms``: :meth:`ModelService.prepare` (normalisation, trunk, moments);
* ``head_ms``: :meth:`ModelService.render` of the whole image after a
  parameter change, output in the input's dtype (the live-tuning cost);
* ``apply_ms`` and ``ensemble_ms``: :meth:`ModelService.apply` of the image,
  one pass and self-ensembled (eight), and ``ensemble_ratio`` between them;
* ``region_ms``: a ``region`` window (1920 x 1080 by default) of a larger
  image whose features are stored as for images too large for a
  whole-image trunk (tiled trunk, its largest feature in float16).

Every time is the median of ``repeat`` runs after a warm-up run. Timing does
not depend on the weights, so without shipped weights an untrained network
of the default architecture (``configs/default.yaml``) is measured.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from paramops.machine import machine

# The shipped default's architecture and encoding layout (configs/default.yaml), for timing without its weights.
DEFAULT_ARCH = {"arch": "tunable", "width": 32, "residual": True, "tuned": "conv", "skip": True, "last_width": 8,
                "norm_windows": [64, 48], "tone_curve": 16, "detail_branch": 6, "detail_hidden": 32, "detail_gate": True,
                "fields": ["pencil_paper", "pencil_strokes"], "field_branch": 5, "field_width": 24, "own_branch": 8,
                "own_width": 32}
DEFAULT_LAYOUT = "onehot"
# The operators that read the default's own branch and its Laplacian bank (model.own_operators,
# model.bank_operators).
DEFAULT_OWN_OPERATORS = ("deblock",)
DEFAULT_BANK_OPERATORS = ("llf", "llf_remap")


def default_architecture(encoding) -> dict:
    """:data:`DEFAULT_ARCH` for ``encoding``: its parameter count and the entries its field and own branches
    and its bank read."""
    from paramops.operators.registry import operators_laying

    readers = operators_laying(DEFAULT_ARCH["fields"], encoding.operators)
    return {**DEFAULT_ARCH, "param_dim": encoding.dim, "field_slots": encoding.own_slots(readers),
            "own_slots": encoding.own_slots(DEFAULT_OWN_OPERATORS),
            "bank_slots": encoding.own_slots(DEFAULT_BANK_OPERATORS)}


def bench_model(model=None, device=None):
    """(ParamModel, weights label): the named model, else an untrained one of the default architecture."""
    from paramops.models.checkpoint import available_models, load_model

    if model is not None and model != "default":
        return load_model(model, device=device), str(model)
    if "default" in available_models():
        return load_model("default", device=device), "default"
    return untrained_default(device), "untrained"


def untrained_default(device=None):
    """A ``ParamModel`` of the default's architecture and encoding with seeded random weights."""
    import torch

    from paramops.models import ParamEncoding, ParamModel, build_model
    from paramops.operators.registry import operators

    torch.manual_seed(0)
    encoding = ParamEncoding(tuple(operators()), layout=DEFAULT_LAYOUT)
    net = build_model(default_architecture(encoding))
    return ParamModel(net, encoding, meta={"name": "untrained default architecture"}, device=device)


def sample_image(height: int, width: int) -> np.ndarray:
    """A uint8 RGB photo of the given size (skimage's astronaut, mirrored and tiled)."""
    from skimage import data

    photo = data.astronaut()
    photo = np.concatenate([photo, photo[:, ::-1]], axis=1)
    photo = np.concatenate([photo, photo[::-1]], axis=0)
    reps = (-(-height // photo.shape[0]), -(-width // photo.shape[1]), 1)
    return np.ascontiguousarray(np.tile(photo, reps)[:height, :width])


def median_ms(fn: Callable[[int], object], repeat: int) -> float:
    """Median milliseconds of ``fn(i)`` for i = 1..repeat, after ``fn(0)`` as a warm-up."""
    fn(0)
    times = []
    for i in range(1, repeat + 1):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _param_values(op: str, count: int) -> list[dict[str, float]]:
    from paramops.operators.registry import get_operator

    params = get_operator(op).params
    if not params:  # a fixed-effect operator: each render recomputes the same head
        return [{} for _ in range(count)]
    return [{params[0].name: params[0].from_unit((i % 7 + 0.5) / 7)} for i in range(count)]


def run(
    model=None,
    *,
    device=None,
    size: tuple[int, int] = (1024, 1024),
    region: tuple[int, int] = (1080, 1920),
    region_image: tuple[int, int] = (1280, 2048),
    op: str = "l0",
    repeat: int = 5,
    forward_repeat: int = 2,
    log: Callable[[str], None] = lambda message: None,
) -> dict:
    """Measure the service; returns the figures as a JSON-ready dict (see the module docstring)."""
    import torch

    from paramops.service import ModelService

    model, weights = bench_model(model, device)
    values = _param_values(op, 2 * repeat + 2)
    result = {
        "model": model.meta.get("name", weights),
        "weights": weights,
        "device": str(model.device),
        "threads": torch.get_num_threads(),
        "machine": machine(),
        "op": op,
        "size": list(size),
        "pixels": size[0] * size[1],
    }
    image = sample_image(*size)
    service = ModelService(model, cache_bytes=2**40)

    log(f"forward pass at {size[0]}x{size[1]}")
    result["forward_ms"] = median_ms(lambda i: model.apply(image, op, **values[i]), forward_repeat)

    def prepare(i: int) -> None:
        service.release("bench")
        service.prepare("bench", image)

    log("trunk")
    result["trunk_ms"] = median_ms(prepare, max(1, forward_repeat))
    log("head")
    result["head_ms"] = median_ms(lambda i: service.render("bench", op, **values[i]), repeat)
    result["speedup"] = result["forward_ms"] / result["head_ms"]
    service.release("bench")
    log("apply, one pass and self-ensembled")
    result["apply_ms"] = median_ms(lambda i: service.apply(image, op, **values[i]), forward_repeat)
    # Eight passes: one timed run after the warm-up is as steady as the one-pass medians.
    result["ensemble_ms"] = median_ms(lambda i: service.apply(image, op, self_ensemble=True, **values[i]), 1)
    result["ensemble_ratio"] = result["ensemble_ms"] / result["apply_ms"]

    height, width = region
    big = sample_image(max(region_image[0], height), max(region_image[1], width))
    tiled = ModelService(model, cache_bytes=2**40, tile_pixels=max(1, big.shape[0] * big.shape[1] - 1))
    log(f"tiled trunk at {big.shape[0]}x{big.shape[1]}")
    start = time.perf_counter()
    tiled.prepare("big", big)
    result["region_image"] = list(big.shape[:2])
    result["region_trunk_ms"] = 1e3 * (time.perf_counter() - start)
    y0, x0 = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    window = (slice(y0, y0 + height), slice(x0, x0 + width))
    log("region")
    result["region"] = [height, width]
    result["region_ms"] = median_ms(lambda i: tiled.render("big", op, window, **values[i]), repeat)
    tiled.release("big")
    return result


def peak_rss_bytes() -> int:
    """The process's peak resident memory so far (Linux and macOS)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
