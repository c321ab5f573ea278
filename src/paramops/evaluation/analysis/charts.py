"""Plain line charts and image grids as uint8 RGB arrays, drawn with OpenCV (no plotting library needed).

Enough for the analysis figures: a few series over shared x positions, with
optional log axes, dashed lines for the paper's numbers, point labels and a
legend; and a grid of labelled image cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# matplotlib's "tab10", as RGB.
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (200, 200, 200)
FONT_SCALE = 0.42
MARGIN = {"left": 64, "right": 16, "top": 34, "bottom": 44}
LEGEND_ROW = 18


@dataclass(frozen=True)
class Series:
    """One series: y (``None`` for a gap) at x; ``dashed`` lines, ``line=False`` for markers only."""

    label: str
    x: Sequence[float]
    y: Sequence[float | None]
    color: tuple[int, int, int] = PALETTE[0]
    dashed: bool = False
    line: bool = True
    notes: Sequence[str] | None = None  # text beside each point


def text(canvas: np.ndarray, value: str, origin: tuple[int, int], *, color=BLACK, scale: float = FONT_SCALE,
         anchor: str = "left") -> None:
    """Draw ``value`` with its baseline at ``origin``; ``anchor`` "left", "centre" or "right"."""
    import cv2

    (w, _), _ = cv2.getTextSize(value, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x = origin[0] - {"left": 0, "centre": w // 2, "right": w}[anchor]
    cv2.putText(canvas, value, (int(x), int(origin[1])), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    start = math.floor(low / step) * step
    return [start + i * step for i in range(int(math.ceil((high - start) / step)) + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    """Round values (1, 2, 5 times a power of ten) between 10**low and 10**high, thinned to at most 8."""
    ticks = [m * 10.0**e for e in range(math.floor(low) - 1, math.ceil(high) + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if low <= math.log10(t) <= high]
    if len(ticks) < 2:
        return [10**low, 10**high]
    return ticks[:: math.ceil(len(ticks) / 8)]


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.1e}"


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_ticks: Sequence[tuple[float, str]] | None = None,
    log_x: bool = False,
    log_y: bool = False,
    size: tuple[int, int] = (720, 400),
) -> np.ndarray:
    """A chart of ``series`` as an (H, W, 3) uint8 RGB image of ``size`` (width, height) plus its legend.

    ``x_ticks`` gives (position, label) pairs; by default round values. Log
    axes need positive values (others are not drawn).
    """
    import cv2

    width, height = size
    tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    ty = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    points = [(tx(x), ty(y)) for s in series for x, y in zip(s.x, s.y)
              if y is not None and math.isfinite(y) and (not log_x or x > 0) and (not log_y or y > 0)]
    if not points:
        raise ValueError(f"chart {title!r} has no point to draw")
    xs, ys = zip(*points)
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    pad_x = (x1 - x0) * 0.05 or 0.5
    pad_y = (y1 - y0) * 0.08 or max(abs(y0) * 0.05, 0.5)
    x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y
    legend_rows = math.ceil(len(series) / 3)
    canvas = np.full((height + legend_rows * LEGEND_ROW, width, 3), 255, np.uint8)
    left, right, top, bottom = MARGIN["left"], width - MARGIN["right"], MARGIN["top"], height - MARGIN["bottom"]

    def px(x: float, y: float) -> tuple[int, int]:
        return (int(round(left + (x - x0) / (x1 - x0) * (right - left))),
                int(round(bottom - (y - y0) / (y1 - y0) * (bottom - top))))

    text(canvas, title, (width // 2, 20), anchor="centre", scale=0.5)
    if log_y:
        y_ticks = [(math.log10(v), _fmt(v)) for v in log_ticks(y0, y1)]
    else:
        y_ticks = [(v, _fmt(v)) for v in nice_ticks(y0, y1)]
    for value, label in y_ticks:
        if y0 <= value <= y1:
            _, y = px(x0, value)
            cv2.line(canvas, (left, y), (right, y), (235, 235, 235), 1)
            text(canvas, label, (left - 6, y + 4), anchor="right")
    if x_ticks is None:
        if log_x:
            x_ticks = [(v, _fmt(v)) for v in log_ticks(x0, x1)]
        else:
            x_ticks = [(v, _fmt(v)) for v in nice_ticks(x0, x1)]
    for value, label in x_ticks:
        pos = tx(value) if (not log_x or value > 0) else None
        if pos is not None and x0 <= pos <= x1:
            x, _ = px(pos, y0)
            cv2.line(canvas, (x, bottom), (x, bottom + 4), BLACK, 1)
            text(canvas, label, (x, bottom + 17), anchor="centre")
    cv2.rectangle(canvas, (left, top), (right, bottom), BLACK, 1)
    text(canvas, x_label, ((left + right) // 2, height - 8), anchor="centre")
    text(canvas, y_label, (4, top - 8))
    for s in series:
        drawn = [(px(tx(x), ty(y)), note) for x, y, note in zip(s.x, s.y, s.notes or [""] * len(s.x))
                 if y is not None and math.isfinite(y) and (not log_x or x > 0) and (not log_y or y > 0)]
        if s.line:
            for (a, _), (b, _) in zip(drawn, drawn[1:]):
                _segment(canvas, a, b, s.color, s.dashed)
        for point, note in drawn:
            cv2.circle(canvas, point, 3, s.color, -1 if not s.dashed else 1, cv2.LINE_AA)
            if note:  # left of points near the right edge, so the label stays inside
                right_side = point[0] > left + 0.8 * (right - left)
                origin = (point[0] - 6, point[1] - 5) if right_side else (point[0] + 6, point[1] - 5)
                text(canvas, note, origin, color=s.color, anchor="right" if right_side else "left")
    for i, s in enumerate(series):
        x, y = 16 + (i % 3) * (width // 3), height + (i // 3) * LEGEND_ROW + 10
        if s.line:
            _segment(canvas, (x, y - 4), (x + 24, y - 4), s.color, s.dashed)
        else:
            cv2.circle(canvas, (x + 12, y - 4), 3, s.color, -1, cv2.LINE_AA)
        text(canvas, s.label, (x + 30, y))
    return canvas


def _segment(canvas: np.ndarray, a: tuple[int, int], b: tuple[int, int], color, dashed: bool) -> None:
    import cv2

    if not dashed:
        cv2.line(canvas, a, b, color, 2, cv2.LINE_AA)
        return
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    dashes = max(1, int(length // 8))
    for i in range(0, dashes, 2):
        p = (a[0] + (b[0] - a[0]) * i / dashes, a[1] + (b[1] - a[1]) * i / dashes)
        q = (a[0] + (b[0] - a[0]) * min(i + 1, dashes) / dashes, a[1] + (b[1] - a[1]) * min(i + 1, dashes) / dashes)
        cv2.line(canvas, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), color, 2, cv2.LINE_AA)


def image_grid(cells: Sequence[Sequence[np.ndarray]], *, rows: Sequence[str], columns: Sequence[str],
               title: str, label_width: int = 110, gap: int = 4) -> np.ndarray:
    """Equal-sized uint8 RGB ``cells[r][c]`` in a grid with row and column labels and a title."""
    side_h, side_w = cells[0][0].shape[:2]
    band = 20
    width = label_width + len(columns) * (side_w + gap)
    height = 2 * band + len(rows) * (side_h + gap)
    canvas = np.full((height, width, 3), 255, np.uint8)
    text(canvas, title, (width // 2, 15), anchor="centre", scale=0.5)
    for c, label in enumerate(columns):
        text(canvas, label, (label_width + c * (side_w + gap) + side_w // 2, 2 * band - 6), anchor="centre")
    for r, label in enumerate(rows):
        top = 2 * band + r * (side_h + gap)
        text(canvas, label, (6, top + side_h // 2 + 4))
        for c, cell in enumerate(cells[r]):
            left = label_width + c * (side_w + gap)
            canvas[top : top + side_h, left : left + side_w] = cell
    return canvas


def stack(images: Sequence[np.ndarray], gap: int = 8) -> np.ndarray:
    """Images one above the other on white, left-aligned."""
    width = max(im.shape[1] for im in images)
    parts = []
    for im in images:
        pad = np.full((im.shape[0], width - im.shape[1], 3), 255, np.uint8)
        parts += [np.hstack([im, pad]), np.full((gap, width, 3), 255, np.uint8)]
    return np.vstack(parts[:-1])
