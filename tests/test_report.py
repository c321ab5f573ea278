"""The results report: tables, the paper's numbers, quality bars, missing models and figures."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from paramops.evaluation import paper
from paramops.evaluation.bars import quality_bars
from paramops.evaluation.figures import BAND, GAP, LABEL_WIDTH
from paramops.evaluation.scores import ModelScores
from paramops.operators.registry import operators
from paramops.training.config import load_config

SIDE = 40  # test images are SIDE x SIDE, smaller than the figures' crop, so their cells are too


@pytest.fixture(scope="module")
def report(tmp_path_factory, save_tiny_model, load_script) -> tuple[str, Path]:
    from skimage import data as samples

    from paramops.io import write_image

    root = tmp_path_factory.mktemp("report")
    mp = pytest.MonkeyPatch()
    mp.setenv("PARAMOPS_CACHE", str(root / "cache"))
    weights, images, out = root / "weights", root / "val", root / "docs"
    weights.mkdir()
    images.mkdir()
    save_tiny_model(weights / "default.pt", ["l0", "style", "sr", "denoise", "deblock"], arch="tunable")
    save_tiny_model(weights / "decoupled-l0.pt", ["l0"])
    (weights / "analysis").mkdir()
    save_tiny_model(weights / "analysis" / "unseen-l0.pt", ["l0"], fixed={"l0": {"lam": [0.002, 0.2]}})
    # Three images, scored with --limit 2: the third must not count.
    for name, image in (("a.png", samples.astronaut()), ("b.png", samples.coffee()), ("c.png", samples.chelsea())):
        write_image(images / name, image[100 : 100 + SIDE, 120 : 120 + SIDE])
    argv = ["--data", str(images), "--weights", str(weights), "--out", str(out), "--limit", "2", "--device", "cpu"]
    try:
        assert load_script("report").main(argv) == 0
    finally:
        mp.undo()
    return (out / "results.md").read_text(), out


def _table_rows(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first markdown table after ``heading``."""
    body = text.split(heading, 1)[1].split("\n|---", 1)[1].splitlines()[1:]
    rows = []
    for line in body:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_report_has_every_table_with_the_papers_numbers(report):
    text, _ = report
    for heading in ("## Quality bars", "## Training budget", "## Table I/II", "## Table III", "## Table IV",
                    "## Table XIV", "## Restoration per level", "## Figures"):
        assert heading in text
    assert re.search(r"2 of its 3 images \([^)]*; see the command above\)", text)
    # Paper numbers: Table I (L0 at 0.02), Table II (denoise at 25), Table III, VI, XIV.
    assert "| 0.02 | 36.07 / 0.982 | 35.71 / 0.981 |" in text
    assert "| 25 | 28.94 / 0.821 | 28.98 / 0.822 |" in text
    l0 = next(r for r in _table_rows(text, "## Table III") if r[0] == "l0")
    assert l0[6:11] == ["35.25", "32.67", "31.01", "29.54", "31.81"]
    assert "26.66 (Table VI)" in text and "25.61 (Table VI)" in text
    # unseen-l0 (five fixed values) is scored at every value, like the range-trained models.
    assert re.search(r"\| 0\.0025 \| \*\*yes\*\* \| 40\.19 \| 39\.33 \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \|", text)
    assert "Machine:" in text and "cores usable" in text


def test_missing_models_say_not_trained_yet(report):
    text, _ = report
    budget = {r[0]: r for r in _table_rows(text, "## Training budget")}
    assert budget["decoupled-joint"][-1] == "not trained yet"
    assert budget["default"][-1].startswith("20 steps x batch 4")
    planned = load_config(Path(__file__).parents[1] / "configs" / "default.yaml").train.steps
    assert budget["default"][4].startswith(f"{planned} steps")  # the planned budget, from the config
    joint = {r[0]: r for r in _table_rows(text, "## Table III")}
    assert joint["l0"][3] == "not trained yet" and joint["l0"][4] == "not trained yet"
    assert joint["rtv"][2] == "-"  # default exists but does not cover rtv
    single = {r[0]: r for r in _table_rows(text, "### Table I,")}
    assert single["0.02"][3] == "not trained yet"


