"""What would it buy a model to know pencil's stroke range, or its texture's amplitude? Writes docs/pencil_oracles.md.

Usage::

    .venv/bin/python scripts/pencil_oracles.py                 # model default, the validation images
    .venv/bin/python scripts/pencil_oracles.py --data DIR --model NAME

The pencil drawing's luminance is ``S * T`` (:func:`paramops.operators.stylize.pencil_layers`):
a stroke layer S, the operator's strokes divided by their range over the
whole image, and a texture layer T, the paper texture H raised to a smooth
exponent. Per image the script scores, on luminance (BT.601):

* how far the operator moves when its strokes are divided by a typical range
  (the median over the images) instead of the image's own: what a network
  that cannot see the range at all would have to guess;
* ``--model``'s output against the reference, and the same with oracle
  corrections fitted to the reference, so upper bounds of what a network that
  learnt them could gain:

  - stroke gain: the output plus the least-squares multiple of the stroke
    layer ``(1 - S) * T``, one number per image, as a network told the
    image's stroke range could learn;
  - texture amplitude: the output plus ``A * fine(log H)``, the texture's
    finest detail (its difference to a Gaussian blur of 1 px) times an
    amplitude fitted by least squares in a Gaussian window of
    ``AMPLITUDE_WINDOW`` px around each pixel, as a network that multiplies
    the texture it is given by a smooth map could learn;
  - the same amplitude fit to the texture laid ``CONTROL_SHIFT`` px away: a
    control, what a smooth map times any texture-like detail explains.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from paramops.evaluation.diagnostics import ORACLE_FILE, parse_with_images
from paramops.evaluation.evaluate import cached_reference
from paramops.evaluation.markdown import db, table, write_generated
from paramops.evaluation.metrics import psnr
from paramops.image import to_working
from paramops.io import read_image
from paramops.operators.fields import position_field
from paramops.operators.stylize import luminance, luminance_strokes, pencil_layers, replace_luminance

ROOT = Path(__file__).resolve().parents[1]
# Sigma (px) of the Gaussian the texture's fine detail is taken against, and of the amplitude's window.
FINE_SIGMA = 1.0
AMPLITUDE_WINDOW = 4.0
# How far (px, along rows) the control's texture is laid from where the operator lays it.
CONTROL_SHIFT = 7


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigma)


def with_multiple(error: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``error`` less its least-squares multiple of ``basis`` (one number)."""
    return error - basis * (np.vdot(error, basis) / max(np.vdot(basis, basis), 1e-12))


def with_amplitude(error: np.ndarray, detail: np.ndarray, sigma: float) -> np.ndarray:
    """``error`` less ``A * detail``, ``A`` fitted by least squares in a Gaussian window of ``sigma`` px."""
    amplitude = blur(error * detail, sigma) / (blur(detail * detail, sigma) + 1e-8)
    return error - amplitude * detail


def typical_range_drawing(strokes: np.ndarray, texture: np.ndarray, strokes_range: float) -> np.ndarray:
    """The pencil drawing's luminance from its stroke sum and texture layer, with the strokes divided by
    ``strokes_range``, not the image's own."""
    return np.clip(1 - (strokes - strokes.min()) / strokes_range, 0, 1) * texture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model whose output is corrected (default: default)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "pencil_oracles.md")
    args, paths = parse_with_images(parser, argv, ROOT)
    import paramops

    model = paramops.load_model(args.model)
    images = [read_image(path) for path in paths]
    working = [to_working(image)[0] for image in images]
    sums = [luminance_strokes(rgb) for rgb in working]
    ranges = [float(np.ptp(strokes)) for strokes in sums]
    typical = float(np.median(ranges))
    rows, scores = [], []
    # Seeds and names as paramops evaluate gives them, so the references come from its cache.
    for seed, (path, image, rgb, strokes_sum, strokes_range) in enumerate(zip(paths, images, working, sums, ranges)):
        wanted = luminance(to_working(cached_reference(image, path.name, "pencil", {}, seed))[0])
        seen = luminance(to_working(model.apply(image, "pencil"))[0])
        lum, strokes, texture = pencil_layers(rgb)
        drawn = typical_range_drawing(strokes_sum, texture, typical)
        guessed = luminance(np.clip(replace_luminance(rgb, lum, drawn), 0, 1))
        detail = np.log(position_field("pencil_paper", lum.shape))
        detail = detail - blur(detail, FINE_SIGMA)
        error = seen - wanted
        row = [psnr(guessed, wanted), psnr(seen, wanted),
               psnr(wanted + with_multiple(error, (1 - strokes) * texture), wanted),
               psnr(wanted + with_amplitude(error, detail, AMPLITUDE_WINDOW), wanted),
               psnr(wanted + with_amplitude(error, np.roll(detail, CONTROL_SHIFT, axis=0), AMPLITUDE_WINDOW), wanted)]
        scores.append(row)
        rows.append([path.name, f"{strokes_range:.1f}", db(row[0]), db(row[1]),
                     *(f"{db(v)} ({v - row[1]:+.2f})" for v in row[2:])])
        print(path.name, np.round(row, 2), flush=True)
    mean = np.mean(scores, axis=0)
    gains = dict(zip(("stroke_gain", "texture_amplitude", "control"), (round(float(v - mean[1]), 4) for v in mean[2:])))
    (args.out.parent / ORACLE_FILE).write_text(json.dumps({"pencil": {**gains, "images": len(paths)}}, indent=1) + "\n")
    rows.append(["mean", f"{np.mean(ranges):.1f}", db(mean[0]), db(mean[1]),
                 *(f"{db(v)} ({v - mean[1]:+.2f})" for v in mean[2:])])
    title = f"pencil: what knowing the stroke range or the texture's amplitude would buy `{args.model}`"
    write_generated(args.out, title, f"python scripts/pencil_oracles.py --model {args.model}",
                    [f"Images: the {len(paths)} of `{args.data.name}/`, whole."], [
        "Luminance PSNR (dB) against the reference. `range`: the image's stroke range, what the operator",
        f"divides its strokes by. `typical range`: the operator with the median range ({typical:.1f}) instead of",
        "the image's own, against itself. Then the model's output, and the same plus an oracle correction",
        "fitted to the reference (the gain in brackets): `stroke gain`, one multiple of the stroke layer per",
        f"image; `texture amplitude`, the texture's finest detail times a map fitted in a {AMPLITUDE_WINDOW:g} px",
        f"window; `control`, the same with the texture laid {CONTROL_SHIFT} px away. The scores are on luminance,",
        "so they differ from `paramops evaluate`'s RGB PSNR. See docs/training.md, twenty-fourth session.",
        "",
        *table(["image", "range", "typical range", "model", "+ stroke gain", "+ texture amplitude", "control"],
               rows),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
