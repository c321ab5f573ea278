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

A second table splits the model's *change* to the image (output less input)
the same way and fits a gain to each band, by least squares against the
reference's change: one set of gains per test value shared by all images,
and one set per image. A gain above 1 means the model does too little at
that scale (too little detail enhanced, say), below 1 too much; the PSNRs say
what the fitted gains would buy, the per-image ones as an upper bound.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from paramops.evaluation.diagnostics import band_gains_file, parse_with_images
from paramops.evaluation.evaluate import cached_reference
from paramops.evaluation.markdown import db, table, write_generated
from paramops.evaluation.metrics import psnr
from paramops.evaluation.protocol import test_points
from paramops.image import to_working
from paramops.io import read_image
from paramops.operators.laplacian import collapse, laplacian_pyramid, luminance, pyramid_depth
from paramops.operators.registry import operators

ROOT = Path(__file__).resolve().parents[1]
# Bands 0 to FINE_BANDS - 1 get a column each; the coarser ones but the mean share one.
FINE_BANDS = 6
# Where each band of :func:`band_errors` lies, as the report's prose names it.
BAND_SCALES = [*(f"at {2 ** k} px" for k in range(FINE_BANDS)), f"at {2 ** FINE_BANDS} px and up",
               "in the image's mean"]
# One image's band Gram matrix, its bands' products with the wanted change, and that change's energy.
Gram = tuple[np.ndarray, np.ndarray, float]


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


def band_gram(change: np.ndarray, wanted: np.ndarray) -> Gram:
    """The Gram matrix ``G`` of ``change``'s bands (:func:`band_errors`), their products ``c`` with ``wanted``, and
    ``wanted``'s energy.

    Scaling band k of ``change`` by ``g[k]`` leaves the squared error ``wanted.wanted - 2 g.c + g.G.g`` against
    ``wanted``, so gains can be fitted over many images without keeping their bands.
    """
    parts = np.stack(band_errors(change)).reshape(FINE_BANDS + 2, -1).astype(np.float64)
    target = wanted.ravel().astype(np.float64)
    return parts @ parts.T, parts @ target, float(target @ target)


def gained_psnr(gram: Gram, gains: np.ndarray, pixels: int) -> float:
    """PSNR (peak 1) of the change with its bands scaled by ``gains`` against the wanted one, from :func:`band_gram`."""
    matrix, products, energy = gram
    squared_error = energy - 2 * gains @ products + gains @ matrix @ gains
    return float(10 * np.log10(pixels / max(squared_error, 1e-12)))


def fitted_gains(grams: list[Gram]) -> np.ndarray:
    """The band gains that minimise the squared error summed over ``grams``' images."""
    return np.linalg.lstsq(sum(g[0] for g in grams), sum(g[1] for g in grams), rcond=None)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model to split the error of (default: default)")
    parser.add_argument("--op", default="llf", choices=list(operators("filter")),
                        help="filter operator (default: llf)")
    parser.add_argument("--out", type=Path, help="default docs/error_bands_<op>.md")
    args, paths = parse_with_images(parser, argv, ROOT)
    out = args.out or ROOT / "docs" / f"error_bands_{args.op}.md"
    import paramops

    model = paramops.load_model(args.model)
    points = test_points(args.op)
    # PSNR of the whole luminance error, then without each band's: (point, image, 1 + bands).
    scores = np.zeros((len(points), len(paths), FINE_BANDS + 3))
    grams: list[list[Gram]] = [[] for _ in points]
    pixels = []
    # Seeds and names as paramops evaluate gives them, so the references come from its cache.
    for seed, path in enumerate(paths):
        image = read_image(path)
        given = luminance(to_working(image)[0])
        for i, (name, value) in enumerate(points):
            params = {name: value} if name else {}
            truth = to_working(cached_reference(image, path.name, args.op, params, seed))[0]
            output = to_working(model.apply(image, args.op, **params))[0]
            seen, wanted = luminance(output), luminance(truth)
            parts = band_errors(seen - wanted)
            scores[i, seed] = [psnr(seen, wanted), *(psnr(seen - part, wanted) for part in parts)]
            grams[i].append(band_gram(seen - given, wanted - given))
        pixels.append(given.size)
        print(path.name, np.round(scores[:, seed, 0], 2), flush=True)
    means = scores.mean(axis=1)
    gains = band_gain_rows(points, grams, pixels)
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
        "See docs/training.md, twenty-third session (the band gains below: twenty-fifth).",
        "",
        *table(["value", "all of it", *bands], rows),
        "",
        "**The model's change, band by band.** The same bands of the model's change to the image (output less",
        "input, on luminance), each scaled by a gain fitted by least squares against the reference's change:",
        "one set of gains per value shared by all images (listed), and one set per image (an upper bound).",
        "A gain above 1: the model changes the image too little at that scale; below 1, too much.",
        "",
        *table(["value", "all of it", "shared gains", "each image's gains", *(f"gain, {b}" for b in bands)],
               [[f"{r['param']}={r['value']}" if r["param"] else "-", db(r["psnr"]),
                 *(f"{db(r[k])} ({r[k] - r['psnr']:+.2f})" for k in ("shared", "each")),
                 *(f"{g:.2f}" for g in r["gains"])] for r in gains]),
    ])
    (out.parent / band_gains_file(args.op)).write_text(
        json.dumps({"model": args.model, "images": len(paths), "scales": BAND_SCALES, "rows": gains}, indent=1) + "\n")
    return 0


def band_gain_rows(points: list[tuple[str | None, float | None]], grams: list[list[Gram]],
                   pixels: list[int]) -> list[dict]:
    """Per test value: the luminance PSNR (mean over images) of the model's change with no gain, with the gains
    shared by all images (``gains``, one per band of :func:`band_errors`) and with each image's own."""
    rows = []
    for (name, value), value_grams in zip(points, grams):
        shared = fitted_gains(value_grams)
        scores = np.array([[gained_psnr(g, np.ones_like(shared), n), gained_psnr(g, shared, n),
                            gained_psnr(g, fitted_gains([g]), n)] for g, n in zip(value_grams, pixels)]).mean(axis=0)
        rows.append({"param": name, "value": value, "psnr": scores[0], "shared": scores[1], "each": scores[2],
                     "gains": [round(float(g), 4) for g in shared]})
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
