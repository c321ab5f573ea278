"""The committed weights: each loads offline and is what its training config describes."""

from __future__ import annotations

from pathlib import Path

import pytest

from paramops.evaluation.scores import SHIPPED
from paramops.models import build_model
from paramops.models.checkpoint import available_models, load_model
from paramops.training.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_the_issue_s_models_are_shipped():
    assert set(available_models()) >= set(SHIPPED)


@pytest.mark.parametrize("name", available_models())
def test_shipped_weights_match_their_config(name):
    model = load_model(name, device="cpu")
    config = load_config(CONFIGS / f"{name}.yaml")
    assert model.meta["name"] == config.name == name
    assert model.config == build_model(config.model_config()).config
    assert model.encoding.to_config() == config.encoding().to_config()
    assert model.meta["steps"] == config.train.steps
