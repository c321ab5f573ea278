"""Parameter sampling for training pairs (paper section 4.2).

Each encoded parameter is drawn uniformly along its registry scale: in log
space when the range spans a factor of ten or more, linearly otherwise. The
operator's other parameters stay at their defaults, unless fixed to one value
or to a short list of values (paper section 6.6 trains on five).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from paramops.operators.registry import get_operator


def sample_params(
    op: str,
    rng: np.random.Generator,
    *,
    names: Sequence[str] | None = None,
    fixed: Mapping[str, float | Sequence[float]] | None = None,
) -> dict[str, float]:
    """Draw one parameter set for operator ``op``.

    Parameters
    ----------
    op : str
        Operator name.
    rng : numpy.random.Generator
    names : sequence of str, optional
        Parameters to draw; default the operator's first parameter (the
        paper's one-parameter setting).
    fixed : mapping, optional
        Parameters pinned to one value (the paper's "single value" models) or
        drawn uniformly from a list of values (its "few fixed values" models).
        They take precedence over ``names``.

    Returns
    -------
    dict
        All of the operator's parameters, validated.
    """
    spec = get_operator(op)
    fixed = dict(fixed or {})
    params = spec.defaults()
    for name in spec.param_names[:1] if names is None else names:
        if name not in fixed:
            params[name] = spec.param(name).from_unit(float(rng.uniform()))
    for name, value in fixed.items():
        params[name] = float(rng.choice(value)) if isinstance(value, Sequence) else value
    return spec.resolve(params)
