"""Open napari on a sample image with the Operator tuner docked.

Usage::

    python -m paramops.napari.demo                      # interactive
    python -m paramops.napari.demo --screenshot out.png # render once, save the window, exit

With ``--screenshot`` the window is saved once the first live render has
landed (or the model failed to load, or ``--timeout`` passed), so it works
under a virtual display.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from paramops.napari.samples import SAMPLES


def open_tuner(sample: str = "astronaut", operator: str | None = None, params: dict | None = None,
               model: str | None = None, size: tuple[int, int] = (1400, 860)):
    """Create a viewer showing ``sample`` with the tuner docked; returns ``(viewer, tuner)``.

    ``model``: a model name or checkpoint path; default the shipped default model.
    """
    import napari

    viewer = napari.Viewer(title="paramops", show=True)
    viewer.window.resize(*size)
    viewer.open_sample("napari-paramops", sample)
    if model is None:
        _, tuner = viewer.window.add_plugin_dock_widget("napari-paramops", "Operator tuner")
    else:
        from paramops.api import shared_service
        from paramops.napari.widget import OperatorTuner

        tuner = OperatorTuner(viewer, service=lambda: shared_service(model))
        viewer.window.add_dock_widget(tuner, name="Operator tuner")
    if operator is not None or params:
        tuner.set(operator, **(params or {}))
    return viewer, tuner


def wait_for_render(tuner, timeout: float) -> bool:
    """Process Qt events until the tuner's first render landed or it reported a failure."""
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if tuner.last_latency is not None:
            return True
        if "failed" in tuner.status:
            return False
        time.sleep(0.02)
    return False


def quiet_notifications() -> None:
    """Keep warning pop-ups (e.g. napari's PyQt5 deprecation notice) out of screenshots.

    Must run before napari loads its settings; it changes nothing on disk.
    """
    os.environ.setdefault("NAPARI_APPLICATION_GUI_NOTIFICATION_LEVEL", "error")


def save_screenshot(viewer, path: str | Path) -> Path:
    """Save the whole napari window (dock widgets included) as a PNG."""
    from qtpy.QtWidgets import QApplication

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(5):  # let the canvas and the docks repaint
        QApplication.processEvents()
        time.sleep(0.05)
    viewer.screenshot(str(path), canvas_only=False)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paramops.napari.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--sample", choices=list(SAMPLES), default="astronaut", help="sample image to open")
    parser.add_argument("--model", help="model name or checkpoint path (default: the shipped default model)")
    parser.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the window there and exit")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="with --screenshot: seconds to wait for the first render (default 180)")
    args = parser.parse_args(argv)
    if args.screenshot:
        quiet_notifications()

    import napari

    viewer, tuner = open_tuner(args.sample, model=args.model)
    if args.screenshot:
        rendered = wait_for_render(tuner, args.timeout)
        path = save_screenshot(viewer, args.screenshot)
        print(f"saved {path} ({'rendered' if rendered else 'not rendered: ' + tuner.status})")
        viewer.close()
        return 0
    napari.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