def test_quality_bars_and_tables_agree(report):
    text, _ = report
    bars = {r[0]: r for r in _table_rows(text, "## Quality bars")}
    assert set(bars) >= {f"{op}, mean over test values" for op in operators("filter")}
    assert bars["rtv, mean over test values"][3] == "**FAIL** (model lacks rtv)"
    l0 = bars["l0, mean over test values"]
    assert l0[3] in ("pass", "**FAIL**")
    # The bar is the mean of the default's five l0 values in Table I.
    per_value = [float(r[5].split(" / ")[0]) for r in _table_rows(text, "### Table I,")]
    assert len(per_value) == 5
    assert float(l0[2]) == pytest.approx(np.mean(per_value), abs=0.01)
    gain = bars["denoise sigma=25, gain over input"]
    level = next(r for r in _table_rows(text, "## Restoration per level") if r[:2] == ["denoise", "sigma=25"])
    assert gain[2] == level[4]
    # The self-ensembled gain: measured for the restorations only, and a number of its own.
    assert gain[4].split(" ")[0] == level[5] and gain[4].split(" ")[1] in ("(pass)", "(short)")
    assert level[5] != level[4] and l0[4] == "-"
    assert "### Falling short, and what would close it" in text


def test_figures_are_written(report):
    import imageio.v3 as iio

    text, out = report
    for op, columns in (("l0", 6), ("style", 2), ("denoise", 4)):
        path = out / "figures" / f"{op}.png"
        assert f"![{op}](figures/{op}.png)" in text
        figure = iio.imread(path)
        assert figure.shape == (BAND * 4 + 2 * SIDE, LABEL_WIDTH + columns * (GAP + SIDE), 3)
        cell = figure[2 * BAND : 2 * BAND + SIDE, LABEL_WIDTH + GAP : LABEL_WIDTH + GAP + SIDE]
        assert cell.std() > 5  # the input photo, not a blank
    assert not (out / "figures" / "rtv.png").exists()  # default does not cover rtv


def _fake_default(psnrs: dict[str, float], gains: dict[tuple[str, float], float]) -> ModelScores:
    rows = {}
    for op, value in psnrs.items():
        rows[(op, 1.0)] = {"op": op, "param": "p", "value": 1.0, "psnr": value, "ssim": 0.9}
    for (op, level), gain in gains.items():
        rows[(op, level)] = {"op": op, "param": "p", "value": level, "psnr": 20 + gain, "ssim": 0.9,
                             "input_psnr": 20.0, "input_ssim": 0.5}
    model = SimpleNamespace(operators=tuple(psnrs) + tuple(op for op, _ in gains), meta={}, config={})
    return ModelScores("default", "ok", model, rows)


def test_quality_bars_pass_and_fail():
    filters = {op: 32.0 for op in operators("filter")}
    filters.update(l0=27.9, style=25.5, pencil=24.9)
    bars = {b.label: b for b in quality_bars(_fake_default(filters, {("denoise", 25.0): 8.2, ("sr", 2.0): 1.4}))}
    assert bars["l0, mean over test values"].status == "**FAIL**"
    assert bars["wls, mean over test values"].status == "pass"
    assert bars["style, mean over test values"].status == "pass"  # its bar is 25 dB, not 28
    assert bars["pencil, mean over test values"].status == "**FAIL**"
    mean = bars["mean over all filters"]
    assert mean.ours == pytest.approx(np.mean(list(filters.values()))) and mean.status == "pass"
    assert bars["denoise sigma=25, gain over input"].status == "pass"
    assert bars["sr scale=2, gain over input"].status == "**FAIL**"
    assert bars["deblock quality=10, gain over input"].status.startswith("**FAIL** (model lacks")
    missing = quality_bars(ModelScores("default", "not trained yet"))
    assert {b.status for b in missing} == {"not trained yet"}


def test_closing_counts_the_steps_of_a_fine_tune_and_its_start():
    from paramops.evaluation.report import _bars_section

    default = _fake_default({op: 32.0 for op in operators("filter")}, {("sr", 2.0): 0.7})
    default.model.meta.update(steps=5000, init={"from": "weights/analysis/start.pt", "steps": 28000})
    default.model.config.update(width=32)
    sr = next(line for line in _bars_section({"default": default}, {}) if line.startswith("- sr"))
    assert "0.70 dB, >= +1.5 dB" in sr and "than the 33,000 steps run" in sr and "ours is 32" in sr


