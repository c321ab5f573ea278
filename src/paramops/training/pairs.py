"""Training-pair synthesis with an on-disk cache.

The reference operators are slow and several are global (WLS, L0, RTV), so a
pair is made by running the operator on a crop with a margin around it and
keeping only the centre: the patch then sees the same context it would inside
a whole photo. Filters map the clean crop to its filtered version; restoration
operators run the other way: the degraded crop is the input and the clean crop
the target.

Pairs are stored as uint8 in one ``.npz`` file per (operator, sampling
signature, patch geometry, seed); rounding to 8 bits caps the attainable PSNR
near 59 dB, far above anything trained here. The cache is regenerable and
lives outside the repository (``PARAMOPS_CACHE`` or ``~/.cache/paramops``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from paramops.operators.reference import reference
from paramops.operators.registry import get_operator
from paramops.training.sampling import sample_params

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def cache_dir() -> Path:
    return Path(os.environ.get("PARAMOPS_CACHE", Path.home() / ".cache" / "paramops"))


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly inside ``folder``, sorted; ``ValueError`` if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


@dataclass(frozen=True)
class PairSpec:
    """What pairs to make for one operator."""

    op: str
    count: int
    patch: int = 64
    margin: int = 16
    names: tuple[str, ...] | None = None
    fixed: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0

    def signature(self, images: Sequence[Path]) -> str:
        payload = asdict(self) | {"images": [p.name for p in images], "fixed": dict(self.fixed), "v": 1}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()[:16]


def _load_rgb8(path: Path) -> np.ndarray:
    from paramops.image import to_working
    from paramops.io import read_image

    image = read_image(path)
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image
    rgb, _ = to_working(image)
    return np.rint(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)


def _make_pair(args: tuple[PairSpec, str, int]) -> tuple[np.ndarray, np.ndarray, dict]:
    spec, path, index = args
    rng = np.random.default_rng([spec.seed, index])
    image = _load_rgb8(Path(path))
    size = spec.patch + 2 * spec.margin
    h, w = image.shape[:2]
    if h < size or w < size:
        image = np.pad(image, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
        h, w = image.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    crop = image[y : y + size, x : x + size]
    params = sample_params(spec.op, rng, names=spec.names, fixed=spec.fixed)
    kwargs = {"seed": int(rng.integers(2**31))} if get_operator(spec.op).stochastic else {}
    processed = reference(crop, spec.op, **params, **kwargs)
    inner = np.s_[spec.margin : spec.margin + spec.patch, spec.margin : spec.margin + spec.patch]
    if get_operator(spec.op).family == "restoration":
        return processed[inner], crop[inner], params
    return crop[inner], processed[inner], params


def make_pairs(
    spec: PairSpec, images: Sequence[Path], *, workers: int | None = None, progress: bool = True
) -> dict[str, np.ndarray]:
    """Make (or load from the cache) ``spec.count`` pairs for one operator.

    Returns a dict with ``inputs`` and ``targets`` (uint8, (N, P, P, 3)) and
    ``params`` (float64, (N, n_params) in the operator's parameter order).
    """
    path = cache_dir() / "pairs" / f"{spec.op}-{spec.signature(images)}.npz"
    if path.exists():
        with np.load(path) as cached:
            return dict(cached)
    from tqdm import tqdm

    jobs = [(spec, str(images[i % len(images)]), i) for i in range(spec.count)]
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        results = list(
            tqdm(pool.map(_make_pair, jobs, chunksize=8), total=len(jobs), desc=f"pairs {spec.op}",
                 disable=not progress, leave=False)
        )
    names = get_operator(spec.op).param_names
    pairs = {
        "inputs": np.stack([r[0] for r in results]),
        "targets": np.stack([r[1] for r in results]),
        "params": np.array([[r[2][n] for n in names] for r in results], dtype=np.float64).reshape(len(results), -1),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **pairs)
    os.replace(tmp, path)
    return pairs
