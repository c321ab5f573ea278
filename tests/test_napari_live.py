"""The Operator tuner wired to the model service: live rendering, stacks, lifecycle, responsiveness.

A small randomly initialised model stands in for the shipped one: these tests
check the plumbing (what lands in which layer, when, with which dtype), not
image quality. The widget's output is compared with ``paramops.apply`` on the
same model.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")
torch = pytest.importorskip("torch")

import paramops  # noqa: E402
from paramops.models import ParamEncoding, ParamModel, build_model, model_config  # noqa: E402
from paramops.napari import controller  # noqa: E402
from paramops.napari.samples import load_sample  # noqa: E402
from paramops.operators.registry import get_operator  # noqa: E402
from paramops.service import ModelService  # noqa: E402

TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def model() -> ParamModel:
    torch.manual_seed(0)
    encoding = ParamEncoding(("l0", "wls", "denoise"))
    net = build_model(model_config("tunable", width=8, dilations=[1, 2, 1], param_dim=encoding.dim))
    return ParamModel(net, encoding, meta={"name": "tiny-random"}, device="cpu")


@pytest.fixture
def service(model, monkeypatch) -> ModelService:
    service = ModelService(model, device="cpu")
    monkeypatch.setattr(controller, "default_service", lambda: service)
    return service


@pytest.fixture
def photo() -> np.ndarray:
    return load_sample("astronaut")[100:196, 180:308]  # (96, 128, 3) uint8: the face


@pytest.fixture
def stack() -> np.ndarray:
    return load_sample("nuclei")[3:6, 64:128, 64:144]  # (3, 64, 80) uint16


def dock(viewer, qtbot):
    _, tuner = viewer.window.add_plugin_dock_widget("napari-paramops", "Operator tuner")
    wait_render(tuner, qtbot)
    return tuner


def wait_render(tuner, qtbot, **params) -> None:
    """Wait until the whole current slice was rendered with ``params`` (any, if none given)."""

    def landed():
        out = tuner.output_layer
        if out is None or tuner.last_latency is None:
            return False
        record = out.metadata["paramops"]
        return record["index"] == list(tuner._index) and all(record["params"][k] == v for k, v in params.items())

    qtbot.waitUntil(landed, timeout=TIMEOUT_MS)


def move_slider(tuner, qtbot, name: str, position: int) -> float:
    """Drag a slider like a user and wait for the render; returns the parameter's new value."""
    tuner.last_latency = None
    slider = tuner.sliders[name]
    slider.position = position
    wait_render(tuner, qtbot, **{name: slider.value})
    return slider.value


def test_slider_change_updates_the_output_in_place_like_apply(make_napari_viewer, qtbot, service, photo):
    viewer = make_napari_viewer()
    layer = viewer.add_image(photo, name="face", rgb=True, scale=(2.0, 0.5), translate=(10.0, -4.0))
    tuner = dock(viewer, qtbot)
    out = tuner.output_layer
    assert out.name == "face [l0]" and out.rgb
    data = out.data
    layers = len(viewer.layers)

    lam = move_slider(tuner, qtbot, "lam", 900)
    assert tuner.output_layer is out and out.data is data and len(viewer.layers) == layers
    expected = paramops.apply(layer, "l0", model=service, lam=lam)
    assert out.data.dtype == np.uint8
    np.testing.assert_array_equal(out.data, expected)
    np.testing.assert_array_equal(out.scale, layer.scale)
    np.testing.assert_array_equal(out.translate, layer.translate)
    record = out.metadata["paramops"]
    assert record["operator"] == "l0" and record["params"] == {"lam": lam}
    assert "tiny-random" in record["model"]

    tuner.set("wls", lam=4.0)
    wait_render(tuner, qtbot, lam=4.0)
    assert tuner.output_layer.name == "face [wls]"
    np.testing.assert_array_equal(tuner.output_layer.data, paramops.apply(photo, "wls", model=service, lam=4.0))


def test_operators_the_model_lacks_are_disabled(make_napari_viewer, qtbot, service, photo):
    viewer = make_napari_viewer()
    viewer.add_image(photo, name="face", rgb=True)
    tuner = dock(viewer, qtbot)
    combo = tuner._operator.native
    enabled = {combo.itemData(i) for i in range(combo.count()) if combo.model().item(i).isEnabled()} - {None}
    assert enabled == {"l0", "wls", "denoise"}


def test_removing_the_layer_releases_its_cache(make_napari_viewer, qtbot, service, photo):
    viewer = make_napari_viewer()
    viewer.add_image(photo, name="face", rgb=True)
    dock(viewer, qtbot)
    assert service.cache_info()["entries"] >= 1
    viewer.layers.remove("face")
    assert service.cache_info()["entries"] == 0


def test_changing_the_data_invalidates_and_rerenders(make_napari_viewer, qtbot, service, photo):
    viewer = make_napari_viewer()
    layer = viewer.add_image(photo, name="face", rgb=True)
    tuner = dock(viewer, qtbot)
    before = tuner.output_layer.data.copy()
    tuner.last_latency = None
    layer.data = np.ascontiguousarray(photo[::-1])
    wait_render(tuner, qtbot)
    expected = paramops.apply(photo[::-1], "l0", model=service, **tuner.params)
    np.testing.assert_array_equal(tuner.output_layer.data, expected)
    assert not np.array_equal(tuner.output_layer.data, before)
    assert service.cache_info()["entries"] == 1  # the old features were dropped


