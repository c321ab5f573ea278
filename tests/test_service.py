"""The model service: features cached per plane, head-only renders, windows, stacks, tiling, coalescing.

Small randomly initialised networks stand in for the shipped model: these
tests check that the service computes what the network computes, in the
caller's format, and never serves stale results; not image quality.
"""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from skimage import data

import paramops
from paramops.models import ParamEncoding, ParamModel, build_model
from paramops.operators.registry import operators
from paramops.service import Cancelled, ModelService
from paramops.service import trunk as trunks
from paramops.models.symmetry import SYMMETRIES, turn, turn_back

OPS = tuple(operators())


def tiny_model(width: int = 8, **config) -> ParamModel:
    torch.manual_seed(0)
    encoding = ParamEncoding(OPS)
    net = build_model({"arch": "tunable", "width": width, "param_dim": encoding.dim, "residual": True, **config})
    return ParamModel(net, encoding, meta={"name": "tiny"}, device="cpu")


@pytest.fixture(scope="module")
def model() -> ParamModel:
    return tiny_model()


@pytest.fixture
def service(model) -> ModelService:
    return ModelService(model, device="cpu")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.astronaut()[120:187, 180:253]  # (67, 73, 3) uint8: odd sizes on purpose


def identity_model() -> ParamModel:
    """A residual net whose output conv is zero: its output is exactly its input."""
    model = tiny_model()
    with torch.no_grad():
        model.net.convs["conv20"].zero_()
    return model


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


# -- what it computes --------------------------------------------------------------------------


def test_render_equals_the_network(service, model, photo):
    image = photo.astype(np.float32) / 255
    service.prepare("photo", image)
    for op, params in [("l0", {"lam": 0.03}), ("wls", {"lam": 2.0}), ("denoise", {})]:
        out = service.render("photo", op, **params)
        assert out.shape == image.shape and out.dtype == np.float32
        np.testing.assert_allclose(out, model.apply(image, op, **params), atol=2e-6)


def test_negative_and_zero_norm_scales_before_the_last_relu(photo):
    """The fast head folds norm19's scale into conv20 through its sign: every sign must come out right."""
    model = tiny_model()
    with torch.no_grad():
        scale = model.net.norm_scale["norm19"]
        scale.copy_(torch.linspace(-1.5, 1.5, scale.numel()))
        scale[3] = 0.0
        model.net.norm_shift["norm19"].copy_(torch.linspace(0.3, -0.2, scale.numel()))
    image = photo.astype(np.float32) / 255
    for tile_pixels in (None, 1000):  # whole and tiled (float16 features)
        service = ModelService(model, tile_pixels=tile_pixels, tile=32)
        service.prepare("x", image)
        for lam in (0.002, 0.2):
            np.testing.assert_allclose(service.render("x", "l0", lam=lam), model.apply(image, "l0", lam=lam),
                                       atol=2e-6 if tile_pixels is None else 2e-3)


def test_parameters_change_the_output_without_a_new_trunk(service, photo, monkeypatch):
    service.prepare("photo", photo)
    calls = []
    monkeypatch.setattr(trunks, "trunk_whole", lambda *a, **k: calls.append(1))
    first = service.render("photo", "l0", lam=0.002)
    second = service.render("photo", "l0", lam=0.1)
    service.prepare("photo", photo)  # same data: served from the cache
    assert not calls and not np.array_equal(first, second)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_region_equals_the_window_of_the_full_render(service, photo, dtype):
    image = photo if dtype == "uint8" else photo.astype(np.float32) / 255
    service.prepare("photo", image)
    full = service.render("photo", "rtv", lam=0.01)
    height, width = image.shape[:2]
    windows = [(0, height, 0, width), (0, 1, 0, 1), (height - 1, height, width - 1, width), (5, 6, 0, width),
               (0, height, 30, 31), (3, 50, 7, 71), (10, 12, 60, 73), (1, 66, 1, 72)]
    for y0, y1, x0, x1 in windows:
        part = service.render("photo", "rtv", (slice(y0, y1), slice(x0, x1)), lam=0.01)
        np.testing.assert_array_equal(part, full[y0:y1, x0:x1], err_msg=f"window {(y0, y1, x0, x1)}")
    assert np.array_equal(service.render("photo", "rtv", (slice(None), slice(-20, None)), lam=0.01), full[:, -20:])


