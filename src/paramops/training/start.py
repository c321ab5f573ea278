"""Where a run starts (``train.init``): one checkpoint, or the mean of several checkpoints' weights.

Fine-tunes of one network on other draws of the data, or with the operators
drawn in other proportions, end near each other, and the mean of their
weights can score better than each of them (a "model soup": Wortsman et al.,
ICML 2022). A config whose ``train.init`` lists checkpoints starts from that
mean; with ``train.steps: 0`` the run's weights are the mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paramops.models.wrapper import ParamModel


def training_so_far(meta: Mapping) -> dict:
    """Steps and seconds a checkpoint was trained for, those of the runs it was fine-tuned from included."""
    before = meta.get("init") or {}
    total = {}
    for key in ("steps", "train_seconds"):
        if meta.get(key) is not None:
            total[key] = meta[key] + (before.get(key) or 0)
        else:
            total[key] = None
    return total


def starting_model(init: str | Sequence[str] | None) -> ParamModel | None:
    """The model a run starts from: ``init`` loaded, the mean of ``init``'s checkpoints, or ``None``."""
    from paramops.models.checkpoint import load_model

    if init is None:
        return None
    if isinstance(init, str):
        return load_model(init, device="cpu")
    return average_weights([load_model(source, device="cpu") for source in init], init)


def average_weights(models: Sequence[ParamModel], sources: Sequence[str]) -> ParamModel:
    """The first of ``models`` with the mean of all their weights; they must share architecture and encoding.

    Its metadata holds the longest training any of them had (steps and
    seconds, their starts included): the mean costs nothing to make, but the
    fine-tunes it averages ran side by side, so their steps do not add up to
    a sequence a single run would have taken.
    """
    first, *rest = models
    for source, model in zip(sources[1:], rest):
        if model.config != first.config or model.encoding != first.encoding:
            raise ValueError(
                f"train.init: {source} has another architecture or encoding than {sources[0]}; "
                "only fine-tunes of one network can be averaged"
            )
    states = [model.net.state_dict() for model in models]
    mean = {}
    for key, value in states[0].items():
        if not value.is_floating_point():
            raise ValueError(f"train.init: weight {key!r} is not floating point and cannot be averaged")
        mean[key] = sum(state[key] for state in states) / len(states)
    first.net.load_state_dict(mean)
    trained = [training_so_far(model.meta) for model in models]
    longest = max(trained, key=lambda so_far: so_far["steps"] or 0)
    first.meta = longest
    return first
