"""Model output against the reference operators, per operator and parameter value.

Filters: PSNR/SSIM of the model's output against the reference operator's.
Restoration: the clean image is degraded by the reference (seeded per image),
the model restores it, and both the restored and the degraded image are
scored against the clean one; the degraded image's own score is the
do-nothing baseline.

Reference outputs of whole images are slow, so they are cached on disk next to
the training pairs; so are the scores, under digests of the model's weights
and of the function the code computes from them
(:mod:`paramops.evaluation.score_cache`), so a report re-run scores only
what changed. The network runs through a
:class:`~paramops.service.ModelService`: a TunableNet's trunk runs once per
image and only its head once per parameter value, as in the plugin.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from paramops.evaluation.metrics import psnr, ssim
from paramops.evaluation.protocol import CLEAN, is_restoration, scored_output, test_points
from paramops.evaluation.score_cache import ScoreCache
from paramops.operators.reference import reference
from paramops.training.pairs import cache_dir, list_images


@dataclass(frozen=True)
class Score:
    op: str
    param: str | None
    value: float | None
    image: str
    psnr: float
    ssim: float
    input_psnr: float | None = None
    input_ssim: float | None = None


def cached_reference(image: np.ndarray, name: str, op: str, params: dict, seed: int) -> np.ndarray:
    """``reference(image, op, seed=seed, **params)``, kept on disk under (name, op, params, seed, shape)."""
    key = json.dumps({"image": name, "op": op, "params": params, "seed": seed, "shape": image.shape}, sort_keys=True)
    path = cache_dir() / "reference" / f"{op}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npy"
    if path.exists():
        return np.load(path)
    out = reference(image, op, seed=seed, **params)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, out)
    os.replace(tmp, path)
    return out


def evaluate(
    model,
    data: str | os.PathLike,
    *,
    ops: Sequence[str] | None = None,
    points: dict[str, Sequence[tuple[str | None, float | None]]] | None = None,
    self_ensemble: bool = False,
    progress: bool = True,
) -> list[Score]:
    """Score ``model`` (a loaded :class:`ParamModel`) on every image of folder ``data``.

    Parameters
    ----------
    model : ParamModel
        From :func:`paramops.load_model`.
    data : path
        Folder of images (PNG, JPEG, TIFF).
    ops : sequence of str, optional
        Operators to score; default all the model covers.
    points : dict, optional
        Parameter points per operator, default :func:`test_points`.
    self_ensemble : bool
        Score the mean of each result under the image's eight rotations and
        transposes (:meth:`ModelService.apply`): eight trunks per test point.
    """
    from tqdm import tqdm

    from paramops.io import read_image
    from paramops.service import ModelService

    ops = list(ops or model.operators)
    for op in ops:
        if op not in model.operators:
            raise ValueError(f"model does not cover {op!r}; it covers {', '.join(model.operators)}")
    files = list_images(data)
    jobs = [(op, name, value) for op in ops for name, value in (points or {}).get(op, test_points(op))]
    cache = ScoreCache(model)
    service = ModelService(model)
    scores = []
    with tqdm(total=len(jobs) * len(files), desc="evaluate", disable=not progress) as bar:
        for seed, path in enumerate(files):
            clean = None
            for op, name, value in jobs:
                key = (path.name, seed, op, name, value, *(("self_ensemble",) if self_ensemble else ()))
                score = cache.lookup(op, key)
                if score is None:
                    if clean is None:
                        clean = read_image(path)
                        if not self_ensemble:
                            service.prepare(CLEAN, clean)
                    score = _score(service, clean, path.name, seed, op, name, value, self_ensemble)
                    cache.store(op, key, score)
                scores.append(Score(op, name, value, path.name, **score))
                bar.update(1)
            service.release(CLEAN)
            cache.save()
    return scores


def _score(service, clean: np.ndarray, image: str, seed: int, op: str, name: str | None, value,
           self_ensemble: bool) -> dict:
    """PSNR/SSIM of the network as ``op`` on one image (and of the degraded input, for restoration)."""
    params = {} if name is None else {name: value}
    truth = cached_reference(clean, image, op, params, seed)
    restoration = is_restoration(op)
    result = scored_output(service, truth if restoration else clean, op, params, self_ensemble=self_ensemble)
    if not restoration:
        return {"psnr": psnr(result, truth), "ssim": ssim(result, truth)}
    degraded = truth
    return {"psnr": psnr(result, clean), "ssim": ssim(result, clean),
            "input_psnr": psnr(degraded, clean), "input_ssim": ssim(degraded, clean)}


def summarise(scores: Iterable[Score]) -> list[dict]:
    """Mean scores per (operator, parameter value), in first-seen order."""
    groups: dict[tuple, list[Score]] = {}
    for s in scores:
        groups.setdefault((s.op, s.param, s.value), []).append(s)
    rows = []
    for (op, param, value), group in groups.items():
        row = {
            "op": op,
            "param": param,
            "value": value,
            "images": len(group),
            "psnr": float(np.mean([s.psnr for s in group])),
            "ssim": float(np.mean([s.ssim for s in group])),
        }
        if group[0].input_psnr is not None:
            row["input_psnr"] = float(np.mean([s.input_psnr for s in group]))
            row["input_ssim"] = float(np.mean([s.input_ssim for s in group]))
        rows.append(row)
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """A markdown table of :func:`summarise`'s rows."""
    lines = ["| operator | parameter | PSNR (dB) | SSIM | input PSNR (dB) | gain (dB) |", "|---|---|---|---|---|---|"]
    for r in rows:
        point = "-" if r["param"] is None else f"{r['param']}={r['value']:g}"
        if "input_psnr" in r:
            tail = f"{r['input_psnr']:.2f} | {r['psnr'] - r['input_psnr']:+.2f}"
        else:
            tail = "- | -"
        lines.append(f"| {r['op']} | {point} | {r['psnr']:.2f} | {r['ssim']:.4f} | {tail} |")
    return "\n".join(lines)


def as_json(scores: Sequence[Score]) -> str:
    return json.dumps({"summary": summarise(scores), "scores": [asdict(s) for s in scores]}, indent=1)