def test_region_of_a_large_plane_split_over_threads(service):
    image = np.tile(data.astronaut()[:200, :200], (2, 3, 1))  # 400 x 600: several chunks and bands
    service.prepare("big", image)
    full = service.render("big", "l0", lam=0.02)
    part = service.render("big", "l0", (slice(37, 391), slice(11, 598)), lam=0.02)
    np.testing.assert_array_equal(part, full[37:391, 11:598])


@pytest.mark.parametrize("tile_pixels", [None, 1000])
def test_several_predicted_input_channels_take_the_fast_head(photo, tile_pixels):
    from paramops.service.head import BandHead

    model = tiny_model(tuned_channels=3, skip=True)
    assert BandHead.supports(model.net)
    image = photo.astype(np.float32) / 255
    service = ModelService(model, tile_pixels=tile_pixels, tile=32)
    service.prepare("x", image)
    full = service.render("x", "wls", lam=0.5)
    np.testing.assert_allclose(full, model.apply(image, "wls", lam=0.5), atol=2e-6 if tile_pixels is None else 2e-3)
    part = service.render("x", "wls", (slice(3, 50), slice(7, 71)), lam=0.5)
    np.testing.assert_array_equal(part, full[3:50, 7:71])


def test_other_tuned_positions_and_architectures(photo):
    image = photo[:40, :48].astype(np.float32) / 255
    for model in (tiny_model(tuned="norm19"), tiny_model(tuned="conv")):
        service = ModelService(model)
        service.prepare("x", image)
        np.testing.assert_allclose(service.render("x", "l0", lam=0.05), model.apply(image, "l0", lam=0.05), atol=2e-6)
        part = service.render("x", "l0", (slice(3, 30), slice(5, 41)), lam=0.05)
        np.testing.assert_allclose(part, model.apply(image, "l0", lam=0.05)[3:30, 5:41], atol=2e-6)
    torch.manual_seed(0)
    encoding = ParamEncoding(("l0", "wls"))
    decoupled = ParamModel(build_model({"arch": "decoupled", "width": 8, "param_dim": encoding.dim}), encoding)
    service = ModelService(decoupled)
    service.prepare("x", image)
    np.testing.assert_allclose(service.render("x", "wls", lam=1.0), decoupled.apply(image, "wls", lam=1.0), atol=2e-6)


# -- dtype, channels, range ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gray", "gray1", "rgb", "rgba"])
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
def test_dtype_and_channels_round_trip_exactly(kind, dtype, photo):
    """With an identity network the service gives back its input: the mapping in and out is exact."""
    service = ModelService(identity_model())
    rng = np.random.default_rng(0)
    base = {"uint8": photo, "uint16": photo.astype(np.uint16) * 16 + 100,  # 12-bit data
            "float32": photo.astype(np.float32) / 255, "float64": photo.astype(np.float64) * 3.0 - 50.0}[dtype]
    image = {"gray": base[..., 0], "gray1": base[..., :1], "rgb": base,
             "rgba": np.concatenate([base, base[..., :1][::-1]], axis=2)}[kind]
    if dtype == "uint16":  # a hot pixel: outside the robust range, clipped to it
        image = image.copy()
        image[3, 4] = 60000
    original = image.copy()
    service.prepare("img", image, rgb=kind != "gray")
    out = service.render("img", "l0", lam=0.02)
    assert out.dtype == image.dtype and out.shape == image.shape
    np.testing.assert_array_equal(image, original)  # the caller's array is never modified
    if kind == "rgba":
        np.testing.assert_array_equal(out[..., 3], image[..., 3])  # alpha passes through
        out, image = out[..., :3], image[..., :3]
    if dtype in ("uint16", "float64"):  # mapped by robust percentiles: the tails are clipped
        lo, hi = np.percentile(image, paramops.image.PERCENTILES)
        inside = (image >= lo) & (image <= hi)
        assert 0.99 < inside.mean() < 1
        np.testing.assert_allclose(out[inside], image[inside], rtol=1e-6, atol=1e-6 * np.abs(image).max())
        assert np.all(out[~inside] >= lo - 1e-6 * abs(lo)) and np.all(out[~inside] <= hi + 1e-6 * abs(hi))
        if dtype == "uint16":
            np.testing.assert_array_equal(out[inside], image[inside])
            assert out[3, 4].max() <= hi < 60000
    elif dtype == "uint8":
        np.testing.assert_array_equal(out, image)
    else:
        np.testing.assert_allclose(out, image, rtol=1e-6, atol=1e-7)


