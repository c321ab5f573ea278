"""Sections that look inside trained networks: receptive fields (6.2), learned weights (6.3.1), multi-path form (6.4)."""

from __future__ import annotations

import numpy as np

from paramops.evaluation import paper
from paramops.evaluation.analysis import charts
from paramops.evaluation.analysis.context import NOT_TRAINED, Context, models_note, score_cell, table
from paramops.evaluation.analysis.erf import POINT_KINDS, edge_points, edge_strength, input_gradient, receptive_field
from paramops.evaluation.analysis.multipath import check_multipath, path_kernels
from paramops.evaluation.analysis.weight_stats import compare_weights, conv_weights
from paramops.evaluation.protocol import test_points
from paramops.operators.registry import get_operator

ERF_MODEL = "decoupled-l0"
ERF_IMAGE = "set5_bird_GT.png"  # a flat background, soft and hard edges
ERF_MAX_SIDE = 320  # px; the central crop keeps 15 back-propagations affordable on a CPU
ERF_WINDOW = 161  # px shown around each point
PAPER_ERF = {  # section 6.2's three observations on Fig. 4
    "non-edge": "grows with lam, mostly within the object",
    "moderate edge": "small until lam is large",
    "strong edge": "small for every lam",
}
NUMEROUS, SINGLE = "decoupled-l0", "single-l0-0.02"
# The single-value network trained from another seed: the paper's independent pair. Used when its config
# (configs/analysis/<name>.yaml) or its weights exist.
OTHER_SEED = "single-l0-0.02-seed1"
MULTIPATH_MODELS = ("decoupled-l0", "decoupled-l0-fc2", "decoupled-l0-fc2R", "decoupled-rtv")
MULTIPATH_CROP = 128  # px; the check runs in float64
# Points where the encoded parameter is not 0 (lam = 0.02 encodes to 0, where
# every weighted path vanishes and the check would be trivially exact).
MULTIPATH_LAMS = (0.0043, 0.093)


def _independent_verdict(stats, paper_abs: float, paper_ratios: np.ndarray) -> str:
    """What the independently initialised pair shows against the paper's correlations and variance ratios."""
    ours_abs = float(np.mean([abs(t.correlation) for t in stats]))
    ours_ratio = float(np.median([t.var_b / t.var_a for t in stats]))
    verdict = "near zero like the paper's: this result reproduces" if ours_abs < 0.1 else "not near zero"
    return (f"mean |correlation| {ours_abs:.3f} against the paper's {paper_abs:.3f}, {verdict}. The variance"
            f" ratio does not: single / nume. {ours_ratio:.2f} against the paper's {np.median(paper_ratios):.1f}."
            " Our weights keep the scale of their initialisation through their short training; the paper's"
            " variances (15 to 800) show a scale we cannot match without its training length and"
            " initialisation.")


def _first_image(ctx: Context, preferred: str) -> tuple[str, np.ndarray]:
    from paramops.image import to_working
    from paramops.io import read_image

    images = ctx.images
    path = next((p for p in images if p.name == preferred), images[0])
    rgb, _ = to_working(read_image(path))
    return path.name, rgb


