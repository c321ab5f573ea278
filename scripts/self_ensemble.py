"""Measure test-time self-ensembling of a model on restoration test points (not part of the product).

The model restores the degraded image under each of the eight rotations and transposes of the
plane; the eight results, turned back, are averaged. Scored like ``paramops evaluate``: the same
degraded inputs (seeded per image), gains in dB over the degraded input, mean over images. It
costs eight renders per image, which is why it is measured here and not shipped.

Usage::

    .venv/bin/python scripts/self_ensemble.py                      # default; denoise 25, deblock 10
    .venv/bin/python scripts/self_ensemble.py --point sr scale 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from paramops import load_model
from paramops.evaluation.evaluate import cached_reference
from paramops.evaluation.metrics import psnr
from paramops.image import from_working, to_working
from paramops.io import read_image
from paramops.training.config import DEFAULT_VAL_DIR
from paramops.training.pairs import list_images

ROOT = Path(__file__).resolve().parents[1]


def turn(image: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th of the plane's eight symmetries (k in 0..7): transposed when k >= 4, then rotated."""
    return np.rot90(np.swapaxes(image, 0, 1) if k >= 4 else image, k % 4)


def turn_back(image: np.ndarray, k: int) -> np.ndarray:
    """Undo :func:`turn`."""
    image = np.rot90(image, -(k % 4))
    return np.swapaxes(image, 0, 1) if k >= 4 else image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--data", type=Path, default=ROOT / DEFAULT_VAL_DIR, help="validation image folder")
    parser.add_argument("--point", nargs=3, action="append", metavar=("OP", "PARAM", "VALUE"),
                        help="restoration test point; default denoise sigma 25 and deblock quality 10")
    args = parser.parse_args(argv)
    model = load_model(args.model)
    points = [tuple(point) for point in args.point or [("denoise", "sigma", "25"), ("deblock", "quality", "10")]]
    files = list_images(args.data)
    print(f"{args.model} on {len(files)} images of {args.data.name}/: gain over the degraded input, dB")
    gains = {point: ([], []) for point in points}  # one render, mean of eight
    started = time.perf_counter()
    for seed, path in enumerate(files):
        clean = read_image(path)
        for (op, name, value), (plain, ensembled) in gains.items():
            params = {name: float(value)}
            degraded = cached_reference(clean, path.name, op, params, seed)
            # Averaged in the working range, before the output is rounded back to the image's dtype.
            rgb, layout = to_working(degraded)
            outs = [turn_back(model.apply(np.ascontiguousarray(turn(rgb, k)), op, **params), k) for k in range(8)]
            baseline = psnr(degraded, clean)
            plain.append(psnr(from_working(outs[0], layout), clean) - baseline)
            ensembled.append(psnr(from_working(np.mean(outs, axis=0), layout), clean) - baseline)
    for (op, name, value), (plain, ensembled) in gains.items():
        print(f"{op} {name}={value}: one render {np.mean(plain):+.3f}, mean of eight {np.mean(ensembled):+.3f}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
