"""Controls generated from the operator registry: the operator dropdown and the parameter sliders.

Nothing here knows about napari layers or the model service, so the controls
can be built and tested on their own. Slider positions map to parameter values
through :meth:`Param.to_unit` / :meth:`Param.from_unit`, the same mapping the
parameter encoding uses, so a log-scaled parameter gets a log slider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from magicgui.widgets import ComboBox, Container, Label, Slider
from psygnal import Signal

from paramops.operators.registry import OPERATORS, OperatorSpec, Param, get_operator

# Slider resolution: positions 0..STEPS along the parameter's scale. Values set
# from code are kept exactly; the slider then shows the nearest position.
STEPS = 1000

FAMILY_TITLES = {"filter": "Filters", "restoration": "Restorations"}


def format_value(param: Param, value: float) -> str:
    """The value as shown beside its slider, with the parameter's unit."""
    number = f"{value:.0f}" if param.integer else f"{value:.3g}"
    if not param.unit:
        return number
    # Factors and "/255" read as part of the number; words such as px do not.
    sep = "" if param.unit == "x" or param.unit.startswith("/") else " "
    return f"{number}{sep}{param.unit}"


def describe(param: Param) -> str:
    """Tooltip for a parameter: what it does, its range and its slider scale."""
    unit = f" {param.unit}" if param.unit else ""
    kind = "integer, " if param.integer else ""
    return f"{param.doc}. Range {param.low:g} to {param.high:g}{unit} ({kind}{param.scale} slider)."


class OperatorChooser(ComboBox):
    """Dropdown of operators grouped under "Filters" and "Restorations" headers.

    The headers are disabled items; each operator's registry summary is its
    tooltip. ``value`` is the operator name.
    """

    def __init__(self, operators: Iterable[str] | None = None, **kwargs) -> None:
        names = list(OPERATORS) if operators is None else list(operators)
        specs = [get_operator(name) for name in names]
        choices: list[tuple[str, str | None]] = []
        for family, title in FAMILY_TITLES.items():
            members = [spec for spec in specs if spec.family == family]
            if members:
                choices.append((title, None))
                choices.extend((f"    {spec.name}", spec.name) for spec in members)
        kwargs.setdefault("label", "operator")
        super().__init__(choices=choices, **kwargs)
        self._specs = {spec.name: spec for spec in specs}
        self._decorate()
        self.value = names[0]

    def _decorate(self) -> None:
        from qtpy.QtCore import Qt

        combo = self.native
        model = combo.model()
        for row in range(combo.count()):
            name = combo.itemData(row)
            if name is None:
                item = model.item(row)
                item.setEnabled(False)
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            else:
                combo.setItemData(row, self._specs[name].summary, Qt.ItemDataRole.ToolTipRole)

    @property
    def operator_names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def set_available(self, operators: Iterable[str], reason: str) -> None:
        """Disable the operators not in ``operators``; their tooltip says ``reason``."""
        from qtpy.QtCore import Qt

        available = set(operators)
        combo = self.native
        model = combo.model()
        for row in range(combo.count()):
            name = combo.itemData(row)
            if name is None:
                continue
            enabled = name in available
            model.item(row).setEnabled(enabled)
            tip = self._specs[name].summary + ("" if enabled else f" ({reason})")
            combo.setItemData(row, tip, Qt.ItemDataRole.ToolTipRole)
        if self.value not in available and available:
            self.value = next(name for name in self._specs if name in available)