def test_closing_names_the_restorations_alone_where_they_do_better():
    from paramops.evaluation.report import _bars_section

    default = _fake_default({op: 32.0 for op in operators("filter")}, {("sr", 2.0): 0.7, ("deblock", 10.0): 0.6})
    alone = _fake_default({}, {("sr", 2.0): 1.6, ("deblock", 10.0): 0.8})
    lines = _bars_section({"default": default, "restore-w32": alone}, {})
    sr = next(line for line in lines if line.startswith("- sr"))
    assert "restore-w32 reaches 1.60 dB: it is the default's network and recipe trained on the three" in sr
    alone.rows[("sr", 2.0)]["psnr"] = 21.4
    sr = next(line for line in _bars_section({"default": default, "restore-w32": alone}, {}) if line.startswith("- sr"))
    assert "restore-w32 reaches 1.40 dB, still short of the bar: it is" in sr
    deblock = next(line for line in lines if line.startswith("- deblock"))
    assert "No other model does much better (restore-w32 0.80 dB)" in deblock


def test_closing_of_a_gated_default_says_its_head_holds_the_control_s_shape():
    from paramops.evaluation.closings import GATED_HEAD
    from paramops.evaluation.report import _bars_section

    default = _fake_default({op: 32.0 for op in operators("filter")}, {("sr", 2.0): 1.25})
    lines = _bars_section({"default": default, "restore-w32": _fake_default({}, {("sr", 2.0): 0.67})}, {})
    sr = next(line for line in lines if line.startswith("- sr"))
    assert "not a longer run" in sr and GATED_HEAD not in sr
    default.model.config.update(detail_branch=6, detail_hidden=32, detail_gate=True)
    lines = _bars_section({"default": default, "restore-w32": _fake_default({}, {("sr", 2.0): 0.67})}, {})
    sr = next(line for line in lines if line.startswith("- sr"))
    assert "No other model does much better (restore-w32 0.67 dB). The default's head already holds" in sr
    assert sr.endswith(GATED_HEAD) and "not a longer run" not in sr


def test_closing_cites_the_plain_control_per_restoration(tmp_path):
    import json

    from paramops.evaluation.diagnostics import PLAIN_CONTROL_FILE, Diagnostics, load_diagnostics
    from paramops.evaluation.report import _bars_section

    runs = {"a": {"op": "sr", "mode": "given", "norm": "none", "steps": 1500, "gain": 1.44},
            "b": {"op": "sr", "mode": "blind", "norm": "none", "steps": 1500, "gain": 0.18},
            "c": {"op": "sr", "mode": "given", "norm": "instance norm", "steps": 1500, "gain": -0.58},
            "d": {"op": "sr", "mode": "head", "norm": "none", "steps": 1500, "gain": 1.0},
            "e": {"op": "deblock", "mode": "given", "norm": "none", "steps": 1500, "gain": 0.81}}
    (tmp_path / PLAIN_CONTROL_FILE).write_text(json.dumps(runs))
    plain = load_diagnostics(tmp_path).plain
    assert plain["sr"]["given"] == (1.44, 1500)  # the instance-norm run is not the plain network
    default = _fake_default({op: 32.0 for op in operators("filter")}, {("sr", 2.0): 0.7, ("deblock", 10.0): 0.6})
    alone = _fake_default({}, {("sr", 2.0): 0.75, ("deblock", 10.0): 0.8})
    lines = _bars_section({"default": default, "restore-w32": alone}, {}, Diagnostics(plain=plain))
    sr = next(line for line in lines if line.startswith("- sr"))
    assert "gains 1.44 dB given the parameter as an input channel, 0.18 dB blind, 1.00 dB with" in sr
    assert "more than any model here" in sr and "keep only part of that gain" in sr
    runs["d"]["gain"] = 1.5  # a head that keeps the gain in the control, and the default given it
    (tmp_path / PLAIN_CONTROL_FILE).write_text(json.dumps(runs))
    headed = _fake_default({}, {("sr", 2.0): 0.75})
    models = {"default": default, "restore-w32": alone, "default-restore-head": headed}
    sr = next(line for line in _bars_section(models, {}, load_diagnostics(tmp_path)) if line.startswith("- sr"))
    assert "two of them in a cheap-tuning head keep that gain, but not on top of the default" in sr
    assert "default-restore-head, the default given such a head over its frozen rest, reaches 0.75 dB" in sr
    deblock = next(line for line in lines if line.startswith("- deblock"))
    assert "within half a decibel of the best model here" in deblock
    assert " in 1,500 steps" not in sr + deblock
    # The longest run of each control is cited, and one trained for fewer steps than "given" says how many.
    runs["f"] = {"op": "deblock", "mode": "given", "norm": "none", "steps": 3000, "gain": 0.91}
    runs["g"] = {"op": "deblock", "mode": "head", "norm": "none", "steps": 1500, "gain": 0.78}
    (tmp_path / PLAIN_CONTROL_FILE).write_text(json.dumps(runs))
    deblock = next(line for line in _bars_section(models, {}, load_diagnostics(tmp_path)) if line.startswith("- deblock"))
    assert "trained on deblock alone for 3,000 steps (`docs/plain_restorer.md`) gains 0.91 dB given" in deblock
    assert "0.78 dB in 1,500 steps with the parameter predicting only its last two convs' weights" in deblock
    assert "it passes the bar" not in deblock  # 0.91 dB against a bar of 1
    runs["f"]["gain"] = 1.02
    (tmp_path / PLAIN_CONTROL_FILE).write_text(json.dumps(runs))
    deblock = next(line for line in _bars_section(models, {}, load_diagnostics(tmp_path)) if line.startswith("- deblock"))
    assert ("not what holds this bar back; trained on this operator alone for that long, it passes the bar."
            in deblock)
    assert load_diagnostics(tmp_path / "elsewhere") == Diagnostics()
    assert "plain network" not in "".join(_bars_section({"default": default}, {}))


