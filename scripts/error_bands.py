"""At which scales a model's output misses an operator's reference; writes docs/error_bands_<op>.md.

Usage::

    .venv/bin/python scripts/error_bands.py                  # llf on the validation images, model default
    .venv/bin/python scripts/error_bands.py --op pencil --data DIR --model NAME

The script splits the luminance error of ``--model``'s output against the
reference (as ``paramops evaluate`` computes it, from its cache) into a
Laplacian pyramid that runs down to a single pixel, the one the local
Laplacian filters build their output in (:mod:`paramops.operators.laplacian`),
and scores, per test value, what removing one band's error would buy: the
PSNR of the luminance error without that band, beside the PSNR with all of
it. The finest band holds detail one or two pixels across; the last is the
pyramid's one-pixel top, a weighted mean of the image: a network that shifts
the whole image's brightness errs there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from paramops.evaluation.evaluate import cached_reference, test_points
from paramops.evaluation.markdown import db, table, write_generated
from paramops.evaluation.metrics import psnr
from paramops.image import to_working
from paramops.io import read_image
from paramops.operators.laplacian import collapse, laplacian_pyramid, luminance, pyramid_depth
from paramops.operators.registry import operators
from paramops.training.config import DEFAULT_VAL_DIR
from paramops.training.pairs import list_images

ROOT = Path(__file__).resolve().parents[1]
# Bands 0 to FINE_BANDS - 1 get a column each; the coarser ones but the mean share one.
FINE_BANDS = 6


def band_errors(error: np.ndarray) -> list[np.ndarray]:
    """``error`` (H, W) as the sum of its Laplacian bands, each collapsed alone to full size.

    Returns the bands ``0 .. FINE_BANDS - 1``, the coarser ones but the last
    summed, and the last (the one-pixel top, flat); they add up to ``error``.
    """
    bands = laplacian_pyramid(error, pyramid_depth(error.shape))
    if len(bands) < FINE_BANDS + 2:
        raise ValueError(f"images of at least {2 ** FINE_BANDS + 1} px on a side are needed; got {error.shape}")
    alone = [collapse([b if i == k else np.zeros_like(b) for i, b in enumerate(bands)]) for k in range(len(bands))]
    return [*alone[:FINE_BANDS], np.sum(alone[FINE_BANDS:-1], axis=0), alone[-1]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / DEFAULT_VAL_DIR, help="image folder")
    parser.add_argument("--model", default="default", help="model to split the error of (default: default)")
    parser.add_argument("--op", default="llf", choices=list(operators("filter")),
                        help="filter operator (default: llf)")
    parser.add_argument("--out", type=Path, help="default docs/error_bands_<op>.md")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "docs" / f"error_bands_{args.op}.md"
    try:
        paths = list_images(args.data)
    except ValueError as err:
        parser.error(str(err))
    import paramops

    model = paramops.load_model(args.model)
    points = test_points(args.op)
    # PSNR of the whole luminance error, then without each band's: (point, image, 1 + bands).
    scores = np.zeros((len(points), len(paths), FINE_BANDS + 3))
    # Seeds and names as paramops evaluate gives them, so the references come from its cache.
    for seed, path in enumerate(paths):
        image = read_image(path)
        for i, (name, value) in enumerate(points):
            params = {name: value} if name else {}
            truth = to_working(cached_reference(image, path.name, args.op, params, seed))[0]
            output = to_working(model.apply(image, args.op, **params))[0]
            seen, wanted = luminance(output), luminance(truth)
            parts = band_errors(seen - wanted)
            scores[i, seed] = [psnr(seen, wanted), *(psnr(seen - part, wanted) for part in parts)]
        print(path.name, np.round(scores[:, seed, 0], 2), flush=True)
    means = scores.mean(axis=1)
    bands = [*(f"band {k}" for k in range(FINE_BANDS)), f"bands {FINE_BANDS}+", "mean"]
    rows = [[f"{name}={value}" if name else "-", db(row[0]), *(f"{db(v)} ({v - row[0]:+.2f})" for v in row[1:])]
            for (name, value), row in zip(points, means)]
    write_generated(out, f"{args.op}: at which scales `{args.model}` misses the reference",
                    f"python scripts/error_bands.py --model {args.model} --op {args.op}",
                    [f"Images: the {len(paths)} of `{args.data.name}/`, whole."], [
        f"Luminance PSNR (dB, mean over images) of `{args.model}`'s {args.op} output against the reference, and",
        "what it would be with one band of the error's Laplacian pyramid removed (the gain in brackets).",
        f"Band k holds structure about 2^k px across; `bands {FINE_BANDS}+` all the coarser ones but the last,",
        "`mean` the last, one pixel: a weighted mean of the image. The scores are on luminance (BT.601), so",
        "they differ from `paramops evaluate`'s RGB PSNR.",
        "See docs/training.md, twenty-third session.",
        "",
        *table(["value", "all of it", *bands], rows),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
