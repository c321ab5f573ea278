"""Training-pair synthesis with an on-disk cache.

The reference operators are slow and several reach far (WLS, RTV), so a pair
is made by running the operator on a crop with a margin around it and keeping
only the centre: the patch then sees the context it would inside a whole
photo. That fails for operators whose registry ``context`` is ``"image"``
(histogram matching, value-range normalisation, pyramids as deep as the
image): with ``whole_photo`` they run on the whole photo and several patches
are cut from each run, so the targets are what the operator gives a user.
Filters map the clean patch to its filtered version; restoration operators run
the other way: the degraded patch is the input and the clean patch the target.

An operator with a position field (its registry ``position_field``: the
pencil drawing's paper texture, laid from the corner of the image it runs on)
also stores each patch's ``origins``: the patch's top-left pixel in that
image, from which a network that takes the field lays it. One with an image
field (its registry ``image_field``: the pencil drawing's stroke range) stores
each patch's ``gains``: the field's gain on the image the operator ran on.
Pairs made for a network with a Laplacian bank (``bank``) store each patch's
``banks``: the bank's maps of the image the network's input was cut from
(:mod:`paramops.models.bank`), cut as the patch.

Pairs are stored as uint8 in one ``.npz`` file per (operator, sampling
signature, patch geometry, seed); rounding to 8 bits caps the attainable PSNR
near 59 dB, far above anything trained here. The cache is regenerable and
lives outside the repository (``PARAMOPS_CACHE`` or ``~/.cache/paramops``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from paramops.models.bank import BANK_SIGNATURE, laplacian_bank
from paramops.models.tone import luminance_cdf
from paramops.operators.fields import field_gain
from paramops.operators.reference import reference
from paramops.operators.registry import get_operator
from paramops.training.sampling import sample_params

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
# Patches cut from each whole-photo run: fewer runs, at the price of fewer
# parameter draws (300 for 1,200 pairs, still dense on one or two axes).
PATCHES_PER_PHOTO = 4


def cache_dir() -> Path:
    return Path(os.environ.get("PARAMOPS_CACHE", Path.home() / ".cache" / "paramops"))


def list_images(folder: str | os.PathLike, match: str | None = None) -> list[Path]:
    """The image files directly inside ``folder``, sorted, whose names match the glob ``match`` if given.

    ``ValueError`` if there are none.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    if match is not None:
        files = [p for p in files if fnmatch.fnmatch(p.name, match)]
        if not files:
            raise ValueError(f"no image in {folder} matches {match!r}")
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
    whole_photo: bool = False
    bank: bool = False

    @property
    def runs_whole_photo(self) -> bool:
        return self.whole_photo and get_operator(self.op).context == "image"

    def signature(self, images: Sequence[Path]) -> str:
        payload = asdict(self) | {"images": [p.name for p in images], "fixed": dict(self.fixed), "v": 2}
        # The flag changes nothing for local operators: leave it out so both settings share their pairs.
        if not self.runs_whole_photo:
            del payload["whole_photo"]
        # Likewise without a bank; with one, what its maps are.
        del payload["bank"]
        if self.bank:
            payload["bank"] = BANK_SIGNATURE
        # Pairs made before fields existed lack the origins: a field's operator makes its pairs anew.
        if get_operator(self.op).position_field:
            payload["origins"] = True
        # Pairs made before image fields lack the gains: likewise.
        if get_operator(self.op).image_field:
            payload["gains"] = True
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()[:16]


def _load_rgb8(path: Path) -> np.ndarray:
    from paramops.image import to_working
    from paramops.io import read_image

    image = read_image(path)
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image
    rgb, _ = to_working(image)
    return np.rint(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)


def _pad_to(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    return np.pad(image, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")


def _corner(rng: np.random.Generator, image: np.ndarray, size: int) -> tuple[int, int]:
    h, w = image.shape[:2]
    return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))


