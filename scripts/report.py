"""Regenerate docs/results.md and docs/figures/ from the shipped models.

Usage::

    .venv/bin/python scripts/report.py                     # all 19 validation images
    .venv/bin/python scripts/report.py --limit 2           # a quick look: the first 2 images

Missing models are reported as "not trained yet". Reference outputs are cached
on disk (``PARAMOPS_CACHE``, default ``~/.cache/paramops``): the first full run
spends most of its time in the slow reference operators (RTV, WLS).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from paramops.evaluation.report import write_report
from paramops.training.config import DEFAULT_VAL_DIR

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / DEFAULT_VAL_DIR, help="validation image folder")
    parser.add_argument("--limit", type=int, help="score only the first N images (sorted by name)")
    parser.add_argument("--match", help="score only the images whose names match this glob, e.g. 'set5_*'")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for results.md and figures/")
    parser.add_argument("--weights", type=Path, help="folder of <model>.pt checkpoints; default the shipped weights/")
    parser.add_argument("--device", help="where the networks run (cpu, cuda); default CUDA when available")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"validation folder {args.data} does not exist; pass --data DIR")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1, got {args.limit}")
    given = sys.argv[1:] if argv is None else argv
    path = write_report(
        args.data,
        args.out,
        weights=args.weights,
        configs=ROOT / "configs",
        limit=args.limit,
        match=args.match,
        device=args.device,
        progress=sys.stderr.isatty(),
        command=shlex.join(["python", "scripts/report.py", *given]),
    )
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