def _centre(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return np.ascontiguousarray(image[top : top + side, left : left + side])


def _missing(ctx: Context, name: str, what: str) -> list[str]:
    entry = ctx.model(name)
    why = f"not trained; train it with `{ctx.train_command(name)}`" if entry.status == NOT_TRAINED else entry.status
    return [f"**Not computed**: {what} need `{name}`, which is {why}.", ""]


# --- 6.2 effective receptive field ---------------------------------------------------------------------------


def _overlay(image: np.ndarray, mask: np.ndarray, point: tuple[int, int]) -> np.ndarray:
    """A window of ``image`` around ``point``: dimmed, the receptive field green, the point in red."""
    import cv2

    grey = (np.repeat(image.mean(axis=2, keepdims=True), 3, axis=2) * 0.6 + 0.2) * 255
    cell = np.where(mask[..., None], 0.4 * grey + 0.6 * np.array([0, 255, 0]), grey).astype(np.uint8)
    h, w = mask.shape
    half = ERF_WINDOW // 2
    top = int(np.clip(point[0] - half, 0, max(0, h - ERF_WINDOW)))
    left = int(np.clip(point[1] - half, 0, max(0, w - ERF_WINDOW)))
    window = np.ascontiguousarray(cell[top : top + ERF_WINDOW, left : left + ERF_WINDOW])
    centre = (point[1] - left, point[0] - top)
    cv2.drawMarker(window, centre, (255, 0, 0), cv2.MARKER_CROSS, 9, 1)
    out = np.full((ERF_WINDOW, ERF_WINDOW, 3), 255, np.uint8)
    out[: window.shape[0], : window.shape[1]] = window
    return out


def erf_section(ctx: Context) -> list[str]:
    lines = [
        "Paper section 6.2 / Fig. 4. For one output pixel, back-propagate from that pixel alone (all three",
        "colour channels) to the input image; input pixels whose summed absolute gradient exceeds",
        f"{paper.ERF_GRADIENT_FRACTION:g} of the largest form the effective receptive field (the paper's threshold",
        "factor is lost in our copy of its text; see `paper.ERF_GRADIENT_FRACTION`). L0 smoothing, as in the paper;",
        "points chosen automatically from the Sobel edge strength: the flattest 15 x 15 window (non-edge), the",
        "strongest edge, and an edge ridge at about a third of that strength (moderate). Our networks are",
        "residual (output = input + prediction), so the identity path alone gives the point itself a",
        "gradient of 1 per channel; an area of 1 px means the output copies the input pixel there.",
        "",
        *models_note(ctx, [ERF_MODEL]),
    ]
    entry = ctx.model(ERF_MODEL)
    if not entry.ok:
        ctx.write_figure("erf", None)
        return lines + _missing(ctx, ERF_MODEL, "the receptive fields")
    name, image = _first_image(ctx, ERF_IMAGE)
    image = _centre(image, ERF_MAX_SIDE)
    points = edge_points(image)
    strength = edge_strength(image)
    lams = [v for _, v in test_points("l0")]
    fields = {kind: [receptive_field(input_gradient(entry.model.net, image, entry.model.encode("l0", lam=lam),
                                                    points[kind]), points[kind]) for lam in lams]
              for kind in POINT_KINDS}
    rows = []
    for kind in POINT_KINDS:
        y, x = points[kind]
        rows.append([kind, f"({y}, {x})", f"{strength[y, x]:.3f}",
                     *(f"{f.area} / {f.extent}" for f in fields[kind]), PAPER_ERF[kind]])
    from paramops.models.base import receptive_radius

    radius = receptive_radius(entry.model.net.ops)
    lines += [
        f"Image: the central {image.shape[0]} x {image.shape[1]} px of `{name}`. Cells: area (px) / extent",
        "(largest distance of a field pixel from the point, px). The network's theoretical receptive radius",
        f"is {radius} px.",
        "",
        *table(["point", "(row, col)", "edge strength", *(f"lam={v:g}" for v in lams), "paper (Fig. 4)"], rows),
    ]
    cells = [[_overlay(image, f.mask, points[kind]) for f in fields[kind]] for kind in POINT_KINDS]
    grid = charts.image_grid(cells, rows=list(POINT_KINDS), columns=[f"lam={v:g}" for v in lams],
                             title=f"Effective receptive field (green) of the red point, {ERF_MODEL}")
    ctx.write_figure("erf", grid)
    return lines + [ctx.figure_link("erf", "effective receptive fields"), ""]


# --- 6.3.1 learned weights -----------------------------------------------------------------------------------


def _initial_weights(ctx: Context, name: str, p):
    """The conv weights ``name`` started from, redrawn as the training loop draws them, or ``None``.

    The loop seeds torch with the config's ``train.seed`` and then builds the
    network, so the same two calls give the same initial weights.
    """
    import torch

    from paramops.models import build_model

    config = ctx.config(name)
    if config is None:
        return None
    torch.manual_seed(config.train.seed)
    return conv_weights(build_model(config.model_config()).eval(), p)


def weights_section(ctx: Context) -> list[str]:
    lines = [
        "Paper section 6.3.1 / Table XI. Per conv layer, the correlation coefficient between the weights of",
        f"`{NUMEROUS}` (trained over the whole lam range, \"nume.\") and `{SINGLE}` (trained at one value), and",
        "each one's mean and variance. Both are DecoupledNets, so both sets of weights are predicted; they are",
        "taken at the single-value model's lam. The paper does not say at which lam it took the range-trained",
        "weights, and its variances (15 to 800) show a different weight scale from our He-initialised",
        "networks, so compare correlations and the single/nume. ratios, not raw means and variances.",
        "",
    ]
    other_present = ctx.config(OTHER_SEED) is not None or ctx.checkpoint(OTHER_SEED).is_file()
    lines += models_note(ctx, [NUMEROUS, SINGLE, *([OTHER_SEED] if other_present else [])])
    numerous, single = ctx.scored(NUMEROUS), ctx.scored(SINGLE)
    other = ctx.model(OTHER_SEED) if other_present else None
    missing = [e.name for e in (numerous, single) if not e.ok]
    if missing:
        ctx.write_figure("weights", None)
        return lines + _missing(ctx, missing[0], "the weight statistics")
    fixed = (single.model.meta.get("fixed") or {}).get("l0", {})
    lam = float(fixed.get("lam", get_operator("l0").params[0].default))
    p = numerous.model.encode("l0", lam=lam)
    numerous_weights = conv_weights(numerous.model.net, p)
    stats = compare_weights(numerous_weights, conv_weights(single.model.net, p))
    other_stats = compare_weights(numerous_weights, conv_weights(other.model.net, p)) if other and other.ok else None
    starts = {n: _initial_weights(ctx, n, p) for n in (NUMEROUS, SINGLE)}
    drift = {}
    for n, entry in ((NUMEROUS, numerous), (SINGLE, single)):
        if starts[n] is not None:
            drift[n] = [s.correlation for s in compare_weights(conv_weights(entry.model.net, p), starts[n])]
    same_start = bool(drift) and np.median([c for cs in drift.values() for c in cs]) > 0.5
    corr_rows, moment_rows = [], []
    paper_ratios = np.array(paper.WEIGHT_VAR_SINGLE) / np.array(paper.WEIGHT_VAR_NUMEROUS)

    def theirs(column, i: int, fmt: str = "g") -> str:  # the paper's layer i, if it has one
        return format(column[i], fmt) if i < len(column) else "-"

    for i, s in enumerate(stats):
        other_cell = [] if other is None else [f"{other_stats[i].correlation:.3f}" if other_stats else NOT_TRAINED]
        corr_rows.append([s.layer, "x".join(map(str, s.shape)), f"{s.correlation:.3f}", *other_cell,
                          theirs(paper.WEIGHT_CORRELATION, i),
                          *(f"{drift[n][i]:.3f}" if n in drift else "-" for n in (NUMEROUS, SINGLE))])
        moment_rows.append([s.layer, f"{s.mean_a:.2e}", f"{s.mean_b:.2e}", theirs(paper.WEIGHT_MEAN_NUMEROUS, i),
                            theirs(paper.WEIGHT_MEAN_SINGLE, i), f"{s.var_a:.2e}", f"{s.var_b:.2e}",
                            f"{s.var_b / s.var_a:.2f}", theirs(paper.WEIGHT_VAR_NUMEROUS, i),
                            theirs(paper.WEIGHT_VAR_SINGLE, i), theirs(paper_ratios, i, ".1f")])
    mean_abs = float(np.mean([abs(s.correlation) for s in stats]))
    paper_abs = float(np.mean(np.abs(paper.WEIGHT_CORRELATION)))
    ratios = [s.var_b / s.var_a for s in stats]
    q_num, q_single = (score_cell(e, "l0", lam) for e in (numerous, single))
    ref_num, ref_single = paper.WEIGHT_STATS_QUALITY["nume."], paper.WEIGHT_STATS_QUALITY["single"]
    lines += [
        f"Weights at lam = {lam:g}. Quality there on our images (PSNR dB / SSIM): {NUMEROUS} {q_num}, {SINGLE}",
        f"{q_single}; paper {ref_num[0]:.2f} / {ref_num[1]:.3f} (nume.) vs {ref_single[0]:.2f} / "
        f"{ref_single[1]:.3f} (single).",
        "",
        f"- Mean |correlation| over layers: ours ({NUMEROUS} vs {SINGLE}) **{mean_abs:.3f}**, paper {paper_abs:.3f}.",
        f"- Variance single / nume., median over layers: ours **{np.median(ratios):.2f}**, "
        f"paper {np.median(paper_ratios):.1f}.",
    ]
    if other_stats:
        lines.append(f"- Against `{OTHER_SEED}` (same training, another seed): mean |correlation| "
                     f"**{np.mean([abs(t.correlation) for t in other_stats]):.3f}**, variance single / nume. median "
                     f"**{np.median([t.var_b / t.var_a for t in other_stats]):.2f}**.")
    if drift:
        lines.append("- Correlation of each trained network with its own initial weights (redrawn from its config's "
                     "seed), median over layers: " + ", ".join(f"{n} {np.median(c):.3f}" for n, c in drift.items())
                     + ".")
    if same_start:
        lines += [
            "",
            f"**`{SINGLE}` against `{NUMEROUS}` is not Table XI's setting.** Both start from the same random",
            "weights (same seed, same architecture) and stay close to them after their short training, so their",
            "correlation is mostly the shared start, not what training learned. The paper's near-zero",
            "correlations come from independently trained networks."
            + (f" `{OTHER_SEED}` is that comparison: {_independent_verdict(other_stats, paper_abs, paper_ratios)}"
               if other_stats else
               f" Training the single-value network from another seed (`{OTHER_SEED}`: its config with"
               " `train: {seed: 1}`) would make the comparison the paper's."),
        ]
    lines += [
        "",
        "### Correlation per layer",
        "",
        *table(["layer", "weight shape", "nume. vs single", *([f"nume. vs {OTHER_SEED}"] if other else []), "paper",
                f"{NUMEROUS} vs its start",
                f"{SINGLE} vs its start"], corr_rows),
        "### Mean and variance per layer",
        "",
        *table(["layer", "mean nume.", "mean single", "paper mean nume.", "paper mean single", "var nume.",
                "var single", "var single / nume.", "paper var nume.", "paper var single", "paper ratio"], moment_rows),
    ]
    layers = [s.layer for s in stats]
    series = [charts.Series("ours: nume. vs single", layers, [s.correlation for s in stats], charts.PALETTE[0]),
              charts.Series("paper (Table XI)", list(paper.WEIGHT_STATS_LAYERS), list(paper.WEIGHT_CORRELATION),
                            charts.PALETTE[3], dashed=True)]
    series += [charts.Series(f"{n} vs its start", layers, c, charts.PALETTE[1 + k])
               for k, (n, c) in enumerate(drift.items())]
    if other_stats:
        series.append(charts.Series(f"ours: nume. vs {OTHER_SEED}", layers, [t.correlation for t in other_stats],
                                    charts.PALETTE[4]))
    top = charts.line_chart(series, title="Correlation of conv weights per layer", x_label="conv layer",
                            y_label="correlation", x_ticks=[(v, str(v)) for v in layers if v % 2 == 1])
    bottom = charts.line_chart(
        [charts.Series("ours", layers, ratios, charts.PALETTE[0]),
         charts.Series("paper (Table XI)", list(paper.WEIGHT_STATS_LAYERS), list(paper_ratios), charts.PALETTE[3],
                       dashed=True)],
        title="Variance of the single-value network's weights / the range-trained one's", x_label="conv layer",
        y_label="ratio", log_y=True, x_ticks=[(v, str(v)) for v in layers if v % 2 == 1])
    ctx.write_figure("weights", charts.stack([top, bottom]))
    return lines + [ctx.figure_link("weights", "weight statistics per layer"), ""]


# --- 6.4 multi-path equivalence ------------------------------------------------------------------------------


def _paths_figure(net, encode, image: np.ndarray) -> np.ndarray:
    """conv1's two paths for one output channel, and their sums at the ends of the lam range."""
    import torch

    from paramops.models.base import convs_of
    from paramops.models.layers import conv

    spec = convs_of(net.ops)[0]
    kernels = path_kernels(net, spec.name).float()
    channel = int(kernels[1].flatten(1).norm(dim=1).argmax())  # the channel the parameter moves most
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    low, high = (encode(lam=v) for v in (test_points("l0")[0][1], test_points("l0")[-1][1]))
    with torch.no_grad():
        h = net.prepare(x, low)
        paths = [conv(h, k, spec)[0, channel].numpy() for k in kernels]
    sums = [paths[0] + float(p[0, 0]) * paths[1] for p in (low, high)]
    shown = [*paths, *sums]
    scale = max(float(np.abs(s).max()) for s in shown) or 1.0
    cells = [np.repeat((np.clip(s / scale, -1, 1) * 127.5 + 127.5).astype(np.uint8)[..., None], 3, axis=2)
             for s in shown]
    rgb = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    columns = ["input", "path 0 (x 1)", "path 1 (x p)",
               f"sum, p={float(low[0, 0]):+.0f}", f"sum, p={float(high[0, 0]):+.0f}"]
    return charts.image_grid([[rgb, *cells]], rows=[f"conv1 ch {channel}"], columns=columns,
                             title="conv1 of decoupled-l0 as two fixed convolutions mixed by p (grey = 0)")


def multipath_section(ctx: Context) -> list[str]:
    lines = [
        "Paper section 6.4, eq. 5. A conv layer whose weights come from one FC layer, W(p) = A p + b, equals",
        "d+1 convolutions with fixed kernels (b and the d columns of A) whose outputs are summed with weights",
        "1, p_1, ..., p_d. Checked on a forward pass: the network is run in float64 with every conv replaced",
        "by its d+1-path block; each layer's output is compared with the ordinary conv's on the same input, and",
        f"the final image with the ordinary network's. Input: the central {MULTIPATH_CROP} x {MULTIPATH_CROP} px of",
        "the first validation image (named under the tables). Two FC layers without a ReLU between them",
        "(`fc2`) collapse to one affine map, so the same holds; with a ReLU (`fc2R`) the weights are not",
        "affine in p and there are no such paths.",
        "",
        *models_note(ctx, list(MULTIPATH_MODELS)),
    ]
    base = ctx.model(MULTIPATH_MODELS[0])
    name, image = _first_image(ctx, "")
    crop = _centre(image, MULTIPATH_CROP)
    summary = []
    per_layer = {}
    for model_name in MULTIPATH_MODELS:
        entry = ctx.model(model_name)
        if not entry.ok:
            summary.append([model_name, "-", "-", NOT_TRAINED if entry.status == NOT_TRAINED else "unreadable", "-"])
            continue
        model = entry.model
        op = model.operators[0]
        spec = get_operator(op)
        if op == "l0":
            points = [{"lam": v} for v in MULTIPATH_LAMS]
        else:  # every encoded parameter off its default (default-valued parameters may encode to 0)
            points = [{p.name: p.from_unit(u) for p in spec.params} for u in (0.3, 0.8)]
        fc = model.config.get("fc", "-")
        try:
            results = [check_multipath(model.net, crop, model.encode(op, **params)) for params in points]
        except ValueError as err:
            summary.append([model_name, fc, "-", f"no fixed paths: {str(err).split(':')[0]}", "-"])
            continue
        paths = results[0][0][0].paths
        worst = max(r[1] for r in results)
        scale = max(r[2] for r in results)
        where = "; ".join(", ".join(f"{k}={v:.3g}" for k, v in params.items()) for params in points)
        summary.append([model_name, fc, paths, f"{worst:.1e} (output up to {scale:.2f})", where])
        if model_name == MULTIPATH_MODELS[0]:
            per_layer = {"points": points, "results": results}
    lines += [
        f"Input image: `{name}`.",
        "",
        "### Whole network",
        "",
        *table(["model", "weight-learning net", "paths per conv (d+1)", "largest difference of the output images",
                "parameters checked"], summary),
    ]
    if per_layer:
        rows = []
        layers = per_layer["results"][0][0]
        for i, check in enumerate(layers):
            rows.append([check.name, "x".join(map(str, check.shape)), check.paths,
                         *(f"{r[0][i].max_abs_diff:.1e} (of {r[0][i].scale:.3g})" for r in per_layer["results"])])
        header = ["layer", "kernel", "paths", *(f"max diff at lam={p['lam']:g}" for p in per_layer["points"])]
        lines += [f"### Per layer, {MULTIPATH_MODELS[0]}", "",
                  "Largest absolute difference between the layer's multi-path and ordinary outputs (largest",
                  "absolute output in parentheses).", "",
                  *table(header, rows)]
        ctx.write_figure("multipath", _paths_figure(base.model.net, lambda **kw: base.model.encode("l0", **kw), crop))
        lines += [ctx.figure_link("multipath", "conv1 as a sum of fixed convolutions"), ""]
    else:
        ctx.write_figure("multipath", None)
        lines += _missing(ctx, MULTIPATH_MODELS[0], "the per-layer check and the figure")
    return lines