def _make_pairs(args: tuple[PairSpec, str, int]) -> tuple[list[tuple[np.ndarray, np.ndarray, dict, tuple]], np.ndarray]:
    """The pairs of one operator run (one crop with its margin, or several patches of a whole photo), each
    with its patch's corner in the image the operator ran on, and the image the network's inputs were cut from."""
    spec, path, index = args
    rng = np.random.default_rng([spec.seed, index])
    operator = get_operator(spec.op)
    if spec.runs_whole_photo:
        source = _pad_to(_load_rgb8(Path(path)), spec.patch)
        corners = [_corner(rng, source, spec.patch) for _ in range(PATCHES_PER_PHOTO)]
    else:
        image = _pad_to(_load_rgb8(Path(path)), spec.patch + 2 * spec.margin)
        y, x = _corner(rng, image, spec.patch + 2 * spec.margin)
        source = image[y : y + spec.patch + 2 * spec.margin, x : x + spec.patch + 2 * spec.margin]
        corners = [(spec.margin, spec.margin)]
    params = sample_params(spec.op, rng, names=spec.names, fixed=spec.fixed)
    kwargs = {"seed": int(rng.integers(2**31))} if operator.stochastic else {}
    processed = reference(source, spec.op, **params, **kwargs)
    pairs = []
    for y, x in corners:
        window = np.s_[y : y + spec.patch, x : x + spec.patch]
        clean, done = source[window], processed[window]
        pair = (done, clean) if operator.family == "restoration" else (clean, done)
        pairs.append((*pair, params, (y, x)))
    # What the network's input was cut from: the degraded image for restoration, the clean one for filters.
    return pairs, processed if operator.family == "restoration" else source


def _histogram(seen: np.ndarray) -> np.ndarray:
    """:func:`~paramops.models.tone.luminance_cdf` of a uint8 RGB image, in the parent process: torch in a
    forked pool worker can deadlock on thread pools its parent started."""
    return luminance_cdf(torch.from_numpy(seen).permute(2, 0, 1)[None].float().div_(255))[0].numpy()


def _gain(image_field: str, seen: np.ndarray) -> float | None:
    """:func:`~paramops.operators.fields.field_gain` of ``image_field`` on a uint8 RGB image (None for "")."""
    return field_gain(image_field, seen.astype(np.float32) / np.float32(255)) if image_field else None


def make_pairs(
    spec: PairSpec, images: Sequence[Path], *, workers: int | None = None, progress: bool = True
) -> dict[str, np.ndarray]:
    """Make (or load from the cache) ``spec.count`` pairs for one operator.

    Returns a dict with ``inputs`` and ``targets`` (uint8, (N, P, P, 3)),
    ``params`` (float64, (N, n_params) in the operator's parameter order) and
    ``cdfs`` (float32, (N, 256)): the cumulative luminance histogram of the
    network input's whole run (crop and margin, or whole photo), for a tone
    head (:mod:`paramops.models.tone`); for an operator with a position field,
    ``origins`` (int64, (N, 2)): each patch's top-left (row, column) in the
    image the operator ran on; for one with an image field, ``gains``
    (float64, (N,)): the field's gain on that image; with ``spec.bank``, ``banks`` (float16, (N, J, P, P)):
    the Laplacian bank's maps of the network input's whole run, cut as the patch.
    """
    path = cache_dir() / "pairs" / f"{spec.op}-{spec.signature(images)}.npz"
    if path.exists():
        with np.load(path) as cached:
            return dict(cached)
    from tqdm import tqdm

    runs = -(-spec.count // PATCHES_PER_PHOTO) if spec.runs_whole_photo else spec.count
    jobs = [(spec, str(images[i % len(images)]), i) for i in range(runs)]
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        batches = list(
            tqdm(pool.map(_make_pairs, jobs, chunksize=8), total=len(jobs), desc=f"pairs {spec.op}",
                 disable=not progress, leave=False)
        )
    operator = get_operator(spec.op)
    results = [(*pair, cdf, gain, bank) for batch, seen in batches
               for cdf, gain, bank in [(_histogram(seen), _gain(operator.image_field, seen),
                                        laplacian_bank(seen) if spec.bank else None)]
               for pair in batch][: spec.count]
    pairs = {
        "inputs": np.stack([r[0] for r in results]),
        "targets": np.stack([r[1] for r in results]),
        "params": np.array([[r[2][n] for n in operator.param_names] for r in results],
                           dtype=np.float64).reshape(len(results), -1),
        "cdfs": np.stack([r[4] for r in results]).astype(np.float32),
    }
    if operator.position_field:
        pairs["origins"] = np.array([r[3] for r in results], dtype=np.int64)
    if operator.image_field:
        pairs["gains"] = np.array([r[5] for r in results], dtype=np.float64)
    if spec.bank:
        # float16: the maps are small differences of luminance, to within 1/2000 of their size.
        pairs["banks"] = np.stack([bank[:, y : y + spec.patch, x : x + spec.patch]
                                   for *_, (y, x), _, _, bank in results]).astype(np.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **pairs)
    os.replace(tmp, path)
    return pairs
