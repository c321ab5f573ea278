"""The Operator tuner's controls: docking, layer chooser, operator dropdown, registry-generated sliders.

These need Qt and a display (run under xvfb-run where there is none) but no
model: the service is replaced by one that refuses to load.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from qtpy.QtCore import Qt  # noqa: E402

import paramops.napari  # noqa: E402
from paramops.napari import controller  # noqa: E402
from paramops.napari.controls import STEPS, format_value  # noqa: E402
from paramops.napari.widget import OperatorTuner  # noqa: E402
from paramops.operators.registry import OPERATORS, get_operator  # noqa: E402


@pytest.fixture(autouse=True)
def no_model(monkeypatch):
    def refuse():
        raise RuntimeError("no model in these tests")

    monkeypatch.setattr(controller, "default_service", refuse)


@pytest.fixture
def viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.integers(0, 255, (64, 80), dtype=np.uint8), name="noise")
    return viewer


@pytest.fixture
def tuner(viewer, qtbot) -> OperatorTuner:
    _, widget = viewer.window.add_plugin_dock_widget("napari-paramops", "Operator tuner")
    qtbot.waitUntil(lambda: "model failed" in widget.status, timeout=5000)
    return widget


def test_widget_docks_by_name_and_is_reachable_from_code(viewer, tuner):
    assert isinstance(tuner, OperatorTuner)
    assert "Operator tuner (napari-paramops)" in viewer.window.dock_widgets
    assert paramops.napari.tuner(viewer) is tuner  # docked once, found again
    assert tuner.layer.name == "noise"
    assert "no model in these tests" in tuner.status  # a model that fails to load is reported, not raised


def test_layer_chooser_follows_the_layer_list(viewer, tuner):
    viewer.add_image(np.zeros((32, 32), np.float32), name="second")
    viewer.add_labels(np.zeros((32, 32), np.uint8), name="labels")
    assert [layer.name for layer in tuner._image.choices] == ["noise", "second"]
    tuner.layer = "second"
    assert tuner.layer.name == "second"
    viewer.layers.remove("second")
    assert tuner.layer.name == "noise"
    viewer.add_image(np.zeros((32, 32), np.float32), name="made by the tuner", metadata={"paramops": {}})
    assert [layer.name for layer in tuner._image.choices] == ["noise"]


def test_operator_dropdown_groups_filters_and_restorations_with_summaries(tuner):
    combo = tuner._operator.native
    rows = [(combo.itemText(i).strip(), combo.itemData(i)) for i in range(combo.count())]
    headers = [text for text, data in rows if data is None]
    assert headers == ["Filters", "Restorations"]
    names = [data for _, data in rows]
    split = names.index(None, 1)
    assert names[1:split] == [n for n, s in OPERATORS.items() if s.family == "filter"]
    assert names[split + 1 :] == [n for n, s in OPERATORS.items() if s.family == "restoration"]
    for row, (_, data) in enumerate(rows):
        item_enabled = combo.model().item(row).isEnabled()
        if data is None:
            assert not item_enabled  # headers cannot be chosen
        else:
            assert item_enabled
            assert combo.itemData(row, Qt.ItemDataRole.ToolTipRole) == OPERATORS[data].summary


def test_choosing_an_operator_shows_exactly_its_sliders(tuner):
    panel = tuner._params
    for op, spec in OPERATORS.items():
        tuner.operator = op
        shown = {
            (name, param)
            for name in OPERATORS
            for param, slider in panel.sliders(name).items()
            if slider.native.isVisibleTo(tuner.native)
        }
        assert shown == {(op, p.name) for p in spec.params}, op
        assert panel._none.native.isVisibleTo(tuner.native) == (not spec.params)
        assert tuner._reference_button.enabled == (spec.family == "filter")


def test_log_slider_positions_map_through_the_registry(tuner):
    tuner.operator = "l0"
    lam = tuner.sliders["lam"]
    param = get_operator("l0").param("lam")
    assert param.scale == "log"
    for position in (0, STEPS // 4, STEPS // 2, STEPS):
        lam.position = position
        assert lam.value == pytest.approx(param.from_unit(position / STEPS))
        assert lam._readout.value == format_value(param, lam.value)
    lam.position = STEPS // 2
    assert lam.value == pytest.approx(0.02)  # geometric middle of [0.002, 0.2]
    assert tuner.params == {"lam": lam.value}


def test_linear_and_integer_sliders_show_real_values_and_units(tuner):
    tuner.operator = "rtv"
    sigma = tuner.sliders["sigma"]
    sigma.position = STEPS // 2
    assert sigma.value == pytest.approx(3.5) and sigma._readout.value == "3.5 px"
    iterations = tuner.sliders["iterations"]
    iterations.position = 333
    assert iterations.value == round(iterations.value) and iterations._readout.value == f"{iterations.value:.0f}"
    tuner.operator = "denoise"
    assert tuner.sliders["sigma"]._readout.value == "25/255"
    assert "log" not in tuner.sliders["sigma"].tooltip and "0-255" in tuner.sliders["sigma"].tooltip


def test_parameters_set_from_code_are_exact_and_validated(tuner):
    tuner.set("wls", lam=2.0)
    assert tuner.operator == "wls"
    lam = tuner.sliders["lam"]
    assert lam.value == 2.0  # kept exactly, not rounded to a slider position
    assert lam.position == round(get_operator("wls").param("lam").to_unit(2.0) * STEPS)
    with pytest.raises(ValueError, match=r"out of range \[0.1, 10\]"):
        tuner.set_params(lam=50.0)
    with pytest.raises(ValueError, match="no parameter 'sigma'"):
        tuner.set_params(sigma=1.0)
    with pytest.raises(ValueError, match="unknown operator"):
        tuner.operator = "blur"
