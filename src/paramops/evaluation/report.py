"""The results report: our analogues of the paper's tables, its numbers beside ours.

:func:`write_report` scores every shipped model on a folder of validation
images with :func:`paramops.evaluation.evaluate.evaluate` (the default's
restorations also self-ensembled, :func:`score_model`), and writes
``results.md`` (tables) and ``figures/<op>.png`` (one image across each
operator's test values, reference above model) into an output folder. A model
whose checkpoint is missing is reported as "not trained yet" in every cell it
would fill; a model that does not cover an operator gets "-".

Which model answers which of the paper's questions:

* Table I/II (one value vs the range): ``single-l0-0.02`` against
  ``decoupled-l0`` at lam = 0.02, ``single-denoise-25`` against
  ``decoupled-denoise`` at sigma = 25;
* Table III (one operator vs all jointly, and the parameter-channel baseline):
  ``decoupled-l0`` / ``-denoise`` / ``-rtv``, ``decoupled-joint``,
  ``paramchannel-joint``, and the shipped ``default`` TunableNet;
* Table IV (RTV with four parameters): ``decoupled-rtv``;
* Table XIV (unseen values): ``unseen-l0``, trained on five fixed lam values
  only (``weights/analysis/``, not shipped in the wheel), at the paper's nine
  values, beside the range-trained models.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paramops.evaluation import paper
from paramops.evaluation.evaluate import evaluate, format_table, summarise, test_points
from paramops.evaluation.figures import CELL, write_figures
from paramops.evaluation.markdown import db, generated_header, table
from paramops.operators.registry import OPERATORS, get_operator, operators, operators_laying
from paramops.training.pairs import list_images

# The shipped models, in the order the budget table lists them.
SHIPPED = (
    "default",
    "decoupled-joint",
    "paramchannel-joint",
    "decoupled-l0",
    "single-l0-0.02",
    "decoupled-denoise",
    "single-denoise-25",
    "decoupled-rtv",
)
# Models kept in ``<weights>/analysis/``: trained for a table, not shipped.
# The default given the head of scripts/plain_restorer.py's "head" control (thirteenth session).
HEADED = "default-restore-head"
# What a restoration's closing says when the default's head is the gated detail readout.
GATED_HEAD = (" The default's head already holds what the plain control below points to: two full-resolution convs"
              " predicted from the parameters over a blind branch, with B's residual scaled by a gate predicted from"
              " them too, so the readout need not learn B's error where B is wrong (`configs/default.yaml`;"
              " `docs/training.md`, fourteenth session).")
ANALYSIS = ("unseen-l0", "restore-w32", "default-detail", HEADED)
NOT_TRAINED = "not trained yet"
# Models trained on one operator over its range: Table III's "#ope. = 1".
ONE_OPERATOR = {"l0": "decoupled-l0", "rtv": "decoupled-rtv", "denoise": "decoupled-denoise"}
# Written by scripts/plain_restorer.py beside results.md: the control networks' gains on the restorations.
PLAIN_CONTROL_FILE = "plain_restorer.json"
# Written by scripts/pencil_phase.py beside results.md: what a network blind to the pixel's place in pencil's paper
# texture can reach.
PHASE_CEILING_FILE = "pencil_phase.json"
# Written by scripts/pencil_oracles.py beside results.md: what corrections fitted to pencil's reference would buy.
ORACLE_FILE = "pencil_oracles.json"
# A fitted band gain this far from 1 is named where the bar falls short.
NAMED_BAND_GAIN = 0.2
# What an image-context filter takes from the whole image beyond its luminance histogram (which the tone
# head ranks pixels in): the part of its reference a network with a tone head still cannot see.
BEYOND_THE_HISTOGRAM = {
    "l0": "the reach of its global optimisation, which grows with lam",
    "llf": "a pyramid that runs down to one pixel and reference levels spaced over the image's own range",
    "llf_remap": "a pyramid that runs down to one pixel and reference levels spaced over the image's own range",
    "style": "the gradient histograms its local Laplacian rounds match, over a pyramid down to one pixel",
    "pencil": "the normalisation of its strokes by the image's strongest and a paper texture laid from the image's"
              " corner",
}
FIGURE_IMAGE = "set5_butterfly_GT.png"
ENSEMBLE_COLUMN = ("The 8x ensemble column is the mean of eight passes under the image's rotations and transposes,"
                   " which the final apply can ask for (`--self-ensemble`; measured on the restorations only).")

# The quality bars for the default model.
FILTER_BAR_DB = 28.0
STYLISED_BAR_DB = 25.0  # style and pencil: the paper itself reaches 26.66 and 25.61
STYLISED = ("style", "pencil")
FILTER_MEAN_BAR_DB = 30.0
GAIN_BARS = (("denoise", 25.0, 8.0), ("sr", 2.0, 1.5), ("deblock", 10.0, 1.0))  # (op, level, dB over input)


@dataclass
class ModelScores:
    """One model's mean scores per (operator, parameter value) on the validation images.

    ``status`` is ``"ok"``, :data:`NOT_TRAINED`, or why the checkpoint could
    not be read; ``rows`` holds :func:`summarise`'s rows for the operator's
    test points (or its fixed value), ``extra`` those of additional points,
    ``ensembled`` those of the restorations' test points self-ensembled
    (the default model's only).
    """

    name: str
    status: str
    model: object | None = None
    rows: dict[tuple[str, float | None], dict] = field(default_factory=dict)
    extra: dict[tuple[str, float | None], dict] = field(default_factory=dict)
    ensembled: dict[tuple[str, float | None], dict] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def covers(self, op: str) -> bool:
        return self.ok and op in self.model.operators

    def row(self, op: str, value: float | None, *, ensembled: bool = False) -> dict | None:
        """The row of ``op`` at ``value``; with ``ensembled``, its self-ensembled row."""
        key = (op, None if value is None else float(value))
        if ensembled:
            return self.ensembled.get(key)
        return self.rows.get(key) or self.extra.get(key)

    def mean_psnr(self, op: str) -> float | None:
        """PSNR averaged over ``op``'s evaluated test points, ``None`` if there are none."""
        values = [r["psnr"] for (o, _), r in self.rows.items() if o == op]
        return float(np.mean(values)) if values else None

    def cell(self, op: str, value: float | None = None, *, mean: bool = False, ssim: bool = False) -> str:
        """A table cell: the PSNR (and SSIM), or why there is none."""
        if not self.ok:
            return self.status if self.status == NOT_TRAINED else "unreadable"
        if op not in self.model.operators:
            return "-"
        if mean:
            return db(self.mean_psnr(op))
        row = self.row(op, value)
        if row is None:
            return "-"
        return f"{row['psnr']:.2f} / {row['ssim']:.3f}" if ssim else db(row["psnr"])


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def model_points(model) -> dict[str, list[tuple[str | None, float | None]]]:
    """The points to score ``model`` at: each operator's test values, or the one value it was trained at."""
    fixed = model.meta.get("fixed") or {}
    points = {}
    for op in model.operators:
        standard = test_points(op)
        param = standard[0][0]
        value = fixed.get(op, {}).get(param)
        # A list of values (a "few fixed values" model) is scored like a continuous one.
        points[op] = [(param, float(value))] if isinstance(value, (int, float)) else standard
    return points


def load_entry(name: str, path: str | os.PathLike, device=None) -> ModelScores:
    """The checkpoint at ``path`` as ``name``: :data:`NOT_TRAINED` when it is missing, a bad one its error."""
    from paramops.models.checkpoint import load_model

    if not Path(path).is_file():
        return ModelScores(name, NOT_TRAINED)
    try:
        return ModelScores(name, "ok", load_model(path, device=device))
    except ValueError as err:
        # The first clause names the file and the problem; torch's advice that follows would break a table.
        return ModelScores(name, "unreadable: " + str(err).splitlines()[0].split(" (")[0])


def load_models(weights: str | os.PathLike, names: Sequence[str], device=None) -> dict[str, ModelScores]:
    """:func:`load_entry` of ``<weights>/<name>.pt`` for each name (``<weights>/analysis/`` for :data:`ANALYSIS`)."""
    from paramops.models.checkpoint import SUFFIX

    return {name: load_entry(name, Path(weights) / ("analysis" if name in ANALYSIS else "") / f"{name}{SUFFIX}",
                             device) for name in names}


def score_model(
    entry: ModelScores, data: Path, extra: Mapping[str, Sequence] | None = None, progress: bool = False,
    *, ensembled: bool = False
) -> None:
    """Fill ``entry.rows`` (and ``entry.extra`` at the ``extra`` points) by evaluating on folder ``data``.

    With ``ensembled``, also ``entry.ensembled``: the restorations' test points, each the mean of eight passes
    under the image's rotations and transposes (``paramops apply --self-ensemble``).
    """
    if not entry.ok:
        return
    started = time.perf_counter()
    restorations = {op: test_points(op) for op in operators("restoration") if ensembled and entry.covers(op)}
    for target, points, self_ensemble in ((entry.rows, model_points(entry.model), False),
                                          (entry.extra, extra or {}, False), (entry.ensembled, restorations, True)):
        if points:
            scores = evaluate(entry.model, data, ops=list(points), points=points, self_ensemble=self_ensemble,
                              progress=progress)
            target.update({(r["op"], r["value"]): r for r in summarise(scores)})
    entry.seconds = time.perf_counter() - started


def gain(row: dict | None) -> float | None:
    """A restoration row's PSNR gain over its degraded input."""
    return None if row is None else row["psnr"] - row["input_psnr"]


def machine() -> dict[str, str]:
    """Where the numbers were measured: platform, CPU, cores, library versions, inference device."""
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return {
        "platform": platform.platform(),
        "cpu": f"{cpu}, {usable} of {os.cpu_count()} cores usable, torch using {torch.get_num_threads()} threads",
        "software": f"Python {platform.python_version()}, PyTorch {torch.__version__}, NumPy {np.__version__}",
        "inference": device,
    }


# --- sections -----------------------------------------------------------------------------------------------


def _header(data: Path, chosen: Sequence[Path], n_total: int, models: Mapping[str, ModelScores], command: str) -> list[str]:
    info = machine()
    n_images = len(chosen)
    limited = f"all {n_total} images"
    if n_images < n_total:
        names = ", ".join(p.stem for p in chosen)
        limited = f"{n_images} of its {n_total} images ({names}; see the command above)"
    evaluated = ", ".join(f"{m.name} {_duration(m.seconds)}" for m in models.values() if m.ok)
    timing = (f"{evaluated}. Reference outputs are cached on disk, and so are the scores of the same weights"
              " run by the same code, which a rerun reads instead of computing: it can take 0 s." if evaluated
              else "none.")
    lines = [
        *generated_header("Results", command, [
            f"Validation set: `{data.name}/`, {limited}. Scores are means over images of PSNR (dB) and SSIM,\n"
            "  filters against our reference operator's output, restorations against the clean image.",
            f"Machine: {info['platform']}; {info['cpu']}; {info['software']}; networks run on {info['inference']}.",
            f"Evaluation time per model in this run: {timing}",
        ]),
        "The paper's numbers are on other test images (filters: 100 PASCAL VOC photographs; SR: BSD100;",
        "denoising: BSD68; deblocking: LIVE1; deraining: RAIN12) and its filters are the authors' implementations,",
        "ours our re-implementations (docs/operators.md); read the side-by-side columns as the scale of what",
        "is reachable, not as a contest at the second decimal. The paper's text gives no number of training iterations; it",
        "trains on 17k PASCAL VOC images, ours on 400 BSDS500 photographs (budget below).",
        "",
    ]
    return lines


def network_summary(net: Mapping[str, object]) -> str:
    """A network config (a checkpoint's or a training config's) in a few words: architecture, width, tuned place."""
    tuned = f", tuned {net['tuned']}" if net.get("tuned") else ""
    channels = net.get("tuned_channels", 1)
    if channels != 1:
        tuned += f" ({channels} input channels)"
    last = net.get("last_width")
    narrowed = f", last hidden conv {last} wide" if last not in (None, net.get("width")) else ""
    branch = ""
    if net.get("detail_branch"):
        hidden = f", readout {net['detail_hidden']} wide" if net.get("detail_hidden") else ""
        gate = ", gated" if net.get("detail_gate") else ""
        branch = f", detail branch ({net['detail_branch']} convs{hidden}{gate})"
    if net.get("fields"):
        branch += f", fields ({', '.join(net['fields'])})"
    if net.get("field_branch"):
        branch += f" read by a field branch ({net['field_branch']} convs {net['field_width']} wide)"
    extras = ((", long skip" if net.get("skip") else "")
              + (f", tone head ({net['tone_curve']} knots)" if net.get("tone_curve") else "") + branch)
    return f"{net.get('arch')}, width {net.get('width')}{narrowed}{tuned}{extras}"


def training_summary(meta: Mapping[str, object]) -> str:
    """How a checkpoint was trained, from its metadata: steps, batch, pairs, time, device, where it started."""
    data = meta.get("data") or {}
    weights = meta.get("op_weights")
    drawn = f" (operators drawn {', '.join(f'{op} x{w:g}' for op, w in weights.items())})" if weights else ""
    only = f" {', '.join(data['operators'])}" if data.get("operators") else ""
    text = (
        f"{meta.get('steps', '?')} steps x batch {meta.get('batch', '?')} on {data.get('pairs', '?')}{only} "
        f"pairs of {data.get('patch', '?')} px from `{data.get('folder', '?')}`{drawn}, "
        f"{float(meta.get('train_seconds', 0)) / 3600:.2f} h on {meta.get('device', '?')}"
    )
    start = meta.get("init")
    if start:
        hours = float(start.get("train_seconds") or 0) / 3600
        sources = start["from"] if isinstance(start["from"], list) else [start["from"]]
        names = ", ".join(f"`{Path(str(source)).stem}`" for source in sources)
        text += f", after {start.get('steps', '?')} steps ({hours:.2f} h) as " + (
            names if len(sources) == 1 else f"the mean of the weights of {names}")
    return text


def _total_steps(meta: Mapping[str, object]) -> str:
    """A checkpoint's training steps, with those of the checkpoint it was fine-tuned from (and its starts)."""
    steps = [meta.get("steps"), (meta.get("init") or {}).get("steps")]
    return f"{sum(int(s) for s in steps if s is not None):,}" if steps[0] is not None else "?"


def _budget(models: Mapping[str, ModelScores], configs: Mapping[str, object]) -> list[str]:
    rows = []
    for name in list(dict.fromkeys([*models, *configs])):
        entry, config = models.get(name), configs.get(name)
        planned = "-"
        if config is not None:
            planned = (
                f"{config.train.steps} steps x batch {config.train.batch}, {config.data.pairs_per_op} pairs/op "
                f"of {config.data.patch} px" + (", whole photos for image-context operators"
                                                 if config.data.whole_photo else "")
                + (f", {', '.join(config.data.operators)} only" if config.data.operators else "")
            )
        if entry is not None and entry.ok:
            params = sum(t.numel() for t in entry.model.net.parameters())
            ops = len(entry.model.operators)
            rows.append([name, network_summary(entry.model.config), f"{params:,}", ops, planned,
                         training_summary(entry.model.meta)])
        else:
            status = entry.status if entry is not None else NOT_TRAINED
            network = network_summary(config.model) if config is not None else "-"
            ops = len(config.operators) if config is not None else "-"
            rows.append([name, network, "-", ops, planned, status])
    return [
        "## Training budget",
        "",
        "From each checkpoint's metadata (trained) and its `configs/<name>.yaml` (planned).",
        "",
        *table(["model", "network", "weights", "operators", "planned (config)", "trained (checkpoint)"], rows),
    ]


@dataclass(frozen=True)
class Bar:
    """One quality bar: ``kind`` is "filter" (mean PSNR of ``op``), "mean" (over all filters) or "gain"."""

    kind: str
    op: str | None
    level: float | None
    need: float
    ours: float | None
    passed: bool | None  # None: nothing to measure (no default model)
    paper: str
    why: str = ""  # why ``ours`` is missing
    ensembled: float | None = None  # a gain bar's quantity self-ensembled, where measured

    @property
    def label(self) -> str:
        if self.kind == "filter":
            return f"{self.op}, mean over test values"
        if self.kind == "mean":
            return "mean over all filters"
        return f"{self.op} {get_operator(self.op).params[0].name}={self.level:g}, gain over input"

    @property
    def required(self) -> str:
        return f">= +{self.need:g} dB" if self.kind == "gain" else f">= {self.need:g} dB"

    @property
    def status(self) -> str:
        if self.passed is None:
            return self.why
        if self.ours is None:
            return f"**FAIL** ({self.why})"
        return "pass" if self.passed else "**FAIL**"

    def ours_text(self) -> str:
        if self.ours is None:
            return "-"
        return f"{self.ours:+.2f}" if self.kind == "gain" else f"{self.ours:.2f}"

    def ensembled_text(self) -> str:
        if self.ensembled is None:
            return "-"
        return f"{self.ensembled:+.2f} ({'pass' if self.ensembled >= self.need else 'short'})"


def quality_bars(default: ModelScores) -> list[Bar]:
    """The issue's quality bars, measured on the default model."""
    missing = None if default.ok else (NOT_TRAINED if default.status == NOT_TRAINED else "unreadable")

    def bar(kind, op, level, need, ours, paper_text, uncovered=(), ensembled=None) -> Bar:
        if missing:
            return Bar(kind, op, level, need, None, None, paper_text, missing)
        if uncovered:
            return Bar(kind, op, level, need, None, False, paper_text, f"model lacks {', '.join(uncovered)}")
        return Bar(kind, op, level, need, ours, ours >= need, paper_text, ensembled=ensembled)

    bars = []
    filters = list(operators("filter"))
    for op in filters:
        need = STYLISED_BAR_DB if op in STYLISED else FILTER_BAR_DB
        paper_db = paper.TUNABLE_PSNR.get(op)
        uncovered = () if default.covers(op) else (op,)
        paper_text = f"{paper_db:.2f} (Table VI)" if paper_db else "-"
        bars.append(bar("filter", op, None, need, default.mean_psnr(op), paper_text, uncovered))
    uncovered = [op for op in filters if not default.covers(op)]
    mean = None if uncovered or missing else float(np.mean([default.mean_psnr(op) for op in filters]))
    bars.append(bar("mean", None, None, FILTER_MEAN_BAR_DB, mean,
                    f"{paper.TUNABLE_AVERAGE_PSNR:.2f} over its 10 (Table VI)", uncovered))
    for op, level, need in GAIN_BARS:
        row = default.row(op, level) if default.covers(op) else None
        ours = gain(row)
        reference = paper.lookup(paper.RESTORATION_COMPARISON.get(op, {}), level)
        numerous = paper.lookup(paper.SINGLE_VS_NUMEROUS[op], level)
        if reference:
            paper_text = f"{reference[1] - reference[0]:+.2f} (Sec. 5.2)"
        else:  # the paper gives the restored PSNR only
            paper_text = f"restored {numerous.numerous_psnr:.2f}, input not given (Table II)" if numerous else "-"
        uncovered = () if row is not None else (f"{op} at {level:g}",)
        bars.append(bar("gain", op, level, need, ours, paper_text, uncovered,
                        ensembled=gain(default.row(op, level, ensembled=True))))
    return bars


def _measure(entry: ModelScores | None, bar: Bar) -> float | None:
    """``bar``'s quantity measured on another model, ``None`` where it cannot be."""
    if entry is None or not entry.covers(bar.op):
        return None
    if bar.kind == "filter":
        return entry.mean_psnr(bar.op)
    return gain(entry.row(bar.op, bar.level))


def _rows_by_psnr(entry: ModelScores, op: str) -> list[dict]:
    """``entry``'s rows of ``op``, weakest first."""
    return sorted((r for (o, _), r in entry.rows.items() if o == op), key=lambda r: r["psnr"])


@dataclass(frozen=True)
class CropScore:
    """A filter's reference run on training crops, scored against itself run on the whole image."""

    params: Mapping[str, float]
    psnr: float
    patch: int
    margin: int


def crop_scores(default: ModelScores, images: Sequence[np.ndarray], *, patch: int, margin: int) -> dict[str, CropScore]:
    """What training crops teach of each failed filter whose reference looks at the whole image.

    For every filter bar ``default`` fails whose operator's registry
    ``context`` is ``"image"``: the operator run on ``patch`` px crops with
    ``margin`` px of context, as training pairs are made, against itself on
    the whole image (:func:`~paramops.evaluation.consistency.crop_consistency`),
    mean PSNR over ``images``, at the model's weakest test value.
    """
    from paramops.evaluation.consistency import crop_consistency

    found = {}
    for bar in quality_bars(default):
        if bar.kind != "filter" or bar.passed is not False or bar.ours is None:
            continue
        if get_operator(bar.op).context != "image":
            continue
        weakest = _rows_by_psnr(default, bar.op)[0]
        params = {} if weakest["param"] is None else {weakest["param"]: weakest["value"]}
        score = np.mean([crop_consistency(image, bar.op, patch=patch, margin=margin, **params) for image in images])
        found[bar.op] = CropScore(params, float(score), patch, margin)
    return found


def _crop_text(crop: CropScore) -> str:
    at = "".join(f" at {k}={v:g}" for k, v in crop.params.items())
    return (f" Its reference looks at the whole image (registry context `image`): run on {crop.patch} px crops with"
            f" {crop.margin} px of context, as crop-made training pairs are, it scores {crop.psnr:.2f} dB{at} against"
            " its own whole-image result on these images")


def load_plain_control(folder: str | os.PathLike) -> dict[str, dict[str, tuple[float, int]]]:
    """``{op: {mode: (gain in dB, steps)}}`` of the norm-free control runs in ``<folder>/plain_restorer.json``.

    The longest run of each variant; empty where ``scripts/plain_restorer.py``
    has not been run.
    """
    runs = _written_beside(folder, PLAIN_CONTROL_FILE).values()
    control: dict[str, dict[str, tuple[float, int]]] = {}
    for run in sorted(runs, key=lambda run: run["steps"]):
        if run["norm"] == "none":
            control.setdefault(run["op"], {})[run["mode"]] = (run["gain"], run["steps"])
    return control


def load_phase_ceilings(folder: str | os.PathLike) -> dict[str, dict]:
    """``{op: {"psnr": dB, "phases": n}}`` from ``<folder>/pencil_phase.json``; empty where
    ``scripts/pencil_phase.py`` has not been run."""
    return _written_beside(folder, PHASE_CEILING_FILE)


def load_oracles(folder: str | os.PathLike) -> dict[str, dict]:
    """``{op: {"stroke_gain": dB, "texture_amplitude": dB, "control": dB}}`` (luminance PSNR gains) from
    ``<folder>/pencil_oracles.json``; empty where ``scripts/pencil_oracles.py`` has not been run."""
    return _written_beside(folder, ORACLE_FILE)


def _written_beside(folder: str | os.PathLike, name: str) -> dict:
    """The JSON a diagnostic script wrote as ``name`` beside results.md in ``folder``; empty where it has not."""
    path = Path(folder) / name
    return json.loads(path.read_text()) if path.exists() else {}


def band_gains_file(op: str) -> str:
    """The JSON ``scripts/error_bands.py`` writes beside results.md for ``op``: its fitted band gains."""
    return f"error_bands_{op}.json"


def load_band_gains(folder: str | os.PathLike) -> dict[str, dict]:
    """``{op: {"model": name, "images": n, "scales": [...], "rows": [...]}}`` of the filters
    ``scripts/error_bands.py`` split the default's change of, from ``<folder>/error_bands_<op>.json``; rows as its
    ``band_gain_rows`` gives them, one gain per band, and where each band lies in ``scales``."""
    found = {op: _written_beside(folder, band_gains_file(op)) for op in operators("filter")}
    return {op: gains for op, gains in found.items() if gains.get("model") == "default"}


@dataclass(frozen=True)
class Diagnostics:
    """What the diagnostic scripts wrote beside results.md, cited where a bar falls short."""

    plain: Mapping[str, Mapping[str, tuple[float, int]]] = field(default_factory=dict)  # load_plain_control
    ceilings: Mapping[str, Mapping] = field(default_factory=dict)  # load_phase_ceilings
    oracles: Mapping[str, Mapping] = field(default_factory=dict)  # load_oracles
    bands: Mapping[str, Mapping] = field(default_factory=dict)  # load_band_gains


def load_diagnostics(folder: str | os.PathLike) -> Diagnostics:
    """Every diagnostic written beside results.md in ``folder``; empty where its script has not been run."""
    return Diagnostics(load_plain_control(folder), load_phase_ceilings(folder), load_oracles(folder),
                       load_band_gains(folder))


def _oracle_text(gains: Mapping | None) -> str:
    """What corrections fitted to the reference would add to the default's output, where measured."""
    if gains is None:
        return ""
    return (f" Fitted to the reference, one multiple of the operator's stroke layer per image would add"
            f" {gains['stroke_gain']:+.2f} dB (luminance), the texture's finest detail times a smooth map"
            f" {gains['texture_amplitude']:+.2f} dB ({gains['control']:+.2f} with the texture laid elsewhere;"
            " `docs/pencil_oracles.md`): upper bounds for a network told the image's stroke range, or one that"
            " multiplies the texture it is given by a map it predicts.")


def _band_text(op: str, split: Mapping | None) -> str:
    """Which scales the default's change to the image is too weak or too strong at, at ``op``'s weakest value."""
    if not split:
        return ""
    row = min(split["rows"], key=lambda r: r["psnr"])
    gains = row["gains"]
    named = {verdict: [f"{scale} ({g:.2f})" for scale, g in zip(split["scales"], gains) if keep(g)]
             for verdict, keep in (("too weak", lambda g: g >= 1 + NAMED_BAND_GAIN),
                                   ("too strong", lambda g: g <= 1 - NAMED_BAND_GAIN))}
    verdicts = [f"{verdict} {', '.join(scales)}" for verdict, scales in named.items() if scales]
    found = " and ".join(verdicts) or f"within {NAMED_BAND_GAIN:g} of the reference's at every scale"
    at = f" at {row['param']}={row['value']:g}" if row["param"] else ""
    return (f" Split band by band (`docs/error_bands_{op}.md`), the default's change to the image{at} is {found}"
            f" (the gain that fits each band to the reference's); gains shared by all images would add"
            f" {row['shared'] - row['psnr']:+.2f} dB (luminance), each image's own {row['each'] - row['psnr']:+.2f}.")


def _plain_text(op: str, runs: Mapping[str, tuple[float, int]], best: float, headed: float | None) -> str:
    """What the control networks say about ``op``, beside ``best``, the best gain a model here reaches, and
    ``headed``, what the default given the control's head reaches (None: not measured)."""
    if "given" not in runs:
        return ""
    given, steps = runs["given"]
    text = (f" A plain network of eight full-resolution convs trained on {op} alone for {steps:,} steps"
            f" (`docs/plain_restorer.md`) gains {given:.2f} dB given the parameter as an input channel")
    if "blind" in runs:
        text += f", {runs['blind'][0]:.2f} dB blind"
    if "head" in runs:
        text += (f", {runs['head'][0]:.2f} dB with the parameter predicting only its last two convs' weights"
                 " (a head that cheap tuning would recompute)")
    if given - best <= 0.5:
        return text + ": within half a decibel of the best model here, so its shape is not what holds this bar back."
    text += ", more than any model here: full-resolution layers that know the parameter are what this bar lacks"
    if "head" not in runs:
        return text + "."
    if runs["head"][0] < given - 0.25:
        return text + "; two of them in the head keep only part of that gain."
    text += "; two of them in a cheap-tuning head keep that gain"
    if headed is not None and headed < runs["head"][0] - 0.5:
        text += (f", but not on top of the default: {HEADED}, the default given such a head over its frozen rest,"
                 f" reaches {headed:.2f} dB (`docs/training.md`, thirteenth session)")
    return text + "."


def _closing(bar: Bar, bars: Sequence[Bar], models: Mapping[str, ModelScores],
             crops: Mapping[str, CropScore], diagnostics: Diagnostics) -> str:
    """What would close a failed bar, from what the other models, the operator on crops and the paper show."""
    default = models["default"]
    if bar.kind == "mean":
        failing = [b.op for b in bars if b.kind == "filter" and b.passed is False]
        return (f"{bar.label}: {bar.ours:.2f} dB; it rises with the filters that fall short "
                f"({', '.join(failing) or 'none of them; every filter passes, but not by enough'}).")
    text = f"{bar.label}: {bar.ours:.2f} dB, {bar.required}."
    rows = _rows_by_psnr(default, bar.op)
    if bar.kind == "filter" and len(rows) > 1:
        text += f" Weakest at {rows[0]['param']}={rows[0]['value']:g} ({rows[0]['psnr']:.2f} dB)."
    crop = crops.get(bar.op)
    weakest = rows[0]["psnr"] if rows else None
    if (crop is not None and crop.psnr < bar.need and default.model.config.get("tone_curve")
            and weakest is not None and weakest > crop.psnr):
        return text + _crop_text(crop) + (
            f", below the bar but not a ceiling for the default, which scores {weakest:.2f} dB there: its tone head"
            " ranks each pixel's luminance in the whole image, so what the crops teach about the image's histogram"
            " holds on whole images (`paramops.models.tone`; `docs/training.md`, eleventh session;"
            " `docs/rank_oracle.md` measures how much a curve of that rank explains). What the head cannot see is"
            f" {BEYOND_THE_HISTOGRAM.get(bar.op, 'the rest of the image')}: a network given those, or the paper's"
            " scale, is what would close the rest."
            + _phase_text(bar, diagnostics.ceilings.get(bar.op), _sees_field(default, bar.op))
            + _oracle_text(diagnostics.oracles.get(bar.op)) + _band_text(bar.op, diagnostics.bands.get(bar.op)))
    if crop is not None and crop.psnr < bar.need:
        windows = default.model.config.get("norm_windows")
        statistics = f"its {windows[0]} px windows" if windows else "statistics learned on patches"
        return text + _crop_text(crop) + (
            ", below the bar: the pairs teach the network another operator than the one it is scored against, and"
            " no width or schedule trained on them closes that. What would close it is targets made on whole"
            " images (`data.whole_photo`; at our budget it did not help, `docs/training.md`, third session) for a"
            f" network whose statistics span the whole image, which {statistics} do not.")
    if crop is not None:
        text += _crop_text(crop) + ", above the bar, so crops are not what holds it back."
    candidates = [("decoupled-joint", "its every convolution is predicted from the parameters, so tuning more of"
                   " the network than one layer would help (paper Table XII, ten filters: learning every conv averages"
                   f" {paper.TUNED_LAYER_AVERAGE_PSNR['conv(all)']:.2f} dB, one input-channel slice of conv19"
                   f" {paper.TUNED_LAYER_AVERAGE_PSNR['conv channel1(19)']:.2f})")]
    restoration = get_operator(bar.op).family == "restoration"
    if restoration:
        candidates.append(("restore-w32", "it is the default's network and recipe trained on the three restorations"
                           " alone, for about as many samples of each (`configs/analysis/restore-w32.yaml`), so"
                           " sharing the network with the filters costs the default this much; a network of its own"
                           " for restoration, or a larger share of this one, would help"))
        candidates.append(("default-detail", "it is the eleventh session's default with a detail branch, seven"
                           " norm-free 3x3 convs at full resolution in the trunk read out by a conv predicted from the"
                           " parameters (`paramops.models.detail`), trained alone on top of the frozen rest"
                           " (`configs/analysis/default-detail.yaml`), so full-resolution layers help it"))
        candidates.append((HEADED, "it is the eleventh session's default with a detail branch of six convs read"
                           " out by two convs predicted from the parameters, a hidden layer with its bias and a ReLU"
                           " between (`configs/analysis/default-restore-head.yaml`), trained alone on top of the frozen"
                           " rest:"
                           " full-resolution layers that know the parameter, in the head where cheap tuning allows"
                           " them"))
    if bar.op in ONE_OPERATOR:
        candidates.append((ONE_OPERATOR[bar.op], "it learns this operator alone, so sharing one network among all"
                           " operators costs the default model this much; a wider network or a larger share of the"
                           " training steps for this operator would help"))
    measured = [(name, _measure(models.get(name), bar), reason) for name, reason in candidates]
    measured = [(name, value, reason) for name, value, reason in measured if value is not None]
    values = {name: value for name, value, _ in measured}
    control = (_plain_text(bar.op, diagnostics.plain.get(bar.op, {}), max([bar.ours, *values.values()]),
                           values.get(HEADED))
               if restoration else "")
    better = [(value, name, reason) for name, value, reason in measured if value - bar.ours > 0.5]
    if better:
        value, name, reason = max(better)
        short = ", still short of the bar" if value < bar.need else ""
        return text + f" {name} reaches {value:.2f} dB{short}: {reason}." + control
    compared = [f"{name} {value:.2f} dB" for name, value, _ in measured]
    if restoration and default.model.config.get("detail_gate"):
        lead = f" No other model does much better ({', '.join(compared)})." if compared else ""
        return text + lead + GATED_HEAD + control
    if compared:
        text += f" No other model does much better ({', '.join(compared)}), so what would close it is"
    else:
        text += " What would close it:"
    width = default.model.config.get("width", "?")
    if control:
        return text + (f" not a longer run of this network on these patches than the {_total_steps(default.model.meta)}"
                       " steps run (5,000 steps more, with the operators drawn equally or rebalanced, moved no bar by"
                       " more than 0.4 dB: `docs/training.md`, ninth session).") + control
    return text + (f" not a longer run on these patches than the {_total_steps(default.model.meta)} steps run:"
                   " 5,000 steps more, with the operators drawn equally or rebalanced, moved no bar by more than"
                   " 0.4 dB (`docs/training.md`, ninth session), and before the long skip twice the width and eight"
                   " times the steps had bought almost nothing (fourth session). What is left is the paper's scale,"
                   f" a trunk of width 64 (128 for Table VI; ours is {width}) trained for days on GPUs, which this"
                   " project's two-hour CPU budget cannot try.")


def _sees_field(entry: ModelScores, op: str) -> bool:
    """Whether ``entry``'s network takes ``op``'s position field as an input channel."""
    return bool(operators_laying(entry.model.config.get("fields", ()), [op]))


def _phase_text(bar: Bar, ceiling: Mapping | None, seen: bool) -> str:
    """What the paper texture's phase alone caps a filter at, where ``scripts/pencil_phase.py`` measured it;
    ``seen``: the default takes the texture as an input channel (its ``fields``), so the cap is not its own."""
    if ceiling is None:
        return ""
    if seen:
        return (f" The texture's phase caps only a network that cannot tell where a pixel lies in the tile (the"
                f" operator's mean over {ceiling['phases']} other tile origins scores {ceiling['psnr']:.2f} dB against"
                " it, `docs/pencil_phase.md`); the default takes the texture as an input channel laid where each pixel"
                " lies (model option `fields`, `paramops.operators.fields`), so what is left is its training.")
    if ceiling["psnr"] < bar.need:
        verdict = "below the bar", "so only a network given the pixel's place in the tile can pass it"
    else:
        verdict = "above the bar", "so the texture's phase is not what holds it back"
    return (f" The texture alone caps a network that cannot tell where a pixel lies in the tile: the operator's mean"
            f" over {ceiling['phases']} other tile origins scores {ceiling['psnr']:.2f} dB against it, {verdict[0]}"
            f" (`docs/pencil_phase.md`), {verdict[1]}.")


def _ensembled_closing(bar: Bar) -> str:
    """What self-ensembling does for a failed gain bar, where measured."""
    if bar.ensembled is None:
        return ""
    verdict = "which passes" if bar.ensembled >= bar.need else f"still {bar.need - bar.ensembled:.2f} dB short"
    return (f" Self-ensembled it gains {bar.ensembled:+.2f} dB, {verdict}: the mean of eight passes under the image's"
            " rotations and transposes (`paramops apply --self-ensemble`, the plugin's \"8x ensemble\" box), eight"
            " times the time of one.")


def _bars_section(models: Mapping[str, ModelScores], crops: Mapping[str, CropScore],
                  diagnostics: Diagnostics = Diagnostics()) -> list[str]:
    """The quality bars, and what would close those that fall short, citing ``diagnostics`` where they bear."""
    bars = quality_bars(models["default"])
    rows = [[b.label, b.required, b.ours_text(), b.status, b.ensembled_text(), b.paper] for b in bars]
    lines = [
        "## Quality bars (default model)",
        "",
        "The issue's bars on the validation set. Filter PSNR is against the reference operator, averaged over the",
        "operator's test values; gains are the restored image's PSNR minus the degraded input's, both against the",
        "clean image. Ours and the status are one pass of the network, as the plugin's live preview and",
        f"`paramops apply` give it. {ENSEMBLE_COLUMN} The paper's column is its cheap-tuning network (Table VI,",
        "default parameter only; SR and deblocking from its Section 5.2 comparisons on BSD100 and LIVE1).",
        "",
        *table(["bar", "required", "ours (dB)", "status", "8x ensemble (dB)", "paper (dB)"], rows),
    ]
    failed = [b for b in bars if b.passed is False]
    if failed:
        lines += ["### Falling short, and what would close it", ""]
        unmeasured = [b.label for b in failed if b.ours is None]
        lines += [f"- {_closing(b, bars, models, crops, diagnostics)}"
                  f"{_ensembled_closing(b)}"
                  for b in failed if b.ours is not None]
        if unmeasured:
            lines.append(f"- Not measurable, the default model does not cover them: {'; '.join(unmeasured)}."
                         " Train it on every operator.")
        lines += [
            "",
            "Two suspected causes common to many bars were measured in the third session: training pairs cut",
            "from crops where five filters give a crop another result than the whole image",
            "(`docs/crop_consistency.md`), and instance norm's statistics over 64 px patches, not a whole",
            "image's (`docs/window_statistics.md`). The sixth session found the second is what limited the",
            "trained models: in 96 px windows with their own statistics `default` scored up to 3 dB higher.",
            "Since the seventh session `default` runs that way (`paramops.models.windows`): its trunk runs on",
            "windows, each with its own statistics, blended with tent weights, and its head normalises each",
            "pixel with its windows' statistics (`docs/training.md`, seventh session; speed in `docs/service.md`).",
            "Since the twenty-third the windows are 64 px every 48 (`norm_windows: [64, 48]`, 96 every 64",
            "before), the size of a training patch, so every norm sees the statistics it was trained with: the",
            "same weights score higher on every operator but llf_remap (-0.38 dB), pencil +1.41, wls_enhance",
            "+0.56, llf +0.52, derain +0.53 dB (`docs/training.md`, twenty-third session). Earlier gains: a long",
            "skip from conv2 to conv18 (fourth session), and predicting all of conv19, narrowed to 8 channels",
            "(fifth session). Since the tenth session those",
            "weights are fine-tuned 5,000 steps with style and pencil, whose loss was half of the whole, drawn",
            "less often and the restorations more (`configs/analysis/default-balanced.yaml`; `docs/training.md`,",
            "ninth session). Since the eleventh, a tone head adds outside every norm a colour matrix and a curve of",
            "each pixel's luminance rank in its image, predicted from the parameters (`paramops.models.tone`),",
            "trained 7,000 steps more (`configs/analysis/default-tone.yaml`, then `configs/default.yaml`): style",
            "rose by 10.8 dB, the filter mean by 1.2, and denoising at sigma 25 lost 0.9 (`docs/training.md`, eleventh session).",
            "Since the nineteenth, its weights are partly those of fine-tunes whose image-context filters learn from",
            "patches of whole-photo runs, which with the tone head now helps: a third of one in the nineteenth",
            "(`configs/analysis/default-r5-whole-photo.yaml`), and since the twentieth the mean of that default and",
            "two more of them from it (`configs/analysis/default-r6-whole-photo-s3.yaml`, `-s4.yaml`). Against the",
            "eighteenth session's default, llf_remap +1.08, pencil +1.37, style +0.79 dB (`docs/training.md`,",
            "nineteenth and twentieth sessions). Since the twenty-second, pencil's paper texture, laid where each",
            "pixel lies, is read by a field branch of its own, trained on pencil's pairs alone with the rest frozen",
            "and read out through a map that is zero for every other operator (`paramops.models.field_branch`):",
            "pencil +2.99 dB, every other score as it was (`docs/training.md`, twenty-second session). Since the",
            "twenty-fourth, that branch also reads pencil's image field, the edge map scaled by the range of its",
            "strokes over the whole image, which no window sees (`paramops.operators.fields`): pencil +0.31 dB",
            "(`docs/training.md`, twenty-fourth session; `docs/pencil_oracles.md` bounds what is left of it).",
            "Since the twenty-fifth, its weights are the mean of that default and two fine-tunes of it with",
            "everything learning on whole-photo pairs (`configs/analysis/default-r7-s4.yaml`, `-s5.yaml`):",
            "llf_remap +0.66, pencil +0.59, style +0.25 dB, the filter mean +0.16, every restoration within",
            "0.02 dB (`docs/training.md`, twenty-fifth session). Since the twenty-sixth, another round the same way",
            "from that mean (`configs/analysis/default-r8-s6.yaml`, `-s7.yaml`): pencil +0.35, llf_remap +0.18,",
            "style +0.15 dB, the filter mean +0.07, denoising at sigma 25 +0.05, derain -0.15 dB",
            "(`docs/training.md`, twenty-sixth session).",
        ]
        lines.append("")
    elif models["default"].ok:
        lines += ["Every bar passes.", ""]
    return lines


def _single_vs_numerous(models: Mapping[str, ModelScores]) -> list[str]:
    lines = [
        "## Table I/II: one parameter value vs the whole range",
        "",
        "A network trained at one value against the same network trained over the operator's range, scored at",
        "that value (PSNR dB / SSIM). We trained the single-value network at one value per operator; the paper",
        "trains one per test value. `default` (all operators jointly, one tuned layer) is there for context.",
        "",
    ]
    cases = (("l0", "single-l0-0.02", "decoupled-l0", "Table I, L0 smoothing"),
             ("denoise", "single-denoise-25", "decoupled-denoise", "Table II, Gaussian denoising"))
    for op, single_name, range_name, title in cases:
        param = get_operator(op).params[0].name
        single, numerous, default = models[single_name], models[range_name], models["default"]
        restoration = get_operator(op).family == "restoration"
        header = [param, "paper single", "paper numerous"] + (["noisy input"] if restoration else [])
        header += [single_name, range_name, "default"]
        fixed = (single.model.meta.get("fixed") or {}).get(op, {}).get(param) if single.ok else None
        values = [v for _, v in test_points(op)]
        values = sorted({*values, float(fixed)}) if fixed is not None else values
        rows = []
        for value in values:
            ref = paper.lookup(paper.SINGLE_VS_NUMEROUS[op], value)
            row = [f"{value:g}", "-", "-"]
            if ref is not None:
                row[1:] = [f"{ref.single_psnr:.2f} / {ref.single_ssim:.3f}",
                           f"{ref.numerous_psnr:.2f} / {ref.numerous_ssim:.3f}"]
            if restoration:
                source = _input_psnr(models, op, value)
                row.append("-" if source is None else f"{source['input_psnr']:.2f} / {source['input_ssim']:.3f}")
            row += [m.cell(op, value, ssim=True) for m in (single, numerous, default)]
            rows.append(row)
        lines += [f"### {title}", "", *table(header, rows)]
        if fixed is not None and single.row(op, fixed) and numerous.covers(op) and numerous.row(op, fixed):
            ours = single.row(op, fixed)["psnr"] - numerous.row(op, fixed)["psnr"]
            ref = paper.lookup(paper.SINGLE_VS_NUMEROUS[op], fixed)
            theirs = f"{ref.single_psnr - ref.numerous_psnr:+.2f} dB" if ref else "not reported"
            lines += [f"At {param}={fixed:g}, single minus numerous: ours {ours:+.2f} dB, paper {theirs}.", ""]
    return lines


def _input_psnr(models: Mapping[str, ModelScores], op: str, value: float | None) -> dict | None:
    """The degraded input's scores at one restoration point; the same for every model (same seeds)."""
    rows = (m.row(op, value) for m in models.values() if m.covers(op))
    return next((r for r in rows if r is not None and "input_psnr" in r), None)


def _joint(models: Mapping[str, ModelScores]) -> list[str]:
    names = ("default", "decoupled-joint", "paramchannel-joint")
    header = ["operator", "input", *names, "one-operator model", "paper 1 op", "paper 10 ops", "paper [18]",
              "paper conv channel1(19) (XII)", "paper tunable (VI)"]
    rows = []
    for op in OPERATORS:
        inputs = [_input_psnr(models, op, v) for _, v in test_points(op)]
        one = models.get(ONE_OPERATOR.get(op, ""))
        rows.append([
            op,
            db(float(np.mean([r["input_psnr"] for r in inputs]))) if all(inputs) else "-",
            *(models[n].cell(op, mean=True) for n in names),
            "-" if one is None else f"{one.cell(op, mean=True)} ({one.name})",
            *(db(paper.JOINT_PSNR[k].get(op)) for k in ("1", "10", "[18]")),
            db(paper.TUNED_LAYER_PSNR["conv channel1(19)"].get(op)),
            db(paper.TUNABLE_PSNR.get(op)),
        ])
    ten = list(paper.JOINT_PSNR["1"])
    mean_row = ["mean of the paper's 10", "-"]
    for name in names:
        values = [models[name].mean_psnr(op) if models[name].covers(op) else None for op in ten]
        mean_row.append(db(float(np.mean(values))) if all(v is not None for v in values) else "-")
    mean_row += ["-", *(db(paper.JOINT_AVERAGE_PSNR[k]) for k in ("1", "10", "[18]")), "-", "-"]
    rows.append(mean_row)
    return [
        "## Table III: one operator vs all jointly, and the parameter-channel baseline",
        "",
        "PSNR (dB) averaged over each operator's test values. `default` is the TunableNet (one tuned layer, the",
        "cheap-tuning version of Sections 3.3 and 5) on all 15 operators; `decoupled-joint` predicts every",
        "convolution from (operator, parameter) like the paper's `#ope. = 10` row; `paramchannel-joint` is",
        "the baseline of Chen et al. [18] (parameters as constant input channels), trained like",
        "`decoupled-joint`. Our joint models cover 15 operators, the paper's 10. The one-operator models",
        "are decoupled networks on a single operator (`decoupled-rtv` encodes all four RTV parameters and is",
        "scored with the three besides lam at their defaults). \"input\" is the degraded image's PSNR.",
        "The last two paper columns are one-tuned-layer networks on its ten filters: Table XII's base network",
        "with conv19's input-channel slice tuned (our `tuned=conv_in`), and Table VI's larger cheap-tuning",
        "network at each filter's default parameter only.",
        "",
        *table(header, rows),
    ]


def _rtv(models: Mapping[str, ModelScores]) -> list[str]:
    header = ["lam", "paper 1 op, 4 params", "decoupled-rtv", "paper 10 ops, 2 params", "decoupled-joint", "default"]
    single, joint, default = models["decoupled-rtv"], models["decoupled-joint"], models["default"]
    one_op = dict(zip(paper.RTV_LAMS, paper.RTV_DIMS[(1, 4)]))
    ten_ops = dict(zip(paper.RTV_LAMS, paper.RTV_DIMS[(10, 2)]))
    rows = []
    for _, value in test_points("rtv"):
        rows.append([f"{value:g}", db(paper.lookup(one_op, value)), single.cell("rtv", value),
                     db(paper.lookup(ten_ops, value)), joint.cell("rtv", value), default.cell("rtv", value)])
    rows.append(["mean", db(paper.RTV_DIMS[(1, 4)][-1]), single.cell("rtv", mean=True),
                 db(paper.RTV_DIMS[(10, 2)][-1]), joint.cell("rtv", mean=True), default.cell("rtv", mean=True)])
    return [
        "## Table IV: RTV with all four parameters encoded",
        "",
        "PSNR (dB) at the lam test values, sigma, sharpness and iterations at their defaults.",
        "",
        *table(header, rows),
    ]


UNSEEN_COLUMNS = ("unseen-l0", "decoupled-l0", "default")


def _unseen(models: Mapping[str, ModelScores]) -> list[str]:
    rows = []
    for value, ours, single, fixed in zip(paper.UNSEEN_LAMS, unseen_lams(), paper.UNSEEN_SINGLE_PSNR,
                                          paper.UNSEEN_FIXED_PSNR):
        held = "**yes**" if value in paper.UNSEEN_HELD_OUT else "no"
        rows.append([f"{ours:g}", held, db(single), db(fixed), *(models[n].cell("l0", ours) for n in UNSEEN_COLUMNS)])
    return [
        "## Table XIV: parameter values never seen in training",
        "",
        "The paper trains one network on five fixed lam values of L0 and tests it on four values between them",
        "(\"held out\"); so does `unseen-l0` (`configs/analysis/unseen-l0.yaml`: DecoupledNet, the same",
        "network and budget as `decoupled-l0`, trained on 0.002, 0.0043, 0.02, 0.0928 and 0.2 only).",
        "`decoupled-l0` (the continuous range) and `default` (all operators) are scored at the same nine",
        "values for comparison; for them no value is unseen. PSNR (dB).",
        "",
        *table(["lam", "held out", "paper single", "paper 5 fixed values", *UNSEEN_COLUMNS], rows),
    ]


def unseen_lams() -> list[float]:
    """Table XIV's lam values as we score them: the registry's test value where the paper printed a rounded one."""
    standard = {v: v for _, v in test_points("l0")}
    return [paper.lookup(standard, value, rel=0.01) or value for value in paper.UNSEEN_LAMS]


def unseen_points() -> dict[str, list[tuple[str, float]]]:
    """The Table XIV lam values that are not already l0 test points."""
    standard = {v for _, v in test_points("l0")}
    param = get_operator("l0").params[0].name
    return {"l0": [(param, v) for v in unseen_lams() if v not in standard]}


def _restoration(models: Mapping[str, ModelScores]) -> list[str]:
    default = models["default"]
    rows = []
    for op in operators("restoration"):
        for param, value in test_points(op):
            row = default.row(op, value) if default.covers(op) else None
            ref = paper.lookup(paper.RESTORATION_COMPARISON.get(op, {}), value) if value is not None else None
            numerous = paper.lookup(paper.SINGLE_VS_NUMEROUS.get(op, {}), value) if value is not None else None
            ensembled = gain(default.row(op, value, ensembled=True))
            rows.append([
                op, "-" if param is None else f"{param}={value:g}",
                "-" if row is None else db(row["input_psnr"]),
                default.cell(op, value),
                "-" if row is None else f"{gain(row):+.2f}",
                "-" if ensembled is None else f"{ensembled:+.2f}",
                "-" if ref is None else db(ref[0]), "-" if ref is None else db(ref[1]),
                "-" if ref is None else f"{ref[1] - ref[0]:+.2f}",
                "-" if numerous is None else db(numerous.numerous_psnr),
            ])
    return [
        "## Restoration per level (default model)",
        "",
        "PSNR (dB) against the clean image; gain over the degraded input, of one pass and of the mean of eight",
        "passes under the image's rotations and transposes (`--self-ensemble`). Paper: its Section 5.2",
        "comparisons (do-nothing input and its cheap-tuning network, SR on BSD100, deblocking on LIVE1) and",
        "Table II's range-trained network.",
        "",
        *table(["operator", "level", "input", "default", "gain", "8x ensemble gain", "paper input", "paper tunable",
                 "paper gain", "paper numerous (II)"], rows),
    ]


def _detail(default: ModelScores) -> list[str]:
    if not default.ok:
        return []
    return [
        "## Every operator and test value (default model)",
        "",
        format_table(list(default.rows.values())),
        "",
    ]


def _figures_section(paths: Mapping[str, Path], out: Path, caption: str, default: ModelScores) -> list[str]:
    lines = ["## Figures", ""]
    if not paths:
        reason = default.status if not default.ok else "covering no operator"
        return lines + [f"No figures: the default model is {reason}.", ""]
    lines += [
        f"{caption} across each operator's test values: the reference operator on top, the default model below",
        "with its PSNR against the reference (restoration: the degraded image on top, the restored one below,",
        "both with their PSNR against the clean image).",
        "",
    ]
    for op, path in paths.items():
        lines += [f"### {op}", "", f"![{op}]({path.relative_to(out).as_posix()})", ""]
    return lines


# --- the report ---------------------------------------------------------------------------------------------


def load_configs(folder: str | os.PathLike | None) -> dict[str, object]:
    """The training configs by model name: ``<folder>/*.yaml``, and ``<folder>/analysis/`` for :data:`ANALYSIS`.

    Empty when there is no folder.
    """
    from paramops.training.config import load_config

    if folder is None or not Path(folder).is_dir():
        return {}
    analysis = (Path(folder) / "analysis" / f"{name}.yaml" for name in ANALYSIS)
    paths = [*sorted(Path(folder).glob("*.yaml")), *(p for p in analysis if p.is_file())]
    configs = (load_config(p) for p in paths)
    return {c.name: c for c in configs}


def write_report(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    configs: str | os.PathLike | None = None,
    limit: int | None = None,
    match: str | None = None,
    device: str | None = None,
    progress: bool = False,
    command: str = "python scripts/report.py",
) -> Path:
    """Score the shipped models on ``data`` and write ``<out>/results.md`` and ``<out>/figures/<op>.png``.

    Where a restoration falls short it cites the control networks of
    ``scripts/plain_restorer.py`` from ``<out>/plain_restorer.json``, if there.

    Parameters
    ----------
    data : path
        Folder of validation images.
    out : path
        Output folder (created); ``results.md`` and ``figures/`` are replaced.
    weights : path, optional
        Folder of ``<model>.pt`` checkpoints; default the shipped ``weights/``.
    configs : path, optional
        Folder of the models' training configs, for the planned budgets.
    limit : int, optional
        Score only the first ``limit`` images (sorted by name); default all.
    match : str, optional
        Score only the images whose names match this glob, e.g. ``"set5_*"``
        (applied before ``limit``).
    device : str, optional
        Where the networks run; default CUDA when available.
    progress : bool
        Show progress bars on stderr.
    command : str
        The command line quoted in the report.

    Returns
    -------
    Path
        The markdown file.
    """
    from paramops.image import color_values
    from paramops.io import read_image
    from paramops.models.checkpoint import weights_dir
    from paramops.training.config import DataConfig

    data, out = Path(data), Path(out)
    files = list_images(data)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 image, got {limit}")
    matching = list_images(data, match)
    chosen = matching[: limit or len(matching)]
    configs_by_name = load_configs(configs)
    names = list(dict.fromkeys([*SHIPPED, *ANALYSIS, *configs_by_name]))
    models = load_models(weights or weights_dir(), names, device=device)
    extra = unseen_points()
    with tempfile.TemporaryDirectory(prefix="paramops-report-") as tmp:
        # evaluate() scores a whole folder; the images keep their names (the
        # reference cache's key) and their order (the noise seeds).
        folder = data
        if len(chosen) < len(files):
            folder = Path(tmp)
            for path in chosen:
                shutil.copy2(path, folder / path.name)
        for name, entry in models.items():
            score_model(entry, folder, extra if name in UNSEEN_COLUMNS else None, progress=progress,
                        ensembled=name == "default")
    figure_paths = {}
    figure_file = next((p for p in files if p.name == FIGURE_IMAGE), chosen[0])
    figure_image = read_image(figure_file)
    side = min(CELL, *figure_image.shape[:2])
    figures = out / "figures"
    for stale in figures.glob("*.png"):  # an operator the model no longer covers must not keep its old figure
        stale.unlink()
    crops = {}
    if models["default"].ok:
        figure_paths = write_figures(models["default"].model, figure_image, figures, name=figure_file.name)
        pairs = getattr(configs_by_name.get("default"), "data", DataConfig())
        crops = crop_scores(models["default"], [color_values(read_image(p)) for p in chosen],
                            patch=pairs.patch, margin=pairs.margin)
    lines = [
        *_header(data, chosen, len(files), models, command),
        *_bars_section(models, crops, load_diagnostics(out)),
        *_budget(models, configs_by_name),
        *_single_vs_numerous(models),
        *_joint(models),
        *_rtv(models),
        *_unseen(models),
        *_restoration(models),
        *_detail(models["default"]),
        *_figures_section(figure_paths, out, f"The central {side} x {side} px of `{figure_file.name}`",
                          models["default"]),
    ]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path
