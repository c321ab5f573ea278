"""What would close a quality bar the default falls short of, in the report's words.

Each failed bar is explained from what the other models reach on it, what its
operator gives on training crops (:func:`crop_scores`) and what the diagnostic
scripts measured (:class:`~paramops.evaluation.diagnostics.Diagnostics`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from paramops.evaluation import paper
from paramops.evaluation.bars import Bar, measure, quality_bars, rows_by_psnr
from paramops.evaluation.budget import total_steps
from paramops.evaluation.diagnostics import Diagnostics
from paramops.evaluation.scores import HEADED, ONE_OPERATOR, ModelScores
from paramops.operators.registry import get_operator, operators_laying

# What a restoration's closing says when the default's head is the gated detail readout.
GATED_HEAD = (" The default's head already holds what the plain control below points to: two full-resolution convs"
              " predicted from the parameters over a blind branch, with B's residual scaled by a gate predicted from"
              " them too, so the readout need not learn B's error where B is wrong (`configs/default.yaml`;"
              " `docs/training.md`, fourteenth session).")
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
        weakest = rows_by_psnr(default, bar.op)[0]
        params = {} if weakest["param"] is None else {weakest["param"]: weakest["value"]}
        score = np.mean([crop_consistency(image, bar.op, patch=patch, margin=margin, **params) for image in images])
        found[bar.op] = CropScore(params, float(score), patch, margin)
    return found


def _crop_text(crop: CropScore) -> str:
    at = "".join(f" at {k}={v:g}" for k, v in crop.params.items())
    return (f" Its reference looks at the whole image (registry context `image`): run on {crop.patch} px crops with"
            f" {crop.margin} px of context, as crop-made training pairs are, it scores {crop.psnr:.2f} dB{at} against"
            " its own whole-image result on these images")


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


def _plain_text(op: str, runs: Mapping[str, tuple[float, int]], best: float, headed: float | None,
                need: float) -> str:
    """What the control networks say about ``op``, beside ``best``, the best gain a model here reaches,
    ``headed``, what the default given the control's head reaches (None: not measured), and ``need``, the bar."""
    if "given" not in runs:
        return ""
    given, steps = runs["given"]
    text = (f" A plain network of eight full-resolution convs trained on {op} alone for {steps:,} steps"
            f" (`docs/plain_restorer.md`) gains {given:.2f} dB given the parameter as an input channel")

    def trained(mode: str) -> str:  # a control trained for another number of steps than ``given`` says so
        return "" if runs[mode][1] == steps else f" in {runs[mode][1]:,} steps"

    if "blind" in runs:
        text += f", {runs['blind'][0]:.2f} dB blind{trained('blind')}"
    if "head" in runs:
        text += (f", {runs['head'][0]:.2f} dB{trained('head')} with the parameter predicting only its last two convs'"
                 " weights (a head that cheap tuning would recompute)")
    if given - best <= 0.5:
        passes = "; trained on this operator alone for that long, it passes the bar" if given >= need else ""
        return (text + ": within half a decibel of the best model here, so its shape is not what holds this bar back"
                + passes + ".")
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


def closing(bar: Bar, bars: Sequence[Bar], models: Mapping[str, ModelScores],
            crops: Mapping[str, CropScore], diagnostics: Diagnostics) -> str:
    """What would close a failed bar, from what the other models, the operator on crops and the paper show."""
    default = models["default"]
    if bar.kind == "mean":
        failing = [b.op for b in bars if b.kind == "filter" and b.passed is False]
        return (f"{bar.label}: {bar.ours:.2f} dB; it rises with the filters that fall short "
                f"({', '.join(failing) or 'none of them; every filter passes, but not by enough'}).")
    text = f"{bar.label}: {bar.ours:.2f} dB, {bar.required}."
    rows = rows_by_psnr(default, bar.op)
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
    measured = [(name, measure(models.get(name), bar), reason) for name, reason in candidates]
    measured = [(name, value, reason) for name, value, reason in measured if value is not None]
    values = {name: value for name, value, _ in measured}
    control = (_plain_text(bar.op, diagnostics.plain.get(bar.op, {}), max([bar.ours, *values.values()]),
                           values.get(HEADED), bar.need)
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
        return text + (f" not a longer run of this network on these patches than the {total_steps(default.model.meta)}"
                       " steps run (5,000 steps more, with the operators drawn equally or rebalanced, moved no bar by"
                       " more than 0.4 dB: `docs/training.md`, ninth session).") + control
    return text + (f" not a longer run on these patches than the {total_steps(default.model.meta)} steps run:"
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


def ensembled_closing(bar: Bar) -> str:
    """What self-ensembling does for a failed gain bar, where measured."""
    if bar.ensembled is None:
        return ""
    verdict = "which passes" if bar.ensembled >= bar.need else f"still {bar.need - bar.ensembled:.2f} dB short"
    return (f" Self-ensembled it gains {bar.ensembled:+.2f} dB, {verdict}: the mean of eight passes under the image's"
            " rotations and transposes (`paramops apply --self-ensemble`, the plugin's \"8x ensemble\" box), eight"
            " times the time of one.")