def test_big_endian_floats_come_back_in_their_dtype(service, photo):
    image = (photo[..., 0].astype(np.float32) / 255).astype(">f4")
    service.prepare("be", image)
    out = service.render("be", "l0", lam=0.02)
    assert out.dtype == np.dtype(">f4")
    np.testing.assert_allclose(out, service.render("be", "l0", lam=0.02).astype(np.float32))


# -- the cache -----------------------------------------------------------------------------------


def test_changed_data_is_never_served_stale(service, model, photo):
    image = photo.copy()
    service.prepare("img", image)
    before = service.render("img", "l0", lam=0.02)
    image[:20] = 255 - image[:20]  # the caller edits its array in place
    service.prepare("img", image)
    after = service.render("img", "l0", lam=0.02)
    fresh = ModelService(model)
    fresh.prepare("other", image)
    np.testing.assert_array_equal(after, fresh.render("other", "l0", lam=0.02))
    assert not np.array_equal(before, after)
    assert service.cache_info()["entries"] == 1


def test_an_older_prepare_never_overwrites_a_newer_one(service, photo):
    """A prepare that started earlier but finishes later (slow data) does not store its features."""
    flipped = np.ascontiguousarray(photo[::-1])

    def newer_prepare_meanwhile(fraction):
        if fraction < 1.0 and not hasattr(newer_prepare_meanwhile, "done"):
            newer_prepare_meanwhile.done = True
            service.prepare("img", flipped)

    service.prepare("img", photo, progress=newer_prepare_meanwhile)
    reference = ModelService(service.model)
    reference.prepare("img", flipped)
    np.testing.assert_array_equal(service.render("img", "l0"), reference.render("img", "l0"))


def test_release_drops_every_slice_and_running_prepares(service):
    stack = (np.random.default_rng(1).random((3, 32, 40)) * 4000).astype(np.uint16)
    for i in range(3):
        service.prepare("stack", stack, index=(i,))
    service.prepare("other", stack[0])
    assert service.cache_info()["entries"] == 4
    service.release("stack")
    assert service.cache_info()["entries"] == 1
    with pytest.raises(ValueError, match="prepare"):
        service.render("stack", "l0", index=(1,))
    # released while its trunk runs: nothing is stored afterwards
    service.prepare("late", stack[1], progress=lambda f: f < 1 and service.release("late"))
    assert service.cache_info()["entries"] == 1


def test_least_recently_used_features_are_evicted_under_the_budget(model, photo):
    probe = ModelService(model)
    probe.prepare("p", photo)
    entry_bytes = probe.cache_info()["bytes"]
    service = ModelService(model, cache_bytes=int(2.5 * entry_bytes))
    images = {name: np.roll(photo, shift, axis=1) for name, shift in zip("abc", (0, 5, 9))}
    service.prepare("a", images["a"])
    service.prepare("b", images["b"])
    service.render("a", "l0")  # "a" is now the most recently used
    service.prepare("c", images["c"])
    info = service.cache_info()
    assert info["entries"] == 2 and info["bytes"] <= info["budget"] == int(2.5 * entry_bytes)
    service.render("a", "l0")
    service.render("c", "l0")
    with pytest.raises(ValueError, match="evict"):
        service.render("b", "l0")
    tiny = ModelService(model, cache_bytes=1)  # the newest entry always stays
    tiny.prepare("a", photo)
    tiny.prepare("b", photo)
    assert tiny.cache_info()["entries"] == 1 and tiny.render("b", "l0").shape == photo.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_release_frees_gpu_memory(photo):
    service = ModelService(tiny_model(), device="cuda")
    torch.cuda.synchronize()
    before = torch.cuda.memory_reserved()
    service.prepare("img", np.tile(photo, (8, 8, 1)))
    assert torch.cuda.memory_allocated() > 0
    service.release("img")
    torch.cuda.synchronize()
    assert torch.cuda.memory_reserved() <= before


