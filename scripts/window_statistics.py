"""Whole image vs training-sized windows: write docs/window_statistics.md.

Usage::

    .venv/bin/python scripts/window_statistics.py                       # default model, Set5
    .venv/bin/python scripts/window_statistics.py --models default weights/analysis/tuned-conv_in.pt

The networks normalise their features with instance norm, whose statistics
come from the whole input. Training sees 64 px patches, a user's image is
whole. This runs a model on each image whole and tile by tile (64 px tiles,
each inside a 96 px window, the training pairs' geometry), and scores both
against the same target at every operator's default parameters. The tiled
run has seams: it is a diagnostic, not a way to run the model. Two more runs
tell the windows' two differences from the whole image apart: the same
windows normalised with the whole image's statistics (only the context each
pixel sees differs), and overlapping 96 px windows blended without seams.
A model configured with ``norm_windows`` (the shipped ``default`` since the
seventh session) is run here with whole-image statistics, the networks'
original way, which is what these columns compare against.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import paramops
from paramops.evaluation.budget import training_summary
from paramops.evaluation.consistency import blended, tiled
from paramops.evaluation.diagnostics import parse_with_images
from paramops.evaluation.markdown import db, table, write_generated
from paramops.evaluation.metrics import psnr
from paramops.image import color_values, from_working, to_working
from paramops.io import read_image
from paramops.models.tunable import TunableNet
from paramops.operators.reference import reference
from paramops.operators.registry import get_operator

ROOT = Path(__file__).resolve().parents[1]


def with_whole_statistics(model, image: np.ndarray, op: str):
    """A function running ``model`` on a window of ``image`` with the whole image's instance-norm statistics."""
    net, p = model.net, model.encode(op)

    def tensor(rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(rgb).permute(2, 0, 1)[None]

    with torch.inference_mode():
        whole = tensor(to_working(image)[0])
        stats = net.trunk_statistics(whole)
        moments = net.trunk(whole).moments if net.moment_head else None

    def run(window: np.ndarray) -> np.ndarray:
        rgb, layout = to_working(window)
        with torch.inference_mode():
            features = net.trunk(tensor(rgb), norm_stats=stats)
            features.moments = moments  # the head's norm: whole-image statistics too
            out = net.head(features, p).clamp_(0.0, 1.0)[0].permute(1, 2, 0).numpy()
        return from_working(out, layout)

    return run


def scores(model, image: np.ndarray, op: str) -> tuple[float, float, float | None, float, float | None]:
    """PSNR against the target: whole, windows, windows with whole statistics, blended windows; the input's.

    Windows with whole statistics need a trunk that takes given statistics
    (:class:`TunableNet`); None for other networks.
    """
    spec = get_operator(op)
    if spec.family == "restoration":
        source, target = reference(image, op, seed=0), image
    else:
        source, target = image, reference(image, op)
    run = lambda window: model.apply(window, op)  # noqa: E731
    shared = None
    if isinstance(model.net, TunableNet):
        shared = psnr(tiled(source, with_whole_statistics(model, source, op), patch=64, margin=16), target)
    whole, pieces, smooth = (psnr(out, target) for out in (
        model.apply(source, op), tiled(source, run, patch=64, margin=16), blended(source, run, window=96, stride=48)
    ))
    baseline = psnr(source, target) if spec.family == "restoration" else None
    return whole, pieces, shared, smooth, baseline


def model_table(name: str, images: list[np.ndarray]) -> list[str]:
    """A heading and one row per operator of model ``name``: whole, windows, their gap, the input's PSNR."""
    model = paramops.load_model(name)
    if getattr(model.net, "norm_windows", None):
        model = model.with_norm_windows(None)  # what these columns compare: the whole image's statistics
    rows = []
    for op in model.operators:
        whole, pieces, shared, smooth, baseline = (
            None if r[0] is None else float(np.mean(r)) for r in zip(*(scores(model, im, op) for im in images))
        )
        rows.append([op, db(whole), db(pieces), f"{pieces - whole:+.2f}", db(shared), db(smooth),
                     f"{smooth - whole:+.2f}", db(baseline)])
        print(name, *rows[-1], flush=True)
    return [
        f"### `{Path(name).stem}`",
        "",
        f"Trained: {training_summary(model.meta)}.",
        "",
        *table(["operator", "whole", "windows", "windows - whole", "windows, whole statistics", "blended",
                "blended - whole", "input (restorations)"], rows),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["default"], help="shipped model names or checkpoint paths")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "window_statistics.md")
    args, paths = parse_with_images(parser, argv, ROOT, match="set5_*")
    images = [color_values(read_image(p)) for p in paths]
    body = [
        "PSNR (dB) against the target (the reference operator's output on the whole image; the clean",
        "image for restorations) at each operator's default parameters, averaged over the images. *Whole*:",
        "the model run on the whole image, as users run it. *Windows*: run on each 64 px tile inside a",
        "96 px window, the geometry of 64 px training pairs, so instance norm sees statistics like the ones",
        "such a model was trained with. The windowed run has seams and is no way to use a model; a gain",
        "there says the model is tuned to its training patches' statistics. *Windows, whole statistics*: the",
        "same windows, every instance norm using the whole image's statistics, so only the context a pixel",
        "sees differs from the whole-image run. *Blended*: overlapping 96 px windows every 48 px, each with",
        "its own statistics, averaged with tent weights (`paramops.evaluation.consistency.blended`):",
        "seamless, at about four times the whole image's work. What that means for quality is in",
        "docs/training.md.",
        "",
    ]
    for name in args.models:
        body += model_table(name, images)
    write_generated(args.out, "Whole image vs training-sized windows",
                    f"python scripts/window_statistics.py --models {' '.join(args.models)}",
                    [f"Images: {len(images)} from `{args.data.name}/` matching `{args.match}`."], body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
