"""Model output against the reference operators, per operator and parameter value.

Filters: PSNR/SSIM of the model's output against the reference operator's.
Restoration: the clean image is degraded by the reference (seeded per image),
the model restores it, and both the restored and the degraded image are
scored against the clean one; the degraded image's own score is the
do-nothing baseline.

Reference outputs of whole images are slow, so they are cached on disk next to
the training pairs; so are the scores, under digests of the model's weights
and of the code that runs it, so a report re-run scores only what changed. The network runs through a
:class:`~paramops.service.ModelService`: a TunableNet's trunk runs once per
image and only its head once per parameter value, as in the plugin.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from paramops.evaluation.metrics import psnr, ssim
from paramops.operators.reference import reference
from paramops.operators.registry import get_operator
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


def test_points(op: str) -> list[tuple[str | None, float | None]]:
    """The paper's test values of ``op``'s first parameter, or one point for fixed-effect operators."""
    spec = get_operator(op)
    if not spec.params:
        return [(None, None)]
    first = spec.params[0]
    values = first.test_values or (first.default,)
    return [(first.name, float(v)) for v in values]


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
                if key not in cache:
                    if clean is None:
                        clean = read_image(path)
                        if not self_ensemble:
                            service.prepare("clean", clean)
                    cache[key] = _score(service, clean, path.name, seed, op, name, value, self_ensemble)
                scores.append(Score(op, name, value, path.name, **cache[key]))
                bar.update(1)
            service.release("clean")
            cache.save()
    return scores


def _score(service, clean: np.ndarray, image: str, seed: int, op: str, name: str | None, value,
           self_ensemble: bool) -> dict:
    """PSNR/SSIM of the network as ``op`` on one image (and of the degraded input, for restoration).

    One pass renders from the trunk prepared as ``"clean"``; a self-ensemble runs the whole network eight times.
    """
    params = {} if name is None else {name: value}
    truth = cached_reference(clean, image, op, params, seed)
    restoration = get_operator(op).family == "restoration"
    if self_ensemble:
        result = service.apply(truth if restoration else clean, op, self_ensemble=True, **params)
    elif restoration:
        service.prepare("degraded", truth)
        result = service.render("degraded", op, **params)
        service.release("degraded")
    else:
        result = service.render("clean", op, **params)
    if not restoration:
        return {"psnr": psnr(result, truth), "ssim": ssim(result, truth)}
    degraded = truth
    return {"psnr": psnr(result, clean), "ssim": ssim(result, clean),
            "input_psnr": psnr(degraded, clean), "input_ssim": ssim(degraded, clean)}


# The source that turns weights into scores: the networks, the service that runs them, the image
# conventions and the metrics. Scores of the same weights run by other code are not reused.
SCORED_BY = ("models/*.py", "service/*.py", "image.py", "evaluation/metrics.py")
# Matched above but never run by a score: the service's timings.
NOT_SCORING = ("service/bench.py",)


def code_digest() -> str:
    """A digest of the :data:`SCORED_BY` source files (less :data:`NOT_SCORING`) of the installed package."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    skipped = {root / name for name in NOT_SCORING}
    for path in sorted(p for pattern in SCORED_BY for p in root.glob(pattern) if p not in skipped):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class ScoreCache:
    """Scores of one model's weights, on disk under ``<cache>/scores/<weights digest>-<code digest>.json``."""

    def __init__(self, model) -> None:
        from paramops.models.checkpoint import weights_digest

        name = f"{weights_digest(model.net, model.encoding)[:24]}-{code_digest()[:12]}.json"
        self.path = cache_dir() / "scores" / name
        self.scores = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.dirty = False

    @staticmethod
    def _key(key: tuple) -> str:
        return json.dumps(key)

    def __contains__(self, key: tuple) -> bool:
        return self._key(key) in self.scores

    def __getitem__(self, key: tuple) -> dict:
        return self.scores[self._key(key)]

    def __setitem__(self, key: tuple, value: dict) -> None:
        self.scores[self._key(key)] = value
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.scores))
        os.replace(tmp, self.path)
        self.dirty = False


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
