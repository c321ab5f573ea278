"""Measure the Operator tuner's latency in a real napari viewer: slider change -> output layer updated.

Opens napari (needs a display; use ``xvfb-run -a -s "-screen 0 1600x1000x24"``
where there is none), shows a 1-megapixel RGB photograph (the astronaut sample
enlarged to 1024x1024), docks the tuner and drags a parameter slider through
``--steps`` positions. For each, the time from the slider's value change to
the output layer's data being written is the widget's own measurement
(``first_latency``: first update; ``last_latency``: whole slice). Done twice:
with the whole image on screen, and zoomed in 4x so the region on screen
renders first. Prints JSON.

Usage::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/napari_latency.py
    ... scripts/napari_latency.py --model random   # the default model's architecture, untrained:
                                                   # the same cost, no weights needed
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from paramops.machine import machine

ROOT = Path(__file__).resolve().parents[1]


def build_service(spec: str, device: str | None):
    """A service for ``spec``: a model name or path, or "random" (configs/default.yaml's network, untrained)."""
    from paramops.service import ModelService

    if spec == "random":
        import torch

        from paramops.models import ParamModel, build_model
        from paramops.training.config import load_config

        torch.manual_seed(0)
        config = load_config(ROOT / "configs" / "default.yaml")
        net = build_model(config.model_config())
        model = ParamModel(net, config.encoding(), meta={"name": "default architecture, untrained"}, device=device)
        return ModelService(model, device=device)
    return ModelService(spec, device=device)


def photo_1mp() -> np.ndarray:
    from paramops.napari.samples import load_sample

    image = load_sample("astronaut")
    return np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)  # (1024, 1024, 3) uint8


def process_until(condition, timeout: float) -> bool:
    """Run the Qt event loop until ``condition()`` (True) or ``timeout`` seconds pass (False)."""
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        QApplication.processEvents()
        time.sleep(0.002)
    return True


def rendered(tuner, timeout: float) -> None:
    if not process_until(lambda: tuner.last_latency is not None, timeout):
        raise TimeoutError(f"the tuner did not render in {timeout} s: {tuner.status}")


def drag(tuner, steps: int, timeout: float) -> tuple[list[float], list[float]]:
    """Move the first slider through ``steps`` positions; (first, whole) latencies in ms."""
    from paramops.napari.controls import STEPS

    slider = next(iter(tuner.sliders.values()))
    first, whole = [], []
    positions = np.linspace(0.1, 0.9, steps) * STEPS
    for position in positions.astype(int):
        tuner.last_latency = None
        slider.position = int(position)
        rendered(tuner, timeout)
        first.append(1000 * tuner.first_latency)
        whole.append(1000 * tuner.last_latency)
        process_until(lambda: False, 0.1)  # napari repaints; the user's next drag event comes later
    return first, whole


def summary(values: list[float]) -> dict:
    return {"median_ms": round(float(np.median(values)), 1), "p90_ms": round(float(np.percentile(values, 90)), 1),
            "max_ms": round(float(np.max(values)), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help='model name or path, or "random"')
    parser.add_argument("--device", default=None)
    parser.add_argument("--operator", default="l0")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    from paramops.napari.demo import quiet_notifications

    quiet_notifications()
    import napari
    import torch

    from paramops.napari.widget import OperatorTuner

    service = build_service(args.model, args.device)
    viewer = napari.Viewer(title="paramops latency", show=True)
    viewer.window.resize(1400, 900)
    viewer.add_image(photo_1mp(), name="photo", rgb=True)
    tuner = OperatorTuner(viewer, service=service)
    viewer.window.add_dock_widget(tuner, name="Operator tuner")
    tuner.operator = args.operator
    started = time.perf_counter()
    rendered(tuner, args.timeout)
    trunk_s = time.perf_counter() - started

    full_first, full_whole = drag(tuner, args.steps, args.timeout)
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera  # napari >= 0.9 / older
    camera.zoom *= 4
    process_until(lambda: False, 0.3)  # napari redraws the zoomed view and updates what is on screen
    zoom_first, zoom_whole = drag(tuner, args.steps, args.timeout)
    result = {
        "what": "napari slider change -> output layer data updated",
        "image": "1024x1024 RGB uint8",
        "model": args.model,
        "operator": args.operator,
        "device": str(getattr(service.model, "device", args.device or "cpu")),
        "torch_threads": torch.get_num_threads(),
        "machine": machine(("numpy", "torch", "napari")),
        "first_render_after_layer_choice_s": round(trunk_s, 2),
        "whole_image_on_screen": summary(full_whole),
        "zoomed_4x_region_first": {"region": summary(zoom_first), "whole_slice": summary(zoom_whole)},
    }
    print(json.dumps(result, indent=2))
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
