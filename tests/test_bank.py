"""The Laplacian bank: the local Laplacian operators in its span, read by its operators alone, in any window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from paramops.evaluation.metrics import psnr
from paramops.models import build_model
from paramops.models.bank import BANK_SIGMAS, BANK_SIZE, BANK_WEIGHTS, bank_of, laplacian_bank
from paramops.models.encoding import ParamEncoding
from paramops.operators import laplacian
from paramops.operators.reference import reference

OPERATORS = ("l0", "llf", "llf_remap")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()[100:196, 150:270].astype(np.float32) / np.float32(255)


def test_details_collapse_with_the_residual_to_the_filter(photo):
    lum = laplacian.luminance(photo)
    remap = laplacian.detail_remap(gain=3.0, slope=0.7, sigma_r=0.1)
    residual = laplacian.gaussian_pyramid(lum, laplacian.pyramid_depth(lum.shape))[-1].item()
    details = laplacian.local_laplacian_details(lum, [remap], samples=10)
    np.testing.assert_allclose(residual + details[0], laplacian.fast_local_laplacian(lum, remap, samples=10), atol=2e-6)
    assert not laplacian.local_laplacian_details(np.full((9, 7), 0.3, np.float32), [remap], samples=10).any()


def test_the_local_laplacian_operators_are_in_the_banks_span(photo):
    """llf is the image plus ``detail`` times the texture map at its sigma_r; llf_remap a mix with the image's own
    detail; both coloured by the ratio and clipped as the reference is."""
    bank = laplacian_bank(photo)
    assert bank.shape == (BANK_SIZE, *photo.shape[:2]) and bank.dtype == np.float32
    texture = bank[1 + BANK_SIGMAS.index(0.1)]
    lum = laplacian.luminance(photo)
    ratio = (photo + 0.01) / (lum[..., None] + 0.01)
    remapped = (laplacian.REMAP_BETA - 1) * bank[0] + laplacian.REMAP_GAIN * texture
    for op, params, change in (("llf", {"detail": 8.0}, 8.0 * texture), ("llf_remap", {}, remapped)):
        spanned = np.clip(photo + ratio * change[..., None], 0, 1)
        assert psnr(spanned, reference(photo, op, **params)) > 60
    np.testing.assert_array_equal(bank_of(torch.from_numpy(photo).permute(2, 0, 1)[None])[0].numpy(), bank)


def _nets(encoding: ParamEncoding):
    """The same tiny windowed network without a bank and with one read by llf (random weights)."""
    config = {"arch": "tunable", "width": 4, "residual": True, "tuned": "conv", "norm_windows": [32, 16],
              "tone_curve": 4, "param_dim": encoding.dim}
    torch.manual_seed(0)
    plain = build_model(config)
    banked = build_model({**config, "bank_slots": encoding.own_slots(["llf"])})
    banked.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        banked.bank_readout.map.weight.normal_()
    return plain.eval(), banked.eval()


def test_only_its_readers_read_the_bank_and_windows_render_as_the_whole(photo):
    encoding = ParamEncoding(OPERATORS, layout="onehot")
    plain, banked = _nets(encoding)
    x = torch.from_numpy(photo).permute(2, 0, 1)[None]
    with torch.no_grad():
        for op, params in (("l0", {"lam": 0.02}), ("llf_remap", {})):  # llf_remap reads no bank here
            p = torch.from_numpy(encoding.encode(op, params))[None]
            assert torch.equal(banked(x, p), plain(x, p))
        p = torch.from_numpy(encoding.encode("llf", {"detail": 6.0}))[None]
        assert banked.predict(p)[BANK_WEIGHTS].shape == (1, BANK_SIZE)
        whole = banked(x, p)
        assert not torch.allclose(whole, plain(x, p))
        features = banked.trunk(x)
        assert features.image.shape[1] == 3 + BANK_SIZE
        torch.testing.assert_close(banked.head(features, p), whole)
        region = (20, 70, 33, 101)
        torch.testing.assert_close(banked.head(features, p, region=region), whole[..., 20:70, 33:101])


def test_the_service_renders_the_bank_as_the_network_does(photo):
    from paramops.models.wrapper import ParamModel
    from paramops.service import ModelService

    encoding = ParamEncoding(OPERATORS, layout="onehot")
    _, banked = _nets(encoding)
    model = ParamModel(banked, encoding)
    service = ModelService(model)
    x = torch.from_numpy(photo).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = banked(x, torch.from_numpy(encoding.encode("llf", {"detail": 3.0}))[None])
    expected = expected.clamp(0, 1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(service.apply(photo, "llf", detail=3.0), expected, atol=2e-5)


def test_a_bank_needs_a_residual_network_and_distinct_slots():
    config = {"arch": "tunable", "width": 4, "residual": True, "tuned": "conv", "param_dim": 5}
    with pytest.raises(ValueError, match="bank_slots needs residual"):
        build_model({**config, "residual": False, "bank_slots": [1]})
    with pytest.raises(ValueError, match="bank_slots must be distinct entries"):
        build_model({**config, "bank_slots": [1, 1]})
    with pytest.raises(ValueError, match="bank_slots must be distinct entries"):
        build_model({**config, "bank_slots": [5]})


def test_dask_planes_read_the_whole_planes_bank_when_they_run_whole(photo):
    """A plane of at most four tiles runs whole and reads its bank exactly; a tiled one reads each tile's block's
    (docs/dask.md), which moves the bank's readers alone."""
    import dask.array as da

    import paramops
    from paramops.models.wrapper import ParamModel
    from paramops.service import ModelService

    encoding = ParamEncoding(OPERATORS, layout="onehot")
    _, banked = _nets(encoding)
    model = ParamModel(banked, encoding, device="cpu")
    image = photo[:80, :112]
    expected = ModelService(model).apply(image, "llf", detail=6.0)
    whole = paramops.apply_dask(da.from_array(image, chunks=(40, 56, 3)), "llf", model=model, tile=64, detail=6.0)
    np.testing.assert_allclose(whole.compute(), expected, atol=2e-5)
    tiled = paramops.apply_dask(da.from_array(image, chunks=(40, 56, 3)), "llf", model=model, tile=32, detail=6.0)
    assert not np.allclose(tiled.compute(), expected, atol=1e-3)
    tiled = paramops.apply_dask(da.from_array(image, chunks=(40, 56, 3)), "l0", model=model, tile=32, lam=0.02)
    np.testing.assert_allclose(tiled.compute(), ModelService(model).apply(image, "l0", lam=0.02), atol=2e-5)
