"""Run a reference operator on any accepted image."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

from paramops.image import from_working, to_working
from paramops.operators.registry import OperatorSpec, get_operator


def implementation(spec: OperatorSpec) -> Callable[..., np.ndarray]:
    """Import the function behind ``spec`` (working-space RGB in, RGB out)."""
    module, func = spec.impl.split(":")
    return getattr(importlib.import_module(module), func)


def reference(image: np.ndarray, op: str, *, seed: int | None = None, **params: float) -> np.ndarray:
    """Run reference operator ``op`` on ``image``.

    Parameters
    ----------
    image : ndarray
        (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, uint16 or float.
        Never modified.
    op : str
        Operator name, see ``paramops.operators()``.
    seed : int, optional
        Seed for the stochastic degradations (``denoise``, ``derain``).
    **params
        The operator's parameters; missing ones take their registry default.

    Returns
    -------
    ndarray
        Same dtype, shape and value range as ``image``.

    Examples
    --------
    >>> from skimage import data
    >>> smooth = reference(data.astronaut(), "l0", lam=0.02)
    """
    spec = get_operator(op)
    resolved = spec.resolve(params)
    rgb, layout = to_working(image)
    func = implementation(spec)
    kwargs = dict(resolved)
    if spec.stochastic:
        kwargs["seed"] = seed
    out = func(np.clip(rgb, 0.0, 1.0), **kwargs)
    return from_working(np.clip(out, 0.0, 1.0), layout)
