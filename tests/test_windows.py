"""Instance norm over overlapping windows (``norm_windows``, paramops.models.windows)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from paramops.models import ParamEncoding, ParamModel, build_model
from paramops.models.windows import WindowGrid, window_starts

WINDOW, STRIDE = 24, 16
CONFIG = {"arch": "tunable", "width": 8, "param_dim": 2, "dilations": [1, 2], "residual": True, "tuned": "conv"}


def make(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model({**CONFIG, **overrides}).eval()


def windowed_copy(net: torch.nn.Module) -> torch.nn.Module:
    other = build_model({**net.config, "norm_windows": [WINDOW, STRIDE]}).eval()
    other.load_state_dict(net.state_dict())
    return other


def image(h: int, w: int, seed: int = 2) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


P = torch.tensor([[0.3, -0.6]])


def test_window_starts_cover_the_image_and_end_at_its_edge():
    assert window_starts(100, 24, 16) == (0, 16, 32, 48, 64, 76)
    assert window_starts(24, 24, 16) == (0,)
    assert window_starts(10, 24, 16) == (0,)


def test_blending_weights_sum_to_one_and_spread_a_constant_unchanged():
    grid = WindowGrid(50, 70, WINDOW, STRIDE)
    total = torch.zeros(50, 70, dtype=torch.float64)
    for y0, y1, x0, x1 in grid:
        total[y0:y1, x0:x1] += grid.pixel_weights((y0, y1, x0, x1), torch.float64)
    torch.testing.assert_close(total, torch.ones_like(total))
    values = torch.full((1, len(grid), 2), 3.5, dtype=torch.float64)
    torch.testing.assert_close(grid.spread(values, (5, 30, 0, 70)), torch.full((1, 2, 25, 70), 3.5, dtype=torch.float64))


@pytest.mark.parametrize("tuned", ["conv", "conv_in"])
def test_an_image_of_one_window_runs_as_the_plain_network(tuned):
    net = make(tuned=tuned)
    x = image(WINDOW - 1, WINDOW - 4)  # odd: padded inside the window as the plain network pads
    with torch.no_grad():
        plain = net(x, P)
        windowed = windowed_copy(net)
        torch.testing.assert_close(windowed(x, P), plain)
        torch.testing.assert_close(windowed.head(windowed.trunk(x), P), plain, atol=1e-5, rtol=1e-5)


def test_pixels_only_one_window_covers_are_that_windows_plain_output():
    net = make()
    windowed = windowed_copy(net)
    x = image(60, 70)
    with torch.no_grad():
        out = windowed(x, P)
        first = net(x[..., :WINDOW, :WINDOW], P)
        last = net(x[..., -WINDOW:, -WINDOW:], P)
        whole = net(x, P)
    # The head reads 2 pixels around each output pixel; the next window starts STRIDE pixels in.
    inside = STRIDE - 2
    torch.testing.assert_close(out[..., :inside, :inside], first[..., :inside, :inside], atol=1e-5, rtol=1e-5)
    # The last windows end at the edge and start 60 - 24 = 36 and 70 - 24 = 46, 4 and 14 pixels after the ones before.
    torch.testing.assert_close(out[..., -2:, -10:], last[..., -2:, -10:], atol=1e-5, rtol=1e-5)
    assert (out - whole).abs().max() > 1e-3  # windows are not the whole image's statistics


def test_a_region_of_the_head_equals_the_full_render():
    net = windowed_copy(make())
    x = image(61, 75)
    with torch.no_grad():
        features = net.trunk(x)
        full = net.head(features, P)
        part = net.head(features, P, region=(9, 40, 20, 74))
    torch.testing.assert_close(part, full[..., 9:40, 20:74], atol=1e-6, rtol=1e-5)


def test_the_windows_around_a_region_render_it_as_the_whole_image_does():
    net = windowed_copy(make())
    x = image(70, 90)
    region = (30, 45, 41, 58)
    with torch.no_grad():
        full = net.head(net.trunk(x), P)
        y0, y1, x0, x1 = net.window_span(region, (70, 90))
        assert (y1 - y0, x1 - x0) < (70, 90)
        part = net.head(net.trunk(x[..., y0:y1, x0:x1]), P, region=(30 - y0, 45 - y0, 41 - x0, 58 - x0))
    torch.testing.assert_close(part, full[..., 30:45, 41:58], atol=1e-6, rtol=1e-5)


def test_the_service_and_dask_render_what_apply_gives():
    da = pytest.importorskip("dask.array")
    import paramops
    from paramops.operators.registry import operators
    from paramops.service import ModelService

    model = ParamModel(windowed_copy(make(param_dim=ParamEncoding(tuple(operators())).dim)),
                       ParamEncoding(tuple(operators())), device="cpu")
    rng = np.random.default_rng(0)
    photo = (rng.random((70, 83, 3)) * 255).astype(np.uint8)
    expected = model.apply(photo, "l0", lam=0.02)
    service = ModelService(model, device="cpu")
    service.prepare("photo", photo)
    np.testing.assert_array_equal(service.render("photo", "l0", lam=0.02), expected)
    np.testing.assert_array_equal(service.render("photo", "l0", (slice(10, 50), slice(30, 80)), lam=0.02),
                                  expected[10:50, 30:80])
    lazy = paramops.apply_dask(da.from_array(photo, chunks=(40, 40, 3)), "l0", model=model, tile=16, lam=0.02)
    assert np.abs(lazy.compute().astype(int) - expected).max() <= 1


@pytest.mark.parametrize("tuned", ["conv", "conv_in"])
def test_the_band_head_renders_what_the_network_head_does(tuned):
    from paramops.service.head import BandHead

    net = windowed_copy(make(tuned=tuned))
    assert BandHead.supports(net)
    head = BandHead(net, torch.device("cpu"))
    head.band_pixels = 300  # bands of a few rows: bands inside the image, at its edges, across windows
    x = image(70, 90)

    def render(features, window):
        y0, y1, x0, x1 = window
        out = torch.full((3, y1 - y0, x1 - x0), float("nan"))

        def sink(values, part):
            out[:, part[0] - y0 : part[1] - y0, part[2] - x0 : part[3] - x0] = values

        head.render(features, P, window, sink)
        return out

    with torch.no_grad():
        features = net.trunk(x)
        expected = net.head(features, P)[0]
        features = head.adapt(features)
        torch.testing.assert_close(render(features, (0, 70, 0, 90)), expected, atol=1e-5, rtol=1e-5)
        for window in [(9, 61, 3, 88), (20, 37, 30, 50)]:  # most of the width (in place), and a narrow one
            y0, y1, x0, x1 = window
            torch.testing.assert_close(render(features, window), expected[:, y0:y1, x0:x1], atol=1e-5, rtol=1e-5)


def test_with_norm_windows_keeps_the_weights_and_switches_back():
    from paramops.operators.registry import operators

    encoding = ParamEncoding(tuple(operators()))
    model = ParamModel(make(param_dim=encoding.dim), encoding, device="cpu")
    photo = (np.random.default_rng(1).random((50, 60, 3)) * 255).astype(np.uint8)
    windowed = model.with_norm_windows([WINDOW, STRIDE])
    assert windowed.net.norm_windows == [WINDOW, STRIDE]
    assert not np.array_equal(windowed.apply(photo, "l0"), model.apply(photo, "l0"))
    np.testing.assert_array_equal(windowed.with_norm_windows(None).apply(photo, "l0"), model.apply(photo, "l0"))


@pytest.mark.parametrize("value", [[23, 8], [24, 9], [24, 26], [24, 0], [6, 2], 24, [24]])
def test_bad_norm_windows_are_refused(value):
    with pytest.raises(ValueError, match="norm_windows must be null or"):
        make(norm_windows=value)


@pytest.mark.parametrize("tuned", ["norm", "norm3", "conv_out", "norms"])
def test_norm_windows_need_a_moment_head(tuned):
    with pytest.raises(ValueError, match="norm_windows needs tuned=conv or conv_in"):
        make(tuned=tuned, norm_windows=[WINDOW, STRIDE])


def test_whole_image_statistics_are_refused_with_windows():
    net = windowed_copy(make())
    x = image(40, 40)
    for trunk in (net.trunk, net.trunk_tiled):
        with pytest.raises(ValueError, match="own statistics"):
            trunk(x, norm_stats={})
    with pytest.raises(ValueError, match="no whole-image statistics"):
        net.trunk_statistics(x)


def test_a_windows_edge_inside_the_image_gets_no_weight_but_the_images_edge_does():
    from paramops.models.windows import EDGE_PIXELS

    grid = WindowGrid(64, 64, WINDOW, STRIDE)
    first = grid.pixel_weights((0, WINDOW, 0, WINDOW), torch.float64)
    second = grid.pixel_weights((STRIDE, STRIDE + WINDOW, 0, WINDOW), torch.float64)
    # Its own zero padding disturbs a window's outermost features: they must not leak into the blend.
    assert (first[-EDGE_PIXELS:] == 0).all() and (second[:EDGE_PIXELS] == 0).all()
    assert (first[0, :-EDGE_PIXELS] > 0).all() and (first[:-EDGE_PIXELS, 0] > 0).all()  # the image's own edge
