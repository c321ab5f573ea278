"""The issue's quality bars for the default model, and each measured on a model's scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from paramops.evaluation import paper
from paramops.evaluation.scores import NOT_TRAINED, ModelScores, gain
from paramops.operators.registry import get_operator, operators

# The quality bars for the default model.
FILTER_BAR_DB = 28.0
STYLISED_BAR_DB = 25.0  # style and pencil: the paper itself reaches 26.66 and 25.61
STYLISED = ("style", "pencil")
FILTER_MEAN_BAR_DB = 30.0
GAIN_BARS = (("denoise", 25.0, 8.0), ("sr", 2.0, 1.5), ("deblock", 10.0, 1.0))  # (op, level, dB over input)


@dataclass(frozen=True)
class Bar:
    """One quality bar: ``kind`` is "filter" (mean PSNR of ``op``), "mean" (over all filters) or "gain"."""

    kind: str
    op: str | None
    level: float | None
    need: float
    ours: float | None
    passed: bool | None  # None: nothing to measure (no default model)
    paper: str
    why: str = ""  # why ``ours`` is missing
    ensembled: float | None = None  # a gain bar's quantity self-ensembled, where measured

    @property
    def label(self) -> str:
        if self.kind == "filter":
            return f"{self.op}, mean over test values"
        if self.kind == "mean":
            return "mean over all filters"
        return f"{self.op} {get_operator(self.op).params[0].name}={self.level:g}, gain over input"

    @property
    def required(self) -> str:
        return f">= +{self.need:g} dB" if self.kind == "gain" else f">= {self.need:g} dB"

    @property
    def status(self) -> str:
        if self.passed is None:
            return self.why
        if self.ours is None:
            return f"**FAIL** ({self.why})"
        return "pass" if self.passed else "**FAIL**"

    def ours_text(self) -> str:
        if self.ours is None:
            return "-"
        return f"{self.ours:+.2f}" if self.kind == "gain" else f"{self.ours:.2f}"

    def ensembled_text(self) -> str:
        if self.ensembled is None:
            return "-"
        return f"{self.ensembled:+.2f} ({'pass' if self.ensembled >= self.need else 'short'})"


def quality_bars(default: ModelScores) -> list[Bar]:
    """The issue's quality bars, measured on the default model."""
    missing = None if default.ok else (NOT_TRAINED if default.status == NOT_TRAINED else "unreadable")

    def bar(kind, op, level, need, ours, paper_text, uncovered=(), ensembled=None) -> Bar:
        if missing:
            return Bar(kind, op, level, need, None, None, paper_text, missing)
        if uncovered:
            return Bar(kind, op, level, need, None, False, paper_text, f"model lacks {', '.join(uncovered)}")
        return Bar(kind, op, level, need, ours, ours >= need, paper_text, ensembled=ensembled)

    bars = []
    filters = list(operators("filter"))
    for op in filters:
        need = STYLISED_BAR_DB if op in STYLISED else FILTER_BAR_DB
        paper_db = paper.TUNABLE_PSNR.get(op)
        uncovered = () if default.covers(op) else (op,)
        paper_text = f"{paper_db:.2f} (Table VI)" if paper_db else "-"
        bars.append(bar("filter", op, None, need, default.mean_psnr(op), paper_text, uncovered))
    uncovered = [op for op in filters if not default.covers(op)]
    mean = None if uncovered or missing else float(np.mean([default.mean_psnr(op) for op in filters]))
    bars.append(bar("mean", None, None, FILTER_MEAN_BAR_DB, mean,
                    f"{paper.TUNABLE_AVERAGE_PSNR:.2f} over its 10 (Table VI)", uncovered))
    for op, level, need in GAIN_BARS:
        row = default.row(op, level) if default.covers(op) else None
        ours = gain(row)
        reference = paper.lookup(paper.RESTORATION_COMPARISON.get(op, {}), level)
        numerous = paper.lookup(paper.SINGLE_VS_NUMEROUS[op], level)
        if reference:
            paper_text = f"{reference[1] - reference[0]:+.2f} (Sec. 5.2)"
        else:  # the paper gives the restored PSNR only
            paper_text = f"restored {numerous.numerous_psnr:.2f}, input not given (Table II)" if numerous else "-"
        uncovered = () if row is not None else (f"{op} at {level:g}",)
        bars.append(bar("gain", op, level, need, ours, paper_text, uncovered,
                        ensembled=gain(default.row(op, level, ensembled=True))))
    return bars


def measure(entry: ModelScores | None, bar: Bar) -> float | None:
    """``bar``'s quantity measured on another model, ``None`` where it cannot be."""
    if entry is None or not entry.covers(bar.op):
        return None
    if bar.kind == "filter":
        return entry.mean_psnr(bar.op)
    return gain(entry.row(bar.op, bar.level))


def rows_by_psnr(entry: ModelScores, op: str) -> list[dict]:
    """``entry``'s rows of ``op``, weakest first."""
    return sorted((r for (o, _), r in entry.rows.items() if o == op), key=lambda r: r["psnr"])
