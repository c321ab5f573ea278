"""Conventions every registered operator keeps, run through ``paramops.reference``.

Any accepted image comes back with its dtype and shape (alpha untouched), the
caller's array is never modified, and every bad input is a one-line
``ValueError`` that says what was wrong and what is allowed.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from skimage import data

from paramops import operators, reference

ALL_OPS = list(operators())
PARAMETERIZED_OPS = [name for name, spec in operators().items() if spec.params]
DETERMINISTIC_OPS = [name for name, spec in operators().items() if not spec.stochastic]
H, W = 24, 31  # tiny and odd: every operator runs in milliseconds, nothing assumes even sizes
LAYOUTS = {"gray": (H, W), "gray1": (H, W, 1), "rgb": (H, W, 3), "rgba": (H, W, 4)}
DTYPES = [np.uint8, np.uint16, np.float32, np.float64]


def make_image(shape: tuple[int, ...], dtype) -> np.ndarray:
    """Smooth ramps plus noise, with an alpha channel of its own when there are four channels."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W] / np.array([H, W])[:, None, None]
    channels = shape[2] if len(shape) == 3 else 1
    planes = [(0.3 + 0.4 * (xx if c % 2 else yy) + 0.2 * rng.random((H, W))) for c in range(channels)]
    unit = np.stack(planes, axis=2).reshape(shape)
    if np.issubdtype(dtype, np.integer):
        return np.rint(unit * np.iinfo(dtype).max).astype(dtype)
    return unit.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", ALL_OPS)
def test_operator_keeps_dtype_shape_alpha_and_input(op, layout, dtype):
    image = make_image(LAYOUTS[layout], dtype)
    before = image.copy()
    image.flags.writeable = False  # an in-place write would raise
    out = reference(image, op, seed=0)
    assert out.dtype == image.dtype
    assert out.shape == image.shape
    assert np.array_equal(image, before)
    if layout == "rgba":
        assert np.array_equal(out[..., 3], image[..., 3])
    if image.dtype.kind == "f":
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


# --- bad input -----------------------------------------------------------------


@pytest.mark.parametrize("op", DETERMINISTIC_OPS)
def test_deterministic_operators_repeat_exactly_and_change_the_image(op):
    image = data.chelsea()[50:87, 100:158]  # uint8, odd and non-square
    first = reference(image, op)
    assert first.shape == image.shape and first.dtype == image.dtype
    assert np.array_equal(first, reference(image, op))
    assert not np.array_equal(first, image)


def test_unknown_operator_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown operator 'blur'") as info:
        reference(make_image((H, W, 3), np.uint8), "blur")
    assert all(name in str(info.value) for name in ALL_OPS)


@pytest.mark.parametrize("op", PARAMETERIZED_OPS)
def test_out_of_range_parameters_give_the_range(op):
    image = make_image((H, W, 3), np.uint8)
    for p in operators()[op].params:
        expected = re.escape(f"[{p.low:g}, {p.high:g}]")
        for value in (p.low - 0.5 * p.low, p.high * 1.5, float("nan"), float("inf"), -float("inf")):
            with pytest.raises(ValueError, match=rf"{p.name}=.* out of range {expected}"):
                reference(image, op, **{p.name: value})


@pytest.mark.parametrize("op", ALL_OPS)
def test_unknown_parameter_is_named_with_the_valid_ones(op):
    spec = operators()[op]
    with pytest.raises(ValueError, match="has no parameter 'strength'") as info:
        reference(make_image((H, W, 3), np.uint8), op, strength=1.0)
    assert all(name in str(info.value) for name in spec.param_names)


@pytest.mark.parametrize("op", PARAMETERIZED_OPS)
def test_non_numeric_parameter(op):
    name = operators()[op].params[0].name
    with pytest.raises(ValueError, match=f"{name}.*must be a number"):
        reference(make_image((H, W, 3), np.uint8), op, **{name: "strong"})


def bad_images() -> dict[str, tuple[np.ndarray, str]]:
    nan = make_image((H, W, 3), np.float32)
    nan[3, 4, 1] = np.nan
    inf = make_image((H, W), np.float64)
    inf[0, 0] = np.inf
    cases = {
        "nan": (nan, "NaN or Inf"),
        "inf": (inf, "NaN or Inf"),
        "empty_rows": (np.zeros((0, W, 3), np.uint8), "empty"),
        "empty_cols": (np.zeros((H, 0), np.float32), "empty"),
        "one_pixel": (np.zeros((1, 1, 3), np.uint8), "at least 2x2"),
        "one_row": (np.zeros((1, W), np.uint16), "at least 2x2"),
        "two_channels": (np.zeros((H, W, 2), np.uint8), "channel count 2"),
        "five_channels": (np.zeros((H, W, 5), np.float32), "channel count 5"),
        "1d": (np.zeros(W, np.uint8), r"\(H, W\) or \(H, W, C\)"),
        "4d": (np.zeros((2, H, W, 3), np.uint8), r"\(H, W\) or \(H, W, C\)"),
    }
    for dtype in (bool, np.int8, np.int16, np.int32, np.int64, np.uint32, np.complex64, object):
        cases[f"dtype_{np.dtype(dtype).name}"] = (np.zeros((H, W, 3), dtype), "unsupported dtype")
    return cases


BAD_IMAGES = bad_images()


@pytest.mark.parametrize("case", BAD_IMAGES)
@pytest.mark.parametrize("op", ALL_OPS)
def test_bad_images_are_refused_with_a_clear_message(op, case):
    image, message = BAD_IMAGES[case]
    with pytest.raises(ValueError, match=message) as info:
        reference(image, op, seed=0)
    assert "\n" not in str(info.value)


def test_intensity_range_ignores_alpha():
    from paramops.image import intensity_range

    rng = np.random.default_rng(0)
    color = rng.uniform(100.0, 4000.0, (16, 16, 3)).astype(np.float32)
    alpha = np.ones((16, 16, 1), np.float32)
    with_alpha = np.concatenate([color, alpha], axis=-1)
    for intensity in ("dtype", "percentile"):
        assert intensity_range(with_alpha, intensity) == intensity_range(color, intensity)