# -- coalescing --------------------------------------------------------------------------------


def test_a_flood_of_requests_the_latest_wins_and_nothing_lands_late(service, photo):
    service.prepare("img", photo)
    lams = np.geomspace(2e-3, 0.2, 1000)
    delivered: list[int] = []
    futures = [
        service.submit("img", "l0", callback=lambda out, i=i: delivered.append(i), lam=float(lam))
        for i, lam in enumerate(lams)
    ]
    final = futures[-1].result(timeout=60)
    np.testing.assert_array_equal(final, service.render("img", "l0", lam=float(lams[-1])))
    cancelled = [i for i, f in enumerate(futures) if f.cancelled()]
    assert delivered == sorted(delivered) and delivered[-1] == 999  # in request order, the newest last
    assert 0 < len(delivered) < 1000 and len(cancelled) + len(delivered) == 1000  # intermediate ones dropped
    assert set(delivered).isdisjoint(cancelled)
    for i in delivered[-3:]:
        np.testing.assert_array_equal(futures[i].result(), service.render("img", "l0", lam=float(lams[i])))


def test_window_and_whole_plane_requests_do_not_cancel_each_other(service, photo):
    service.prepare("img", photo)
    window = (slice(10, 30), slice(5, 60))
    part = service.submit("img", "l0", window, lam=0.05)
    whole = service.submit("img", "l0", lam=0.05)
    np.testing.assert_array_equal(part.result(timeout=30), whole.result(timeout=30)[10:30, 5:60])


