"""The paper's analyses: multi-path equivalence, receptive fields, weight statistics, head cost, the document."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from paramops.evaluation import paper
from paramops.evaluation.analysis.erf import edge_points, input_gradient, receptive_field
from paramops.evaluation.analysis.head_cost import conv_macs, head_cost
from paramops.evaluation.analysis.multipath import affine_map, check_multipath, multipath_conv, path_kernels
from paramops.evaluation.analysis.weight_stats import compare_weights, conv_weights
from paramops.models import build_model
from paramops.models.base import convs_of
from paramops.evaluation.scores import NOT_TRAINED

TINY = {"width": 4, "dilations": [1], "residual": True}


def _decoupled(param_dim: int = 1, seed: int = 0, fc: str = "fc1"):
    torch.manual_seed(seed)
    return build_model({"arch": "decoupled", "param_dim": param_dim, "fc": fc, **TINY}).eval()


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


# --- 6.4 multi-path equivalence ------------------------------------------------------------------------------


def test_every_predicted_conv_equals_its_d_plus_1_fixed_convolutions():
    net = _decoupled(param_dim=3)
    p = torch.tensor([[0.5, -0.7, 0.9]])
    checks, whole, scale = check_multipath(net, _image(21, 18), p)  # odd size: the padded path too
    assert len(checks) == 8 and all(c.paths == 4 for c in checks)
    for c in checks:
        assert c.scale > 0
        assert c.max_abs_diff <= 1e-12 * max(1.0, c.scale), c
    assert scale > 0 and whole <= 1e-12


def test_the_paths_are_the_fc_layer_and_the_parameters_matter():
    net = _decoupled(param_dim=3)
    stack = net.predictor.layers["conv2"]
    matrix, offset = affine_map(stack)
    p = torch.tensor([[0.2, -0.4, 0.6]], dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(stack(p.float())[0].double(), p[0] @ matrix.T + offset, atol=1e-6)
    kernels = path_kernels(net, "conv2")
    assert kernels.shape == (4, *net.predictor.targets["conv2"].shape)
    # The weighted paths carry real signal: the wrong parameters give a clearly different output.
    spec = convs_of(net.ops)[1]
    h = torch.randn(1, 4, 10, 10, dtype=torch.float64)
    direct = F.conv2d(h, (p[0] @ matrix.T + offset).reshape(kernels.shape[1:]), padding=1)
    assert torch.allclose(multipath_conv(h, kernels, p[0], spec), direct, atol=1e-12)
    assert (multipath_conv(h, kernels, -p[0], spec) - direct).abs().max() > 1e-3


def test_two_linear_fc_layers_collapse_but_a_relu_between_them_does_not():
    p = torch.tensor([[0.3, -0.8]])
    _, whole, _ = check_multipath(_decoupled(param_dim=2, fc="fc2"), _image(16, 16), p)
    assert whole <= 1e-12
    with pytest.raises(ValueError, match="ReLU"):
        check_multipath(_decoupled(param_dim=2, fc="fc2R"), _image(16, 16), p)


# --- 6.2 effective receptive field ---------------------------------------------------------------------------


class GuidedWindow(torch.nn.Module):
    """A constructed edge-aware smoother with a known receptive field.

    Each output pixel averages its (2r+1)^2 window with Gaussian spatial
    weights of sigma 1 + 3 (p + 1) px, times range weights that vanish across
    a strong intensity step (computed from the detached input, so the output is
    linear in the input pixels).
    """

    radius = 6

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        r, k = self.radius, 2 * self.radius + 1
        n, c, h, w = x.shape
        patches = F.unfold(F.pad(x, (r, r, r, r), mode="replicate"), k).view(n, c, k * k, h, w)
        guide = patches.detach()
        range_w = torch.exp(-((guide - x.detach()[:, :, None]) ** 2).sum(1) / 0.01)
        offsets = torch.arange(-r, r + 1, dtype=x.dtype)
        d2 = (offsets[:, None] ** 2 + offsets[None, :] ** 2).reshape(1, k * k, 1, 1)
        sigma = 1 + 3 * (p[0, 0] + 1)
        weights = range_w * torch.exp(-d2 / (2 * sigma**2))
        weights = weights / weights.sum(1, keepdim=True)
        return (patches * weights[:, None]).sum(2)


def _step_image() -> np.ndarray:
    image = np.full((40, 40, 3), 0.2, np.float32)
    image[:, 20:] = 0.8  # a strong vertical step between columns 19 and 20
    return image


def test_receptive_field_grows_with_the_parameter_in_a_flat_region_and_stops_at_an_edge():
    net, image = GuidedWindow(), _step_image()
    flat, edge = (20, 8), (20, 20)
    small, large = torch.tensor([[-1.0]]), torch.tensor([[1.0]])
    flat_small = receptive_field(input_gradient(net, image, small, flat), flat)
    flat_large = receptive_field(input_gradient(net, image, large, flat), flat)
    edge_large = receptive_field(input_gradient(net, image, large, edge), edge)
    assert flat_small.area < flat_large.area <= (2 * net.radius + 1) ** 2
    assert flat_large.extent == net.radius and flat_small.extent < net.radius
    assert flat_large.mask[flat] and edge_large.mask[edge]
    # At the step only the bright side, where the point is, counts.
    assert edge_large.area < flat_large.area
    assert not edge_large.mask[:, :20].any() and edge_large.mask[:, 20:].any()


def test_receptive_field_threshold_and_bad_inputs():
    gradient = np.zeros((9, 9))
    gradient[4, 4], gradient[4, 6], gradient[0, 0] = 1.0, 0.5, 0.01
    field = receptive_field(gradient, (4, 4), fraction=0.1)
    assert field.area == 2 and field.extent == 2
    assert receptive_field(gradient, (4, 4), fraction=0.005).area == 3
    assert receptive_field(np.zeros((3, 3)), (1, 1)).area == 0
    with pytest.raises(ValueError, match="fraction"):
        receptive_field(gradient, (4, 4), fraction=1.5)
    with pytest.raises(ValueError, match="outside"):
        input_gradient(GuidedWindow(), _step_image(), torch.zeros(1, 1), (40, 3))


def test_edge_points_find_flat_moderate_and_strong_places():
    image = np.full((96, 96, 3), 0.1, np.float32)
    image[:, 32:] = 0.35  # moderate step at column 32
    image[:, 64:] = 0.9  # strong step at column 64
    points = edge_points(image)
    assert points["strong edge"][1] in (63, 64)
    assert points["moderate edge"][1] in (31, 32)
    assert min(abs(points["non-edge"][1] - c) for c in (32, 64)) >= 8
    with pytest.raises(ValueError, match="too small"):
        edge_points(image[:40, :40])


# --- 6.3.1 learned-weight statistics -------------------------------------------------------------------------


def test_weight_statistics_of_identical_scaled_and_independent_networks():
    p = torch.tensor([[0.3]])
    a, b, c = (conv_weights(_decoupled(seed=s), p) for s in (0, 0, 1))
    for s in compare_weights(a, b):
        assert s.correlation == pytest.approx(1.0) and s.var_a == s.var_b and s.mean_a == s.mean_b
    doubled = compare_weights(a, {name: 2 * w for name, w in a.items()})
    for s in doubled:
        assert s.correlation == pytest.approx(1.0)
        assert s.var_b == pytest.approx(4 * s.var_a) and s.mean_b == pytest.approx(2 * s.mean_a)
    independent = compare_weights(a, c)
    assert [s.layer for s in independent] == list(range(1, 9))
    assert all(abs(s.correlation) < 0.5 for s in independent)


def test_weight_statistics_refuse_mismatched_or_unpredicted_networks():
    p = torch.tensor([[0.0]])
    a = conv_weights(_decoupled(), p)
    with pytest.raises(ValueError, match="different conv layers"):
        compare_weights(a, dict(list(a.items())[:-1]))
    with pytest.raises(ValueError, match="DecoupledNet"):
        conv_weights(build_model({"arch": "tunable", "param_dim": 1, **TINY}), p)


# --- 6.3.2 head cost -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tuned", "head"),
    [
        ("convs", 182272),  # everything
        ("norm7", 27648),  # the last norm: only conv8 (3x4x3x3 on 16x16) follows
        ("conv_in", 36864),  # conv7's predicted 4x1x3x3 slice + conv8
        ("conv", 64512),  # all of conv7 (4x4x3x3) + conv8
    ],
)
def test_head_macs_count_what_a_parameter_change_recomputes(tuned, head):
    # Width 4, one residual block: convs 1, 2, 7 are 4x4x3x3 at 16x16; 3, 4, 5 at 8x8; conv6 is a
    # 4x4x4x4 transposed conv from 8x8; conv8 3x4x3x3 at 16x16: 182272 multiply-accumulates in all.
    torch.manual_seed(0)
    net = build_model({"arch": "tunable", "param_dim": 1, "tuned": tuned, **TINY}).eval()
    assert conv_macs(net, 16, 16) == (head, 182272)
    cost = head_cost(net, _image(16, 16), torch.zeros(1, 1), repeat=1)
    assert cost.head_macs == head and cost.tuned == tuned and 0 < cost.time_share < 1


# --- the paper's numbers ------------------------------------------------------------------------------------


def test_added_paper_tables_match_their_printed_averages():
    for row, average in paper.TUNED_LAYER_AVERAGE_SSIM.items():
        assert np.mean(list(paper.TUNED_LAYER_SSIM[row].values())) == pytest.approx(average, abs=0.0015)
    assert set(paper.TUNED_LAYER_PSNR) == set(paper.TUNED_LAYER_NAMES.values())
    for column, (psnr, ssim) in paper.FC_VARIANT_AVERAGE.items():
        assert np.mean([r[column][0] for r in paper.FC_VARIANTS.values()]) == pytest.approx(psnr, abs=0.015)
        assert np.mean([r[column][1] for r in paper.FC_VARIANTS.values()]) == pytest.approx(ssim, abs=0.0015)
    for value, row in paper.FC_VARIANTS.items():  # "single" and "nume." repeat Table I's WLS rows
        table_one = paper.lookup(paper.SINGLE_VS_NUMEROUS["wls"], value)
        assert (row["single"][0], row["nume."][0]) == (table_one.single_psnr, table_one.numerous_psnr)
    assert np.mean(paper.UNSEEN_FIXED_SSIM) == pytest.approx(paper.UNSEEN_AVERAGE_SSIM["various (fixed)"], abs=0.0015)
    assert np.mean(paper.UNSEEN_SINGLE_SSIM) == pytest.approx(paper.UNSEEN_AVERAGE_SSIM["single"], abs=0.0015)
    columns = (paper.WEIGHT_CORRELATION, paper.WEIGHT_MEAN_NUMEROUS, paper.WEIGHT_MEAN_SINGLE,
               paper.WEIGHT_VAR_NUMEROUS, paper.WEIGHT_VAR_SINGLE)
    assert all(len(c) == len(paper.WEIGHT_STATS_LAYERS) == 20 for c in columns)


# --- the document -------------------------------------------------------------------------------------------


def _rows(section: str, first_header: str) -> list[list[str]]:
    lines = section.split(f"| {first_header} |", 1)[1].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _section(text: str, name: str) -> str:
    return re.search(rf"<!-- analysis:{name} -->.*?<!-- /analysis:{name} -->", text, flags=re.S).group(0)


@pytest.fixture()
def folders(tmp_path, monkeypatch):
    from skimage import data as samples

    from paramops.io import write_image

    monkeypatch.setenv("PARAMOPS_CACHE", str(tmp_path / "cache"))
    images, weights, out = tmp_path / "val", tmp_path / "weights", tmp_path / "docs"
    images.mkdir()
    (weights / "analysis").mkdir(parents=True)
    for name, image in (("set5_a.png", samples.astronaut()), ("set5_b.png", samples.coffee()),
                        ("other.png", samples.chelsea())):
        write_image(images / name, image[100:156, 120:176])
    return images, weights, out


def test_document_marks_missing_models_not_trained_with_their_training_command(folders, load_script):
    images, weights, out = folders
    argv = ["--data", str(images), "--weights", str(weights), "--out", str(out), "--only", "unseen", "rtv", "fc",
            "--device", "cpu"]
    assert load_script("analysis").main(argv) == 0
    text = (out / "analysis.md").read_text()
    unseen = _section(text, "unseen")
    assert ("train it with `paramops train --config configs/analysis/unseen-l0.yaml "
            "--out weights/analysis/unseen-l0.pt`") in unseen
    assert "train it with `paramops train --config configs/decoupled-l0.yaml --out weights/decoupled-l0.pt`" in unseen
    rows = _rows(unseen, "lam")
    assert len(rows) == 9 and all(r[4] == r[5] == NOT_TRAINED for r in rows)
    assert [r[2].split(" / ")[0] for r in rows] == [f"{v:.2f}" for v in paper.UNSEEN_SINGLE_PSNR]
    rtv = _rows(_section(text, "rtv"), "encoded parameters")
    assert [r[1] for r in rtv[::2]] == ["ours (rtv-params-1)", "ours (rtv-params-2)", "ours (rtv-params-3)",
                                       "ours (decoupled-rtv)"]
    assert all(set(r[2:7]) == {NOT_TRAINED} for r in rtv[::2])
    assert "Not run yet: `python scripts/analysis.py --only erf`" in text


def test_document_fills_trained_models_and_keeps_the_other_sections(folders, save_tiny_model):
    from paramops.evaluation.analysis.document import write_analysis

    images, weights, out = folders
    write_analysis(images, out, weights=weights, only=["fc"], device="cpu")
    save_tiny_model(weights / "decoupled-l0.pt", ["l0"], dilations=[1])
    save_tiny_model(weights / "analysis" / "unseen-l0.pt", ["l0"], dilations=[1],
                    fixed={"l0": {"lam": [0.002, 0.0043, 0.02, 0.0928, 0.2]}})
    write_analysis(images, out, weights=weights, only=["multipath", "erf", "unseen"], match="set5_*", device="cpu")
    text = (out / "analysis.md").read_text()
    assert "fc1 (decoupled-l0)" in _section(text, "fc")  # kept from the first run: decoupled-l0 was not trained then
    assert "not trained" in _rows(_section(text, "fc"), "lam")[0][1]
    multipath = _section(text, "multipath")
    whole = next(r for r in _rows(multipath, "model") if r[0] == "decoupled-l0")
    assert whole[1:3] == ["fc1", "2"] and float(whole[3].split()[0]) <= 1e-12
    assert "from 2 image(s)" in multipath
    erf = _rows(_section(text, "erf"), "point")
    assert [r[0] for r in erf] == ["non-edge", "moderate edge", "strong edge"]
    assert all(int(cell.split(" / ")[0]) >= 1 for r in erf for cell in r[3:8])
    unseen = _rows(_section(text, "unseen"), "lam")
    seen = {r[0]: r[1] for r in unseen}
    assert seen["0.0025"] == "**no**" and seen["0.093"] == "yes"
    assert all(re.fullmatch(r"\d+\.\d\d / \d\.\d{3}", r[4]) for r in unseen)
    gaps = _rows(_section(text, "unseen"), "unseen lam")
    assert [r[0] for r in gaps] == ["0.0025", "0.0033", "0.12", "0.16"] and all(r[1] != "-" for r in gaps)
    for name in ("multipath", "erf", "unseen"):
        assert (out / "figures" / "analysis" / f"{name}.png").is_file()
    with pytest.raises(ValueError, match="unknown analysis"):
        write_analysis(images, out, weights=weights, only=["nope"])


def test_analysis_models_are_not_shipped_models(tmp_path, monkeypatch, save_tiny_model):
    from paramops.models import checkpoint

    (tmp_path / "analysis").mkdir()
    save_tiny_model(tmp_path / "analysis" / "unseen-l0.pt", ["l0"], dilations=[1])
    save_tiny_model(tmp_path / "decoupled-l0.pt", ["l0"], dilations=[1])
    monkeypatch.setattr(checkpoint, "weights_dir", lambda: tmp_path)
    assert checkpoint.available_models() == ["decoupled-l0"]


def test_line_chart_draws_its_series_and_refuses_an_empty_chart():
    from paramops.evaluation.analysis import charts

    red = (214, 39, 40)
    chart = charts.line_chart([charts.Series("a", [1, 2, 3], [3.0, None, 5.0], red)], title="t", x_label="x",
                              y_label="y", size=(300, 200))
    assert chart.dtype == np.uint8 and chart.shape[1] == 300 and chart.shape[0] >= 200
    assert (chart == red).all(axis=2).sum() > 50  # the line and its markers
    with pytest.raises(ValueError, match="no point"):
        charts.line_chart([charts.Series("a", [1, 2], [-1.0, 0.0])], title="t", x_label="x", y_label="y",
                          log_y=True)


def test_fc_verdict_compares_the_sign_of_each_variant_with_the_paper():
    from paramops.evaluation.analysis.ablations import _fc_verdict

    paper_gaps = {"fc2": -1.24, "fc2R": -1.35}
    assert "reproduces." in _fc_verdict({"fc2": -0.3, "fc2R": -0.1}, paper_gaps)[0]
    assert "does not reproduce" in " ".join(_fc_verdict({"fc2": 0.28, "fc2R": -0.1}, paper_gaps))


def test_rtv_verdict_says_whether_more_parameters_cost_quality():
    from paramops.evaluation.analysis.ablations import _rtv_verdict

    assert "cost nothing" in _rtv_verdict([28.99, 29.62, 29.46, 29.88])
    assert "cost 1.00 dB" in _rtv_verdict([30.0, 29.5, 29.2, 29.0])


def test_tuned_verdict_checks_the_papers_three_findings():
    from paramops.evaluation import paper
    from paramops.evaluation.analysis.ablations import TUNED, _tuned_verdict

    theirs = {t: paper.TUNED_LAYER_AVERAGE_PSNR[paper.TUNED_LAYER_NAMES[t]] for t in TUNED}
    assert all("does not reproduce" not in line for line in _tuned_verdict(theirs))
    flipped = {t: -q for t, q in theirs.items()}
    assert all("does not reproduce" in line for line in _tuned_verdict(flipped))


def test_skip_section_compares_each_pair_and_says_which_are_missing(folders, save_tiny_model):
    from paramops.evaluation.analysis.document import write_analysis

    images, weights, out = folders
    save_tiny_model(weights / "analysis" / "restore-w16.pt", ["denoise", "derain"], arch="tunable", dilations=[1])
    save_tiny_model(weights / "analysis" / "restore-w16-skip.pt", ["denoise", "derain"], arch="tunable",
                    dilations=[1], skip=True)
    write_analysis(images, out, weights=weights, only=["skip"], match="set5_*", device="cpu")
    section = _section((out / "analysis.md").read_text(), "skip")
    assert f"Not compared, missing: `tuned-conv_in` ({NOT_TRAINED}), `tuned-conv_in-skip` ({NOT_TRAINED})." in section
    rows = _rows(section, "operator")
    assert [r[0] for r in rows] == ["denoise 15 (gain)", "denoise 25 (gain)", "denoise 50 (gain)", "derain"]
    for label, without, with_skip, difference in rows:
        assert float(difference) == pytest.approx(float(with_skip) - float(without), abs=0.011)
    assert "With the skip: higher on" in section


def test_pair_verdict_counts_wins_and_differences_beyond_one_runs_spread():
    from paramops.evaluation.analysis.ablations import pair_verdict

    verdict = pair_verdict([("l0", 26.0, 26.5), ("wls", 25.0, 26.0), ("sr 2 (gain)", 0.2, -0.9)], "the skip")
    assert verdict.startswith("With the skip: ")
    assert "higher on 2 of 3 rows, +0.13 dB on average; 2 row(s) differ by more than the 0.7 dB" in verdict
