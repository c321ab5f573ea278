"""Would projecting deblocked output onto the JPEG's quantisation intervals help? Writes docs/jpeg_consistency.md.

Usage::

    .venv/bin/python scripts/jpeg_consistency.py                  # the default model, the validation images
    .venv/bin/python scripts/jpeg_consistency.py --model PATH --data DIR

A JPEG keeps, for every 8x8 block of luminance, each DCT coefficient only as
the index of its quantisation interval: the clean image's coefficient lay
within half a step of index times step. A restored image whose coefficients
fall outside those intervals cannot have been the image encoded, and moving
each back to its interval's nearest edge (a projection onto the convex set of
consistent images, the classic deblocking constraint) can only bring it
closer to that set. This measures what the projection buys the model's
deblocked output, one pass as ``paramops evaluate`` scores it: the steps are
the standard luminance table scaled by the quality as libjpeg scales it
(what ``paramops.operators.degradations.jpeg_compress`` encodes with), the
intervals those of the JPEG's own coefficients, read back from its decoded
luminance, over the blocks that lie wholly inside the image. Colour, coded
subsampled in 16 px blocks, is left as the model made it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.fft import dctn, idctn

from paramops.evaluation.diagnostics import parse_with_images
from paramops.evaluation.evaluate import cached_reference
from paramops.evaluation.markdown import table, write_generated
from paramops.evaluation.metrics import psnr
from paramops.evaluation.protocol import CLEAN, scored_output, test_points
from paramops.image import to_working
from paramops.io import read_image

ROOT = Path(__file__).resolve().parents[1]
BLOCK = 8
# JPEG's standard luminance quantisation table (ITU T.81, Annex K), row by row.
LUMA_TABLE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64).reshape(BLOCK, BLOCK)
# JFIF's luminance from RGB.
LUMA = np.array([0.299, 0.587, 0.114])


def quantisation_steps(quality: int) -> np.ndarray:
    """libjpeg's luminance steps at ``quality`` (1 to 100), baseline (at most 255)."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((LUMA_TABLE * scale + 50) / 100), 1, 255)


def luma_blocks(rgb: np.ndarray) -> np.ndarray:
    """The DCT of the level-shifted luminance (0 to 255) of each whole 8x8 block: (rows, cols, 8, 8)."""
    y = rgb.astype(np.float64) @ LUMA * 255 - 128
    h, w = (s - s % BLOCK for s in y.shape)
    blocks = y[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).swapaxes(1, 2)
    return dctn(blocks, axes=(2, 3), norm="ortho")


def project(restored: np.ndarray, jpeg: np.ndarray, quality: int) -> tuple[np.ndarray, float]:
    """``restored`` (H, W, 3) in [0, 1] with its luminance coefficients moved into ``jpeg``'s intervals; the
    fraction of coefficients that were outside."""
    steps = quantisation_steps(quality)
    index = np.round(luma_blocks(jpeg) / steps)
    ours = luma_blocks(restored)
    inside = np.clip(ours, (index - 0.5) * steps, (index + 0.5) * steps)
    change = idctn(inside - ours, axes=(2, 3), norm="ortho").swapaxes(1, 2)
    rows, cols = change.shape[0] * BLOCK, change.shape[2] * BLOCK
    out = restored.astype(np.float64)
    # Adding the same amount to R, G and B moves the luminance by it and leaves the colour difference alone.
    out[:rows, :cols] += change.reshape(rows, cols)[..., None] / 255
    return np.clip(out, 0, 1).astype(np.float32), float(np.mean(inside != ours))


def main(argv: list[str] | None = None) -> int:
    from paramops.service import ModelService

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model name or checkpoint path")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "jpeg_consistency.md")
    args, paths = parse_with_images(parser, argv, ROOT)
    service = ModelService(args.model)
    rows = []
    for name, value in test_points("deblock"):
        gains, projected, outside = [], [], []
        for seed, path in enumerate(paths):  # seeds and names as paramops evaluate gives them
            clean = read_image(path)
            jpeg = cached_reference(clean, path.name, "deblock", {name: value}, seed)
            restored = scored_output(service, jpeg, "deblock", {name: value})
            truth, rgb_jpeg, rgb_restored = (to_working(a)[0] for a in (clean, jpeg, restored))
            consistent, moved = project(rgb_restored, rgb_jpeg, int(value))
            base = psnr(rgb_jpeg, truth)
            gains.append(psnr(rgb_restored, truth) - base)
            projected.append(psnr(consistent, truth) - base)
            outside.append(moved)
        service.release(CLEAN)
        rows.append([f"{name} = {value:g}", f"{np.mean(gains):+.3f}", f"{np.mean(projected):+.3f}",
                     f"{np.mean(projected) - np.mean(gains):+.4f}", f"{100 * np.mean(outside):.2f} %"])
        print(*rows[-1], flush=True)
    write_generated(args.out, "Deblocked output projected onto the JPEG's quantisation intervals",
                    "python scripts/jpeg_consistency.py",
                    [f"Model: `{args.model}`, one pass. Images: the {len(paths)} of `{args.data.name}/`."], [
        "Gain (dB) over the JPEG of the model's deblocked output, and of the same output with every luminance",
        "DCT coefficient of every whole 8x8 block moved into the quantisation interval the JPEG coded it in;",
        "and the share of those coefficients that lay outside. See the script's docstring and",
        "docs/training.md, twenty-ninth session.",
        "",
        *table(["deblock", "model", "projected", "projection buys", "coefficients outside"], rows),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
