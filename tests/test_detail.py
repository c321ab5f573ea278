"""The detail branch (paramops.models.detail): a norm-free full-resolution path with a predicted readout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from paramops.models import ParamEncoding, ParamModel, build_model
from paramops.models.detail import Readout, readout
from paramops.models.layers import network_input
from paramops.operators.registry import operators
from paramops.service import ModelService
from paramops.training.branch import closed_channels, deepen, revive

OPS = tuple(operators())
CONFIG = {"arch": "tunable", "width": 8, "dilations": [1, 2], "residual": True, "tuned": "conv", "last_width": 4,
          "skip": True, "norm_windows": [32, 16], "tone_curve": 4}


def tiny(detail_branch: int = 3, **config) -> ParamModel:
    torch.manual_seed(0)
    encoding = ParamEncoding(OPS)
    net = build_model({**CONFIG, "param_dim": encoding.dim, "detail_branch": detail_branch, **config}).eval()
    return ParamModel(net, encoding, meta={"name": "tiny-detail"}, device="cpu")


def with_live_readout(model: ParamModel) -> ParamModel:
    """The readout starts at zero; give it weights so that what the branch adds shows in every output."""
    with torch.no_grad():
        for name, layer in model.net.predictor.layers.items():
            if name.startswith("detail_"):
                layer[-1].weight.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(1))
                layer[-1].bias.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(2))
    return model


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.astronaut()[100:187, 150:263].astype(np.float32) / 255  # (87, 113, 3): odd, several windows


@pytest.mark.parametrize("hidden", [0, 5])
def test_a_new_branch_leaves_the_network_unchanged(photo, hidden):
    """The readout starts at zero: a network given a branch starts as the one without (fine-tunes start there)."""
    plain, branched = tiny(0), tiny(3, detail_hidden=hidden)
    missing, unexpected = branched.net.load_state_dict(plain.net.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(("detail_convs.", "predictor.layers.detail_")) for k in missing)
    np.testing.assert_array_equal(branched.apply(photo, "denoise", sigma=25), plain.apply(photo, "denoise", sigma=25))


def test_a_new_gate_leaves_the_network_unchanged(photo):
    """The gate starts at exactly 1: a branched network given a gate starts as the one without."""
    branched, gated = with_live_readout(tiny(3, detail_hidden=5)), tiny(3, detail_hidden=5, detail_gate=True)
    missing, unexpected = gated.net.load_state_dict(branched.net.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("predictor.layers.detail_gate") for k in missing) and missing
    np.testing.assert_array_equal(gated.apply(photo, "sr", scale=3), branched.apply(photo, "sr", scale=3))


def test_a_branch_grown_by_copying_convs_leaves_the_network_unchanged(photo):
    """New convs after the branch's last copy their input (a ReLU's, never negative): a deeper branch starts as
    the shallower one, whatever the branch's weights."""
    shallow, deep = with_live_readout(tiny(3, detail_hidden=5)), tiny(5, detail_hidden=5)
    missing, unexpected = deep.net.load_state_dict(shallow.net.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == ["detail_convs.detail4", "detail_convs.detail5"]
    assert not np.allclose(deep.apply(photo, "denoise", sigma=25), shallow.apply(photo, "denoise", sigma=25))
    deepen(deep.net.detail_convs, deep.net.detail_ops, 3)
    np.testing.assert_allclose(deep.apply(photo, "denoise", sigma=25), shallow.apply(photo, "denoise", sigma=25),
                               atol=1e-5)
    with pytest.raises(ValueError, match="1 conv or more"):
        deepen(deep.net.detail_convs, deep.net.detail_ops, 0)


def test_revived_channels_open_and_leave_the_network_unchanged(photo):
    """A channel closed everywhere is drawn again and read with zero weights: it opens, and nothing else changes."""
    model = with_live_readout(tiny(3, detail_hidden=5))
    convs = model.net.detail_convs
    with torch.no_grad():
        convs["detail2"][0] = -convs["detail2"][0].abs()  # reads detail1's ReLUs, never negative: never opens
    before = model.apply(photo, "denoise", sigma=25)
    inp = network_input(torch.from_numpy(photo).permute(2, 0, 1)[None])
    closed = closed_channels(model.net.detail_ops, convs, [inp])
    assert closed["detail2"][0] and not closed["detail1"].any()
    revived = revive(model.net.detail_ops, convs, closed, torch.Generator().manual_seed(0))
    assert revived == {"detail1": 0, "detail2": int(closed["detail2"].sum())}  # the last conv's are the readout's
    assert not closed_channels(model.net.detail_ops, convs, [inp])["detail2"][0]
    assert not convs["detail3"][:, 0].any()
    np.testing.assert_allclose(model.apply(photo, "denoise", sigma=25), before, atol=1e-5)


def set_gate(model: ParamModel, value: float) -> ParamModel:
    with torch.no_grad():
        layer = model.net.predictor.layers["detail_gate"][-1]
        layer.weight.zero_()
        layer.bias.fill_(value)
    return model


def test_the_gate_scales_b_residual_and_not_the_readout(photo):
    """out = x + gate * (B(x) - x) + readout: linear in the gate, and at 0 B (its trunk, head, tone) drops out."""
    model = with_live_readout(tiny(3, detail_hidden=5, detail_gate=True))
    out = {g: set_gate(model, g).apply(photo, "denoise", sigma=25) for g in (0.0, 0.5, 1.0)}
    inside = np.all([(o > 0) & (o < 1) for o in out.values()], axis=0)  # apply clips to [0, 1]
    assert inside.mean() > 0.2
    np.testing.assert_allclose(out[0.5][inside], ((out[0.0] + out[1.0]) / 2)[inside], atol=1e-5)
    assert np.abs(out[1.0] - out[0.0]).max() > 1e-2
    with torch.no_grad():
        for weight in model.net.convs.values():  # B's learned convs, not the branch's
            weight.mul_(1.5)
        for name, layer in model.net.predictor.layers.items():
            if name.startswith(("conv", "tone_")):
                layer[-1].bias.add_(0.5)
    np.testing.assert_allclose(set_gate(model, 0.0).apply(photo, "denoise", sigma=25), out[0.0], atol=1e-6)
    assert np.abs(set_gate(model, 1.0).apply(photo, "denoise", sigma=25) - out[1.0]).max() > 1e-2


@pytest.mark.parametrize("config, message", [({"detail_gate": 1}, "detail_gate must be true or false"),
                                             ({"detail_branch": 0, "detail_gate": True}, "detail_gate needs detail_branch")])
def test_bad_gates_are_refused(config, message):
    with pytest.raises(ValueError, match=message):
        tiny(**{"detail_branch": 3, **config})


LINEAR = Readout(torch.randn(2, 3, 5, 3, 3))
HIDDEN = Readout(torch.randn(2, 3, 4, 3, 3), torch.randn(2, 4, 5, 3, 3), torch.randn(2, 4))


@pytest.mark.parametrize("weights", [LINEAR, HIDDEN], ids=["linear", "hidden"])
def test_the_readout_of_a_window_equals_that_window_of_the_whole(weights):
    features = torch.randn(2, 5, 20, 17)
    whole = readout(features, weights)
    for area in [(0, 20, 0, 17), (0, 7, 3, 17), (5, 12, 0, 1), (19, 20, 16, 17), (2, 4, 2, 4)]:
        y0, y1, x0, x1 = area
        torch.testing.assert_close(readout(features, weights, area), whole[..., y0:y1, x0:x1])


def test_the_hidden_readout_is_two_zero_padded_convs_with_a_relu_between():
    features = torch.randn(2, 5, 9, 11)
    hidden = torch.stack([torch.nn.functional.conv2d(features[i : i + 1], HIDDEN.hidden[i], HIDDEN.hidden_bias[i],
                                                     padding=1) for i in range(2)]).relu()
    expected = torch.cat([torch.nn.functional.conv2d(hidden[i], HIDDEN.out[i], padding=1) for i in range(2)])
    torch.testing.assert_close(readout(features, HIDDEN), expected)


LIVE_HEADS = pytest.mark.parametrize("hidden, gate", [(0, False), (5, False), (5, True)],
                                     ids=["linear", "hidden", "hidden-gated"])


@LIVE_HEADS
def test_service_renders_and_regions_equal_the_network(photo, hidden, gate):
    """The band head adds the readout band by band, and a region reads the branch one pixel (two) around it;
    a gate scales conv20's taps and the tone head."""
    model = with_live_readout(tiny(detail_hidden=hidden, detail_gate=gate))
    service = ModelService(model, device="cpu")
    service.prepare("photo", photo)
    for op, params in [("denoise", {"sigma": 25}), ("l0", {"lam": 0.05})]:
        whole = service.render("photo", op, **params)
        np.testing.assert_allclose(whole, model.apply(photo, op, **params), atol=3e-6)
        region = service.render("photo", op, (slice(30, 80), slice(5, 60)), **params)
        np.testing.assert_allclose(region, whole[30:80, 5:60], atol=3e-6)
    assert np.abs(model.apply(photo, "denoise", sigma=25) - tiny(0).apply(photo, "denoise", sigma=25)).max() > 1e-2


@LIVE_HEADS
def test_dask_tiles_equal_the_whole_plane(photo, hidden, gate):
    da = pytest.importorskip("dask.array")
    import paramops

    model = with_live_readout(tiny(detail_hidden=hidden, detail_gate=gate))
    image = np.rint(np.tile(photo, (2, 1, 1)) * 255).astype(np.uint8)  # 174 x 113: more than 4 tiles of 32
    chunked = paramops.apply_dask(da.from_array(image, chunks=(60, 60, 3)), "sr", model=model, tile=32).compute()
    whole = ModelService(model).apply(image, "sr")
    assert np.abs(chunked.astype(np.int64) - whole).max() <= 1


@pytest.mark.parametrize("value", [-1, 2.5, True])
def test_bad_branch_depths_are_refused(value):
    with pytest.raises(ValueError, match="detail_branch is the number"):
        tiny(value)
    with pytest.raises(ValueError, match="detail_hidden is the number"):
        tiny(3, detail_hidden=value)


def test_a_hidden_readout_needs_a_branch():
    with pytest.raises(ValueError, match="detail_hidden needs detail_branch"):
        tiny(0, detail_hidden=4)


@pytest.mark.parametrize("config, message", [({"residual": False, "tone_curve": 0}, "needs residual"),
                                             ({"norm_windows": None}, "needs norm_windows")])
def test_a_branch_needs_a_residual_windowed_network(config, message):
    with pytest.raises(ValueError, match=message):
        tiny(3, **config)


def test_the_branch_counts_in_the_trunk_and_its_readout_in_the_head():
    from paramops.evaluation.analysis.head_cost import conv_macs

    (head, total), (head_b, total_b) = conv_macs(tiny(0).net, 16, 16), conv_macs(tiny(3).net, 16, 16)
    pixels, width = 16 * 16, CONFIG["width"]
    readout = 3 * width * 9 * pixels
    branch = (4 * width + 2 * width * width) * 9 * pixels
    assert (head_b - head, total_b - total) == (readout, readout + branch)
    head_h, total_h = conv_macs(tiny(3, detail_hidden=5).net, 16, 16)
    hidden = (5 * width + 3 * 5) * 9 * pixels
    assert (head_h - head, total_h - total) == (hidden, hidden + branch)


def test_the_service_s_memory_estimate_counts_the_branch_s_features(photo):
    """ModelService sizes its whole-image trunks from feature_bytes: the branch's features are as big as h."""
    from paramops.service.trunk import feature_bytes

    for model in (tiny(0), tiny(3)):
        x = torch.from_numpy(photo).permute(2, 0, 1)[None]
        features = model.net.trunk(x)
        spatial = sum(t.numel() * t.element_size() for t in [*features.spatial(), features.image])
        pixels = features.h.shape[-2] * features.h.shape[-1]
        assert feature_bytes(model.net, pixels, torch.float32) >= spatial
    assert feature_bytes(tiny(3).net, 1, torch.float32) - feature_bytes(tiny(0).net, 1, torch.float32) == 4 * CONFIG["width"]
