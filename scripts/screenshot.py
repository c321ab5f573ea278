"""Take the README's screenshot: napari with the Operator tuner docked on the astronaut sample.

Needs a display; where there is none run it under a virtual one::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py

Writes docs/images/operator_tuner.png (or the path given with --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from paramops.napari.demo import open_tuner, quiet_notifications, save_screenshot, wait_for_render

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "operator_tuner.png"))
    parser.add_argument("--sample", default="astronaut")
    parser.add_argument("--operator", default="l0")
    parser.add_argument("--lam", type=float, default=0.05, help="the operator's first parameter")
    parser.add_argument("--model", help="model name or checkpoint path (default: the shipped default model)")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    quiet_notifications()

    from paramops.operators.registry import get_operator

    spec = get_operator(args.operator)
    params = {spec.params[0].name: args.lam} if spec.params else {}
    viewer, tuner = open_tuner(args.sample, operator=args.operator, params=params, model=args.model)
    if not wait_for_render(tuner, args.timeout):
        print(f"warning: no render to show ({tuner.status})")
    # Input and output side by side (the output layer would otherwise cover the input).
    canvas = getattr(viewer, "canvas", viewer)  # napari >= 0.9 moved grid to viewer.canvas
    canvas.grid.enabled = True
    viewer.reset_view()
    path = save_screenshot(viewer, args.out)
    print(f"saved {path}: {tuner.status}")
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
