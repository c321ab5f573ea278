"""The tone head (paramops.models.tone): a colour matrix and a curve of the pixel's luminance rank in its image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from paramops.models import ParamEncoding, ParamModel, build_model
from paramops.models.tone import luminance_cdf, luminance_levels, tone_offset
from paramops.operators.registry import operators
from paramops.service import ModelService
from paramops.training.loop import TONE_PARAMETERS

OPS = tuple(operators())
CONFIG = {"arch": "tunable", "width": 8, "dilations": [1, 2], "residual": True, "tuned": "conv", "last_width": 4}


def tiny(tone_curve: int = 8, **config) -> ParamModel:
    torch.manual_seed(0)
    encoding = ParamEncoding(OPS)
    net = build_model({**CONFIG, "param_dim": encoding.dim, "tone_curve": tone_curve, **config}).eval()
    return ParamModel(net, encoding, meta={"name": "tiny-tone"}, device="cpu")


def with_live_tone(model: ParamModel) -> ParamModel:
    """The tone head starts at zero; give it weights so that what it adds shows in every output."""
    with torch.no_grad():
        for name, layer in model.net.predictor.layers.items():
            if name.startswith("tone_"):
                layer[-1].weight.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(1))
                layer[-1].bias.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(2))
    return model


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.astronaut()[100:187, 150:263]  # (87, 113, 3): odd sizes, larger than the windows below


def test_cdf_ranks_every_level_and_a_flat_image_ranks_one_half():
    ramp = torch.linspace(0, 1, 256).repeat(3, 4, 1)[None]  # every level 4 times
    cdf = luminance_cdf(ramp)[0]
    assert cdf.shape == (256,) and torch.all(torch.diff(cdf) > 0)
    torch.testing.assert_close(cdf, (torch.arange(256) + 0.5) / 256)
    flat = torch.full((2, 3, 5, 7), 0.4)
    level = luminance_levels(flat)[0, 0, 0]
    assert float(luminance_cdf(flat)[1, level]) == 0.5


def test_a_zero_tone_head_is_the_plain_residual_and_an_equalising_one_gives_the_rank():
    x = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0))
    cdf = luminance_cdf(x)
    zero = torch.zeros(2, 3, 3), torch.zeros(2, 5)
    torch.testing.assert_close(tone_offset(x, cdf, *zero), x)
    # color = -I removes the image; a straight curve from 0 to 1 reads the rank itself.
    out = tone_offset(x, cdf, -torch.eye(3).expand(2, 3, 3), torch.linspace(0, 1, 5).expand(2, 5))
    rank = torch.gather(cdf, 1, luminance_levels(x).flatten(1)).view(2, 1, 9, 11)
    torch.testing.assert_close(out, rank.expand(2, 3, 9, 11), atol=1e-6, rtol=0)


def test_an_untrained_tone_head_leaves_the_network_unchanged(photo):
    toned = tiny(8)
    plain = build_model({**toned.net.config, "tone_curve": 0}).eval()
    missing, unexpected = plain.load_state_dict(toned.net.state_dict(), strict=False)
    assert not missing and all(key.startswith(TONE_PARAMETERS) for key in unexpected)
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    p = torch.from_numpy(toned.encoding.encode("l0", {"lam": 0.02}))[None]
    with torch.no_grad():
        torch.testing.assert_close(toned.net(x, p), plain(x, p))


def test_the_rank_comes_from_the_histogram_given_not_the_patch():
    model = with_live_tone(tiny(8))
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    p = torch.from_numpy(model.encoding.encode("style", {}))[None]
    with torch.no_grad():
        own = model.net(x, p)
        torch.testing.assert_close(model.net(x, p, cdf=luminance_cdf(x)), own)
        darker_image = luminance_cdf(x * 0.5)  # the same pixels rank higher in a darker whole
        assert (model.net(x, p, cdf=darker_image) - own).abs().max() > 1e-3


@pytest.mark.parametrize("norm_windows", [None, [32, 16]])
def test_service_renders_and_regions_equal_the_network(photo, norm_windows):
    """The band head adds the tone head's base band by band; a window ranks pixels in the whole image."""
    model = with_live_tone(tiny(8, norm_windows=norm_windows))
    image = photo.astype(np.float32) / 255
    service = ModelService(model, device="cpu")
    service.prepare("photo", image)
    for op, params in [("style", {}), ("l0", {"lam": 0.05})]:
        whole = service.render("photo", op, **params)
        np.testing.assert_allclose(whole, model.apply(image, op, **params), atol=3e-6)
        region = service.render("photo", op, (slice(30, 80), slice(5, 60)), **params)
        np.testing.assert_allclose(region, whole[30:80, 5:60], atol=3e-6)
    plain = tiny(0, norm_windows=norm_windows)
    assert np.abs(model.apply(image, "style") - plain.apply(image, "style")).max() > 1e-2


def test_tiled_trunks_keep_the_whole_image_histogram(photo):
    model = with_live_tone(tiny(8))
    image = np.tile(photo, (1, 2, 1)).astype(np.float32) / 255
    whole, tiled = ModelService(model), ModelService(model, tile_pixels=2000, tile=32)
    for service in (whole, tiled):
        service.prepare("img", image)
    a, b = whole.render("img", "style"), tiled.render("img", "style")
    assert 10 * np.log10(1.0 / np.mean((a - b) ** 2)) >= 45.0


@pytest.mark.parametrize("value, message", [(1, "at least 2"), (-3, "at least 2"), (2.5, "at least 2"),
                                            (True, "at least 2")])
def test_bad_tone_curves_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        tiny(value)


def test_a_tone_head_needs_a_residual_network():
    with pytest.raises(ValueError, match="tone_curve needs residual"):
        tiny(8, residual=False)


@pytest.mark.parametrize("norm_windows", [None, [32, 16]])
def test_dask_tiles_rank_pixels_in_the_whole_plane(photo, norm_windows):
    """Tiles of 32 pixels get the plane's level counts from a pass of their own; as the whole-plane render."""
    da = pytest.importorskip("dask.array")
    import paramops

    model = with_live_tone(tiny(8, norm_windows=norm_windows))
    image = np.tile(photo, (2, 1, 1))  # 174 x 113: more than the 4 tiles that would run whole
    chunked = paramops.apply_dask(da.from_array(image, chunks=(60, 60, 3)), "style", model=model, tile=32).compute()
    whole = ModelService(model).apply(image, "style")
    assert np.abs(chunked.astype(np.int64) - whole).max() <= 1