class ParamSlider(Container):
    """One parameter's slider with its value and unit shown beside it.

    Positions run 0..STEPS along the parameter's scale (log or linear),
    converted with :meth:`Param.from_unit`. ``value`` is the real value.
    """

    value_changed = Signal(float)

    def __init__(self, param: Param) -> None:
        self.param = param
        self._value = param.default
        self._slider = Slider(min=0, max=STEPS, value=self._position(param.default), readout=False)
        self._readout = Label(value=format_value(param, param.default))
        self._readout.min_width = 64
        super().__init__(
            layout="horizontal", widgets=[self._slider, self._readout], labels=False, label=param.name
        )
        self.margins = (0, 0, 0, 0)
        self.tooltip = describe(param)
        self._slider.tooltip = self.tooltip
        self._slider.changed.connect(self._on_slide)

    def _position(self, value: float) -> int:
        return round(self.param.to_unit(value) * STEPS)

    def _on_slide(self, position: int) -> None:
        self._update(self.param.from_unit(position / STEPS))

    def _update(self, value: float) -> None:
        if value == self._value:
            return
        self._value = value
        self._readout.value = format_value(self.param, value)
        self.value_changed.emit(value)

    @property
    def value(self) -> float:
        return self._value

    @value.setter
    def value(self, value: float) -> None:
        p = self.param
        if not p.low <= value <= p.high:
            raise ValueError(f"{p.name}={value:g} is out of range [{p.low:g}, {p.high:g}]")
        value = float(round(value)) if p.integer else float(value)
        with self._slider.changed.blocked():
            self._slider.value = self._position(value)
        self._update(value)

    @property
    def position(self) -> int:
        """The slider position, 0..STEPS."""
        return self._slider.value

    @position.setter
    def position(self, position: int) -> None:
        self._slider.value = position

    def fix(self, reason: str) -> None:
        """Pin the parameter to its default and disable the slider, saying why."""
        self.value = self.param.default
        self.enabled = False
        self.tooltip = f"{describe(self.param)} Fixed at {format_value(self.param, self.param.default)}: {reason}."


class ParamPanel(Container):
    """Sliders for every parameter of every operator; only the chosen operator's are visible.

    ``changed_param`` emits ``(operator, parameter, value)``.
    """

    changed_param = Signal(str, str, float)

    def __init__(self, operators: Iterable[str] | None = None) -> None:
        names = list(OPERATORS) if operators is None else list(operators)
        self._sliders: dict[str, dict[str, ParamSlider]] = {}
        widgets = []
        for name in names:
            spec = get_operator(name)
            row = {}
            for param in spec.params:
                slider = ParamSlider(param)
                slider.value_changed.connect(self._forward(spec.name, param.name))
                row[param.name] = slider
                widgets.append(slider)
            self._sliders[name] = row
        self._none = Label(value="(no parameters)")
        widgets.append(self._none)
        super().__init__(widgets=widgets, labels=True)
        self.margins = (0, 0, 0, 0)
        self._operator = names[0]
        self.show_operator(names[0])

    def _forward(self, op: str, name: str):
        def emit(value: float) -> None:
            self.changed_param.emit(op, name, value)

        return emit

    def show_operator(self, op: str) -> None:
        """Show ``op``'s sliders and hide all others."""
        if op not in self._sliders:
            raise ValueError(f"no sliders for operator {op!r}; operators: {', '.join(self._sliders)}")
        self._operator = op
        for name, row in self._sliders.items():
            for slider in row.values():
                slider.visible = name == op
        self._none.visible = not self._sliders[op]

    def sliders(self, op: str) -> dict[str, ParamSlider]:
        """``op``'s sliders by parameter name."""
        return dict(self._sliders[op])

    def values(self, op: str) -> dict[str, float]:
        """``op``'s current parameter values."""
        return {name: slider.value for name, slider in self._sliders[op].items()}

    def set_values(self, op: str, values: Mapping[str, float]) -> None:
        """Set some of ``op``'s parameters (validated against the registry), moving their sliders."""
        spec: OperatorSpec = get_operator(op)
        resolved = spec.resolve({**self.values(op), **values})
        for name in values:
            slider = self._sliders[op][name]
            if not slider.enabled and resolved[name] != slider.value:
                raise ValueError(f"{op}: {name} is fixed at {slider.value:g} for this model")
            slider.value = resolved[name]

    def restrict(self, encoded: Mapping[str, Iterable[str]]) -> None:
        """Disable the sliders of parameters the model does not take (``encoded``: op -> names)."""
        for op, row in self._sliders.items():
            taken = set(encoded.get(op, ()))
            for name, slider in row.items():
                if name not in taken:
                    slider.fix("the model was not trained to vary it")
