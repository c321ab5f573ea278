"""Figures for the results report: one image across an operator's test values, reference above model.

A figure is a grid with one column per test value of the operator's first
parameter (one column for fixed-effect operators) and a first column with the
input. Filters: the reference operator's output on top, the model's below,
with the model's PSNR against the reference under each. Restoration: the
reference degradation of the clean image on top, the model's restoration of
it below, each with its PSNR against the clean image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from paramops.evaluation.evaluate import cached_reference
from paramops.evaluation.metrics import psnr
from paramops.evaluation.protocol import test_points
from paramops.operators.registry import get_operator

CELL = 192  # side of the square crop, px
GAP = 4  # white space between cells, px
BAND = 20  # height of a text band, px
LABEL_WIDTH = 84  # width of the row-label column, px
FONT_SCALE = 0.42


def center_crop(image: np.ndarray, size: int = CELL) -> np.ndarray:
    """The central ``size`` x ``size`` square of ``image`` (smaller where the image is), as uint8 RGB."""
    from paramops.image import to_working

    rgb, _ = to_working(image)
    rgb = np.rint(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)
    side = min(size, *rgb.shape[:2])
    top, left = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
    return np.ascontiguousarray(rgb[top : top + side, left : left + side])


def _text_band(text: str, width: int) -> np.ndarray:
    """A white ``BAND`` x ``width`` strip with ``text`` centred in black."""
    import cv2

    band = np.full((BAND, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (w, h), _ = cv2.getTextSize(text, font, FONT_SCALE, 1)
    origin = (max(0, (width - w) // 2), (BAND + h) // 2)
    cv2.putText(band, text, origin, font, FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def _row(label: str, cells: list[np.ndarray | None], notes: list[str]) -> np.ndarray:
    """One labelled row: the cells (``None`` is blank) side by side, a note band under each."""
    side = next(c for c in cells if c is not None).shape[0]
    blank = np.full((side, side, 3), 255, np.uint8)
    gap = np.full((side + BAND, GAP, 3), 255, np.uint8)
    parts = [np.vstack([_label_cell(label, side), np.full((BAND, LABEL_WIDTH, 3), 255, np.uint8)])]
    for cell, note in zip(cells, notes):
        parts += [gap, np.vstack([blank if cell is None else cell, _text_band(note, side)])]
    return np.hstack(parts)


def _label_cell(label: str, height: int) -> np.ndarray:
    cell = np.full((height, LABEL_WIDTH, 3), 255, np.uint8)
    top = (height - BAND) // 2
    cell[top : top + BAND] = _text_band(label, LABEL_WIDTH)
    return cell


def operator_figure(model, image: np.ndarray, op: str, *, name: str = "image", seed: int = 0) -> np.ndarray:
    """The reference-versus-model grid of ``op`` on ``image`` as a uint8 RGB array.

    Parameters
    ----------
    model : ParamModel
        From :func:`paramops.load_model`; must cover ``op``.
    image : ndarray
        Any image :func:`paramops.image.to_working` accepts; its central
        ``CELL`` x ``CELL`` crop is shown.
    op : str
        Operator name from the registry.
    name : str
        Names the image in the reference cache.
    seed : int
        Seed of the stochastic degradations (noise, rain).
    """
    if op not in model.operators:
        raise ValueError(f"model does not cover {op!r}; it covers {', '.join(model.operators)}")
    crop = center_crop(image)
    side = crop.shape[0]
    restoration = get_operator(op).family == "restoration"
    points = test_points(op)
    titles = ["clean" if restoration else "input"]
    top, bottom = [crop], [None]
    top_notes, bottom_notes = [""], [""]
    for param, value in points:
        params = {} if param is None else {param: value}
        titles.append(("degraded" if restoration else "output") if param is None else f"{param}={value:g}")
        reference = cached_reference(crop, f"{name}@crop{side}", op, params, seed)
        result = model.apply(reference if restoration else crop, op, **params)
        top.append(reference)
        bottom.append(result)
        if restoration:
            top_notes.append(f"{psnr(reference, crop):.2f} dB")
            bottom_notes.append(f"{psnr(result, crop):.2f} dB")
        else:
            top_notes.append("")
            bottom_notes.append(f"{psnr(result, reference):.2f} dB")
    header = [np.full((BAND, LABEL_WIDTH, 3), 255, np.uint8)]
    for title in titles:
        header += [np.full((BAND, GAP, 3), 255, np.uint8), _text_band(title, side)]
    labels = ("degraded", "restored") if restoration else ("reference", "model")
    grid = np.vstack([np.hstack(header), _row(labels[0], top, top_notes), _row(labels[1], bottom, bottom_notes)])
    # The registry's one-line summary is often wider than a two-column figure.
    title = _text_band(op, grid.shape[1])
    return np.vstack([title, grid])


def write_figures(
    model, image: np.ndarray, folder: str | os.PathLike, *, ops=None, name: str = "image", seed: int = 0
) -> dict[str, Path]:
    """Write ``<folder>/<op>.png`` for each of ``ops`` (default: all the model covers); return the paths."""
    from paramops.io import write_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for op in ops or model.operators:
        paths[op] = folder / f"{op}.png"
        write_image(paths[op], operator_figure(model, image, op, name=name, seed=seed))
    return paths