def test_submit_from_many_threads(service, photo):
    for key in range(4):
        service.prepare(key, np.roll(photo, key, axis=0))
    last: dict[int, object] = {}

    def flood(key: int) -> None:
        for lam in np.linspace(0.002, 0.05, 100):
            last[key] = (lam, service.submit(key, "l0", lam=float(lam)))

    threads = [threading.Thread(target=flood, args=(key,)) for key in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key, (lam, future) in last.items():
        np.testing.assert_array_equal(future.result(timeout=60), service.render(key, "l0", lam=float(lam)))


def test_submit_checks_its_arguments_at_once(service, photo):
    service.prepare("img", photo)
    with pytest.raises(ValueError, match="does not cover|unknown"):
        service.submit("img", "no-such-op")
    with pytest.raises(ValueError, match="prepare"):
        service.submit("nothing", "l0")
    with pytest.raises(ValueError, match="window"):
        service.submit("img", "l0", (slice(0, 500), slice(0, 5)))


# -- stacks and dask ------------------------------------------------------------------------------


def test_stack_slices_render_live_and_apply_covers_all(service):
    rng = np.random.default_rng(2)
    stack = (rng.random((2, 3, 36, 44)) * 3000 + 200).astype(np.uint16)  # (T, Z, Y, X), 12-bit data
    service.prepare("cells", stack, index=(1, 2))
    live = service.render("cells", "wls", lam=1.5)
    assert live.shape == (36, 44) and live.dtype == np.uint16
    fractions: list[float] = []
    everything = service.apply(stack, "wls", progress=fractions.append, lam=1.5)
    assert everything.shape == stack.shape and everything.dtype == np.uint16
    np.testing.assert_array_equal(everything[1, 2], live)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 6
    service.prepare("cells", stack, index=(0, 1))
    np.testing.assert_array_equal(service.render("cells", "wls", lam=1.5), everything[0, 1])  # the last prepared
    np.testing.assert_array_equal(service.render("cells", "wls", index=(1, 2), lam=1.5), live)


def test_rgb_stacks_and_dask_arrays(service, photo):
    da = pytest.importorskip("dask.array")
    stack = np.stack([photo, photo[::-1], photo[:, ::-1]])  # (3, Y, X, 3)
    lazy = da.from_array(stack, chunks=(1, 32, 32, 3))
    service.prepare("lazy", lazy, index=(2,))
    service.prepare("eager", stack, index=(2,))
    np.testing.assert_array_equal(service.render("lazy", "l0", lam=0.02), service.render("eager", "l0", lam=0.02))
    result = service.apply(lazy, "l0", lam=0.02)
    assert isinstance(result, np.ndarray)
    np.testing.assert_array_equal(result, service.apply(stack, "l0", lam=0.02))
    np.testing.assert_array_equal(result[2], service.render("eager", "l0", lam=0.02))


def test_apply_and_prepare_can_be_cancelled(service, photo):
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        service.prepare("img", photo, cancel=stop)
    assert service.cache_info()["entries"] == 0
    calls = []
    with pytest.raises(Cancelled):
        service.apply(np.stack([photo] * 3), "l0", cancel=lambda: len(calls) > 0, progress=calls.append)


# -- self-ensembling -------------------------------------------------------------------------------


def test_self_ensemble_is_the_mean_of_the_eight_turned_results(service, model, photo):
    image = photo.astype(np.float32) / 255

    def turned(k: int) -> np.ndarray:  # model.apply on the k-th symmetry of the image, turned back
        x = turn(torch.from_numpy(image).permute(2, 0, 1), k).permute(1, 2, 0).numpy()
        y = torch.from_numpy(model.apply(np.ascontiguousarray(x), "wls", lam=1.0)).permute(2, 0, 1)
        return turn_back(y, k).permute(1, 2, 0).numpy()

    results = [turned(k) for k in range(SYMMETRIES)]
    assert np.abs(results[1] - results[0]).max() > 1e-3  # the network is not symmetric: the mean is news
    fractions: list[float] = []
    out = service.apply(image, "wls", self_ensemble=True, progress=fractions.append, lam=1.0)
    np.testing.assert_allclose(out, np.mean(results, axis=0), atol=2e-6)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_self_ensemble_keeps_the_callers_format(service, photo):
    gray = np.stack([photo[..., 0], photo[..., 1]]).astype(np.uint16) * 16  # (Z, Y, X)
    out = service.apply(gray, "denoise", self_ensemble=True, sigma=25)
    plain = service.apply(gray, "denoise", sigma=25)
    assert out.shape == gray.shape and out.dtype == np.uint16
    assert 0 < np.abs(out.astype(int) - plain).mean() < 0.05 * plain.mean()
    with pytest.raises(Cancelled):
        service.apply(gray, "denoise", self_ensemble=True, cancel=lambda: True)


# -- tiling ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tuned, skip, channels", [("conv_in", False, 1), ("norm19", False, 1), ("conv", False, 1),
                                                   ("norm7", False, 1), ("conv_in", True, 1), ("norm7", True, 1),
                                                   ("conv_in", True, 3)])
