"""Scoring: through the model service, equal to running the network directly, and cached by weights and function."""

from __future__ import annotations

import numpy as np
import pytest

from paramops.evaluation import evaluate as scoring
from paramops.evaluation import score_cache
from paramops.evaluation.metrics import psnr


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    import torch
    from skimage import data as samples

    from paramops.io import write_image
    from paramops.models import ParamEncoding, ParamModel, build_model

    monkeypatch.setenv("PARAMOPS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "val"
    folder.mkdir()
    write_image(folder / "a.png", samples.astronaut()[:48, :40])
    torch.manual_seed(0)
    encoding = ParamEncoding(("l0", "denoise"), layout="onehot")
    net = build_model({"arch": "tunable", "width": 4, "param_dim": encoding.dim, "residual": True})
    return folder, ParamModel(net, encoding, device="cpu")


def test_scores_equal_the_network_run_directly(setup):
    from paramops.io import read_image

    folder, model = setup
    points = {"l0": [("lam", 0.02)], "denoise": [("sigma", 25.0)]}
    rows = {s.op: s for s in scoring.evaluate(model, folder, points=points, progress=False)}
    clean = read_image(folder / "a.png")
    truth = scoring.cached_reference(clean, "a.png", "l0", {"lam": 0.02}, 0)
    assert rows["l0"].psnr == pytest.approx(psnr(model.apply(clean, "l0", lam=0.02), truth), abs=0.05)
    noisy = scoring.cached_reference(clean, "a.png", "denoise", {"sigma": 25.0}, 0)
    assert rows["denoise"].psnr == pytest.approx(psnr(model.apply(noisy, "denoise", sigma=25.0), clean), abs=0.05)
    assert rows["denoise"].input_psnr == pytest.approx(psnr(noisy, clean))


def test_self_ensembled_scores_are_those_of_the_ensembled_apply_and_cached_apart(setup, monkeypatch):
    from paramops.io import read_image
    from paramops.service import ModelService

    folder, model = setup
    points = {"l0": [("lam", 0.02)], "denoise": [("sigma", 25.0)]}
    one = {s.op: s for s in scoring.evaluate(model, folder, points=points, progress=False)}
    ensembled = {s.op: s for s in scoring.evaluate(model, folder, points=points, self_ensemble=True, progress=False)}
    clean, service = read_image(folder / "a.png"), ModelService(model)
    truth = scoring.cached_reference(clean, "a.png", "l0", {"lam": 0.02}, 0)
    expected = psnr(service.apply(clean, "l0", self_ensemble=True, lam=0.02), truth)
    assert ensembled["l0"].psnr == pytest.approx(expected, abs=1e-6)
    assert ensembled["l0"].psnr != pytest.approx(one["l0"].psnr, abs=1e-3)
    noisy = scoring.cached_reference(clean, "a.png", "denoise", {"sigma": 25.0}, 0)
    expected = psnr(service.apply(noisy, "denoise", self_ensemble=True, sigma=25.0), clean)
    assert ensembled["denoise"].psnr == pytest.approx(expected, abs=1e-6)
    assert ensembled["denoise"].input_psnr == one["denoise"].input_psnr

    monkeypatch.setattr(scoring, "_score", lambda *args: pytest.fail("scored again"))
    assert scoring.evaluate(model, folder, points=points, progress=False) == list(one.values())
    assert scoring.evaluate(model, folder, points=points, self_ensemble=True, progress=False) == list(ensembled.values())


def test_scores_are_cached_per_weights(setup, monkeypatch):
    import torch

    folder, model = setup
    points = {"l0": [("lam", 0.02)]}
    first = scoring.evaluate(model, folder, points=points, progress=False)

    def fail(*args, **kwargs):
        raise AssertionError("scored again")

    monkeypatch.setattr(scoring, "_score", fail)
    assert scoring.evaluate(model, folder, points=points, progress=False) == first
    with torch.no_grad():
        next(model.net.parameters()).add_(0.1)
    with pytest.raises(AssertionError, match="scored again"):
        scoring.evaluate(model, folder, points=points, progress=False)


def test_scores_outlive_an_edit_that_moves_no_output_and_not_one_that_does(setup, monkeypatch):
    from paramops.service import ModelService
    from paramops.training.pairs import cache_dir

    folder, model = setup
    points = {"l0": [("lam", 0.02)], "denoise": [("sigma", 25.0)]}
    first = scoring.evaluate(model, folder, points=points, progress=False)

    def fail(*args, **kwargs):
        raise AssertionError("scored again")

    monkeypatch.setattr(scoring, "_score", fail)
    monkeypatch.setattr(score_cache, "code_digest", lambda: "0" * 64)  # as after an edit of the network code
    assert scoring.evaluate(model, folder, points=points, progress=False) == first
    assert len(list((cache_dir() / "scores" / "functions").iterdir())) == 2  # the probe ran again, for the new code

    render, apply = ModelService.render, ModelService.apply
    monkeypatch.setattr(ModelService, "render", lambda *a, **k: render(*a, **k) * 0.999)
    monkeypatch.setattr(ModelService, "apply", lambda *a, **k: apply(*a, **k) * 0.999)
    monkeypatch.setattr(score_cache, "code_digest", lambda: "1" * 64)  # an edit that moves the outputs
    with pytest.raises(AssertionError, match="scored again"):
        scoring.evaluate(model, folder, points=points, progress=False)


def test_an_operator_keeps_its_scores_when_only_another_operators_function_changes(setup, monkeypatch):
    import torch

    folder, model = setup
    points = {"l0": [("lam", 0.02)], "denoise": [("sigma", 25.0)]}
    first = {s.op: s for s in scoring.evaluate(model, folder, points=points, progress=False)}
    scored = []
    monkeypatch.setattr(scoring, "_score", lambda *args: scored.append(args[4]) or {
        "psnr": 0.0, "ssim": 0.0, "input_psnr": 0.0, "input_ssim": 0.0})
    with torch.no_grad():  # denoise's own entries of the weight-learning network, as train.tune_only moves them
        for stack in model.net.predictor.layers.values():
            stack[0].weight[:, model.encoding.own_slots(["denoise"])] += 0.1
    again = {s.op: s for s in scoring.evaluate(model, folder, points=points, progress=False)}
    assert scored == ["denoise"] and again["l0"] == first["l0"]


def test_the_function_digests_see_the_metrics_which_no_output_shows(setup, monkeypatch):
    from pathlib import Path

    _, model = setup
    digests = score_cache.function_digests(model)
    assert score_cache.function_digests(model) == digests and set(digests) == {"l0", "denoise"}
    assert digests["l0"] != digests["denoise"]
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: b"edited" if self.name == "metrics.py" else real_read(self))
    edited = score_cache.function_digests(model)
    assert all(edited[op] != digests[op] for op in digests)


def test_the_code_digest_covers_the_network_and_service_source():
    from pathlib import Path

    import paramops

    root = Path(paramops.__file__).parent
    covered = {p for pattern in score_cache.SCORED_BY for p in root.glob(pattern)}
    assert root / "models" / "windows.py" in covered and root / "service" / "head.py" in covered
    assert len(score_cache.code_digest()) == 64


def test_the_code_digest_leaves_out_the_timings(monkeypatch):
    from pathlib import Path

    import paramops

    root = Path(paramops.__file__).parent
    digest = score_cache.code_digest()
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: b"edited" if self.name == "bench.py" else real_read(self))
    assert score_cache.code_digest() == digest
    monkeypatch.setattr(Path, "read_bytes", lambda self: b"edited" if self.name == "head.py" else real_read(self))
    assert score_cache.code_digest() != digest
    assert (root / "service" / "bench.py").is_file()
