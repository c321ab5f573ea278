"""How much of each image-context filter a curve of the pixel's luminance rank explains; writes docs/rank_oracle.md.

Usage::

    .venv/bin/python scripts/rank_oracle.py                 # the validation images
    .venv/bin/python scripts/rank_oracle.py --data DIR

For every filter whose registry ``context`` is ``image``, at the smallest and
largest of its first parameter's test values, the output luminance is
predicted by one lookup table of 256 entries per operator and value, fitted
over all images (the mean output luminance of the pixels in each bin): once
indexed by the pixel's luminance, once by its luminance rank in its image
(:func:`paramops.models.tone.luminance_cdf`), the input of the tone head. The
tables are fitted on the images they are scored on, so these are ceilings of
what a pointwise curve can do, not results of a trained model. A network
without the rank sees the luminance only (and the neighbourhood, which a
table does not).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from paramops.evaluation.diagnostics import parse_with_images
from paramops.evaluation.evaluate import cached_reference
from paramops.evaluation.markdown import db, table, write_generated
from paramops.evaluation.protocol import test_points
from paramops.image import to_working
from paramops.io import read_image
from paramops.models.tone import LEVELS, luminance_cdf, luminance_levels
from paramops.operators.registry import OPERATORS

ROOT = Path(__file__).resolve().parents[1]


def as_tensor(image: np.ndarray) -> torch.Tensor:
    rgb, _ = to_working(image)
    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]


def luminance(x: torch.Tensor) -> np.ndarray:
    return (torch.einsum("nchw,c->nhw", x, torch.tensor([0.299, 0.587, 0.114]))[0]).numpy()


def pooled_table_psnr(keys: list[np.ndarray], targets: list[np.ndarray]) -> float:
    """Mean PSNR (peak 1) of the per-bin mean of ``targets`` over all images, read back at ``keys``."""
    flat_keys, flat_targets = np.concatenate([k.ravel() for k in keys]), np.concatenate([t.ravel() for t in targets])
    sums = np.bincount(flat_keys, weights=flat_targets, minlength=LEVELS)
    table_ = sums / np.maximum(np.bincount(flat_keys, minlength=LEVELS), 1)
    return float(np.mean([10 * np.log10(1.0 / np.mean((table_[k] - t) ** 2)) for k, t in zip(keys, targets)]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "rank_oracle.md")
    args, paths = parse_with_images(parser, argv, ROOT)
    # Seeds and names as paramops evaluate gives them, so the references come from its cache.
    images = [(seed, path.name, read_image(path)) for seed, path in enumerate(paths)]
    levels, ranks = [], []
    for _, _, image in images:
        x = as_tensor(image)
        level = luminance_levels(x)[0].numpy()
        levels.append(level)
        ranks.append(np.minimum((luminance_cdf(x)[0].numpy()[level] * LEVELS).astype(np.intp), LEVELS - 1))
    rows = []
    for name, spec in OPERATORS.items():
        if spec.family != "filter" or spec.context != "image":
            continue
        points = test_points(name)
        for param, value in [points[0], points[-1]] if len(points) > 1 else points:
            params = {} if param is None else {param: value}
            targets = [luminance(as_tensor(cached_reference(image, image_name, name, params, seed)))
                       for seed, image_name, image in images]
            label = ", ".join(f"{k} = {v:g}" for k, v in params.items()) or "-"
            rows.append([name, label, db(pooled_table_psnr(levels, targets)), db(pooled_table_psnr(ranks, targets))])
            print(*rows[-1], flush=True)
    write_generated(args.out, "A curve of the luminance rank, against the image-context filters",
                    "python scripts/rank_oracle.py", [f"Images: the {len(images)} of `{args.data.name}/`."], [
        "PSNR (dB) of the output luminance against one 256-entry lookup table per operator and value,",
        "fitted over all the images, indexed by the pixel's luminance or by its luminance rank in its",
        "image (what the tone head of `paramops.models.tone` reads). Fitted where scored: ceilings of a",
        "pointwise curve, not trained results. See docs/training.md, eleventh session.",
        "",
        *table(["operator", "value", "curve of the luminance", "curve of the rank"], rows),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
