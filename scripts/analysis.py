"""Regenerate docs/analysis.md and docs/figures/analysis/: the paper's analyses of the trained networks.

Usage::

    .venv/bin/python scripts/analysis.py                          # every analysis, all validation images
    .venv/bin/python scripts/analysis.py --match 'set5_*'         # on Set5 only (faster)
    .venv/bin/python scripts/analysis.py --only unseen tuned      # rerun two sections, keep the others

Analyses: rtv (4.6), erf (6.2), weights (6.3.1), tuned (6.3.2), multipath (6.4), fc (6.5.2), unseen (6.6),
skip (ours: the long skip, not in the paper).
Models missing from weights/ or weights/analysis/ are reported as not trained, with the command that trains
them. Reference outputs are cached on disk (PARAMOPS_CACHE), so reruns are cheap.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from paramops.evaluation.analysis.document import ANALYSES, write_analysis
from paramops.training.config import DEFAULT_VAL_DIR

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / DEFAULT_VAL_DIR, help="validation image folder")
    parser.add_argument("--match", help="use only the images whose names match this glob, e.g. 'set5_*'")
    parser.add_argument("--only", nargs="+", choices=list(ANALYSES), metavar="NAME",
                        help=f"run only these analyses ({', '.join(ANALYSES)}); the other sections are kept")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for analysis.md and figures/")
    parser.add_argument("--weights", type=Path, default=ROOT / "weights",
                        help="the weights folder (analysis models in its analysis/ subfolder)")
    parser.add_argument("--device", help="where the networks run (cpu, cuda); default CUDA when available")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"validation folder {args.data} does not exist; pass --data DIR")
    given = sys.argv[1:] if argv is None else argv
    path = write_analysis(
        args.data,
        args.out,
        weights=args.weights,
        configs=ROOT / "configs",
        match=args.match,
        only=args.only,
        device=args.device,
        progress=sys.stderr.isatty(),
        command=shlex.join(["python", "scripts/analysis.py", *given]),
    )
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
