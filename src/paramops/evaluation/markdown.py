"""Markdown pieces shared by the results report and the analyses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A markdown table, as lines, followed by a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def db(value: float | None) -> str:
    """A PSNR-like number to two decimals, ``-`` when there is none."""
    return "-" if value is None or not np.isfinite(value) else f"{value:.2f}"