def test_streamed_trunk_equals_the_whole_trunk(tuned, skip, channels):
    model = tiny_model(tuned=tuned, skip=skip, tuned_channels=channels)
    x = torch.rand(1, 3, 75, 93, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        whole = model.net.trunk(x)
        tiled = trunks.trunk_streamed(model.net, x, tile=20, check=lambda: None, progress=lambda f: None)
    for a, b in zip(whole.spatial(), tiled.spatial()):
        torch.testing.assert_close(b, a, atol=5e-5, rtol=1e-4)
    for name in whole.moments:
        torch.testing.assert_close(tiled.moments[name], whole.moments[name], atol=1e-5, rtol=1e-4)
    for name, (mean, var) in whole.stats.items():
        torch.testing.assert_close(tiled.stats[name][0], mean, atol=1e-5, rtol=1e-4)


def test_a_long_skip_keeps_the_streamed_trunks_stages():
    # Cut where the blocks end, as without the skip: one stage would re-run the trunk from the image per norm.
    plain, skipped = tiny_model().net, tiny_model(skip=True).net
    assert len(trunks.checkpoints(skipped)) == len(trunks.checkpoints(plain)) > 5
    cut = trunks.checkpoints(skipped)[-1]
    assert trunks._skip_radius(skipped, cut, skipped.split) == 2  # the last stage recomputes conv1 and conv2
    assert trunks._skip_radius(skipped, trunks.checkpoints(skipped)[0], trunks.checkpoints(skipped)[1]) == 0


def test_tiled_planes_match_whole_image_renders(model, monkeypatch):
    """The in-test analogue of the 4-megapixel check (scripts/bench_service.py): >= 45 dB against whole."""
    image = np.tile(data.astronaut()[100:196, 180:244], (1, 2, 1))  # 96 x 128
    whole = ModelService(model)
    streamed = []
    original = trunks.trunk_streamed
    monkeypatch.setattr(trunks, "trunk_streamed", lambda *a, **k: streamed.append(1) or original(*a, **k))
    tiled = ModelService(model, tile_pixels=1000, tile=32)  # 12 tiles per pass
    stops = []
    for service in (whole, tiled):
        service.prepare("img", image.astype(np.float32) / 255, progress=stops.append)
    assert streamed == [1] and len(stops) > 20  # the tiled trunk ran, reporting tile by tile
    for op, params in [("l0", {"lam": 0.05}), ("wls", {"lam": 4.0})]:
        a, b = whole.render("img", op, **params), tiled.render("img", op, **params)
        assert psnr(a, b) >= 45.0
        np.testing.assert_array_equal(tiled.render("img", op, (slice(40, 90), slice(3, 128)), **params), b[40:90, 3:])


def test_tiled_planes_of_a_tuned_conv19_keep_its_input_in_float16():
    """With all of conv19 tuned there is no ``fixed``: its input ``h`` is the largest feature, stored in float16."""
    model = tiny_model(tuned="conv")
    image = np.tile(data.astronaut()[100:196, 180:244], (1, 2, 1)).astype(np.float32) / 255  # 96 x 128
    whole, tiled = ModelService(model), ModelService(model, tile_pixels=1000, tile=32)
    for service in (whole, tiled):
        service.prepare("img", image)
    # h (8 channels) is 32 of the whole plane's 44 bytes a pixel at full resolution, plus half-resolution skips.
    assert tiled.cache_info()["bytes"] < 0.7 * whole.cache_info()["bytes"]
    for op, params in [("l0", {"lam": 0.05}), ("wls", {"lam": 4.0})]:
        a, b = whole.render("img", op, **params), tiled.render("img", op, **params)
        assert psnr(a, b) >= 45.0
        np.testing.assert_allclose(tiled.render("img", op, (slice(40, 90), slice(3, 128)), **params), b[40:90, 3:],
                                   atol=1e-6)


def _large_fixed(net) -> None:
    net.convs["conv19"].mul_(1e5)  # conv19's learned part, stored as fixed


def _large_h(net) -> None:
    net.norm_scale["norm18"].mul_(1e5)  # conv19's input, stored as h when all of conv19 is tuned
    net.norm_shift["norm18"].mul_(1e5)


@pytest.mark.parametrize("tuned, enlarge", [("conv_in", _large_fixed), ("conv", _large_h)])
def test_tiled_features_too_large_for_float16_stay_float32(photo, tuned, enlarge):
    model = tiny_model(tuned=tuned)
    with torch.no_grad():
        enlarge(model.net)  # far beyond float16's range
    image = photo.astype(np.float32) / 255
    whole, tiled = ModelService(model), ModelService(model, tile_pixels=1000, tile=32)
    for service in (whole, tiled):
        service.prepare("img", image)
    np.testing.assert_allclose(tiled.render("img", "l0"), whole.render("img", "l0"), atol=1e-5)


def test_cancel_inside_the_tiled_trunk(model, photo):
    service = ModelService(model, tile_pixels=1000, tile=32)
    seen = []
    with pytest.raises(Cancelled):
        service.prepare("img", photo, progress=seen.append, cancel=lambda: len(seen) > 5)
    assert 0 < seen[-1] < 1 and service.cache_info()["entries"] == 0


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image, kwargs, message",
    [
        (np.zeros((16, 16), np.int32), {}, "dtype"),
        (np.zeros((16, 16), bool), {}, "dtype"),
        (np.full((16, 16), np.nan, np.float32), {}, "NaN"),
        (np.zeros((1, 16), np.uint8), {}, "at least"),
        (np.zeros((16, 16, 5), np.uint8), {"rgb": True}, "channels"),
        (np.zeros((4, 16, 16), np.uint8), {}, "index"),
        (np.zeros((4, 16, 16), np.uint8), {"index": (4,)}, "outside"),
        (np.zeros((4, 16, 16), np.uint8), {"index": (1, 2)}, "leading"),
        (np.zeros((16, 16), np.uint8), {"index": ("a",)}, "integers"),
        (np.zeros((16,), np.uint8), {}, "axes"),
        ([np.zeros((16, 16), np.uint8)], {}, "multiscale"),
        (np.zeros((16, 16), np.uint8), {"rgb": "yes"}, "rgb"),
        (np.zeros((16, 16), np.uint8), {"cancel": 3}, "cancel"),
    ],
)
def test_bad_images_are_refused(service, image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        service.prepare("bad", image, **kwargs)
    assert service.cache_info()["entries"] == 0


def test_bad_requests_are_refused(service, photo):
    service.prepare("img", photo)
    with pytest.raises(ValueError, match="does not cover"):
        service.render("img", "not-an-operator")
    with pytest.raises(ValueError, match="lam"):
        service.render("img", "l0", lam=1e9)
    with pytest.raises(ValueError, match="prepare"):
        service.render("never", "l0")
    with pytest.raises(ValueError, match="hashable"):
        service.prepare(["a"], photo)
    for region in [(slice(0, 100), slice(0, 5)), (slice(5, 5), slice(0, 5)), (slice(0, 9, 2), slice(0, 5)), (1, 2)]:
        with pytest.raises(ValueError, match="region|window"):
            service.render("img", "l0", region)
    with pytest.raises(ValueError, match="index"):
        service.render("img", "l0", index=(0,))
    with pytest.raises(ValueError, match="model"):
        ModelService(42)
    with pytest.raises(ValueError, match="cache_bytes"):
        ModelService(service.model, cache_bytes=-1)


# -- paramops.apply, apply_dask, the command line ---------------------------------------------------


def test_paramops_apply_takes_layers_and_arrays(service, photo):
    layer = SimpleNamespace(data=photo, rgb=True, multiscale=False)
    expected = service.apply(photo, "l0", lam=0.02)
    np.testing.assert_array_equal(paramops.apply(layer, "l0", model=service, lam=0.02), expected)
    np.testing.assert_array_equal(paramops.apply(photo, "l0", model=service.model, lam=0.02), expected)
    gray_stack = SimpleNamespace(data=np.stack([photo[..., 0]] * 3), rgb=False)  # (3, Y, X): a gray stack
    out = paramops.apply(gray_stack, "l0", model=service, lam=0.02)
    assert out.shape == (3, *photo.shape[:2])
    with pytest.raises(ValueError, match="multiscale"):
        paramops.apply(SimpleNamespace(data=[photo], rgb=True, multiscale=True), "l0", model=service)


def test_apply_dask_is_lazy_and_equal(service, photo):
    da = pytest.importorskip("dask.array")
    stack = np.stack([photo, photo[::-1]])
    lazy = paramops.apply_dask(da.from_array(stack, chunks=(2, 20, 20, 3)), "l0", model=service, lam=0.02)
    assert isinstance(lazy, da.Array) and lazy.shape == stack.shape and lazy.dtype == stack.dtype
    # Two arithmetic paths (the plain forward, the service's trunk and head): equal up to one level.
    difference = np.abs(lazy.compute().astype(int) - service.apply(stack, "l0", lam=0.02))
    assert difference.max() <= 1 and difference.mean() < 0.01
    with pytest.raises(ValueError, match="lam"):
        paramops.apply_dask(stack, "l0", model=service, lam=-1)


def test_cli_apply_goes_through_the_service(tmp_path, model, photo):
    from paramops import io
    from paramops.cli import main
    from paramops.models.checkpoint import save_checkpoint

    checkpoint = save_checkpoint(tmp_path / "tiny.pt", model.net, model.encoding)
    io.write_image(tmp_path / "in.png", photo)
    args = [str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--op", "l0", "--param", "lam=0.02",
            "--model", str(checkpoint)]
    assert main(["apply", *args]) == 0
    np.testing.assert_array_equal(io.read_image(tmp_path / "out.png"), ModelService(model).apply(photo, "l0", lam=0.02))
    assert main(["apply", *args, "--self-ensemble"]) == 0
    np.testing.assert_array_equal(io.read_image(tmp_path / "out.png"),
                                  ModelService(model).apply(photo, "l0", self_ensemble=True, lam=0.02))


def test_cli_refuses_to_self_ensemble_chunk_by_chunk(tmp_path, capsys, photo):
    from paramops import io
    from paramops.cli import main

    io.write_image(tmp_path / "in.png", photo)
    assert main(["apply", str(tmp_path / "in.png"), str(tmp_path / "out.tif"), "--op", "l0", "--chunk", "32",
                 "--self-ensemble"]) == 2
    assert "--self-ensemble runs whole planes" in capsys.readouterr().err
    assert not (tmp_path / "out.tif").exists()


def test_cli_bench_prints_the_figures(capsys, monkeypatch):
    from paramops.cli import main
    from paramops.machine import machine, machine_line
    from paramops.service import bench

    monkeypatch.setattr(bench, "bench_model", lambda model, device: (tiny_model(width=4), "untrained"))
    assert main(["bench", "--json", "--size", "48", "64", "--region", "20", "30", "--repeat", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["size"] == [48, 64] and result["region"] == [20, 30]
    for name in ("trunk_ms", "head_ms", "region_ms", "forward_ms", "apply_ms", "ensemble_ms"):
        assert result[name] > 0
    assert result["ensemble_ratio"] == result["ensemble_ms"] / result["apply_ms"]
    assert result["machine"] == machine() and result["op"] == "l0"
    # Any operator's head, one without parameters too.
    assert main(["bench", "--json", "--op", "llf_remap", "--size", "48", "64", "--region", "20", "30",
                 "--repeat", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["op"] == "llf_remap"
    assert main(["bench", "--size", "48", "64", "--region", "20", "30", "--repeat", "1"]) == 0
    assert f"machine {machine_line()}" in capsys.readouterr().out.splitlines()
    assert main(["bench", "--repeat", "0"]) == 2


def test_the_benchmarked_architecture_is_the_shipped_defaults():
    from pathlib import Path

    from paramops.models.registry import resolve_config
    from paramops.service.bench import DEFAULT_LAYOUT, default_architecture
    from paramops.training.config import load_config

    config = load_config(Path(__file__).parents[1] / "configs" / "default.yaml")
    assert config.encoding_layout == DEFAULT_LAYOUT
    assert resolve_config(default_architecture(config.encoding())) == resolve_config(config.model_config())


def test_the_mapped_range_ignores_alpha():
    from paramops.service.slices import intensity_mode, mapped_range

    rgba = np.concatenate([np.full((4, 5, 3), 0.25, np.float32), np.full((4, 5, 1), 255.0, np.float32)], axis=2)
    assert intensity_mode(rgba) == "dtype"
    assert mapped_range(rgba) == (0.0, 1.0)


def test_progress_reports_at_most_a_hundred_steps_forwards_and_ends_at_one():
    from paramops.service.progress import Progress

    seen: list[float] = []
    report = Progress(seen.append, None)
    for i in range(1, 1001):
        report(i / 1000)
    report(0.5)  # never backwards
    assert 95 <= len(seen) <= 100 and seen == sorted(seen) and seen[-1] == 1.0
    assert all(b - a >= 0.01 - 1e-12 for a, b in zip(seen, seen[1:-1]))
