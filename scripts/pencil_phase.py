"""How much of pencil's reference no network can predict without the pixel's position; writes docs/pencil_phase.md.

Usage::

    .venv/bin/python scripts/pencil_phase.py                 # the validation images
    .venv/bin/python scripts/pencil_phase.py --data DIR --phases 32

The pencil operator (:func:`paramops.operators.stylize.pencil_drawing`) renders
its tone with a square paper texture (256 px) tiled from the image's top-left corner.
A network that sees the image but not where each pixel lies in the tile can at
best predict the operator's mean over the tile's phase. This script runs the
reference with the tile laid from ``--phases`` other origins (fixed seed) and
scores, against the reference as the registry runs it (origin (0, 0)):

* one other phase: a rendering as good as the reference but at the wrong place;
* the mean of all the phases: close to the best a position-blind predictor
  does (its own sampling error, the variance over phases divided by the
  number of phases, costs at most 10 log10(1 + 1/phases) dB);

beside what the shipped ``default`` scores (``paramops evaluate``'s cache).
The mean over origins also goes to ``pencil_phase.json`` beside ``--out``,
where the report (``scripts/report.py``) cites it under pencil's bar.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from paramops.evaluation.diagnostics import PHASE_CEILING_FILE, parse_with_images
from paramops.evaluation.evaluate import cached_reference, evaluate
from paramops.evaluation.markdown import db, table, write_generated
from paramops.evaluation.metrics import psnr
from paramops.image import from_working, to_working
from paramops.io import read_image
from paramops.operators.stylize import TEXTURE_SIZE, pencil_drawing

ROOT = Path(__file__).resolve().parents[1]
SEED = 2012


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", type=int, default=16, help="texture origins averaged (default 16)")
    parser.add_argument("--model", default="default", help="model whose pencil scores sit beside (default: default)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "pencil_phase.md")
    args, paths = parse_with_images(parser, argv, ROOT)
    if args.phases < 1:
        parser.error(f"--phases must be at least 1, got {args.phases}")
    import paramops

    model_scores = {s.image: s.psnr for s in evaluate(paramops.load_model(args.model), args.data, ops=["pencil"],
                                                      progress=False)}
    origins = np.random.default_rng(SEED).integers(1, TEXTURE_SIZE, size=(args.phases, 2))
    rows, columns = [], []
    # Seeds and names as paramops evaluate gives them, so the references come from its cache.
    for seed, path in enumerate(paths):
        image = read_image(path)
        truth = cached_reference(image, path.name, "pencil", {}, seed)
        rgb, layout = to_working(image)
        phases = [pencil_drawing(rgb, texture_origin=tuple(int(v) for v in origin)) for origin in origins]
        scores = [psnr(from_working(phases[0], layout), truth),
                  psnr(from_working(np.mean(phases, axis=0), layout), truth),
                  model_scores[path.name]]
        columns.append(scores)
        rows.append([path.name, *map(db, scores)])
        print(*rows[-1], flush=True)
    means = np.mean(columns, axis=0)
    (args.out.parent / PHASE_CEILING_FILE).write_text(json.dumps(
        {"pencil": {"psnr": round(float(means[1]), 4), "phases": args.phases, "images": len(paths)}}, indent=1) + "\n")
    rows.append(["**mean**", *(f"**{db(v)}**" for v in means)])
    write_generated(args.out, "Pencil: what the paper texture's phase costs a network that cannot see it",
                    f"python scripts/pencil_phase.py --phases {args.phases}",
                    [f"Images: the {len(paths)} of `{args.data.name}/`, whole (pencil's registry context is "
                     f"`image`)."], [
        "PSNR (dB) against pencil's reference (texture tiled from the image's corner) of the same operator",
        f"with the texture tiled from another origin, of the mean over {args.phases} origins (seed {SEED}), and of",
        f"the `{args.model}` model. The mean over origins is about the best any predictor does that sees the",
        f"image but not the pixel's place in the {TEXTURE_SIZE} px tile (its sampling error costs at most "
        f"{db(10 * np.log10(1 + 1 / args.phases))} dB): a",
        "ceiling for a network that cannot tell where in the tile a pixel lies. See docs/training.md,",
        "twentieth session.",
        "",
        *table(["image", "another origin", f"mean of {args.phases} origins", f"`{args.model}`"], rows),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
