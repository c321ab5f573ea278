"""Training: the parameter encoding's layouts, parameter sampling, configs, pairs and a resumable smoke run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from paramops.models.encoding import ParamEncoding
from paramops.operators.registry import get_operator, operators
from paramops.training.config import parse_config
from paramops.training.sampling import sample_params

TINY = {
    "name": "tiny",
    "model": {"arch": "tunable", "width": 4, "residual": True},
    "operators": ["l0", "denoise"],
    "encoding_layout": "onehot",
    "data": {"pairs_per_op": 8, "patch": 16, "margin": 4},
    "train": {"steps": 6, "batch": 4, "milestones": [4], "checkpoint_every": 3},
}


def test_code_layout_is_the_papers():
    encoding = ParamEncoding(("l0", "wls"))
    assert encoding.dim == 2
    np.testing.assert_allclose(encoding.encode("l0", {"lam": 0.002}), [0.5, -1.0])
    np.testing.assert_allclose(encoding.encode("wls", {"lam": 10.0}), [1.0, 1.0])


def test_onehot_layout_gives_every_operator_its_own_slots():
    ops = tuple(operators())
    encoding = ParamEncoding(ops, layout="onehot")
    n_params = sum(1 for op in ops if get_operator(op).param_names)
    assert encoding.dim == len(ops) + n_params
    used = set()
    for index, op in enumerate(ops):
        spec = get_operator(op)
        names = spec.param_names[:1]
        high = encoding.encode(op, {name: spec.param(name).high for name in names})
        assert high[: len(ops)].tolist() == [float(i == index) for i in range(len(ops))]
        slots = set(np.flatnonzero(high[len(ops) :]))
        assert len(slots) == len(names) and not slots & used  # its own slots, nobody else's
        used |= slots
    # Two operators at the middle of their ranges differ only in the indicator.
    assert np.count_nonzero(encoding.encode("sr", {"scale": 3}) - encoding.encode("derain")) == 2


def test_layout_round_trips_and_old_configs_read_as_code():
    encoding = ParamEncoding(("l0", "rtv"), {"rtv": ("lam", "sigma")}, layout="onehot")
    assert ParamEncoding.from_config(encoding.to_config()) == encoding
    old = {"operators": ["l0", "wls"], "params": {}, "version": 1}
    assert ParamEncoding.from_config(old).layout == "code"


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="layout 'binary'.*code, onehot"):
        ParamEncoding(("l0",), layout="binary")


def test_log_parameters_are_drawn_uniformly_in_log_space():
    rng = np.random.default_rng(0)
    lam = get_operator("l0").param("lam")
    draws = np.array([sample_params("l0", rng)["lam"] for _ in range(2000)])
    assert lam.low <= draws.min() and draws.max() <= lam.high
    units = np.log(draws / lam.low) / np.log(lam.high / lam.low)
    counts, _ = np.histogram(units, bins=4, range=(0, 1))
    assert counts.min() > 400  # uniform in log space: 500 per quarter expected


def test_fixed_values_pin_one_value_or_draw_from_a_list():
    rng = np.random.default_rng(0)
    assert {sample_params("l0", rng, fixed={"lam": 0.02})["lam"] for _ in range(20)} == {0.02}
    values = (0.002, 0.02, 0.2)
    drawn = {sample_params("l0", rng, fixed={"lam": list(values)})["lam"] for _ in range(60)}
    assert drawn == set(values)


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown config keys: colour"):
        parse_config({**TINY, "colour": 1})
    with pytest.raises(ValueError, match="missing 'model'"):
        parse_config({k: v for k, v in TINY.items() if k != "model"})
    with pytest.raises(ValueError, match="layout"):
        parse_config({**TINY, "encoding_layout": "binary"})
    assert parse_config(TINY).encoding().layout == "onehot"
    with pytest.raises(ValueError, match="train.revive must be true or false"):
        parse_config({**TINY, "train": {**TINY["train"], "revive": "yes"}})
    with pytest.raises(ValueError, match="no detail branch"):
        parse_config({**TINY, "train": {**TINY["train"], "revive": True}})


def test_shipped_configs_parse_and_build():
    from pathlib import Path

    from paramops.models import build_model
    from paramops.training.config import load_config

    paths = sorted(Path(__file__).resolve().parents[1].glob("configs/**/*.yaml"))
    assert len(paths) >= 8
    for path in paths:
        config = load_config(path)
        build_model(config.model_config())


@pytest.fixture()
def photos(tmp_path, monkeypatch):
    from skimage import data as samples

    from paramops.io import write_image

    monkeypatch.setenv("PARAMOPS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "a.png", samples.astronaut()[:48, :48])
    write_image(folder / "b.png", samples.coffee()[:40, :56])
    return folder


def test_pairs_are_cropped_with_a_margin_and_cached(photos, tmp_path):
    from paramops.operators.reference import reference
    from paramops.training.pairs import PairSpec, list_images, make_pairs

    spec = PairSpec("l0", 4, patch=16, margin=4, fixed={"lam": 0.05})
    images = list_images(photos)
    pairs = make_pairs(spec, images, workers=1, progress=False)
    assert pairs["inputs"].shape == pairs["targets"].shape == (4, 16, 16, 3)
    assert pairs["inputs"].dtype == np.uint8
    np.testing.assert_allclose(pairs["params"][:, 0], 0.05)
    assert not np.array_equal(pairs["inputs"], pairs["targets"])
    # The target is the filtered crop's centre, not the filtered centre alone.
    crop_filtered = reference(pairs["inputs"][0], "l0", lam=0.05)
    assert not np.array_equal(crop_filtered, pairs["targets"][0])
    cached = list((tmp_path / "cache" / "pairs").glob("l0-*.npz"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = make_pairs(spec, images, workers=1, progress=False)
    np.testing.assert_array_equal(again["targets"], pairs["targets"])
    assert cached[0].stat().st_mtime_ns == stamp


def test_pairs_at_the_ends_of_the_range_encode(photos):
    from paramops.training.pairs import PairSpec, list_images, make_pairs

    lam = get_operator("l0").param("lam")
    spec = PairSpec("l0", 6, patch=16, margin=4, fixed={"lam": [lam.low, lam.high]})
    pairs = make_pairs(spec, list_images(photos), workers=1, progress=False)
    assert set(pairs["params"][:, 0]) == {lam.low, lam.high}  # stored exactly, not rounded out of range
    ParamEncoding(("l0",)).encode_batch([("l0", {"lam": row[0]}) for row in pairs["params"]])


def _locate(patch: np.ndarray, photos: list[np.ndarray]) -> tuple[int, int, int]:
    """Which photo, and where in it, ``patch`` was cut from."""
    size = patch.shape[0]
    for n, photo in enumerate(photos):
        for y in range(photo.shape[0] - size + 1):
            for x in range(photo.shape[1] - size + 1):
                if np.array_equal(photo[y : y + size, x : x + size], patch):
                    return n, y, x
    raise AssertionError("patch not found in any photo")


def test_image_context_pairs_are_cut_from_whole_photo_runs(photos):
    from paramops.io import read_image
    from paramops.operators.reference import reference
    from paramops.training.pairs import PATCHES_PER_PHOTO, PairSpec, list_images, make_pairs

    assert get_operator("pencil").context == "image"
    images = list_images(photos)
    count = PATCHES_PER_PHOTO + 2  # two runs, the second cut short
    pairs = make_pairs(PairSpec("pencil", count, patch=16, margin=4, whole_photo=True), images,
                       workers=1, progress=False)
    assert pairs["inputs"].shape == (count, 16, 16, 3)
    sources = [read_image(path) for path in images]
    whole = [reference(photo, "pencil") for photo in sources]
    for patch, target, cdf, origin in zip(pairs["inputs"], pairs["targets"], pairs["cdfs"], pairs["origins"]):
        n, y, x = _locate(patch, sources)
        np.testing.assert_array_equal(target, whole[n][y : y + 16, x : x + 16])
        np.testing.assert_allclose(cdf, _cdf(sources[n]), atol=1e-6)  # the tone head ranks in the whole photo
        assert tuple(origin) == (y, x)  # where the paper texture is laid from
    # Cropped with a margin, pencil's histogram matching sees another image, and so does the tone head.
    cropped = make_pairs(PairSpec("pencil", 2, patch=16, margin=4), images, workers=1, progress=False)
    n, y, x = _locate(cropped["inputs"][0], sources)
    assert not np.array_equal(cropped["targets"][0], whole[n][y : y + 16, x : x + 16])
    np.testing.assert_allclose(cropped["cdfs"][0], _cdf(sources[n][y - 4 : y + 20, x - 4 : x + 20]), atol=1e-6)
    assert (cropped["origins"] == 4).all()  # the patch lies at the margin of the crop pencil ran on
    # Pencil's strokes are divided by their range over the image it ran on: the gain of its image field.
    from paramops.operators.fields import field_gain

    for patch, gain in zip(pairs["inputs"], pairs["gains"]):
        assert gain == pytest.approx(field_gain("pencil_strokes", sources[_locate(patch, sources)[0]] / np.float32(255)))
    assert cropped["gains"][0] == pytest.approx(field_gain("pencil_strokes",
                                                           sources[n][y - 4 : y + 20, x - 4 : x + 20] / np.float32(255)))


def _cdf(image: np.ndarray) -> np.ndarray:
    import torch

    from paramops.models.tone import luminance_cdf

    return luminance_cdf(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)[0].numpy()


def test_whole_photo_leaves_local_operators_pairs_alone(photos, tmp_path):
    from paramops.training.pairs import PairSpec, list_images, make_pairs

    assert get_operator("wls").context == "local"
    images = list_images(photos)
    cropped = make_pairs(PairSpec("wls", 3, patch=16, margin=4), images, workers=1, progress=False)
    flagged = make_pairs(PairSpec("wls", 3, patch=16, margin=4, whole_photo=True), images,
                         workers=1, progress=False)
    np.testing.assert_array_equal(flagged["targets"], cropped["targets"])
    assert len(list((tmp_path / "cache" / "pairs").glob("wls-*.npz"))) == 1  # one cache file serves both


def test_restoration_pairs_run_from_degraded_to_clean(photos):
    from paramops.training.pairs import PairSpec, list_images, make_pairs

    pairs = make_pairs(PairSpec("denoise", 3, patch=16, margin=4), list_images(photos), workers=1, progress=False)
    noise = pairs["inputs"].astype(float) - pairs["targets"]
    assert noise.std() > 2  # the input is the noisy one


def test_tiny_run_trains_resumes_and_exports(photos, tmp_path):
    from paramops.models import load_model
    from paramops.training.loop import train

    config = parse_config({**TINY, "data": {**TINY["data"], "train": str(photos)}})
    run_dir, out = tmp_path / "run", tmp_path / "tiny.pt"
    first = train(config, run_dir=run_dir, out=out, device="cpu", max_steps=3, progress=False)
    assert first == run_dir / "last.pt" and not out.exists()
    assert train(config, run_dir=run_dir, out=out, device="cpu", progress=False) == out
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [3, 6]
    assert all(np.isfinite(entry["loss"]) for entry in log)

    model = load_model(out, device="cpu")
    assert model.meta["steps"] == 6 and model.encoding.layout == "onehot"
    image = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    result = model.apply(image, "l0", lam=0.02)
    assert result.shape == image.shape and result.dtype == np.uint8


def test_lengthened_run_resumes_at_its_new_schedules_rate(photos, tmp_path):
    import torch

    from paramops.training.loop import train

    config = parse_config({**TINY, "data": {**TINY["data"], "train": str(photos)}})
    run_dir = tmp_path / "run"
    train(config, run_dir=run_dir, out=tmp_path / "tiny.pt", device="cpu", progress=False)
    finished = torch.load(run_dir / "last.pt", weights_only=False)["optimiser"]["param_groups"][0]["lr"]
    assert finished == pytest.approx(config.train.lr * config.train.gamma)  # past the milestone at 4

    longer = parse_config({**TINY, "data": {**TINY["data"], "train": str(photos)},
                           "train": {**TINY["train"], "steps": 8, "milestones": [8]}})
    train(longer, run_dir=run_dir, out=tmp_path / "tiny.pt", device="cpu", max_steps=1, progress=False)
    resumed = torch.load(run_dir / "last.pt", weights_only=False)
    assert resumed["step"] == 7
    assert resumed["optimiser"]["param_groups"][0]["lr"] == pytest.approx(config.train.lr)


def test_op_weights_share_draws_among_an_operators_pairs():
    from paramops.training.loop import pair_probabilities

    op_index = np.array([0] * 6 + [1] * 2)
    assert pair_probabilities(parse_config(TINY), op_index) is None  # the unweighted draw, as before
    weighted = parse_config({**TINY, "train": {**TINY["train"], "op_weights": {"denoise": 3}}})
    p = pair_probabilities(weighted, op_index)
    assert p.sum() == pytest.approx(1.0)
    assert p[op_index == 1].sum() == pytest.approx(0.75)  # 3 : 1, however many pairs each has
    assert np.ptp(p[op_index == 0]) == 0


def test_op_weights_must_name_trained_operators_and_be_positive():
    with pytest.raises(ValueError, match="'sr', which this run does not train"):
        parse_config({**TINY, "train": {**TINY["train"], "op_weights": {"sr": 2}}})
    with pytest.raises(ValueError, match="positive number"):
        parse_config({**TINY, "train": {**TINY["train"], "op_weights": {"l0": 0}}})
    with pytest.raises(ValueError, match="no tone head"):
        parse_config({**TINY, "train": {**TINY["train"], "tone_lr": 0.01}})
    with pytest.raises(ValueError, match="tone_lr must be a positive number"):
        parse_config({**TINY, "model": {**TINY["model"], "tone_curve": 4}, "train": {**TINY["train"], "tone_lr": 0}})
    with pytest.raises(ValueError, match="no detail branch"):
        parse_config({**TINY, "train": {**TINY["train"], "detail_lr": 0.01}})


def _trained(config, tmp_path, run: str):
    """``config`` trained on the CPU in ``tmp_path/run`` and exported to ``tmp_path/run.pt``: its path."""
    from paramops.training.loop import train

    return train(config, run_dir=tmp_path / run, out=tmp_path / f"{run}.pt", device="cpu", progress=False)


def test_init_starts_a_run_from_another_checkpoints_weights(photos, tmp_path):
    import torch

    from paramops.models import load_model
    from paramops.training.loop import DETAIL_PARAMETERS, TONE_PARAMETERS

    data = {**TINY["data"], "train": str(photos)}
    first = _trained(parse_config({**TINY, "data": data}), tmp_path, "a")
    # At a zero rate Adam leaves the weights where they started: the exported
    # model must then be the initial checkpoint's.
    frozen = {**TINY["train"], "lr": 0.0, "init": str(first), "op_weights": {"denoise": 2}}

    def fine_tuned(config, run: str):
        return load_model(_trained(config, tmp_path, run), device="cpu")

    second = _trained(parse_config({**TINY, "name": "tuned", "data": data, "train": frozen}), tmp_path, "b")
    a, b = load_model(first, device="cpu"), load_model(second, device="cpu")
    assert all(torch.equal(a.net.state_dict()[k], v) for k, v in b.net.state_dict().items())
    assert b.meta["init"] == {"from": str(first), "steps": 6, "train_seconds": a.meta["train_seconds"]}
    assert b.meta["op_weights"] == {"denoise": 2}

    wider = parse_config({**TINY, "model": {**TINY["model"], "width": 6}, "data": data, "train": frozen})
    with pytest.raises(ValueError, match="another architecture \\(last_width, width differ\\)"):
        _trained(wider, tmp_path, "c")
    # A tone head may be added to a network without one: it starts at zero, so the run starts as the init.
    # A fine-tune of a fine-tune counts the steps of both before it.
    toned_model = {**TINY["model"], "tone_curve": 4}
    toned = parse_config({**TINY, "name": "toned", "model": toned_model, "data": data,
                          "train": {**frozen, "init": str(second)}})
    c = fine_tuned(toned, "t")
    photo = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    np.testing.assert_array_equal(c.apply(photo, "l0", lam=0.05), a.apply(photo, "l0", lam=0.05))
    assert c.net.tone_curve == 4 and not a.net.tone_curve
    assert c.meta["init"]["steps"] == 12
    # train.tone_lr: the head learns at its own rate (here alone, the rest's being 0).
    head_only = parse_config({**TINY, "name": "head", "model": toned_model, "data": data,
                              "train": {**frozen, "tone_lr": 0.01}})
    d = fine_tuned(head_only, "h")
    tone = {k: v for k, v in d.net.state_dict().items() if k.startswith(TONE_PARAMETERS)}
    assert all(torch.equal(a.net.state_dict()[k], v) for k, v in d.net.state_dict().items() if k not in tone)
    assert all(v.abs().max() > 0 for k, v in tone.items() if k.endswith("bias"))
    assert d.meta["tone_lr"] == 0.01

    # A detail branch may be added too, hidden readout and all, and train.detail_lr trains it alone.
    branched = parse_config({**TINY, "name": "branched", "data": data,
                             "model": {**TINY["model"], "norm_windows": [32, 16], "detail_branch": 2,
                                       "detail_hidden": 3},
                             "train": {**frozen, "detail_lr": 0.01}})
    e = fine_tuned(branched, "e")
    detail = {k: v for k, v in e.net.state_dict().items() if k.startswith(DETAIL_PARAMETERS)}
    assert all(torch.equal(a.net.state_dict()[k], v) for k, v in e.net.state_dict().items() if k not in detail)
    assert e.net.state_dict()["predictor.layers.detail_readout.0.bias"].abs().max() > 0
    assert e.meta["detail_lr"] == 0.01 and e.net.detail_hidden == 3
    # A hidden readout comes with its branch: a branch trained without one is another architecture.
    rehidden = parse_config({**TINY, "data": data, "model": {**TINY["model"], "norm_windows": [32, 16],
                                                             "detail_branch": 2, "detail_hidden": 4},
                             "train": {**frozen, "init": str(tmp_path / "e.pt")}})
    with pytest.raises(ValueError, match="another architecture \\(detail_hidden differ\\)"):
        _trained(rehidden, tmp_path, "f")
    # A gate may be added to a branched network: it starts at 1, so the run starts as its init.
    gated = parse_config({**TINY, "name": "gated", "data": data,
                          "model": {**TINY["model"], "norm_windows": [32, 16], "detail_branch": 2, "detail_hidden": 3,
                                    "detail_gate": True},
                          "train": {**frozen, "init": str(tmp_path / "e.pt")}})
    g = fine_tuned(gated, "g")
    np.testing.assert_array_equal(g.apply(photo, "denoise", sigma=25), e.apply(photo, "denoise", sigma=25))
    assert g.net.detail_gate and not e.net.detail_gate
    # The branch may grow: its new convs copy their input, so the run starts as its init.
    deeper = parse_config({**TINY, "name": "deeper", "data": data,
                           "model": {**TINY["model"], "norm_windows": [32, 16], "detail_branch": 4, "detail_hidden": 3,
                                     "detail_gate": True},
                           "train": {**frozen, "init": str(tmp_path / "g.pt")}})
    h = fine_tuned(deeper, "i")
    smooth = photo.astype(np.float32) / 255
    np.testing.assert_allclose(h.apply(smooth, "denoise", sigma=25), g.apply(smooth, "denoise", sigma=25), atol=1e-5)
    assert h.net.detail_branch == 4
    # train.revive draws the branch's never-open channels again at the start, and says how many in its log.
    revived = parse_config({**TINY, "name": "revived", "data": data, "model": dict(deeper.model),
                            "train": {**frozen, "init": str(tmp_path / "i.pt"), "revive": True}})
    r = fine_tuned(revived, "r")
    counts = json.loads((tmp_path / "r" / "log.jsonl").read_text().splitlines()[0])["revived"]
    assert r.meta["revive"] and set(counts) == {"detail1", "detail2", "detail3"}

    other_ops = parse_config({**TINY, "operators": ["l0", "sr"], "data": data,
                              "train": {**frozen, "op_weights": {}}})
    with pytest.raises(ValueError, match="encodes other operators"):
        _trained(other_ops, tmp_path, "d")


def test_fields_added_to_a_trained_network_start_at_zero_and_learn(photos, tmp_path):
    from paramops.models import load_model
    from paramops.training.loop import build_dataset

    base = {**TINY, "operators": ["l0", "pencil"], "data": {**TINY["data"], "train": str(photos)}}
    first = _trained(parse_config(base), tmp_path, "a")
    fielded = {**base, "name": "fielded", "model": {**TINY["model"], "fields": ["pencil_paper"]}}
    data = build_dataset(parse_config(fielded), progress=False)
    pencil = data.op_index == 1
    assert (data.origins[pencil] == 4).all()  # pencil's own: its crops' margin
    assert len(np.unique(data.origins[~pencil], axis=0)) == (~pencil).sum()  # l0's: anywhere
    assert build_dataset(parse_config(base), progress=False).origins is None

    frozen = load_model(_trained(parse_config({**fielded, "train": {**TINY["train"], "lr": 0.0, "init": str(first)}}),
                                 tmp_path, "b"), device="cpu")
    photo = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    np.testing.assert_array_equal(frozen.apply(photo, "pencil"), load_model(first, device="cpu").apply(photo, "pencil"))
    assert frozen.net.fields == ("pencil_paper",)
    assert not frozen.net.convs["conv1"][:, 4:].any()
    learnt = load_model(_trained(parse_config({**fielded, "train": {**TINY["train"], "lr": 0.01, "init": str(first)}}),
                                 tmp_path, "c"), device="cpu")
    assert learnt.net.convs["conv1"][:, 4:].abs().min() > 0


def test_a_field_branch_added_and_trained_alone_changes_pencil_and_nothing_else(photos, tmp_path):
    import torch

    from paramops.models import load_model
    from paramops.training.loop import FIELD_PARAMETERS

    model = {**TINY["model"], "norm_windows": [32, 16], "detail_branch": 2}
    base = {**TINY, "operators": ["l0", "pencil"], "model": model, "data": {**TINY["data"], "train": str(photos)}}
    first = load_model(_trained(parse_config(base), tmp_path, "a"), device="cpu")
    # Only pencil's pairs are made (data.operators): the others' outputs cannot change.
    branched = parse_config({**base, "name": "branched", "data": {**base["data"], "operators": ["pencil"]},
                             "model": {**model, "fields": ["pencil_paper"], "field_branch": 2, "field_width": 3},
                             "train": {**TINY["train"], "lr": 0.0, "field_lr": 0.05, "init": str(tmp_path / "a.pt")}})
    assert branched.model_config()["field_slots"] == [1]  # pencil's indicator
    tuned = load_model(_trained(branched, tmp_path, "b"), device="cpu")
    assert tuned.meta["data"]["operators"] == ["pencil"] and tuned.meta["data"]["pairs"] == 8
    assert tuned.meta["field_lr"] == 0.05
    state, old = tuned.net.state_dict(), first.net.state_dict()
    # Everything the start had stays as it was; the first convs of B and the detail branch read the field at zero.
    assert all(torch.equal(old[k], v[:, : old[k].shape[1]] if v.shape != old[k].shape else v)
               for k, v in state.items() if k in old)
    assert not state["convs.conv1"][:, 4:].any() and not state["detail_convs.detail1"][:, 4:].any()
    assert state["field_readout.map.weight"].abs().max() > 0
    photo = np.random.default_rng(0).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    np.testing.assert_array_equal(tuned.apply(photo, "l0", lam=0.05), first.apply(photo, "l0", lam=0.05))
    assert not np.array_equal(tuned.apply(photo, "pencil"), first.apply(photo, "pencil"))
    assert {k for k in state if k not in old} == {k for k in state if k.startswith(FIELD_PARAMETERS)}
    with pytest.raises(ValueError, match="none of the operators lays the model's fields"):
        parse_config({**base, "operators": ["l0", "sr"], "model": branched.model}).model_config()
    with pytest.raises(ValueError, match="a model of one operator has none: give it model.fields alone"):
        parse_config({**base, "operators": ["pencil"], "model": branched.model}).model_config()
    for data, train, message in (({"operators": ["sr"]}, {}, r"data.operators must be some of .*l0, pencil"),
                                 ({"operators": ["pencil"]}, {"op_weights": {"l0": 2}}, "which this run does not")):
        with pytest.raises(ValueError, match=message):
            parse_config({**base, "data": {**base["data"], **data}, "train": {**TINY["train"], **train}})


def test_tune_only_trains_its_operators_own_columns_and_changes_nothing_else(photos, tmp_path):
    import torch

    from paramops.models import load_model

    model = {**TINY["model"], "norm_windows": [32, 16], "detail_branch": 2, "detail_hidden": 3,
             "detail_gate": True, "tone_curve": 4}
    base = {**TINY, "operators": ["l0", "denoise", "sr"], "model": model, "data": {**TINY["data"], "train": str(photos)}}
    first = load_model(_trained(parse_config(base), tmp_path, "a"), device="cpu")
    # l0's pairs are drawn too: its gradient reaches no column that learns.
    own = parse_config({**base, "name": "own", "train": {**TINY["train"], "lr": 0.05, "tune_only": ["denoise"],
                                                         "init": str(tmp_path / "a.pt")}})
    tuned = load_model(_trained(own, tmp_path, "b"), device="cpu")
    assert tuned.meta["tune_only"] == ["denoise"]
    state, old = tuned.net.state_dict(), first.net.state_dict()
    slots = own.encoding().own_slots(["denoise"])  # its indicator and sigma's slot
    changed = {k for k in state if not torch.equal(state[k], old[k])}
    assert changed and all(k.startswith("predictor.layers.") and k.endswith(".0.weight") for k in changed)
    for key in changed:
        others = [column for column in range(state[key].shape[1]) if column not in slots]
        assert torch.equal(state[key][:, others], old[key][:, others])
    photo = np.random.default_rng(0).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    for op, params in (("l0", {"lam": 0.05}), ("sr", {"scale": 3})):
        np.testing.assert_array_equal(tuned.apply(photo, op, **params), first.apply(photo, op, **params))
    assert not np.array_equal(tuned.apply(photo, "denoise", sigma=25), first.apply(photo, "denoise", sigma=25))
    for train, message in (({"tune_only": ["wls"]}, "names 'wls', which this run does not train"),
                           ({"tune_only": ["sr"], "detail_lr": 0.1}, "cannot be set with train.detail_lr")):
        with pytest.raises(ValueError, match=message):
            parse_config({**base, "train": {**TINY["train"], **train}})
    with pytest.raises(ValueError, match="own slots need layout \"onehot\""):
        _trained(parse_config({**base, "encoding_layout": "code", "train": {**TINY["train"], "tune_only": ["sr"]}}),
                 tmp_path, "c")


def test_an_own_branch_added_and_tuned_with_its_operator_changes_it_and_nothing_else(photos, tmp_path):
    import torch

    from paramops.models import load_model
    from paramops.training.loop import OWN_PARAMETERS

    model = {**TINY["model"], "norm_windows": [32, 16], "detail_branch": 2, "detail_gate": True}
    base = {**TINY, "operators": ["l0", "denoise", "sr"], "model": model, "data": {**TINY["data"], "train": str(photos)}}
    first = load_model(_trained(parse_config(base), tmp_path, "a"), device="cpu")
    branched = {**base, "name": "own", "model": {**model, "own_branch": 2, "own_width": 3, "own_operators": ["sr"]},
                "train": {**TINY["train"], "lr": 0.05, "own_lr": 0.05, "tune_only": ["sr"], "init": str(tmp_path / "a.pt")}}
    config = parse_config(branched)
    assert config.model_config()["own_slots"] == config.encoding().own_slots(["sr"])
    assert "own_operators" not in config.model_config()
    tuned = load_model(_trained(config, tmp_path, "b"), device="cpu")
    state, old = tuned.net.state_dict(), first.net.state_dict()
    assert {k for k in state if k not in old} == {k for k in state if k.startswith(OWN_PARAMETERS)}
    assert state["own_readout.map.weight"].abs().max() > 0
    photo = np.random.default_rng(0).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    for op, params in (("l0", {"lam": 0.05}), ("denoise", {"sigma": 25})):
        np.testing.assert_array_equal(tuned.apply(photo, op, **params), first.apply(photo, op, **params))
    assert not np.array_equal(tuned.apply(photo, "sr", scale=3), first.apply(photo, "sr", scale=3))
    for model_change, train, message in (
            ({"own_operators": []}, {}, "model.own_branch needs model.own_operators"),
            ({"own_branch": 0}, {"own_lr": None}, "the model has none"),
            ({"own_operators": ["sr", "denoise"]}, {}, r"which 'denoise' read too; tune_only must name them")):
        with pytest.raises(ValueError, match=message):
            parse_config({**branched, "model": {**branched["model"], **model_change},
                          "train": {**branched["train"], **train}}).model_config()


def test_bank_pairs_carry_the_whole_photos_bank_cut_as_the_patch(photos):
    from paramops.io import read_image
    from paramops.models.bank import BANK_SIZE, laplacian_bank
    from paramops.training.pairs import PairSpec, list_images, make_pairs

    images = list_images(photos)
    spec = PairSpec("llf", 5, patch=16, margin=4, whole_photo=True, bank=True)
    assert spec.signature(images) != PairSpec("llf", 5, patch=16, margin=4, whole_photo=True).signature(images)
    pairs = make_pairs(spec, images, workers=1, progress=False)
    assert pairs["banks"].shape == (5, BANK_SIZE, 16, 16) and pairs["banks"].dtype == np.float16
    sources = [read_image(path) for path in images]
    for patch, bank in zip(pairs["inputs"], pairs["banks"]):
        n, y, x = _locate(patch, sources)
        np.testing.assert_allclose(bank, laplacian_bank(sources[n])[:, y : y + 16, x : x + 16], atol=1e-3)
    assert "banks" not in make_pairs(PairSpec("llf", 2, patch=16, margin=4), images, workers=1, progress=False)


def test_a_bank_added_and_tuned_with_its_operators_changes_them_and_nothing_else(photos, tmp_path):
    import torch

    from paramops.models import load_model
    from paramops.training.loop import bank_batch, build_dataset

    model = {**TINY["model"], "norm_windows": [32, 16], "tone_curve": 4}
    base = {**TINY, "operators": ["l0", "llf", "llf_remap"], "model": model,
            "data": {**TINY["data"], "train": str(photos), "whole_photo": True}}
    first = load_model(_trained(parse_config(base), tmp_path, "a"), device="cpu")
    banked = {**base, "name": "bank", "model": {**model, "bank_operators": ["llf"]},
              "train": {**TINY["train"], "lr": 0.05, "bank_lr": 0.05, "tune_only": ["llf"], "clamp": True,
                        "init": str(tmp_path / "a.pt")}}
    config = parse_config(banked)
    assert config.model_config()["bank_slots"] == config.encoding().own_slots(["llf"])
    data = build_dataset(config, progress=False)
    llf = data.op_index == 1
    assert (data.bank_rows[llf] >= 0).all() and (data.bank_rows[~llf] == -1).all()
    assert len(data.banks) == llf.sum()
    # A run that draws none of the bank's readers has no maps, and zeros for its patches.
    alone = build_dataset(parse_config({**banked, "data": {**base["data"], "operators": ["l0"]},
                                        "train": {**TINY["train"], "bank_lr": 0.05}}), progress=False)
    assert alone.banks is None and (alone.bank_rows == -1).all()
    assert not bank_batch(alone, np.arange(3), "cpu").any() and bank_batch(alone, np.arange(3), "cpu").shape[1] == 4
    tuned = load_model(_trained(config, tmp_path, "b"), device="cpu")
    assert tuned.meta["clamp"] is True
    state, old = tuned.net.state_dict(), first.net.state_dict()
    assert {k for k in state if k not in old} == {"bank_readout.map.weight"}
    assert state["bank_readout.map.weight"].abs().max() > 0
    photo = np.random.default_rng(0).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    for op, params in (("l0", {"lam": 0.05}), ("llf_remap", {})):
        np.testing.assert_array_equal(tuned.apply(photo, op, **params), first.apply(photo, op, **params))
    assert not np.array_equal(tuned.apply(photo, "llf", detail=5), first.apply(photo, "llf", detail=5))
    assert not torch.equal(state["bank_readout.map.weight"], torch.zeros_like(state["bank_readout.map.weight"]))
    for model_change, train, message in (
            ({"bank_operators": []}, {}, "the model has no Laplacian bank"),
            ({"bank_operators": ["llf", "llf_remap"]}, {}, r"which 'llf_remap' read too; tune_only must name them"),
            ({}, {"clamp": "yes"}, "train.clamp must be true or false")):
        with pytest.raises(ValueError, match=message):
            parse_config({**banked, "model": {**banked["model"], **model_change},
                          "train": {**banked["train"], **train}})
    with pytest.raises(ValueError, match=r"'llf' would train on pairs cut from crops"):
        parse_config({**banked, "data": {**base["data"], "whole_photo": False}})
    with pytest.raises(ValueError, match=r"'sr' would train on pairs cut from crops"):  # a local operator
        parse_config({**banked, "operators": ["llf", "sr"], "model": {**model, "bank_operators": ["llf", "sr"]},
                      "train": {**TINY["train"], "bank_lr": 0.05}})
    with pytest.raises(ValueError, match="model.bank_operators keeps some operators apart"):
        parse_config({**banked, "operators": ["llf"], "data": {**base["data"], "operators": None},
                      "train": {**TINY["train"], "bank_lr": 0.05}}).model_config()


def test_an_image_field_added_to_a_field_branch_is_read_by_it_alone(photos, tmp_path):
    import torch

    from paramops.models import load_model
    from paramops.training.loop import FIELD_PARAMETERS, build_dataset

    model = {**TINY["model"], "norm_windows": [32, 16], "detail_branch": 2, "fields": ["pencil_paper"],
             "field_branch": 2, "field_width": 3}
    base = {**TINY, "operators": ["l0", "pencil"], "model": model, "data": {**TINY["data"], "train": str(photos)}}
    first = load_model(_trained(parse_config(base), tmp_path, "a"), device="cpu")
    scaled = {**base, "name": "scaled", "model": {**model, "fields": ["pencil_paper", "pencil_strokes"]},
              "train": {**TINY["train"], "lr": 0.0, "field_lr": 0.05, "init": str(tmp_path / "a.pt")}}
    data = build_dataset(parse_config(scaled), progress=False)
    pencil = data.op_index == 1
    assert data.gains.shape == (len(data.op_index), 1)
    assert build_dataset(parse_config(base), progress=False).gains is None  # no image field, no gains
    assert len(np.unique(data.gains[~pencil])) == (~pencil).sum()  # l0's drawn as photographs give them
    tuned = load_model(_trained(parse_config(scaled), tmp_path, "b"), device="cpu")
    state, old = tuned.net.state_dict(), first.net.state_dict()
    # The new channel comes last: B and the detail branch read it at zero, the field branch learns to.
    assert not state["convs.conv1"][:, 5:].any() and not state["detail_convs.detail1"][:, 5:].any()
    assert state["field_convs.field1"][:, 5:].abs().max() > 0
    assert all(torch.equal(old[k], v[:, : old[k].shape[1]] if v.shape != old[k].shape else v)
               for k, v in state.items() if k in old and not k.startswith(FIELD_PARAMETERS))
    photo = np.random.default_rng(0).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    np.testing.assert_array_equal(tuned.apply(photo, "l0", lam=0.05), first.apply(photo, "l0", lam=0.05))
    with pytest.raises(ValueError, match=r"another architecture \(fields differ\)"):
        _trained(parse_config({**scaled, "model": {**model, "fields": ["pencil_strokes"]}}), tmp_path, "c")


def test_init_given_a_list_starts_from_the_mean_of_their_weights(photos, tmp_path, monkeypatch):
    import torch

    from paramops.models import load_model
    from paramops.training import loop

    data = {**TINY["data"], "train": str(photos)}

    def trained(name: str, **changes):
        return _trained(parse_config({**TINY, "name": name, "data": data, **changes}), tmp_path, name)

    a = trained("a")
    b = trained("b", train={**TINY["train"], "seed": 1, "steps": 3, "milestones": []})
    with monkeypatch.context() as patched:  # no step to take, so no pairs to make
        patched.setattr(loop, "build_dataset", lambda *args, **kwargs: pytest.fail("pairs made for a run of 0 steps"))
        mean = trained("mean", train={**TINY["train"], "steps": 0, "milestones": [], "init": [str(a), str(b)]})
    first, second, soup = (load_model(path, device="cpu") for path in (a, b, mean))
    for key, value in soup.net.state_dict().items():
        expected = (first.net.state_dict()[key] + second.net.state_dict()[key]) / 2
        assert torch.allclose(value, expected) and not torch.equal(value, first.net.state_dict()[key])
    # The longest training among them, not their sum: they ran side by side.
    assert soup.meta["init"] == {"from": [str(a), str(b)], "steps": 6, "train_seconds": first.meta["train_seconds"]}
    assert soup.meta["data"] == first.meta["data"]

    wider = trained("wider", model={**TINY["model"], "width": 6})
    with pytest.raises(ValueError, match="another architecture or encoding than"):
        trained("both", train={**TINY["train"], "init": [str(a), str(wider)]})
    for bad in ([], [""], [3]):
        with pytest.raises(ValueError, match="train.init must be a model name or checkpoint path"):
            parse_config({**TINY, "train": {**TINY["train"], "init": bad}})


def test_a_part_at_rate_zero_beside_one_that_learns_is_frozen():
    from paramops.models import build_model
    from paramops.training.loop import DETAIL_PARAMETERS, _parameter_groups

    config = parse_config({**TINY, "model": {**TINY["model"], "norm_windows": [32, 16], "detail_branch": 2},
                           "train": {**TINY["train"], "lr": 0.0, "detail_lr": 0.01}})
    net = build_model(config.model_config())
    groups = _parameter_groups(net, config)
    branch = {id(p) for name, p in net.named_parameters() if name.startswith(DETAIL_PARAMETERS)}
    assert [g["lr"] for g in groups] == [0.01] and {id(p) for p in groups[0]["params"]} == branch
    assert all(p.requires_grad == (id(p) in branch) for p in net.parameters())
    # All at zero: nothing is frozen (the run leaves the weights as they are, gradients and all).
    still = parse_config({**TINY, "train": {**TINY["train"], "lr": 0.0}})
    assert [g["lr"] for g in _parameter_groups(build_model(still.model_config()), still)] == [0.0]
