"""The operator registry: the one source of truth for names, parameters and ranges.

Training samples parameters from it, the parameter encoding normalises with it,
evaluation picks its test values from it, and the CLI and the napari widget
build their controls from it. Nothing else in the project spells a range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Family = Literal["filter", "restoration"]
Scale = Literal["log", "linear"]
# How far an output pixel looks: "local" within a few tens of pixels; "image"
# at image-wide statistics (histograms, value range, pyramid depth) or
# long-range optimisation, so a crop gives another result than the whole photo.
Context = Literal["local", "image"]

# The paper samples in log space "if the upper bound is tens or even hundreds
# of times larger than the lower bound"; we read "tens" as a ratio of 10.
LOG_RATIO = 10.0


@dataclass(frozen=True)
class Param:
    """One continuous (or integer) parameter of an operator.

    The sampling scale is derived from the range, never set by hand, so that
    training, encoding and sliders cannot disagree about it.
    """

    name: str
    unit: str
    low: float
    high: float
    default: float
    doc: str
    integer: bool = False
    test_values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not (0 < self.low < self.high):
            raise ValueError(f"{self.name}: need 0 < low < high, got {self.low}, {self.high}")
        if not (self.low <= self.default <= self.high):
            raise ValueError(f"{self.name}: default {self.default} outside [{self.low}, {self.high}]")

    @property
    def scale(self) -> Scale:
        return "log" if self.high / self.low >= LOG_RATIO else "linear"

    def to_unit(self, value: float) -> float:
        """Map a raw value to [0, 1] along this parameter's sampling scale."""
        if self.scale == "log":
            t = (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            t = (value - self.low) / (self.high - self.low)
        return t

    def from_unit(self, t: float) -> float:
        """Inverse of :meth:`to_unit`; integer parameters are rounded."""
        if self.scale == "log":
            value = math.exp(math.log(self.low) + t * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + t * (self.high - self.low)
        value = min(max(value, self.low), self.high)
        return float(round(value)) if self.integer else value

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "unit": self.unit,
            "low": self.low,
            "high": self.high,
            "default": self.default,
            "scale": self.scale,
            "integer": self.integer,
            "doc": self.doc,
        }


@dataclass(frozen=True)
class OperatorSpec:
    """One parameterized image operator.

    ``impl`` names the reference implementation as ``"module:function"`` so that
    reading the registry imports no image-processing code.
    For the restoration family, ``degradation`` says what the reference does
    (clean to corrupted: it makes training pairs), and ``restores`` says what a
    user restoring an image means by the parameter.
    ``context`` is ``"image"`` where the operator's output on a crop differs
    from the same region of its output on the whole image (measured in
    ``scripts/crop_consistency.py``), so training pairs must be cut from
    whole-image runs.
    ``position_field`` names the position field (:mod:`paramops.operators.fields`)
    the output depends on besides the image, for an operator that lays a
    fixed pattern from the image's corner; "" for none. ``image_field`` names
    the image field, for an operator that divides by a number of the whole
    image; "" for none.
    """

    name: str
    family: Family
    summary: str
    impl: str
    params: tuple[Param, ...] = ()
    degradation: str = ""
    restores: str = ""
    stochastic: bool = False
    context: Context = "local"
    position_field: str = ""
    image_field: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        allowed = ", ".join(self.param_names) or "none"
        raise ValueError(f"operator {self.name!r} has no parameter {name!r} (parameters: {allowed})")

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def resolve(self, params: Mapping[str, float]) -> dict[str, float]:
        """Validate ``params`` against this spec and fill in defaults.

        Raises ``ValueError`` naming the unknown parameter or the allowed range.
        """
        resolved = self.defaults()
        for key, value in params.items():
            p = self.param(key)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name}: parameter {key!r} must be a number, got {value!r}") from None
            if not math.isfinite(value) or not (p.low <= value <= p.high):
                raise ValueError(
                    f"{self.name}: {key}={value:g} is out of range [{p.low:g}, {p.high:g}]"
                    + (f" {p.unit}" if p.unit else "")
                )
            resolved[key] = float(round(value)) if p.integer else value
        return resolved

    def as_dict(self) -> dict:
        out = {
            "name": self.name,
            "family": self.family,
            "summary": self.summary,
            "params": [p.as_dict() for p in self.params],
        }
        if self.family == "restoration":
            out["degradation"] = self.degradation
            out["restores"] = self.restores
        return out