def test_paper_tables_match_their_printed_averages():
    # The flattened text lost column labels; each mapping is checked against the paper's own averages.
    for row, average in paper.JOINT_AVERAGE_PSNR.items():
        assert np.mean(list(paper.JOINT_PSNR[row].values())) == pytest.approx(average, abs=0.015)
    for row, average in paper.TUNED_LAYER_AVERAGE_PSNR.items():
        assert np.mean(list(paper.TUNED_LAYER_PSNR[row].values())) == pytest.approx(average, abs=0.015)
    assert np.mean(list(paper.TUNABLE_PSNR.values())) == pytest.approx(paper.TUNABLE_AVERAGE_PSNR, abs=0.015)
    for op, table in paper.SINGLE_VS_NUMEROUS.items():
        numerous = np.mean([entry.numerous_psnr for entry in table.values()])
        assert numerous == pytest.approx(paper.JOINT_PSNR["1"][op], abs=0.015)
    for scores in paper.RTV_DIMS.values():
        assert np.mean(scores[:-1]) == pytest.approx(scores[-1], abs=0.015)
    assert np.mean(paper.UNSEEN_SINGLE_PSNR) == pytest.approx(paper.UNSEEN_AVERAGE_PSNR["single"], abs=0.015)
    assert np.mean(paper.UNSEEN_FIXED_PSNR) == pytest.approx(paper.UNSEEN_AVERAGE_PSNR["various (fixed)"], abs=0.015)
    # Table XIV repeats Table I's single-value scores at the values it trained on.
    for value, single in zip(paper.UNSEEN_LAMS, paper.UNSEEN_SINGLE_PSNR):
        if value not in paper.UNSEEN_HELD_OUT:
            assert paper.lookup(paper.SINGLE_VS_NUMEROUS["l0"], value).single_psnr == single


