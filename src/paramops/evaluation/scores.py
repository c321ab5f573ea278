"""The models the report scores, and their scores: which checkpoints, loaded how, scored where.

:func:`load_models` reads each named checkpoint (a missing one is
:data:`NOT_TRAINED`, a broken one its error) and :func:`score_model` fills its
:class:`ModelScores` from :func:`paramops.evaluation.evaluate.evaluate` on a
folder of images.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paramops.evaluation.evaluate import evaluate, summarise
from paramops.evaluation.markdown import db
from paramops.evaluation.protocol import test_points
from paramops.operators.registry import operators

# The shipped models, in the order the budget table lists them.
SHIPPED = (
    "default",
    "decoupled-joint",
    "paramchannel-joint",
    "decoupled-l0",
    "single-l0-0.02",
    "decoupled-denoise",
    "single-denoise-25",
    "decoupled-rtv",
)
# The default given the head of scripts/plain_restorer.py's "head" control (thirteenth session).
HEADED = "default-restore-head"
# Models kept in ``<weights>/analysis/``: trained for a table, not shipped.
ANALYSIS = ("unseen-l0", "restore-w32", "default-detail", HEADED)
NOT_TRAINED = "not trained yet"
# Models trained on one operator over its range: Table III's "#ope. = 1".
ONE_OPERATOR = {"l0": "decoupled-l0", "rtv": "decoupled-rtv", "denoise": "decoupled-denoise"}


@dataclass
class ModelScores:
    """One model's mean scores per (operator, parameter value) on the validation images.

    ``status`` is ``"ok"``, :data:`NOT_TRAINED`, or why the checkpoint could
    not be read; ``rows`` holds :func:`summarise`'s rows for the operator's
    test points (or its fixed value), ``extra`` those of additional points,
    ``ensembled`` those of the restorations' test points self-ensembled
    (the default model's only).
    """

    name: str
    status: str
    model: object | None = None
    rows: dict[tuple[str, float | None], dict] = field(default_factory=dict)
    extra: dict[tuple[str, float | None], dict] = field(default_factory=dict)
    ensembled: dict[tuple[str, float | None], dict] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def covers(self, op: str) -> bool:
        return self.ok and op in self.model.operators

    def row(self, op: str, value: float | None, *, ensembled: bool = False) -> dict | None:
        """The row of ``op`` at ``value``; with ``ensembled``, its self-ensembled row."""
        key = (op, None if value is None else float(value))
        if ensembled:
            return self.ensembled.get(key)
        return self.rows.get(key) or self.extra.get(key)

    def mean_psnr(self, op: str) -> float | None:
        """PSNR averaged over ``op``'s evaluated test points, ``None`` if there are none."""
        values = [r["psnr"] for (o, _), r in self.rows.items() if o == op]
        return float(np.mean(values)) if values else None

    def cell(self, op: str, value: float | None = None, *, mean: bool = False, ssim: bool = False) -> str:
        """A table cell: the PSNR (and SSIM), or why there is none."""
        if not self.ok:
            return self.status if self.status == NOT_TRAINED else "unreadable"
        if op not in self.model.operators:
            return "-"
        if mean:
            return db(self.mean_psnr(op))
        row = self.row(op, value)
        if row is None:
            return "-"
        return f"{row['psnr']:.2f} / {row['ssim']:.3f}" if ssim else db(row["psnr"])


def model_points(model) -> dict[str, list[tuple[str | None, float | None]]]:
    """The points to score ``model`` at: each operator's test values, or the one value it was trained at."""
    fixed = model.meta.get("fixed") or {}
    points = {}
    for op in model.operators:
        standard = test_points(op)
        param = standard[0][0]
        value = fixed.get(op, {}).get(param)
        # A list of values (a "few fixed values" model) is scored like a continuous one.
        points[op] = [(param, float(value))] if isinstance(value, (int, float)) else standard
    return points


def load_entry(name: str, path: str | os.PathLike, device=None) -> ModelScores:
    """The checkpoint at ``path`` as ``name``: :data:`NOT_TRAINED` when it is missing, a bad one its error."""
    from paramops.models.checkpoint import load_model

    if not Path(path).is_file():
        return ModelScores(name, NOT_TRAINED)
    try:
        return ModelScores(name, "ok", load_model(path, device=device))
    except ValueError as err:
        # The first clause names the file and the problem; torch's advice that follows would break a table.
        return ModelScores(name, "unreadable: " + str(err).splitlines()[0].split(" (")[0])


def load_models(weights: str | os.PathLike, names: Sequence[str], device=None) -> dict[str, ModelScores]:
    """:func:`load_entry` of ``<weights>/<name>.pt`` for each name (``<weights>/analysis/`` for :data:`ANALYSIS`)."""
    from paramops.models.checkpoint import SUFFIX

    return {name: load_entry(name, Path(weights) / ("analysis" if name in ANALYSIS else "") / f"{name}{SUFFIX}",
                             device) for name in names}


def score_model(
    entry: ModelScores, data: Path, extra: Mapping[str, Sequence] | None = None, progress: bool = False,
    *, ensembled: bool = False
) -> None:
    """Fill ``entry.rows`` (and ``entry.extra`` at the ``extra`` points) by evaluating on folder ``data``.

    With ``ensembled``, also ``entry.ensembled``: the restorations' test points, each the mean of eight passes
    under the image's rotations and transposes (``paramops apply --self-ensemble``).
    """
    if not entry.ok:
        return
    started = time.perf_counter()
    restorations = {op: test_points(op) for op in operators("restoration") if ensembled and entry.covers(op)}
    for target, points, self_ensemble in ((entry.rows, model_points(entry.model), False),
                                          (entry.extra, extra or {}, False), (entry.ensembled, restorations, True)):
        if points:
            scores = evaluate(entry.model, data, ops=list(points), points=points, self_ensemble=self_ensemble,
                              progress=progress)
            target.update({(r["op"], r["value"]): r for r in summarise(scores)})
    entry.seconds = time.perf_counter() - started


def gain(row: dict | None) -> float | None:
    """A restoration row's PSNR gain over its degraded input."""
    return None if row is None else row["psnr"] - row["input_psnr"]
