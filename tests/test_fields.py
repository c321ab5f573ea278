"""Fields: the pencil paper's texture laid where each image, crop or chunk lies, and its edges scaled by the
range of its strokes over the whole image, as input channels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from paramops.models import ParamEncoding, ParamModel, build_model
from paramops.models.symmetry import SYMMETRIES, turn, turn_back
from paramops.operators.fields import (
    FIELDS,
    IMAGE_FIELDS,
    field_gain,
    field_map,
    field_tile,
    position_field,
    typical_gains,
)
from paramops.operators.registry import get_operator, operators
from paramops.service import ModelService

OPS = tuple(operators())
FIELD = "pencil_paper"
SCALED = "pencil_strokes"


def test_a_crop_of_a_field_is_the_field_laid_from_the_crops_corner():
    whole = position_field(FIELD, (300, 280))
    assert whole.dtype == np.float32 and whole.shape == (300, 280) and 0 < whole.min() < whole.max() < 1
    np.testing.assert_array_equal(position_field(FIELD, (40, 50), (260, 230)), whole[260:, 230:])
    np.testing.assert_array_equal(position_field(FIELD, (40, 50), (260 - 256, 230 + 512)), whole[260:, 230:])
    assert not np.array_equal(position_field(FIELD, (40, 50), (1, 0)), whole[:40, :50])


def test_the_registry_names_known_fields_and_pencil_has_its_paper_and_strokes():
    laid = {op: get_operator(op).position_field for op in OPS if get_operator(op).position_field}
    scaled = {op: get_operator(op).image_field for op in OPS if get_operator(op).image_field}
    assert laid == {"pencil": FIELD} and set(laid.values()) <= set(FIELDS)
    assert scaled == {"pencil": SCALED} and set(scaled.values()) <= set(IMAGE_FIELDS)
    with pytest.raises(ValueError, match="unknown field 'paper'; position fields: pencil_paper; image fields: "
                                         "pencil_strokes"):
        position_field("paper", (4, 4))
    with pytest.raises(ValueError, match="image field: it has a gain, not a tile"):
        field_tile(SCALED)
    with pytest.raises(ValueError, match="position field: it has a tile, not a gain"):
        field_gain(FIELD, np.zeros((4, 4, 3), np.float32))


def test_an_image_fields_gain_is_the_typical_range_of_its_map_over_the_images_own(photo):
    from paramops.operators.stylize import STROKE_RADIUS, pencil_drawing, stroke_map

    image = photo.astype(np.float32) / 255
    strokes = field_map(SCALED, image)
    assert strokes.dtype == np.float32 and strokes.shape == image.shape[:2] and strokes.min() >= 0
    gain = field_gain(SCALED, image)
    assert gain == pytest.approx(IMAGE_FIELDS[SCALED].typical / (strokes.max() - strokes.min()))
    # What the operator divides by: its stroke layer is the map normalised by that range.
    from paramops.operators.stylize import luminance

    normalised = 1 - (strokes - strokes.min()) * gain / IMAGE_FIELDS[SCALED].typical
    np.testing.assert_allclose(stroke_map(luminance(image)), normalised, atol=1e-6)
    # A pixel of the map reads no further than the field's radius, so tiles can gather the range.
    r = IMAGE_FIELDS[SCALED].radius
    assert r == STROKE_RADIUS
    np.testing.assert_allclose(field_map(SCALED, image[10 : 50 + 2 * r, 20 : 60 + 2 * r])[r:-r, r:-r],
                               strokes[10 + r : 50 + r, 20 + r : 60 + r], rtol=0, atol=1e-5)
    assert field_gain(SCALED, np.full((8, 8, 3), 0.5, np.float32)) == 0.0  # flat: no strokes to scale
    assert pencil_drawing(np.full((8, 8, 3), 0.5, np.float32)).shape == (8, 8, 3)
    drawn = typical_gains(SCALED, np.random.default_rng(0), 4000)
    assert drawn.shape == (4000,) and abs(np.log(drawn).std() - IMAGE_FIELDS[SCALED].spread) < 0.02


def tiny_model(**config) -> ParamModel:
    torch.manual_seed(0)
    encoding = ParamEncoding(OPS)
    net = build_model({"arch": "tunable", "width": 8, "param_dim": encoding.dim, "residual": True,
                       "dilations": [1, 2], "fields": [FIELD], **config})
    if SCALED in net.fields:  # weights that read the image field, which a fresh network has at random anyway
        assert net.convs["conv1"].shape[1] == 4 + len(net.fields)
    return ParamModel(net, encoding, device="cpu")


@pytest.fixture(scope="module")
def model() -> ParamModel:
    return tiny_model()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()[100:190, 140:260]


def test_fields_are_checked_and_positioning_appends_them(model):
    for fields, message in (([FIELD, FIELD], "distinct"), (["paper"], "unknown field")):
        with pytest.raises(ValueError, match=message):
            build_model({"arch": "tunable", "param_dim": 2, "fields": fields})
    net = model.net
    x = torch.rand(2, 3, 20, 30)
    positioned = net.positioned(x, (7, 9))
    assert positioned.shape == (2, 4, 20, 30) and torch.equal(positioned[:, :3], x)
    np.testing.assert_array_equal(positioned[1, 3].numpy(), position_field(FIELD, (20, 30), (7, 9)))
    assert net.positioned(positioned) is positioned  # a cut of a positioned image keeps its own fields
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\) or, positioned, \(N, 4, H, W\)"):
        net.positioned(torch.rand(1, 5, 8, 8))


def test_the_output_depends_on_where_the_image_lies(model, photo):
    net, p = model.net, torch.from_numpy(np.asarray(model.encoding.encode("pencil", {}), np.float32))[None]
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        here, there = net(x, p), net(net.positioned(x, (3, 0)), p)
    assert (here - there).abs().max() > 1e-3
    np.testing.assert_allclose(model.apply(photo.astype(np.float32) / 255, "pencil"),
                               here[0].permute(1, 2, 0).clamp(0, 1).numpy(), atol=1e-6)


def test_image_fields_are_the_edge_map_scaled_by_the_whole_images_gain(photo):
    from paramops.models.layers import IMAGE_FIELD_SCALE, edge_map

    net = tiny_model(fields=[FIELD, SCALED]).net
    image = photo.astype(np.float32) / 255
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    positioned = net.positioned(x, (5, 6))
    assert positioned.shape == (1, 5, *photo.shape[:2])
    np.testing.assert_array_equal(positioned[0, 3].numpy(), position_field(FIELD, photo.shape[:2], (5, 6)))
    torch.testing.assert_close(positioned[:, 4:], edge_map(x) * IMAGE_FIELD_SCALE * field_gain(SCALED, image))
    # A crop given the whole image's gain has the whole image's channel, away from the crop's edge.
    crop = net.positioned(x[..., 20:60, 30:90], (25, 36), [field_gain(SCALED, image)])
    torch.testing.assert_close(crop[..., 1:-1, 1:-1], positioned[..., 21:59, 31:89])


@pytest.mark.parametrize("config", [{}, {"norm_windows": [32, 16], "detail_branch": 2},
                                    {"norm_windows": [32, 16], "fields": [FIELD, SCALED]},
                                    {"fields": [FIELD, SCALED]}],
                         ids=["norms", "windows", "windows-scaled", "norms-scaled"])
def test_chunks_lay_the_fields_where_they_lie_in_the_plane(photo, config):
    da = pytest.importorskip("dask.array")
    import paramops

    model = tiny_model(**config)
    chunked = paramops.apply_dask(da.from_array(photo, chunks=(45, 60, 3)), "pencil", model=model, tile=32).compute()
    whole = ModelService(model).apply(photo, "pencil")
    assert np.abs(chunked.astype(int) - whole).max() <= 1  # a rounding step at most


def test_self_ensemble_turns_the_fields_with_the_image(model, photo):
    image = photo.astype(np.float32) / 255
    net, p = model.net, torch.from_numpy(np.asarray(model.encoding.encode("pencil", {}), np.float32))[None]
    positioned = net.positioned(torch.from_numpy(image).permute(2, 0, 1)[None])
    with torch.no_grad():
        turned = [turn_back(net(turn(positioned, k), p).clamp(0, 1), k) for k in range(SYMMETRIES)]
    expected = torch.stack(turned).mean(0)[0].permute(1, 2, 0).numpy()
    out = ModelService(model).apply(image, "pencil", self_ensemble=True)
    np.testing.assert_allclose(out, expected, atol=2e-6)


def test_own_slots_are_the_entries_only_those_operators_fill():
    onehot = ParamEncoding(("l0", "pencil", "denoise"), layout="onehot")
    assert onehot.own_slots(["pencil"]) == [1] and onehot.own_slots(["l0", "denoise"]) == [0, 2, 3, 4]
    for op in ("l0", "denoise"):
        assert not onehot.encode(op, {})[onehot.own_slots(["pencil"])].any()
    assert ParamEncoding(("l0",)).own_slots(["l0"]) == [0]
    with pytest.raises(ValueError, match='layout "onehot"'):
        ParamEncoding(("l0", "pencil")).own_slots(["pencil"])
    with pytest.raises(ValueError, match="does not cover sr"):
        onehot.own_slots(["sr"])


def field_branched(**config) -> ParamModel:
    """A tiny model over every operator with a field branch whose readout is drawn, as if trained."""
    torch.manual_seed(0)
    encoding = ParamEncoding(OPS, layout="onehot")
    net = build_model({"arch": "tunable", "width": 8, "param_dim": encoding.dim, "residual": True, "tuned": "conv",
                       "dilations": [1, 2], "fields": [FIELD], "norm_windows": [32, 16], "detail_branch": 2,
                       "detail_hidden": 4, "field_branch": 2, "field_width": 3,
                       "field_slots": encoding.own_slots(["pencil"]), **config})
    with torch.no_grad():
        net.field_readout.map.weight.normal_(0.0, 0.3)
    return ParamModel(net.eval(), encoding, device="cpu")


def changed_operators(model: ParamModel, other: ParamModel, photo: np.ndarray) -> set[str]:
    """The operators whose output on ``photo`` differs, by any bit, between the two networks."""
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    changed = set()
    for op in OPS:
        p = torch.from_numpy(model.encoding.encode(op, {}))[None]
        with torch.no_grad():
            if not torch.equal(model.net(x, p), other.net(x, p)):
                changed.add(op)
    return changed


def assert_service_renders_as_the_network(model: ParamModel, photo: np.ndarray, ops) -> None:
    """The service's band head reads the branches as the network does, window by window."""
    for op in ops:
        rendered = ModelService(model).apply(photo.astype(np.float32) / 255, op)
        np.testing.assert_allclose(rendered, model.apply(photo.astype(np.float32) / 255, op), atol=1e-5)


