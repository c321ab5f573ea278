"""Benchmarks of the model service that take too long for ``paramops bench``; their output goes into docs/service.md.

Usage::

    .venv/bin/python scripts/bench_service.py                 # = paramops bench --json (1 MP, 1080p window)
    .venv/bin/python scripts/bench_service.py --tiled-check   # 4 MP: tiled trunk against whole-image trunk
    .venv/bin/python scripts/bench_service.py --large         # 50 MP: tiled trunk, window and full renders, peak RSS

Each measurement runs in a fresh child process, so its peak resident memory
(``peak_rss_gb``) is its own. Without shipped weights an untrained network of
the default architecture is used (timing and memory do not depend on
weights; the tiled-against-whole agreement is checked on both when the
weights exist).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from paramops.machine import machine


def child(args: list[str]) -> dict:
    """Run this script with ``args`` in a new process; return the JSON it prints."""
    done = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def render_once(mode: str, height: int, width: int, op: str, params: dict, out: str | None) -> dict:
    """Prepare one ``height`` x ``width`` image whole or tiled, render it, report times and memory.

    With ``out``, the image is float32 (so the comparison is not limited by
    8-bit rounding) and the render is saved there.
    """
    from paramops.service import ModelService, bench

    model, weights = bench.bench_model()
    image = bench.sample_image(height, width)
    if out:
        image = image.astype(np.float32) / 255
    pixels = height * width
    tile_pixels = pixels if mode == "whole" else pixels - 1
    service = ModelService(model, cache_bytes=2**40, tile_pixels=tile_pixels)
    start = time.perf_counter()
    service.prepare("img", image)
    prepare_s = time.perf_counter() - start
    start = time.perf_counter()
    result = service.render("img", op, **params)
    render_s = time.perf_counter() - start
    y0, x0 = (height - 1080) // 2, (width - 1920) // 2
    window = (slice(max(0, y0), max(0, y0) + min(1080, height)), slice(max(0, x0), max(0, x0) + min(1920, width)))
    region_ms = bench.median_ms(lambda i: service.render("img", op, window, **params), 5)
    np.testing.assert_array_equal(service.render("img", op, window, **params), result[window])
    if out:
        np.save(out, result)
    return {
        "mode": mode, "weights": weights, "size": [height, width], "megapixels": pixels / 1e6,
        "prepare_s": prepare_s, "render_s": render_s, "region": [window[0].stop - window[0].start,
                                                                 window[1].stop - window[1].start],
        "region_ms": region_ms, "features_gb": service.cache_info()["bytes"] / 1e9,
        "peak_rss_gb": bench.peak_rss_bytes() / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiled-check", action="store_true", help="4 MP: tiled against whole, PSNR and memory")
    parser.add_argument("--large", action="store_true", help="50 MP image through the tiled trunk")
    parser.add_argument("--mode", choices=["whole", "tiled"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    op, params = "l0", {"lam": 0.02}

    if args.mode:  # a child process
        print(json.dumps(render_once(args.mode, *args.size, op, params, args.out)))
        return
    if args.tiled_check:
        import tempfile
        from pathlib import Path

        size = ["2048", "2048"]
        with tempfile.TemporaryDirectory() as tmp:
            runs = {mode: child(["--mode", mode, "--size", *size, "--out", str(Path(tmp) / f"{mode}.npy")])
                    for mode in ("whole", "tiled")}
            whole, tiled = (np.load(Path(tmp) / f"{mode}.npy").astype(np.float64) for mode in ("whole", "tiled"))
        mse = float(np.mean((whole - tiled) ** 2))
        report = {"size": [int(s) for s in size], "op": op, "params": params, **{f"{m}": r for m, r in runs.items()},
                  "psnr_db": float("inf") if mse == 0 else 10 * np.log10(1 / mse),
                  "max_abs_diff": float(np.abs(whole - tiled).max()), "machine": machine()}
        print(json.dumps(report, indent=2))
        return
    if args.large:
        print(json.dumps({**child(["--mode", "tiled", "--size", "6144", "8192"]), "machine": machine()}, indent=2))
        return
    from paramops.service import bench

    print(json.dumps(bench.run(), indent=2))


if __name__ == "__main__":
    main()