def test_network_summary_names_what_sets_a_network_apart():
    from paramops.evaluation.budget import network_summary

    assert network_summary({"arch": "decoupled", "width": 64}) == "decoupled, width 64"
    config = {"arch": "tunable", "width": 32, "tuned": "conv_in", "tuned_channels": 8, "skip": True}
    assert network_summary(config) == "tunable, width 32, tuned conv_in (8 input channels), long skip"
    assert network_summary({**config, "tuned_channels": 1}) == "tunable, width 32, tuned conv_in, long skip"
    narrow = {"arch": "tunable", "width": 32, "last_width": 8, "tuned": "conv", "skip": True}
    assert network_summary(narrow) == "tunable, width 32, last hidden conv 8 wide, tuned conv, long skip"
    assert network_summary({**narrow, "tone_curve": 16}).endswith("long skip, tone head (16 knots)")
    detail = {**narrow, "detail_branch": 6, "detail_hidden": 32}
    assert network_summary(detail).endswith("long skip, detail branch (6 convs, readout 32 wide)")
    assert network_summary({**detail, "detail_gate": True}).endswith("detail branch (6 convs, readout 32 wide, gated)")
    fielded = {**detail, "fields": ["pencil_paper"]}
    assert network_summary(fielded).endswith("readout 32 wide), fields (pencil_paper)")
    assert network_summary({**fielded, "field_branch": 5, "field_width": 24}).endswith(
        "fields (pencil_paper) read by a field branch (5 convs 24 wide)")
    assert network_summary({**detail, "own_branch": 8, "own_width": 32}).endswith(
        "readout 32 wide), an own branch (8 convs 32 wide)")


def test_failed_whole_image_filters_are_measured_on_training_crops():
    from skimage import data as samples

    from paramops.evaluation.closings import crop_scores
    from paramops.evaluation.diagnostics import Diagnostics
    from paramops.evaluation.report import _bars_section

    rows = {(op, None): {"op": op, "param": None, "value": None, "psnr": psnr, "ssim": 0.5}
            for op, psnr in (("pencil", 16.0), ("shock", 20.0), ("llf_remap", 30.0))}
    model = SimpleNamespace(operators=("pencil", "shock", "llf_remap"), meta={}, config={"norm_windows": [96, 64]})
    default = ModelScores("default", "ok", model, rows)
    photo = samples.astronaut()[::4, ::4][:96, :96]
    crops = crop_scores(default, [photo, photo[..., 0]], patch=32, margin=8)
    # pencil fails and looks at the whole image; shock fails but is local; llf_remap passes.
    assert set(crops) == {"pencil"}
    assert crops["pencil"].psnr < 25 and (crops["pencil"].patch, crops["pencil"].margin) == (32, 8)
    text = "\n".join(_bars_section({"default": default}, crops))
    pencil = next(line for line in text.splitlines() if line.startswith("- pencil"))
    assert f"run on 32 px crops with 8 px of context, as crop-made training pairs are, it scores {crops['pencil'].psnr:.2f} dB" in pencil
    assert "no width or schedule" in pencil and "which its 96 px windows do not" in pencil
    shock = next(line for line in text.splitlines() if line.startswith("- shock"))
    assert "crops" not in shock
    # A tone head ranks pixels in the whole image: where the default beats the crops, they are not its ceiling.
    toned_model = SimpleNamespace(**{**vars(model), "config": {**model.config, "tone_curve": 16}})
    above = crops["pencil"].psnr + 1.0
    toned_rows = {**rows, ("pencil", None): {**rows["pencil", None], "psnr": above}}
    text = "\n".join(_bars_section({"default": ModelScores("default", "ok", toned_model, toned_rows)}, crops))
    pencil = next(line for line in text.splitlines() if line.startswith("- pencil"))
    assert f"not a ceiling for the default, which scores {above:.2f} dB there: its tone head ranks" in pencil
    assert "strokes by the image's strongest" in pencil and "no width or schedule" not in pencil
    assert "tile origins" not in pencil  # scripts/pencil_phase.py not run
    for ceiling, verdict in ((23.13, "below"), (26.0, "above")):
        text = "\n".join(_bars_section({"default": ModelScores("default", "ok", toned_model, toned_rows)}, crops,
                                       Diagnostics(ceilings={"pencil": {"psnr": ceiling, "phases": 16}})))
        pencil = next(line for line in text.splitlines() if line.startswith("- pencil"))
        assert f"mean over 16 other tile origins scores {ceiling:.2f} dB against it, {verdict} the bar" in pencil
    # A default given the texture as an input channel is not capped by it.
    placed = SimpleNamespace(**{**vars(toned_model), "config": {**toned_model.config, "fields": ["pencil_paper"]}})
    text = "\n".join(_bars_section({"default": ModelScores("default", "ok", placed, toned_rows)}, crops,
                                   Diagnostics(ceilings={"pencil": {"psnr": 23.13, "phases": 16}})))
    pencil = next(line for line in text.splitlines() if line.startswith("- pencil"))
    assert "scores 23.13 dB against it" in pencil and "so what is left is its training" in pencil
    assert "only a network given the pixel's place" not in pencil
    assert "Fitted to the reference" not in pencil  # scripts/pencil_oracles.py not run
    text = "\n".join(_bars_section({"default": ModelScores("default", "ok", placed, toned_rows)}, crops,
                                   Diagnostics(oracles={"pencil": {"stroke_gain": 0.5, "texture_amplitude": 0.52,
                                                                   "control": 0.08}})))
    pencil = next(line for line in text.splitlines() if line.startswith("- pencil"))
    assert ("stroke layer per image would add +0.50 dB (luminance), the texture's finest detail times a smooth map"
            " +0.52 dB (+0.08 with the texture laid elsewhere") in pencil
    assert "Split band by band" not in pencil  # scripts/error_bands.py not run
    scales = [*(f"at {2 ** k} px" for k in range(6)), "at 64 px and up", "in the image's mean"]
    split = {"model": "default", "images": 19, "scales": scales, "rows": [
        {"param": None, "value": None, "psnr": 22.03, "shared": 22.36, "each": 23.34,
         "gains": [0.98, 1.02, 1.03, 1.06, 1.16, 1.39, 1.55, 1.0]}]}
    text = "\n".join(_bars_section({"default": ModelScores("default", "ok", placed, toned_rows)}, crops,
                                   Diagnostics(bands={"pencil": split})))
    pencil = next(line for line in text.splitlines() if line.startswith("- pencil"))
    assert ("(`docs/error_bands_pencil.md`), the default's change to the image is too weak at 32 px (1.39), at 64 px"
            " and up (1.55) (the gain that fits each band to the reference's); gains shared by all images would add"
            " +0.33 dB (luminance), each image's own +1.31.") in pencil
    split["rows"][0]["gains"][-1] = 0.37
    text = "\n".join(_bars_section({"default": ModelScores("default", "ok", placed, toned_rows)}, crops,
                                   Diagnostics(bands={"pencil": split})))
    assert "and up (1.55) and too strong in the image's mean (0.37) (the gain" in text
    split["rows"][0]["gains"] = [1.1] * 8
    text = "\n".join(_bars_section({"default": ModelScores("default", "ok", placed, toned_rows)}, crops,
                                   Diagnostics(bands={"pencil": split})))
    assert "the default's change to the image is within 0.2 of the reference's at every scale" in text
    below = {**rows, ("pencil", None): {**rows["pencil", None], "psnr": crops["pencil"].psnr - 1.0}}
    text = "\n".join(_bars_section({"default": ModelScores("default", "ok", toned_model, below)}, crops))
    assert "no width or schedule" in next(line for line in text.splitlines() if line.startswith("- pencil"))


