"""How each model was built and trained, in a few words and as the report's budget table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from paramops.evaluation.markdown import table
from paramops.evaluation.scores import NOT_TRAINED, ModelScores


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
    if net.get("own_branch"):
        branch += f", an own branch ({net['own_branch']} convs {net['own_width']} wide)"
    if net.get("bank_slots"):
        branch += ", a Laplacian bank"
    extras = ((", long skip" if net.get("skip") else "")
              + (f", tone head ({net['tone_curve']} knots)" if net.get("tone_curve") else "") + branch)
    return f"{net.get('arch')}, width {net.get('width')}{narrowed}{tuned}{extras}"


def tuned_only(ops: Sequence[str]) -> str:
    """What a run with ``train.tune_only`` trained (:mod:`paramops.training.own`), or nothing."""
    return f", only the weight-learning network's entries of {', '.join(ops)} learning" if ops else ""


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
        + tuned_only(meta.get("tune_only") or ())
    )
    start = meta.get("init")
    if start:
        hours = float(start.get("train_seconds") or 0) / 3600
        sources = start["from"] if isinstance(start["from"], list) else [start["from"]]
        names = ", ".join(f"`{Path(str(source)).stem}`" for source in sources)
        text += f", after {start.get('steps', '?')} steps ({hours:.2f} h) as " + (
            names if len(sources) == 1 else f"the mean of the weights of {names}")
    return text


def total_steps(meta: Mapping[str, object]) -> str:
    """A checkpoint's training steps, with those of the checkpoint it was fine-tuned from (and its starts)."""
    steps = [meta.get("steps"), (meta.get("init") or {}).get("steps")]
    return f"{sum(int(s) for s in steps if s is not None):,}" if steps[0] is not None else "?"


def budget_section(models: Mapping[str, ModelScores], configs: Mapping[str, object]) -> list[str]:
    """The report's training-budget table: each model's network, planned budget (its config) and trained one."""
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
                + tuned_only(config.train.tune_only)
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