def test_the_field_branch_changes_the_operators_that_lay_the_field_and_no_other(photo):
    model = field_branched()
    without = field_branched()
    with torch.no_grad():
        without.net.field_readout.map.weight.zero_()
    assert changed_operators(model, without, photo) == {"pencil"}
    assert_service_renders_as_the_network(model, photo, ("pencil", "l0"))


def test_no_gradient_reaches_the_field_branch_from_other_operators(photo):
    net = field_branched().net.train()
    x = torch.from_numpy(photo[:32, :32]).permute(2, 0, 1)[None].float() / 255
    others = torch.from_numpy(ParamEncoding(OPS, layout="onehot").encode_batch(
        [(op, {}) for op in OPS if op != "pencil"]))
    net(x.expand(len(others), -1, -1, -1), others).square().mean().backward()
    branch = [p for name, p in net.named_parameters() if name.startswith(("field_convs.", "field_readout."))]
    assert branch and all(p.grad is None or not p.grad.any() for p in branch)
    assert net.convs["conv1"].grad.any()


def test_an_own_branch_beside_the_field_branch_changes_its_operators_alone(photo):
    slots = ParamEncoding(OPS, layout="onehot").own_slots(["deblock"])
    model = field_branched(own_branch=2, own_width=2, own_slots=slots)
    without = field_branched(own_branch=2, own_width=2, own_slots=slots)
    with torch.no_grad():
        model.net.own_readout.map.weight.normal_(0.0, 0.3)
    assert changed_operators(model, without, photo) == {"deblock"}
    # Each readout reads its own branch's channels, the field branch's before the own branch's.
    assert_service_renders_as_the_network(model, photo, ("deblock", "pencil", "l0"))


@pytest.mark.parametrize("prefix", ["field", "own"])
def test_branch_options_are_checked(prefix):
    base = {"arch": "tunable", "param_dim": 16, "residual": True, "tuned": "conv", "norm_windows": [32, 16],
            "detail_branch": 2, "fields": [FIELD], f"{prefix}_branch": 2, f"{prefix}_slots": [10]}
    build_model(base)
    for change, message in (({"detail_branch": 0}, f"{prefix}_branch needs detail_branch"),
                            ({f"{prefix}_slots": []}, f"{prefix}_slots must be distinct entries"),
                            ({f"{prefix}_slots": [16]}, r"entries of the parameter vector \(0 to 15\)"),
                            ({f"{prefix}_width": 0}, f"{prefix}_width is the {prefix} branch's channels"),
                            ({f"{prefix}_branch": 0}, f"{prefix}_slots needs {prefix}_branch")):
        with pytest.raises(ValueError, match=message):
            build_model({**base, **change})
    if prefix == "field":
        with pytest.raises(ValueError, match="field_branch needs fields"):
            build_model({**base, "fields": []})
