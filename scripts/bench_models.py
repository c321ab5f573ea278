"""Forward time of each network at about one megapixel, and TunableNet's trunk against its head.

Usage::

    .venv/bin/python scripts/bench_models.py                 # CPU, 2 threads, 1024 x 1024
    .venv/bin/python scripts/bench_models.py --json --device cuda

Untrained weights (timing does not depend on them). Each time is the median of
``--repeat`` runs after one warm-up run, under ``torch.inference_mode``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from paramops.machine import machine, machine_line
from paramops.models import build_model, model_config

NETS = {
    "decoupled": "decoupled",
    "paramchannel": "paramchannel",
    "tunable (conv_in)": "tunable",
    "tunable (norm19)": "tunable-norm",
    "tunable (conv19)": "tunable-conv",
    "tunable-realtime": "tunable-realtime",
}
WINDOW = 256  # side of the window rendered by head(region=...)


def timed(fn, repeat: int, device: torch.device) -> float:
    """Median seconds of ``fn()`` over ``repeat`` runs after one warm-up."""

    def once() -> float:
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    once()
    return statistics.median(once() for _ in range(repeat))


def bench(size: int, repeat: int, device: torch.device, param_dim: int = 2) -> list[dict]:
    torch.manual_seed(0)
    x = torch.rand(1, 3, size, size, device=device)
    p = torch.rand(1, param_dim, device=device) * 2 - 1
    rows = []
    for label, preset in NETS.items():
        net = build_model(model_config(preset, param_dim=param_dim)).to(device).eval()
        row = {
            "net": label,
            "width": net.config["width"],
            "params": sum(t.numel() for t in net.parameters()),
        }
        with torch.inference_mode():
            row["forward_ms"] = 1e3 * timed(lambda: net(x, p), repeat, device)
            if hasattr(net, "trunk"):
                features = net.trunk(x)
                row["trunk_ms"] = 1e3 * timed(lambda: net.trunk(x), repeat, device)
                row["head_ms"] = 1e3 * timed(lambda: net.head(features, p), repeat, device)
                region = (0, WINDOW, 0, WINDOW)
                row["head_window_ms"] = 1e3 * timed(lambda: net.head(features, p, region=region), repeat, device)
                row["features_mb"] = features.nbytes / 2**20
        rows.append(row)
        del net
    return rows


def table(rows: list[dict]) -> str:
    columns = [
        ("net", "{}"),
        ("width", "{}"),
        ("params", "{:,}"),
        ("forward_ms", "{:.0f}"),
        ("trunk_ms", "{:.0f}"),
        ("head_ms", "{:.1f}"),
        ("head_window_ms", "{:.1f}"),
        ("features_mb", "{:.0f}"),
    ]
    cells = [[name for name, _ in columns]]
    cells += [[fmt.format(row[name]) if name in row else "-" for name, fmt in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels (default 1024: ~1 MP)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (default 3)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = bench(args.size, args.repeat, device)
    setup = {
        "size": [args.size, args.size],
        "megapixels": args.size * args.size / 1e6,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "machine": machine(),
        "threads": args.threads,
        "repeat": args.repeat,
        "window": WINDOW,
    }
    if args.json:
        print(json.dumps({"setup": setup, "results": rows}, indent=2))
    else:
        print(f"{args.size}x{args.size} ({setup['megapixels']:.2f} MP), {setup['device']}, "
              f"{args.threads} threads, median of {args.repeat}; {machine_line(setup['machine'])}")
        print(table(rows))
        print(f"head_window_ms: head(region=...) for a {WINDOW}x{WINDOW} window")


if __name__ == "__main__":
    main()