_SPECS: tuple[OperatorSpec, ...] = (
    OperatorSpec(
        "l0",
        "filter",
        "L0 gradient minimisation (Xu et al. 2011): flattens regions, keeps strong edges",
        "paramops.operators.smoothing:l0_smooth",
        (
            Param("lam", "", 0.002, 0.2, 0.02, "smoothing weight: larger flattens more",
                  test_values=(0.002, 0.0043, 0.02, 0.093, 0.2)),
        ),
        context="image",
    ),
    OperatorSpec(
        "wls",
        "filter",
        "Weighted least squares edge-preserving smoothing (Farbman et al. 2008)",
        "paramops.operators.smoothing:wls_smooth",
        (
            Param("lam", "", 0.1, 10.0, 1.0, "smoothing weight: larger smooths more",
                  test_values=(0.1, 0.215, 1.0, 4.64, 10.0)),
        ),
        extra={"alpha": 1.2},
    ),
    OperatorSpec(
        "rtv",
        "filter",
        "Relative total variation texture removal (Xu et al. 2012)",
        "paramops.operators.smoothing:rtv_smooth",
        (
            Param("lam", "", 0.002, 0.05, 0.01, "smoothing weight: larger removes more texture",
                  test_values=(0.002, 0.004, 0.01, 0.022, 0.05)),
            Param("sigma", "px", 1.0, 6.0, 3.0, "spatial scale of the texture to remove"),
            Param("sharpness", "", 0.01, 0.03, 0.02, "edge sharpness: smaller keeps edges crisper"),
            Param("iterations", "", 1, 6, 4, "number of outer iterations", integer=True),
        ),
    ),
    OperatorSpec(
        "rgf",
        "filter",
        "Rolling guidance filter (Zhang et al. 2014): removes structures smaller than sigma_s",
        "paramops.operators.smoothing:rgf_smooth",
        (
            Param("sigma_s", "px", 1.0, 10.0, 3.0, "spatial scale of the structures to remove",
                  test_values=(1.0, 3.25, 5.5, 7.75, 10.0)),
        ),
        extra={"sigma_r": 0.05, "iterations": 4},
    ),
    OperatorSpec(
        "wmf",
        "filter",
        "Weighted median filter (Zhang et al. 2014): edge-aware median smoothing",
        "paramops.operators.smoothing:wmf_smooth",
        (
            Param("radius", "px", 1, 10, 3, "window radius", integer=True,
                  test_values=(1, 3.25, 5.5, 7.75, 10)),
        ),
    ),
    OperatorSpec(
        "llf",
        "filter",
        "Local Laplacian detail enhancement (Aubry et al. 2014)",
        "paramops.operators.laplacian:llf_enhance",
        (
            Param("detail", "x", 2.0, 8.0, 4.0, "detail amplification factor",
                  test_values=(2.0, 3.0, 5.0, 7.0, 8.0)),
        ),
        context="image",
        extra={"sigma_r": 0.1},
    ),
    OperatorSpec(
        "shock",
        "filter",
        "Shock filter: sharpens edges into steps",
        "paramops.operators.stylize:shock_filter",
    ),
    OperatorSpec(
        "llf_remap",
        "filter",
        "Local Laplacian tone remapping: compresses range, boosts local contrast",
        "paramops.operators.laplacian:llf_remap",
        context="image",
    ),
    OperatorSpec(
        "wls_enhance",
        "filter",
        "Multi-scale detail exaggeration with WLS decompositions (Farbman et al. 2008)",
        "paramops.operators.smoothing:wls_enhance",
    ),
    OperatorSpec(
        "style",
        "filter",
        "Local Laplacian style transfer toward a shipped exemplar photograph",
        "paramops.operators.laplacian:style_transfer",
        context="image",
    ),
    OperatorSpec(
        "pencil",
        "filter",
        "Pencil drawing (Lu et al. 2012): strokes plus pencil-texture tone",
        "paramops.operators.stylize:pencil_drawing",
        context="image",
        position_field="pencil_paper",
        image_field="pencil_strokes",
    ),
    OperatorSpec(
        "sr",
        "restoration",
        "Super-resolution: undo bicubic down- then up-sampling blur",
        "paramops.operators.degradations:bicubic_blur",
        (
            Param("scale", "x", 2.0, 4.0, 2.0, "down-sampling factor of the blur",
                  test_values=(2.0, 3.0, 4.0)),
        ),
        degradation="bicubic down-sampling by `scale`, then bicubic up-sampling back to the input size",
        restores="the factor by which the image was up-sampled (2 means the image is a x2 enlargement)",
    ),
    OperatorSpec(
        "denoise",
        "restoration",
        "Denoising: remove additive Gaussian noise",
        "paramops.operators.degradations:gaussian_noise",
        (
            Param("sigma", "/255", 10.0, 70.0, 25.0, "noise standard deviation on the 0-255 scale",
                  test_values=(15.0, 25.0, 50.0)),
        ),
        degradation="adds white Gaussian noise of std `sigma` (on 0-255) and clips to the valid range",
        restores="the noise level to remove, as a standard deviation on the 0-255 scale",
        stochastic=True,
    ),
    OperatorSpec(
        "deblock",
        "restoration",
        "JPEG deblocking: remove compression artifacts",
        "paramops.operators.degradations:jpeg_compress",
        (
            Param("quality", "", 10, 90, 20, "JPEG quality the image was saved at", integer=True,
                  test_values=(10, 20)),
        ),
        degradation="encodes and decodes through a real JPEG encoder at `quality`",
        restores="the JPEG quality the image was saved at: lower means stronger artifact removal",
    ),
    OperatorSpec(
        "derain",
        "restoration",
        "Rain removal: erase synthetic rain streaks",
        "paramops.operators.degradations:add_rain",
        degradation="draws rain streaks of random density, angle and length over the image",
        restores="no parameter: the network removes streaks of any density",
        stochastic=True,
        # Drawn uniformly per image (brightness per drop); see degradations.add_rain.
        extra={
            "density": (0.002, 0.01),  # fraction of pixels where a drop starts
            "angle_deg": (-30.0, 30.0),  # from vertical; positive tilts the lower end right
            "length_px": (10.0, 40.0),
            "brightness": (0.4, 0.9),  # peak of a lone streak
            "width_sigma_px": 0.5,  # softening of the 1 px line: streaks about 2 px wide
        },
    ),
)

OPERATORS: dict[str, OperatorSpec] = {spec.name: spec for spec in _SPECS}


def get_operator(name: str) -> OperatorSpec:
    """Return the spec of operator ``name`` or raise a ``ValueError`` listing the valid ones."""
    try:
        return OPERATORS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown operator {name!r}; valid operators: {', '.join(OPERATORS)}") from None


def operators(family: Family | None = None) -> dict[str, OperatorSpec]:
    """The registry, optionally restricted to one family, in its fixed order."""
    return {k: s for k, s in OPERATORS.items() if family is None or s.family == family}


def operators_laying(fields: Iterable[str], among: Iterable[str]) -> list[str]:
    """The operators of ``among`` (names, in their order) whose output depends on one of ``fields``."""
    fields = set(fields)
    return [op for op in among if fields & {get_operator(op).position_field, get_operator(op).image_field}]
