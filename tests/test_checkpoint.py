"""Checkpoints: round trip, loading by name or path, ParamModel.apply, and refusing bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import paramops
from paramops.models import ParamEncoding, ParamModel, build_model, checkpoint
from paramops.models.checkpoint import load_checkpoint, load_model, save_checkpoint

ENCODING = ParamEncoding(("l0", "wls"))  # two operators: code + parameter, param_dim 2
META = {"steps": 12, "data": {"pairs": 3}}


@pytest.fixture
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model({"arch": "tunable", "width": 8, "param_dim": 2, "dilations": [1, 2]}).eval()


@pytest.fixture
def saved(tmp_path, net):
    return save_checkpoint(tmp_path / "mini.pt", net, ENCODING, meta=META)


def rewrite(path, edit, *, rehash: bool = True) -> None:
    """Load the raw payload, let ``edit`` change it, save it back (with a valid checksum if ``rehash``)."""
    payload = torch.load(path, weights_only=True)
    edit(payload)
    if rehash:
        payload["sha256"] = checkpoint.checksum(
            payload["config"], payload["encoding"], payload["meta"], payload["state_dict"]
        )
    torch.save(payload, path)


def test_round_trip(saved, net, tmp_path):
    loaded, encoding, meta = load_checkpoint(saved)
    assert loaded.config == net.config
    assert encoding == ENCODING and meta == META
    x, p = torch.rand(1, 3, 13, 9), torch.tensor([[0.5, -0.2]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, p), net(x, p), rtol=0, atol=0)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["mini.pt"]  # no temporary file left


def test_load_model_by_path_applies_to_numpy_images(saved, net):
    model = load_model(saved, device="cpu")
    assert isinstance(model, ParamModel)
    assert model.operators == ("l0", "wls") and model.meta == META and model.config == net.config
    image = (np.random.default_rng(0).random((13, 9, 3)) * 255).astype(np.uint8)
    out = model.apply(image, "wls", lam=2.0)
    assert out.dtype == np.uint8 and out.shape == image.shape
    x = torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]
    p = torch.from_numpy(ENCODING.encode("wls", {"lam": 2.0}))[None]
    with torch.no_grad():
        expected = net(x, p).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255
    np.testing.assert_array_equal(out, np.clip(np.rint(expected), 0, 255).astype(np.uint8))
    gray = model.apply(np.random.default_rng(1).random((8, 6)), "l0")
    assert gray.shape == (8, 6) and gray.dtype == np.float64
    with pytest.raises(ValueError, match="does not cover operator 'rtv'"):
        model.apply(image, "rtv")


def test_load_model_by_name(saved, tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "weights_dir", lambda: tmp_path)
    assert checkpoint.available_models() == ["mini"]
    assert paramops.load_model("mini", device="cpu").operators == ("l0", "wls")
    with pytest.raises(ValueError, match=r"unknown model 'maxi'; shipped models: mini"):
        load_model("maxi")


def test_load_model_by_a_name_with_dots(saved, tmp_path, monkeypatch):
    saved.rename(tmp_path / "single-l0-0.02.pt")
    monkeypatch.setattr(checkpoint, "weights_dir", lambda: tmp_path)
    assert load_model("single-l0-0.02", device="cpu").operators == ("l0", "wls")
    with pytest.raises(ValueError, match=r"unknown model 'single-l0-0.5'"):
        load_model("single-l0-0.5")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        load_model(tmp_path / "nothere.pt")


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"mini\.pt: cannot be read, the file is truncated or corrupt"):
        load_checkpoint(saved)


def test_garbage_file(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"noise\.pt: cannot be read"):
        load_checkpoint(path)


def test_not_a_paramops_checkpoint(tmp_path, net):
    path = tmp_path / "plain.pt"
    torch.save(net.state_dict(), path)
    with pytest.raises(ValueError, match=r"plain\.pt: not a paramops checkpoint"):
        load_checkpoint(path)


def test_unsupported_format_version(saved):
    rewrite(saved, lambda payload: payload.update(format_version=99))
    with pytest.raises(ValueError, match="format version 99 is not supported"):
        load_checkpoint(saved)


def test_checksum_mismatch(saved):
    rewrite(saved, lambda payload: payload["state_dict"]["convs.conv1"].add_(1e-3), rehash=False)
    with pytest.raises(ValueError, match=r"mini\.pt: checksum mismatch"):
        load_checkpoint(saved)


def test_edited_settings_fail_the_checksum(saved):
    rewrite(saved, lambda payload: payload.update(meta=json.dumps({"steps": 99999})), rehash=False)
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_checkpoint(saved)


def test_missing_and_unexpected_weights(saved):
    def edit(payload):
        state = payload["state_dict"]
        state["convs.extra"] = state.pop("convs.conv2")

    rewrite(saved, edit)
    with pytest.raises(ValueError, match="do not match the architecture: missing convs.conv2; unexpected convs.extra"):
        load_checkpoint(saved)


def test_wrong_weight_shape(saved):
    rewrite(saved, lambda payload: payload["state_dict"].update({"convs.conv2": torch.zeros(8, 8, 5, 5)}))
    with pytest.raises(ValueError, match=r"convs.conv2 \(8, 8, 5, 5\) != \(8, 8, 3, 3\)"):
        load_checkpoint(saved)


def test_invalid_architecture(saved):
    rewrite(saved, lambda payload: payload.update(config=json.dumps({"arch": "unet"})))
    with pytest.raises(ValueError, match=r"mini\.pt: invalid settings: config needs 'arch'"):
        load_checkpoint(saved)


def test_encoding_that_does_not_fit_the_network(saved):
    one_op = json.dumps(ParamEncoding(("l0",)).to_config())
    rewrite(saved, lambda payload: payload.update(encoding=one_op))
    with pytest.raises(ValueError, match="encoding gives 1 numbers but the network takes param_dim=2"):
        load_checkpoint(saved)


def test_save_refuses_a_mismatched_encoding(tmp_path, net):
    with pytest.raises(ValueError, match="param_dim=2 but the encoding gives 1"):
        save_checkpoint(tmp_path / "x.pt", net, ParamEncoding(("l0",)))
    assert not list(tmp_path.iterdir())


def test_an_option_added_later_keeps_the_digest_of_the_networks_before_it(net):
    # What the digest of this network was before `skip`, `tuned_channels`, `norm_windows`, `tone_curve`,
    # `detail_branch`, `detail_hidden`, `detail_gate`, `fields`, the field and own branches' options and the
    # Laplacian bank's existed.
    later = ("skip", "tuned_channels", "norm_windows", "tone_curve", "detail_branch", "detail_hidden", "detail_gate",
             "fields", "field_branch", "field_width", "field_slots", "own_branch", "own_width", "own_slots",
             "bank_slots")
    older = {key: value for key, value in net.config.items() if key not in later}
    texts = (json.dumps(older, sort_keys=True), json.dumps(ENCODING.to_config(), sort_keys=True), "")
    assert checkpoint.weights_digest(net, ENCODING) == checkpoint.checksum(*texts, net.state_dict())
    skipped = build_model({**net.config, "skip": True})
    skipped.load_state_dict(net.state_dict())  # the same weights, a different network
    assert checkpoint.weights_digest(skipped, ENCODING) != checkpoint.weights_digest(net, ENCODING)
    windowed = build_model({**net.config, "norm_windows": [16, 8]})
    windowed.load_state_dict(net.state_dict())  # the same weights, run differently
    assert checkpoint.weights_digest(windowed, ENCODING) != checkpoint.weights_digest(net, ENCODING)
    residual = build_model({**net.config, "residual": True})
    toned = build_model({**residual.config, "tone_curve": 4})
    toned.load_state_dict(residual.state_dict(), strict=False)  # the same weights and a zero tone head
    assert checkpoint.weights_digest(toned, ENCODING) != checkpoint.weights_digest(residual, ENCODING)