def test_training_summary_names_a_fine_tunes_start_and_operator_weights():
    from paramops.evaluation.budget import training_summary

    meta = {"steps": 5000, "batch": 16, "data": {"pairs": 36000, "patch": 64, "folder": "train"},
            "train_seconds": 3600.0, "device": "cpu"}
    plain = training_summary(meta)
    assert plain == "5000 steps x batch 16 on 36000 pairs of 64 px from `train`, 1.00 h on cpu"
    tuned = training_summary({**meta, "op_weights": {"sr": 3, "style": 0.5},
                              "init": {"from": "weights/analysis/default-long.pt", "steps": 28000,
                                       "train_seconds": 7200.0}})
    assert tuned == ("5000 steps x batch 16 on 36000 pairs of 64 px from `train` (operators drawn sr x3, style x0.5),"
                     " 1.00 h on cpu, after 28000 steps (2.00 h) as `default-long`")
    averaged = training_summary({**meta, "steps": 0, "train_seconds": 0.0,
                                 "init": {"from": ["weights/a.pt", "weights/analysis/b.pt"], "steps": 9000,
                                          "train_seconds": 3600.0}})
    assert averaged.endswith(", after 9000 steps (1.00 h) as the mean of the weights of `a`, `b`")
    one = training_summary({**meta, "data": {**meta["data"], "pairs": 9600, "operators": ["pencil"]}})
    assert one.startswith("5000 steps x batch 16 on 9600 pencil pairs of 64 px")
    own = training_summary({**meta, "tune_only": ["sr", "deblock"]})
    assert own == plain + ", only the weight-learning network's entries of sr, deblock learning"
