"""Measure each filter's crop consistency and write docs/crop_consistency.md.

Usage::

    .venv/bin/python scripts/crop_consistency.py                  # Set5, margins 16 and 48
    .venv/bin/python scripts/crop_consistency.py --match '*' --margins 16 32 64

For every filter operator, at the smallest and largest of its first
parameter's test values, the operator is run tile by tile (64 px tiles, each
with a margin of context) and compared with the whole-image run
(``paramops.evaluation.consistency``). The registry's ``context`` column is
what training uses: ``image`` operators get pairs cut from whole-photo runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from paramops.evaluation.consistency import crop_consistency
from paramops.evaluation.diagnostics import parse_with_images
from paramops.evaluation.markdown import db, table, write_generated
from paramops.image import color_values
from paramops.io import read_image
from paramops.operators.registry import OPERATORS

ROOT = Path(__file__).resolve().parents[1]


def test_points(spec) -> list[dict[str, float]]:
    if not spec.params:
        return [{}]
    first = spec.params[0]
    return [{first.name: v} for v in (first.test_values[0], first.test_values[-1])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--margins", type=int, nargs="+", default=[16, 48], help="context around each tile, px")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "crop_consistency.md")
    args, paths = parse_with_images(parser, argv, ROOT, match="set5_*")
    images = [color_values(read_image(p)) for p in paths]
    rows = []
    for name, spec in OPERATORS.items():
        if spec.family != "filter":
            continue
        for params in test_points(spec):
            scores = [np.mean([crop_consistency(im, name, margin=m, **params) for im in images]) for m in args.margins]
            value = ", ".join(f"{k} = {v:g}" for k, v in params.items()) or "-"
            rows.append([name, value, spec.context, *(db(s) for s in scores)])
            print(*rows[-1], flush=True)
    write_generated(args.out, "Crop consistency of the filter operators", "python scripts/crop_consistency.py",
                    [f"Images: {len(images)} from `{args.data.name}/` matching `{args.match}`; 64 px tiles."], [
        "PSNR (dB) of the operator run tile by tile, each tile with a margin of context, against the",
        "operator run on the whole image, averaged over the images. A low score means that training",
        "targets made on crops are not what the operator gives a whole image. Operators whose registry",
        "`context` is `image` can be trained on patches cut from whole-photo runs (`data.whole_photo` in a",
        "config; see docs/training.md for what that did).",
        "",
        *table(["operator", "value", "context", *(f"margin {m} px" for m in args.margins)], rows),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