def test_event_loop_keeps_running_while_the_trunk_runs(make_napari_viewer, qtbot, service):
    """The trunk runs in a worker thread: the UI thread's timer never stalls for 100 ms or more."""
    from qtpy.QtCore import QTimer

    image = np.tile(load_sample("astronaut"), (3, 3, 1))  # 1536 x 1536: a trunk of a second or more here
    viewer = make_napari_viewer()
    viewer.add_image(image, name="big", rgb=True)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    _, tuner = viewer.window.add_plugin_dock_widget("napari-paramops", "Operator tuner")
    docked = time.perf_counter()  # the trunk is running in the background from here
    qtbot.waitUntil(lambda: tuner.controller.is_prepared(tuner.layer.unique_id, ()), timeout=60_000)
    prepared = time.perf_counter()
    timer.stop()
    gaps = np.diff([docked, *(t for t in ticks if docked < t < prepared), prepared])
    # Long enough that a trunk on the UI thread could not hide between two ticks.
    assert prepared - docked > 0.5 and len(gaps) > 20
    assert gaps.max() < 0.1, f"UI thread stalled {1000 * gaps.max():.0f} ms during a {prepared - docked:.1f} s trunk"


def test_stack_follows_the_dims_slider_and_stays_16_bit(make_napari_viewer, qtbot, service, stack):
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack, name="nuclei", scale=(0.5, 0.2, 0.2))
    viewer.dims.set_current_step(0, 0)
    tuner = dock(viewer, qtbot)
    out = tuner.output_layer
    assert out.data.shape == stack.shape and out.data.dtype == np.uint16
    assert out.data[0].any() and not out.data[2].any()  # only the slice on screen was rendered
    tuner.last_latency = None
    viewer.dims.set_current_step(0, 2)
    wait_render(tuner, qtbot)
    assert tuner._index == (2,) and out.data[2].any()
    expected = paramops.apply(layer, "l0", model=service, **tuner.params)
    assert expected.dtype == np.uint16
    np.testing.assert_array_equal(out.data[2], expected[2])


def test_dask_backed_rgb_stacks_work(make_napari_viewer, qtbot, service, photo):
    da = pytest.importorskip("dask.array")
    frames = np.stack([photo, photo[::-1], photo[:, ::-1]])  # (t, y, x, rgb)
    viewer = make_napari_viewer()
    viewer.add_image(da.from_array(frames, chunks=(1, 96, 128, 3)), name="lazy", rgb=True)
    viewer.dims.set_current_step(0, 1)
    tuner = dock(viewer, qtbot)
    assert tuner._index == (1,)
    out = tuner.output_layer
    assert out.rgb and out.data.shape == frames.shape
    expected = paramops.apply(frames[1], "l0", model=service, **tuner.params)
    np.testing.assert_array_equal(out.data[1], expected)


def test_apply_to_all_slices_fills_the_stack_and_can_be_cancelled(make_napari_viewer, qtbot, service, stack):
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack, name="nuclei")
    tuner = dock(viewer, qtbot)
    tuner.apply_to_all_slices()
    qtbot.waitUntil(lambda: tuner.output_layer.metadata["paramops"]["index"] == "all", timeout=TIMEOUT_MS)
    expected = paramops.apply(layer, "l0", model=service, **tuner.params)
    np.testing.assert_array_equal(tuner.output_layer.data, expected)

    assert tuner.output_layer.metadata["paramops"]["self_ensemble"] is False

    tuner._ensemble.value = True  # the "8x ensemble" box
    with qtbot.waitSignal(tuner.apply_to_all_slices().done, timeout=TIMEOUT_MS):
        pass
    assert tuner.output_layer.metadata["paramops"]["self_ensemble"] is True
    np.testing.assert_array_equal(tuner.output_layer.data,
                                  paramops.apply(layer, "l0", model=service, self_ensemble=True, **tuner.params))

    job = tuner.controller.apply_all(stack, rgb=False, op="l0", params={}, stop=lambda: True)
    with qtbot.waitSignal(job.failed, timeout=TIMEOUT_MS) as failed:
        job.start()
    assert failed.args == ["cancelled"]


def test_exact_reference_goes_to_its_own_layer(make_napari_viewer, qtbot, service, photo):
    viewer = make_napari_viewer()
    layer = viewer.add_image(photo[:64, :64], name="face", rgb=True)
    tuner = dock(viewer, qtbot)
    tuner.set_params(lam=0.05)
    tuner.exact_reference()
    qtbot.waitUntil(lambda: "face [l0 reference]" in viewer.layers, timeout=TIMEOUT_MS)
    ref = viewer.layers["face [l0 reference]"]
    np.testing.assert_array_equal(ref.data, paramops.reference(layer.data, "l0", lam=0.05))
    assert ref.metadata["paramops"]["operator"] == "l0"
    assert get_operator("denoise").family == "restoration"
    tuner.operator = "denoise"
    assert tuner.exact_reference() is None  # a restoration's reference is its degradation


def test_exact_reference_sees_16_bit_data_as_the_network_does(stack):
    """12-bit counts in uint16 are mapped by percentiles, not the dtype's range, before the exact operator."""
    plane = stack[1]
    exact = controller.exact_reference(plane, "l0", lam=0.02)
    assert exact.dtype == np.uint16 and exact.shape == plane.shape
    assert exact.std() > 0.5 * plane.std()  # structure kept, as the network sees it
    # The dtype's range makes the same image nearly flat: L0 then removes everything.
    assert paramops.reference(plane, "l0", lam=0.02).std() < 0.01 * plane.std()


def test_closing_the_viewer_releases_everything(make_napari_viewer, qtbot, service, photo):
    viewer = make_napari_viewer()
    viewer.add_image(photo, name="face", rgb=True)
    dock(viewer, qtbot)
    assert service.cache_info()["entries"] >= 1
    viewer.close()
    qtbot.waitUntil(lambda: service.cache_info()["entries"] == 0, timeout=5000)
