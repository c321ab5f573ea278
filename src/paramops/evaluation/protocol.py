"""The scoring protocol: the parameter points an operator is scored at, and the network output a score reads.

Both :func:`~paramops.evaluation.evaluate.evaluate` and the score cache's
probe (:func:`~paramops.evaluation.score_cache.function_digests`) render
through :func:`scored_output`, so the probe sees the outputs the scores are
made of.
"""

from __future__ import annotations

import numpy as np

from paramops.operators.registry import get_operator

# The service key under which a scored image's own trunk is prepared, once for all its filters.
CLEAN = "clean"
_DEGRADED = "degraded"


def test_points(op: str) -> list[tuple[str | None, float | None]]:
    """The paper's test values of ``op``'s first parameter, or one point for fixed-effect operators."""
    spec = get_operator(op)
    if not spec.params:
        return [(None, None)]
    first = spec.params[0]
    values = first.test_values or (first.default,)
    return [(first.name, float(v)) for v in values]


def is_restoration(op: str) -> bool:
    return get_operator(op).family == "restoration"


def scored_output(service, image: np.ndarray, op: str, params: dict, *, self_ensemble: bool = False) -> np.ndarray:
    """The network of ``service`` (a :class:`~paramops.service.ModelService`) as ``op``, as a score reads it.

    Parameters
    ----------
    service : ModelService
        For a filter in one pass, with ``image`` prepared under :data:`CLEAN`
        (once per image, for all its filters and values).
    image : ndarray
        The network's input: the clean image for a filter, the degraded one
        for a restoration.
    op : str
        Registry name.
    params : dict
        ``op``'s parameters in registry units.
    self_ensemble : bool
        The whole network on the image's eight rotations and transposes,
        averaged, instead of one pass.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``.
    """
    if self_ensemble:
        return service.apply(image, op, self_ensemble=True, **params)
    if not is_restoration(op):
        return service.render(CLEAN, op, **params)
    service.prepare(_DEGRADED, image)
    try:
        return service.render(_DEGRADED, op, **params)
    finally:
        service.release(_DEGRADED)
