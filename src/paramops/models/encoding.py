"""The one parameter encoding: (operator, raw parameters) -> the network's parameter vector.

Training, evaluation, the model service and the plugin all go through
:meth:`ParamEncoding.encode`; nothing else turns parameters into numbers.

Every encoded parameter is normalised to ``[-1, 1]`` along its registry scale
(log or linear), so operators with very different ranges give back-propagated
gradients of the same magnitude (paper section 4.5). Two layouts place the
numbers in the vector when a model covers several operators:

``"code"`` (the paper's, section 4.5)
    one scalar operator code, the ``i``-th of ``n`` operators getting
    ``(i + 1) / n`` (the paper spaces ten operators from 0.1 to 1.0), then
    slots shared by all operators; an operator with fewer parameters than
    slots fills the rest with 0, the middle of the range.
``"onehot"``
    one indicator per operator, then each operator's own parameter slots (zero
    for the other operators). A linear weight predictor then gives every
    operator its own weights and its own parameter direction instead of
    placing all operators on one line through weight space, which matters
    most when only one layer is predicted (``TunableNet``).

A model of one operator has no operator code in either layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from paramops.operators.registry import get_operator

ENCODING_VERSION = 1
LAYOUTS = ("code", "onehot")


@dataclass(frozen=True)
class ParamEncoding:
    """How one model encodes operators and their parameters.

    Parameters
    ----------
    operators : sequence of str
        The operators the model was trained on, in code order.
    params : mapping of str to sequence of str, optional
        Which parameters of each operator are encoded, in slot order. By
        default the first parameter of each (the paper's one-parameter setting);
        the others stay at their registry defaults. Give RTV all four to train
        on several parameters at once (paper section 4.6).
    layout : {"code", "onehot"}, optional
        Where operators and parameters go in the vector (see the module
        docstring). ``"code"``, the paper's, by default.
    """

    operators: tuple[str, ...]
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    layout: str = "code"
    version: int = ENCODING_VERSION

    def __post_init__(self) -> None:
        if not self.operators:
            raise ValueError("an encoding needs at least one operator")
        chosen = {}
        for op in self.operators:
            spec = get_operator(op)
            names = tuple(self.params.get(op, spec.param_names[:1]))
            for name in names:
                spec.param(name)
            chosen[op] = names
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown encoding layout {self.layout!r}; choose one of: {', '.join(LAYOUTS)}")
        object.__setattr__(self, "operators", tuple(self.operators))
        object.__setattr__(self, "params", chosen)

    @property
    def with_op_code(self) -> bool:
        return len(self.operators) > 1

    @property
    def _onehot(self) -> bool:
        return self.with_op_code and self.layout == "onehot"

    @property
    def _code_width(self) -> int:
        if not self.with_op_code:
            return 0
        return len(self.operators) if self._onehot else 1

    def _slot_offset(self, op: str) -> int:
        """Index of ``op``'s first parameter slot."""
        if not self._onehot:
            return self._code_width
        preceding = self.operators[: self.operators.index(op)]
        return self._code_width + sum(len(self.params[other]) for other in preceding)

    @property
    def dim(self) -> int:
        """Length of the parameter vector (the paper's ``param_dim``), at least 1."""
        counts = [len(names) for names in self.params.values()]
        slots = sum(counts) if self._onehot else max(counts)
        return max(1, self._code_width + slots)

    def own_slots(self, ops: Sequence[str]) -> list[int]:
        """Indices of the vector that are zero for every operator but ``ops``: their one-hot indicators and
        parameter slots.

        A linear map without bias from these entries gives exactly zero for
        every other operator, however it is trained. Raises ``ValueError`` where
        operators share entries (the ``"code"`` layout of several operators).
        """
        unknown = [op for op in ops if op not in self.operators]
        if unknown:
            raise ValueError(f"this model does not cover {', '.join(unknown)}; it covers: {', '.join(self.operators)}")
        if not self.with_op_code:
            return list(range(self.dim)) if ops else []
        if not self._onehot:
            raise ValueError('operators share every entry of the "code" layout; own slots need layout "onehot"')
        slots = []
        for op in self.operators:  # in vector order
            if op in ops:
                offset = self._slot_offset(op)
                slots += [self.operators.index(op), *range(offset, offset + len(self.params[op]))]
        return sorted(slots)

    def encode(self, op: str, params: Mapping[str, float] | None = None) -> np.ndarray:
        """Encode one (operator, parameters) pair as a float32 vector of length :attr:`dim`.

        Raises ``ValueError`` for an operator this model does not cover, and
        for unknown or out-of-range parameters.
        """
        if op not in self.operators:
            raise ValueError(
                f"this model does not cover operator {op!r}; it covers: {', '.join(self.operators)}"
            )
        spec = get_operator(op)
        resolved = spec.resolve(params or {})
        vector = np.zeros(self.dim, dtype=np.float32)
        index = self.operators.index(op)
        if self._onehot:
            vector[index] = 1.0
        elif self.with_op_code:
            vector[0] = (index + 1) / len(self.operators)
        offset = self._slot_offset(op)
        for slot, name in enumerate(self.params[op]):
            vector[offset + slot] = 2.0 * spec.param(name).to_unit(resolved[name]) - 1.0
        return vector

    def encode_batch(self, items: Sequence[tuple[str, Mapping[str, float]]]) -> np.ndarray:
        """Encode several pairs into an (N, dim) array."""
        return np.stack([self.encode(op, params) for op, params in items])

    def to_config(self) -> dict:
        return {
            "operators": list(self.operators),
            "params": {op: list(names) for op, names in self.params.items()},
            "layout": self.layout,
            "version": self.version,
        }

    @classmethod
    def from_config(cls, config: Mapping) -> "ParamEncoding":
        version = config.get("version", ENCODING_VERSION)
        if version != ENCODING_VERSION:
            raise ValueError(
                f"parameter encoding version {version} is not supported (this paramops uses {ENCODING_VERSION})"
            )
        params = {k: tuple(v) for k, v in config.get("params", {}).items()}
        return cls(tuple(config["operators"]), params, layout=config.get("layout", "code"))
