"""Time every reference operator on a 1-megapixel photograph.

    .venv/bin/python scripts/bench_operators.py            # markdown table
    .venv/bin/python scripts/bench_operators.py --json     # machine-readable
    .venv/bin/python scripts/bench_operators.py --ops sr denoise --repeat 3

Each operator runs through ``paramops.reference`` at its registry defaults on
``skimage.data.astronaut()`` resized to SIZE x SIZE (1024 by default), uint8
RGB, after a tiny warm-up call that pays for imports. The time is the best of
``--repeat`` runs. The machine (platform, CPU model and count) is recorded
with the numbers, since they mean nothing without it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from paramops.machine import machine, machine_line


def bench_image(size: int) -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    image = resize(data.astronaut(), (size, size), order=3, anti_aliasing=True)
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)


def time_operator(name: str, image: np.ndarray, repeat: int) -> dict[str, object]:
    import paramops

    spec = paramops.operators()[name]
    row: dict[str, object] = {"op": name, "family": spec.family, "params": spec.defaults()}
    try:
        paramops.reference(image[:32, :32], name, seed=0)  # imports and caches, untimed
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            paramops.reference(image, name, seed=0)
            times.append(time.perf_counter() - start)
    except (ImportError, AttributeError) as exc:  # an operator not implemented yet
        row["error"] = f"missing ({type(exc).__name__}: {exc})"
    except Exception as exc:  # report and go on: one broken operator must not hide the others
        row["error"] = f"failed ({type(exc).__name__}: {exc})"
    else:
        row["seconds"] = min(times)
        row["megapixels_per_second"] = image.shape[0] * image.shape[1] / 1e6 / min(times)
    return row


def markdown(report: dict) -> str:
    lines = [
        f"Machine: {machine_line(report['machine'])}.",
        f"Image: {report['image']}; best of {report['repeat']}.",
        "",
        "| operator | family | parameters (defaults) | time (s) | Mpx/s |",
        "|---|---|---|---:|---:|",
    ]
    for row in report["results"]:
        params = ", ".join(f"{k}={v:g}" for k, v in row["params"].items()) or "-"
        if "error" in row:
            lines.append(f"| {row['op']} | {row['family']} | {params} | {row['error']} | |")
        else:
            lines.append(
                f"| {row['op']} | {row['family']} | {params} | {row['seconds']:.3f} "
                f"| {row['megapixels_per_second']:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import paramops

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels (default 1024)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per operator; the best counts")
    parser.add_argument("--ops", nargs="+", choices=list(paramops.operators()), help="only these operators")
    args = parser.parse_args(argv)

    image = bench_image(args.size)
    results = []
    for name in args.ops or paramops.operators():
        results.append(time_operator(name, image, max(1, args.repeat)))
        print(f"{name}: {results[-1].get('seconds', results[-1].get('error'))}", file=sys.stderr)
    report = {
        "machine": machine(("numpy", "scipy", "scikit-image", "opencv-contrib-python-headless")),
        "image": f"skimage.data.astronaut() resized to {args.size}x{args.size}, uint8 RGB",
        "repeat": max(1, args.repeat),
        "results": results,
    }
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
