"""The "Operator tuner" dock widget.

Choose an image layer, an operator and its parameters; the output layer
``"<input> [<op>]"`` follows the sliders live. The trunk (the expensive,
parameter-independent half of the network) runs once per slice in the
background when a layer is chosen or the dims slider moves; slider changes only
run the head, first on the region on screen, then on the whole slice.

From the napari console::

    _, tuner = viewer.window.add_plugin_dock_widget("napari-paramops", "Operator tuner")
    tuner.set("wls", lam=2.0)          # operator and parameters; renders when live
    tuner.output_layer.data            # the result so far
    tuner.apply_to_all_slices()        # every z/t slice, cancellable from the activity dock
    tuner.apply_to_all_slices(self_ensemble=True)  # the mean over 8 rotations/transposes: 8x the time
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, PushButton
from qtpy.QtWidgets import QSizePolicy

from paramops.napari.controller import Job, Render, TunerController
from paramops.napari.controls import OperatorChooser, ParamPanel
from paramops.napari.layers import (
    ensure_output,
    find_output,
    is_output,
    leading_ndim,
    output_name,
    slice_index,
    visible_region,
    write_slice,
)
from paramops.operators.registry import get_operator

if TYPE_CHECKING:
    from napari.layers import Image
    from napari.viewer import Viewer

    from paramops.service import ModelService

NO_REFERENCE = "restorations have no exact operator to compare with: their reference adds the degradation"


class OperatorTuner(Container):
    """Dock widget: tune a parameterized operator live on an image layer.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose image layers the tuner works on (napari passes it).
    service : ModelService or callable returning one, optional
        The model service to render with. Default: the shipped default model,
        loaded in the background.

    Attributes
    ----------
    last_latency : float or None
        Seconds from the last parameter change to the output layer holding the
        whole rendered slice.
    first_latency : float or None
        Seconds from the last parameter change to the first update of the
        output layer (the region on screen, when only part of the slice is).
    """

    def __init__(self, napari_viewer: Viewer, service: ModelService | None = None) -> None:
        self.viewer = napari_viewer
        self.controller = TunerController(service)
        self.last_latency: float | None = None
        self.first_latency: float | None = None
        self._source: Image | None = None
        self._index: tuple[int, ...] = ()
        self._version = 0  # bumped when the input's data changes: older results are dropped
        self._want_render = False
        self._requested_at = 0.0
        self._trunk_bar = None
        self._apply_job: Job | None = None
        self._reference_job: Job | None = None

        self._image = ComboBox(label="image", choices=self._image_choices)
        self._image.tooltip = "Image layer to tune the operator on"
        self._operator = OperatorChooser()
        self._params = ParamPanel(self._operator.operator_names)
        self._live = CheckBox(text="live", value=True)
        self._live.tooltip = "Re-render the current slice whenever a parameter changes"
        self._apply_button = PushButton(text="Apply to all slices")
        self._apply_button.tooltip = "Run the network on every slice of the layer into the output layer"
        self._ensemble = CheckBox(text="8x ensemble", value=False)
        self._ensemble.tooltip = (
            "Apply: average the network's results under the image's 8 rotations and transposes. "
            "A little closer to the exact operator, 8 times the time; the live preview stays a single pass"
        )
        self._reference_button = PushButton(text="Exact reference")
        self._reference_button.tooltip = (
            "Run the slow exact operator on the current slice, into its own layer, to compare"
        )
        self._status = Label(value="")
        self._status.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        buttons = Container(layout="horizontal", widgets=[self._apply_button, self._ensemble, self._reference_button],
                            labels=False)
        buttons.margins = (0, 0, 0, 0)
        # Without a label column, so the status line gets the dock's full width.
        footer = Container(widgets=[buttons, self._status], labels=False)
        footer.margins = (0, 0, 0, 0)
        super().__init__(widgets=[self._image, self._operator, self._params, self._live, footer], labels=True)
        self.min_width = 340
        active = self.viewer.layers.selection.active
        if active is not None and active in self._image.choices:
            self._image.value = active

        self._image.changed.connect(self._on_layer)
        self._operator.changed.connect(self._on_operator)
        self._params.changed_param.connect(self._on_param)
        self._live.changed.connect(lambda live: live and self._request_render())
        self._apply_button.changed.connect(self._on_apply_clicked)
        self._reference_button.changed.connect(lambda: self.exact_reference())
        self.viewer.dims.events.current_step.connect(self._on_dims)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        c = self.controller
        c.ready.connect(self._on_ready)
        c.progressed.connect(self._on_progress)
        c.prepared.connect(self._on_prepared)
        c.trunk_idle.connect(self._close_trunk_bar)
        c.rendered.connect(self._on_rendered)
        c.failed.connect(self._on_failed)

        self.native.destroyed.connect(self._teardown)

        self._on_operator(self.operator)
        c.load()
        self._on_layer(self._image.value)

    def _teardown(self, *_) -> None:
        """The dock was closed: stop listening, cancel background work, free the features."""
        c = self.controller
        try:
            for signal in (c.ready, c.progressed, c.prepared, c.trunk_idle, c.rendered, c.failed):
                signal.disconnect()
            for job in (self._apply_job, self._reference_job):
                if job is not None:
                    job.done.disconnect()
                    job.failed.disconnect()
        except RuntimeError:
            pass  # at application exit Qt may delete the controller first: nothing left to disconnect
        for job in (self._apply_job, self._reference_job):
            if job is not None:
                job.cancel()
        self.viewer.dims.events.current_step.disconnect(self._on_dims)
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)
        if self._source is not None:
            self._source.events.data.disconnect(self._on_data_changed)
        self._close_trunk_bar(force=True)
        c.close()

    # -- scripting API -------------------------------------------------------------

    @property
    def layer(self) -> Image | None:
        """The input image layer (set it to a layer or a layer name)."""
        return self._source

    @layer.setter
    def layer(self, layer: Image | str) -> None:
        if isinstance(layer, str):
            layer = self.viewer.layers[layer]
        self._image.value = layer

    @property
    def operator(self) -> str:
        """The chosen operator's name (settable)."""
        return self._operator.value

    @operator.setter
    def operator(self, op: str) -> None:
        get_operator(op)
        if op not in self._operator.operator_names:
            raise ValueError(f"operator {op!r} is not offered by this tuner")
        self._operator.value = op

    @property
    def params(self) -> dict[str, float]:
        """The chosen operator's current parameter values."""
        return self._params.values(self.operator)

    def set_params(self, **params: float) -> None:
        """Set the chosen operator's parameters (validated against the registry); moves the sliders."""
        self._params.set_values(self.operator, params)

    def set(self, op: str | None = None, **params: float) -> None:
        """Choose operator ``op`` (if given) and set its parameters, e.g. ``tuner.set("l0", lam=0.05)``."""
        if op is not None:
            self.operator = op
        if params:
            self.set_params(**params)

    @property
    def live(self) -> bool:
        return self._live.value

    @live.setter
    def live(self, live: bool) -> None:
        self._live.value = live

    @property
    def output_layer(self) -> Image | None:
        """The live output layer of the current layer and operator, once rendered."""
        if self._source is None:
            return None
        return find_output(self.viewer, output_name(self._source, self.operator))

    @property
    def status(self) -> str:
        """The status line shown under the controls."""
        return self._status.value

    @property
    def sliders(self):
        """The chosen operator's sliders by parameter name."""
        return self._params.sliders(self.operator)

    # -- layer choice, slices, lifecycle -------------------------------------------------

    def _image_choices(self, _widget=None) -> list:
        from napari.layers import Image

        return [
            layer for layer in self.viewer.layers
            if isinstance(layer, Image) and not is_output(layer) and not layer.multiscale
        ]

    def _key(self, layer: Image):
        return layer.unique_id

    def _on_layer(self, layer: Image | None) -> None:
        if self._source is not None:
            self._source.events.data.disconnect(self._on_data_changed)
        self._source = layer
        self._want_render = False
        if layer is None:
            self._set_status("no image layer: open one, or File > Open Sample > paramops")
            return
        layer.events.data.connect(self._on_data_changed)
        self._index = slice_index(layer, self.viewer.dims.point)
        self._prepare()
        self._request_render()

    def _prepare(self) -> None:
        # Always ask: the service answers from its cache when the slice's data is unchanged,
        # and recomputes when it changed (even while another layer was chosen).
        source = self._source
        self.controller.prepare(self._key(source), source.data, rgb=source.rgb, index=self._index)
        self._open_trunk_bar(source.name)

    def _on_dims(self, _event=None) -> None:
        source = self._source
        if source is None or leading_ndim(source) == 0:
            return
        index = slice_index(source, self.viewer.dims.point)
        if index != self._index:
            self._index = index
            self._prepare()
            self._request_render()

    def _on_data_changed(self, _event=None) -> None:
        source = self._source
        self._version += 1
        self.controller.release(self._key(source))
        self._index = slice_index(source, self.viewer.dims.point)
        self._prepare()
        self._request_render()

    def _on_layer_removed(self, event) -> None:
        layer = event.value
        if is_output(layer):
            return
        self.controller.release(self._key(layer))
        if self._source is not None and self._key(self._source) == self._key(layer):
            self._image.reset_choices()

    # -- operator and parameters -----------------------------------------------------

    def _on_operator(self, op: str) -> None:
        self._params.show_operator(op)
        restoration = get_operator(op).family == "restoration"
        self._reference_button.enabled = not restoration
        self._reference_button.tooltip = (
            NO_REFERENCE if restoration
            else "Run the slow exact operator on the current slice, into its own layer, to compare"
        )
        self._request_render()

    def _on_param(self, op: str, _name: str, _value: float) -> None:
        if op == self.operator:
            self._request_render()

    def _on_ready(self, service) -> None:
        covered = service.operators
        self._operator.set_available(covered, "the loaded model was not trained on it")
        self._params.restrict(service.model.encoding.params)
        self._set_status(f"model: {model_label(service)}")
        self._request_render()

    # -- rendering ----------------------------------------------------------------------

    def _request_render(self) -> None:
        if not self.live or self._source is None or self.controller.service is None:
            self._want_render = self._source is not None
            return
        if self.operator not in self.controller.service.operators:
            self._set_status(f"the loaded model does not cover {self.operator!r}")
            return
        self._requested_at = time.perf_counter()
        self.first_latency = None
        key = self._key(self._source)
        if not self.controller.is_prepared(key, self._index):
            self._want_render = True
            if not self.controller.trunk_busy():  # e.g. its features were evicted
                self._prepare()
            return
        self._want_render = False
        region = self._region()
        regions = (region, None) if region is not None else (None,)
        self.controller.render(
            key, self._index, self.operator, self.params, regions, self._requested_at, tag=self._version
        )

    def _region(self):
        source = self._source
        output = self.output_layer
        return visible_region(output if output is not None and output.visible else source)

    def _on_prepared(self, key, index) -> None:
        if self._source is not None and key == self._key(self._source) and index == self._index:
            self._set_status(f"features of {self._source.name} ready")
            if self._want_render:
                self._request_render()

    def _on_rendered(self, render: Render) -> None:
        source = self._source
        if source is None or render.key != self._key(source) or render.tag != self._version:
            return  # the layer or its data changed while this was computed
        expected = source.data[(*render.index, *(render.region or ()))].shape
        if render.values.shape != expected:
            return  # computed for data of another shape
        layer = ensure_output(self.viewer, source, output_name(source, render.op))
        record = {
            "operator": render.op,
            "params": dict(render.params),
            "model": model_label(self.controller.service),
            "index": list(render.index),
            "self_ensemble": False,  # the live preview is one pass, whatever an earlier apply recorded
        }
        write_slice(layer, render.index, render.region, render.values, record)
        if render.requested_at == self._requested_at and self.first_latency is None:
            self.first_latency = time.perf_counter() - render.requested_at
        if render.region is None:
            self.last_latency = time.perf_counter() - render.requested_at
            self._set_status(f"{render.op} rendered in {1000 * self.last_latency:.0f} ms")

    # -- progress and status ---------------------------------------------------------------

    def _open_trunk_bar(self, name: str) -> None:
        from napari.utils import progress

        bar = self._trunk_bar
        if bar is None:
            self._trunk_bar = progress(total=100, desc=f"paramops: features of {name}")
        else:
            bar.n = 0
            bar.set_description(f"paramops: features of {name}")

    def _on_progress(self, _key, fraction: float) -> None:
        bar = self._trunk_bar
        if bar is not None:
            bar.update(max(0, int(100 * fraction) - bar.n))
        if self._source is not None:
            self._set_status(f"computing features of {self._source.name}: {100 * fraction:.0f}%")

    def _close_trunk_bar(self, force: bool = False) -> None:
        # A new slice may have been requested since the trunk reported idle.
        if self._trunk_bar is not None and (force or not self.controller.trunk_busy()):
            self._trunk_bar.close()
            self._trunk_bar = None

    def _on_failed(self, stage: str, message: str) -> None:
        self._set_status(f"{stage} failed: {message}")

    def _set_status(self, text: str) -> None:
        # Long messages (errors) are cut to the dock's width; the tooltip has them whole.
        self._status.value = text
        self._status.tooltip = text

    # -- whole stack and exact reference -----------------------------------------------------

    def _on_apply_clicked(self) -> None:
        if self._apply_job is not None and self._apply_job.running():
            self._apply_job.cancel()
        else:
            self.apply_to_all_slices()

    def apply_to_all_slices(self, self_ensemble: bool | None = None) -> Job | None:
        """Render every slice of the layer into the output layer; cancellable.

        ``self_ensemble``: the mean over each slice's 8 rotations and transposes
        (:meth:`ModelService.apply`); default the "8x ensemble" box. Returns the
        running background :class:`Job` (``job.cancel()`` stops it; the output
        layer's ``metadata["paramops"]["index"]`` becomes "all" when it lands),
        or None when there is no layer or model.
        """
        from napari.utils import cancelable_progress

        source, op, params = self._source, self.operator, self.params
        ensemble = self._ensemble.value if self_ensemble is None else bool(self_ensemble)
        if source is None or self.controller.service is None:
            self._set_status("choose an image layer (and wait for the model) first")
            return None
        bar = cancelable_progress(total=100, desc=f"paramops: {op} on all of {source.name}")
        job = self.controller.apply_all(
            source.data, rgb=source.rgb, op=op, params=params, self_ensemble=ensemble, stop=lambda: bar.is_canceled
        )
        self._apply_job = job
        self._apply_button.text = "Cancel"
        version = self._version

        def progressed(fraction: float) -> None:
            bar.update(max(0, int(100 * fraction) - bar.n))

        def finished() -> None:
            bar.close()
            self._apply_button.text = "Apply to all slices"

        def done(values: np.ndarray) -> None:
            finished()
            if not self._still_valid(source, version, values.shape, ()):
                return
            layer = ensure_output(self.viewer, source, output_name(source, op))
            record = {"operator": op, "params": params, "model": model_label(self.controller.service),
                      "index": "all", "self_ensemble": ensemble}
            write_slice(layer, (), None, values, record)
            self._set_status(f"{op} applied to all of {source.name}" + (", 8x ensemble" if ensemble else ""))

        def failed(message: str) -> None:
            finished()
            self._on_failed("apply to all slices", message)

        job.progressed.connect(progressed)
        job.done.connect(done)
        job.failed.connect(failed)
        return job.start()

    def _still_valid(self, source: Image, version: int, shape: tuple[int, ...], index: tuple[int, ...]) -> bool:
        """Whether a result computed from ``source`` still fits it; says so in the status if not."""
        changed = (source is self._source and version != self._version) or shape != source.data[index].shape
        if changed:
            self._set_status(f"{source.name} changed while computing: result dropped")
        return not changed

    def exact_reference(self) -> Job | None:
        """Run the slow exact operator on the current slice into ``"<input> [<op> reference]"``.

        Returns the running background :class:`Job`, or None when there is no
        layer or the operator is a restoration (whose reference is the degradation).
        """
        from napari.utils import progress

        source, op, params, index = self._source, self.operator, self.params, self._index
        if source is None:
            self._set_status("choose an image layer first")
            return None
        if get_operator(op).family == "restoration":
            self._set_status(NO_REFERENCE)
            return None
        image = np.asarray(source.data[index])
        bar = progress(total=0, desc=f"paramops: exact {op} on {source.name}")
        job = self.controller.reference(image, op=op, params=params)
        self._reference_job = job
        started, version = time.perf_counter(), self._version
        self._set_status(f"running the exact {op} operator...")

        def done(values: np.ndarray) -> None:
            bar.close()
            if not self._still_valid(source, version, values.shape, index):
                return
            layer = ensure_output(self.viewer, source, output_name(source, op, reference=True))
            write_slice(layer, index, None, values, {"operator": op, "params": params, "model": "exact reference",
                                                      "index": list(index)})
            self._set_status(f"exact {op} took {time.perf_counter() - started:.1f} s")

        def failed(message: str) -> None:
            bar.close()
            self._on_failed("exact reference", message)

        job.done.connect(done)
        job.failed.connect(failed)
        return job.start()


def model_label(service: Any) -> str:
    """How the output layers' metadata names the model: its checkpoint's name, or its architecture."""
    if service is None:
        return "none"
    model = service.model
    name = model.meta.get("name") or model.config.get("arch", "model")
    return f"{name} ({model.config.get('arch')}, {len(model.operators)} operators)"
