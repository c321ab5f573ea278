"""The networks of paramops.models: sizes, parameter counts, batching, trunk/head split, tiling."""

from __future__ import annotations

import json
import math

import pytest
import torch

from paramops.models import TrunkFeatures, build_model, model_config
from paramops.models.base import convs_of, norms_of
from paramops.models.layers import edge_map, network_input
from paramops.models.symmetry import SYMMETRIES, turn, turn_back

SMALL = {"width": 8, "param_dim": 2}
NETS = {
    "decoupled": {"arch": "decoupled"},
    "decoupled-fc2R": {"arch": "decoupled", "fc": "fc2R"},
    "paramchannel": {"arch": "paramchannel"},
    "tunable": {"arch": "tunable"},
    "tunable-norm": {"arch": "tunable", "tuned": "norm"},
    "tunable-conv": {"arch": "tunable", "tuned": "conv"},
    "tunable-skip": {"arch": "tunable", "skip": True},
    "tunable-in3": {"arch": "tunable", "tuned_channels": 3},
    "realtime": {"arch": "tunable", "preset": "realtime", "width": 8, "last_width": 4},
}
TUNED = ["norm1", "norm7", "norm14", "norm19", "conv", "conv_in", "conv_out", "norms", "convs"]


def make(config: dict, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model({**SMALL, **config, **overrides}).eval()


def params(n: int, dim: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, dim, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def images(n: int, h: int, w: int, seed: int = 2) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def tunable(tuned: str) -> torch.nn.Module:
    """A TunableNet tuned at ``tuned``; also "realtime" (the preset) and "conv_in3" (3 predicted input channels)."""
    named = {"realtime": "realtime", "conv_in3": "tunable-in3"}
    return make(NETS[named[tuned]]) if tuned in named else make({"arch": "tunable", "tuned": tuned})


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- parameter counts (paper section 6.1) ------------------------------------------------------


def test_decoupled_counts_match_paper():
    net = build_model({"arch": "decoupled", "param_dim": 2})
    assert len(convs_of(net.ops)) == 20 and len(norms_of(net.ops)) == 19
    assert sum(math.prod(c.weight_shape) for c in convs_of(net.ops)) == 696_256
    assert count(net.predictor) == 2_088_768
    assert count(net.norm_scale) + count(net.norm_shift) == 2_432
    assert count(net) == 2_091_200


@pytest.mark.parametrize("kind, relu", [("fc2", False), ("fc2R", True)])
def test_two_layer_weight_networks(kind, relu):
    net = make({"arch": "decoupled", "fc": kind, "fc_hidden": 3})
    numel = sum(math.prod(c.weight_shape) for c in convs_of(net.ops))
    assert count(net.predictor) == 20 * (2 * 3 + 3) + (3 + 1) * numel
    # Without a ReLU the prediction is affine in p: opposite corners of a
    # parallelogram sum to the same weights. With it, not in general.
    corners = torch.tensor([[-1.0, -1.0], [1.0, -0.5], [-0.3, 1.0], [1.7, 1.5]])
    w = net.predictor(corners)["conv2"]
    affine = torch.allclose(w[0] + w[3], w[1] + w[2], atol=1e-5)
    assert affine is not relu


# -- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("size", [(1, 1), (7, 5), (33, 64), (255, 257)])
def test_output_size_equals_input_size(name, size):
    net = make(NETS[name])
    x = images(1, *size)
    with torch.no_grad():
        y = net(x, params(1))
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


# -- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["decoupled", "paramchannel", "tunable", "tunable-norm", "tunable-conv", "realtime"])
def test_per_sample_parameters_equal_the_loop(name):
    net = make(NETS[name])
    x, p = images(3, 20, 17), params(3)
    with torch.no_grad():
        batched = net(x, p)
        looped = torch.cat([net(x[i : i + 1], p[i : i + 1]) for i in range(3)])
        same_image = net(x[:1].expand(3, -1, -1, -1), p)
    torch.testing.assert_close(batched, looped, atol=1e-5, rtol=1e-4)
    # The parameters change the output.
    assert (same_image[0] - same_image[1]).abs().max() > 1e-4


@pytest.mark.parametrize("name", ["decoupled", "tunable", "paramchannel"])
def test_one_parameter_vector_broadcasts_over_the_batch(name):
    net = make(NETS[name])
    x, p = images(2, 12, 10), params(1)
    with torch.no_grad():
        torch.testing.assert_close(net(x, p), net(x, p.expand(2, -1)), atol=1e-5, rtol=1e-4)


def test_bad_inputs_are_refused():
    net = make(NETS["tunable"])
    with pytest.raises(ValueError, match=r"p must be \(N, 2\)"):
        net(images(1, 8, 8), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="3 rows for a batch of 2"):
        net(images(2, 8, 8), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"x must be \(N, 3, H, W\)"):
        net(torch.zeros(1, 1, 8, 8), torch.zeros(1, 2))


def test_weight_network_gets_gradients_from_a_mixed_batch():
    net = make(NETS["decoupled"]).train()
    net(images(2, 16, 16), params(2)).square().mean().backward()
    for name, param in net.predictor.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


# -- input conventions -------------------------------------------------------------------------


def test_edge_map_is_mean_absolute_neighbour_difference():
    x = torch.zeros(1, 3, 5, 6)
    x[:, 0, :, 3:] = 1.0  # a vertical step in one channel
    edges = edge_map(x)[0, 0]
    expected = torch.zeros(5, 6)
    expected[:, 2:4] = 1.0 / 4 / 3  # one neighbour of four differs, in one channel of three
    torch.testing.assert_close(edges, expected)


def test_network_input_is_centred():
    inp = network_input(torch.full((1, 3, 4, 4), 0.5))
    assert inp.shape == (1, 4, 4, 4)
    assert torch.equal(inp[:, :3], torch.zeros(1, 3, 4, 4))
    assert torch.equal(inp[:, 3], torch.full((1, 4, 4), -0.5))


# -- TunableNet: trunk / head ------------------------------------------------------------------


@pytest.mark.parametrize("tuned", TUNED + ["realtime", "conv_in3"])
def test_head_of_trunk_equals_forward(tuned):
    net = tunable(tuned)
    x, p = images(2, 21, 18), params(2)
    with torch.no_grad():
        features = net.trunk(x)
        torch.testing.assert_close(net.head(features, p), net(x, p), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(net.head(features, p[:1]), net(x, p[:1]), atol=1e-5, rtol=1e-4)


def test_trunk_and_head_sizes_for_tiny_images():
    net = make(NETS["tunable"])
    for size in [(1, 1), (7, 5)]:
        with torch.no_grad():
            assert net.head(net.trunk(images(1, *size)), params(1)).shape == (1, 3, *size)


@pytest.mark.parametrize("tuned", ["norm19", "conv", "conv_in", "conv_out", "norm7", "norms", "realtime", "conv_in3"])
def test_head_region_equals_window_of_full_render(tuned):
    net = tunable(tuned)
    x, p = images(2, 23, 19), params(2)
    with torch.no_grad():
        features = net.trunk(x)
        full = net.head(features, p)
        for y0, y1, x0, x1 in [(0, 5, 0, 4), (7, 16, 6, 13), (20, 23, 11, 19), (0, 23, 0, 19), (22, 23, 18, 19)]:
            window = net.head(features, p, region=(y0, y1, x0, x1))
            torch.testing.assert_close(window, full[..., y0:y1, x0:x1], atol=1e-5, rtol=1e-4)
    moments = tuned in ("conv_in", "conv", "conv_in3")  # norm19's statistics from the trunk's moments
    assert net.head_margin == (2 if moments else 1)
    assert net.windowed_head is (moments or tuned in ("norm19", "realtime"))


def test_head_region_must_lie_inside_the_image():
    net = make(NETS["tunable"])
    features = net.trunk(images(1, 10, 10))
    for region in [(0, 11, 0, 5), (3, 3, 0, 5), (-1, 4, 0, 5)]:
        with pytest.raises(ValueError, match="not a non-empty window"):
            net.head(features, params(1), region=region)


def test_one_image_rendered_with_several_parameter_vectors():
    net = make(NETS["tunable"])
    x, p = images(1, 14, 11), params(3)
    with torch.no_grad():
        features = net.trunk(x)
        many = net.head(features, p)
        one_by_one = torch.cat([net.head(features, p[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(many, one_by_one, atol=1e-5, rtol=1e-4)


def test_features_report_bytes_and_move():
    net = make(NETS["realtime"])
    features = net.trunk(images(2, 10, 12))
    assert isinstance(features, TrunkFeatures)
    # h: (2, 4, 10, 12) pre-norm activations of the 4-channel tuned norm; its
    # mean and variance (2, 4) each; the residual net keeps the (2, 3, 10, 12) image.
    assert features.nbytes == 4 * (2 * 4 * 10 * 12 + 2 * 2 * 4 + 2 * 3 * 10 * 12)
    assert features.h.requires_grad and not features.detach().h.requires_grad
    doubled = features.detach().to(torch.float64)
    assert doubled.h.dtype == torch.float64 and doubled.nbytes == 2 * features.nbytes


def test_trunk_uses_supplied_statistics():
    net = make(NETS["tunable-norm"], dilations=[1, 2])
    x = images(1, 16, 16)
    with torch.no_grad():
        stats = net.trunk_statistics(x)
        assert sorted(stats) == [f"norm{i}" for i in range(1, 10)]
        torch.testing.assert_close(net.trunk(x, norm_stats=stats).h, net.trunk(x).h)
        shifted = {**stats, "norm2": (stats["norm2"][0] + 1, stats["norm2"][1])}
        assert (net.trunk(x, norm_stats=shifted).h - net.trunk(x).h).abs().max() > 1e-3


@pytest.mark.parametrize("tuned, skip, channels", [("norm9", False, 1), ("norm5", False, 1), ("conv_in", False, 1),
                                                   ("conv_out", False, 1), ("norm5", True, 1), ("conv_in", True, 1),
                                                   ("conv_in", True, 3)])
def test_tiled_trunk_equals_trunk(tuned, skip, channels):
    # Small dilations keep the receptive field (18 px) well below the image,
    # so the 20-px tiles and their halos are genuine crops.
    net = make({"arch": "tunable", "tuned": tuned, "dilations": [1, 2], "skip": skip, "tuned_channels": channels})
    x = images(2, 64, 57)
    with torch.no_grad():
        whole = net.trunk(x)
        exact = net.trunk_statistics(x)
        tiled_stats = net.trunk_statistics(x, tile=20)
        tiled = net.trunk_tiled(x, tile=20)
    assert sorted(tiled_stats) == sorted(exact)
    for name in exact:
        torch.testing.assert_close(tiled_stats[name], exact[name], atol=1e-5, rtol=1e-4)
    assert len(tiled.tensors()) == len(whole.tensors())
    for a, b in zip(tiled.tensors(), whole.tensors()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_long_skip_joins_conv2_to_conv18():
    plain, skipped = make(NETS["tunable"]), make(NETS["tunable-skip"])
    assert count(plain) == count(skipped)  # the skip adds no weights
    names = [getattr(op, "name", getattr(op, "kind", None)) for op in skipped.ops]
    push, add = names.index("push"), len(names) - 1 - names[::-1].index("add")
    assert names[push - 3 : push] == ["conv2", "norm2", "relu"]
    assert names[add - 3 : add + 2] == ["conv18", "norm18", "relu", "add", "conv19"]
    skipped.load_state_dict(plain.state_dict())
    x, p = images(1, 20, 22), params(1)
    with torch.no_grad():
        assert (skipped(x, p) - plain(x, p)).abs().max() > 1e-3


@pytest.mark.parametrize("tuned", ["conv_in", "norm7", "convs"])
def test_head_of_trunk_equals_forward_with_the_long_skip(tuned):
    net = make({"arch": "tunable", "tuned": tuned, "skip": True})
    x, p = images(2, 21, 18), params(2)
    with torch.no_grad():
        torch.testing.assert_close(net.head(net.trunk(x), p), net(x, p), atol=1e-5, rtol=1e-4)


# -- configuration -----------------------------------------------------------------------------


def test_config_round_trips_through_json():
    for config in NETS.values():
        net = make(config)
        again = build_model(json.loads(json.dumps(net.config)))
        assert again.config == net.config
        assert {k: v.shape for k, v in again.state_dict().items()} == {
            k: v.shape for k, v in net.state_dict().items()
        }


def test_realtime_preset():
    config = model_config("tunable-realtime", param_dim=2)
    assert (config["width"], config["blocks"], config["last_width"], config["residual"]) == (128, "separable", 64, True)
    assert config["tuned"] == "norm26"
    shapes = {k: tuple(v.shape) for k, v in build_model(config).state_dict().items()}
    assert shapes["convs.conv4"] == (256, 128, 1, 1)  # 1x1 expand
    assert shapes["convs.conv5"] == (256, 1, 3, 3)  # 3x3 depthwise
    assert shapes["convs.conv6"] == (128, 256, 1, 1)  # 1x1 project
    assert shapes["predictor.layers.norm26_scale.0.weight"] == (16, 2)
    assert shapes["predictor.layers.norm26_scale.2.weight"] == (64, 16)
    assert shapes["predictor.layers.norm26_shift.2.weight"] == (64, 16)


def test_residual_output_adds_the_input():
    net = make(NETS["realtime"])
    with torch.no_grad():
        net.convs[net.output_conv.name].zero_()
        x = images(1, 9, 7)
        torch.testing.assert_close(net(x, params(1)), x)


def test_default_tuned_layer_and_last_norm_alias():
    assert make(NETS["tunable"]).tuned == "conv_in" and make(NETS["tunable"]).tuned_channels == 1
    assert make(NETS["tunable-norm"]).tuned == "norm19"
    assert make(NETS["tunable-norm"], dilations=[1, 2]).tuned == "norm9"


@pytest.mark.parametrize(
    "config, message",
    [
        ({"arch": "unet"}, "config needs 'arch'"),
        ({"arch": "tunable", "depth": 3}, "unknown option"),
        ({"arch": "paramchannel", "fc": "fc2"}, "unknown option"),
        ({"arch": "tunable", "tuned": "norm30"}, "norm1 to norm19"),
        ({"arch": "tunable", "tuned": "bias"}, "unknown tuned layer"),
        ({"arch": "decoupled", "fc": "fc3"}, "fc must be one of"),
        ({"arch": "decoupled", "preset": "realtime"}, "unknown preset"),
        ({"arch": "tunable", "width": 0}, "width must be a positive integer"),
        ({"arch": "tunable", "dilations": [2, 0]}, "dilations must be"),
        ({"arch": "tunable", "skip": "yes"}, "skip must be true or false"),
        ({"arch": "tunable", "tuned_channels": 0}, "tuned_channels must be a positive integer"),
        ({"arch": "tunable", "width": 8, "tuned_channels": 8}, "fewer than all 8 input channels of conv19"),
        ({"arch": "tunable", "tuned": "norm19", "tuned_channels": 2}, "applies to tuned=conv_in only"),
        ({"arch": "decoupled", "tuned_channels": 2}, "unknown option"),
    ],
)
def test_bad_configs_are_refused(config, message):
    with pytest.raises(ValueError, match=message):
        build_model(config)


def test_unknown_preset_name_lists_presets():
    with pytest.raises(ValueError, match="tunable-realtime"):
        model_config("tunable-fast")


@pytest.mark.parametrize("name", ["decoupled", "tunable", "paramchannel"])
def test_copied_and_unpickled_networks_compute_the_same(name):
    import copy
    import pickle

    torch.manual_seed(0)
    net = build_model({"arch": name, "width": 4, "param_dim": 2, "residual": True}).eval()
    x, p = torch.rand(1, 3, 20, 24), torch.tensor([[0.3, -0.5]])
    expected = net(x, p)
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        torch.testing.assert_close(clone(x, p), expected)


@pytest.mark.parametrize("tuned", ["conv_in", "conv_in3", "conv"])
def test_trunk_moments_give_the_tuned_convs_output_statistics_for_any_weight(tuned, monkeypatch):
    from paramops.models import layers

    monkeypatch.setattr(layers, "MOMENT_CHUNK_PIXELS", 50)  # many bands of rows, some of part of a row
    net = tunable(tuned)
    spec = net.tuning_conv
    with torch.no_grad():
        features = net.trunk(images(2, 19, 23))
        weight = torch.randn(2, spec.cout, features.h.shape[1], spec.k, spec.k)  # one per image
        out = layers.conv(features.h, weight, spec)
        if features.fixed is not None:
            out = out + features.fixed
        mean, var = layers.input_slice_stats(features.moments, weight)
        torch.testing.assert_close(mean, out.mean((2, 3)), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(var, out.var((2, 3), correction=0), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("k", range(SYMMETRIES))
def test_turn_back_undoes_turn(k):
    x = torch.arange(2 * 3 * 5).reshape(2, 3, 5)
    assert turn(x, k).shape == ((2, 5, 3) if k & 4 else (2, 3, 5))
    assert turn_back(turn(x, k), k).equal(x)


def test_the_eight_turns_are_the_eight_symmetries():
    x = torch.arange(9).reshape(3, 3)
    assert turn(x, 0).equal(x)
    assert len({tuple(turn(x, k).flatten().tolist()) for k in range(SYMMETRIES)}) == SYMMETRIES
