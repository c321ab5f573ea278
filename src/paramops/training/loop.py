"""The training loop: L2 loss in RGB (paper eq. 3), Adam, a step schedule.

A run is resumable: every ``checkpoint_every`` steps the model, optimiser,
schedule, step and random states go to ``<run_dir>/last.pt``, and a new call
with the same config picks up from there. The finished model is exported as a
self-describing checkpoint (architecture, encoding, weights, checksum) to
``weights/<name>.pt`` or wherever ``out`` says.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from paramops.training.config import PART_LEARNING_RATES, READ_BY, RunConfig
from paramops.training.pairs import PairSpec, cache_dir, list_images, make_pairs

# The random stream of the origins of fields laid on patches whose operator has none: apart from the run's
# own draws, so that a network taking fields draws the same pairs, turns and batches as one without.
FIELD_STREAM = 7


def pick_device(device: str | None = None):
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Dataset(NamedTuple):
    """All training pairs of a run, concatenated over its operators."""

    inputs: np.ndarray  # uint8, N x P x P x 3
    targets: np.ndarray  # uint8, N x P x P x 3
    vectors: np.ndarray  # encoded parameters, N x dim
    op_index: np.ndarray  # each pair's operator, as its index in config.operators, N
    cdfs: np.ndarray  # luminance histograms of the images the pairs were cut from, N x 256
    origins: np.ndarray | None  # where the network's position fields are laid from, N x 2; None without fields
    gains: np.ndarray | None  # the network's image fields' gains, N x image fields; None without them
    banks: np.ndarray | None  # Laplacian bank maps of the pairs of the bank's readers, M x J x P x P; None without
    bank_rows: np.ndarray | None  # each pair's row of banks, -1 for the pairs of operators that do not read it, N


def build_dataset(config: RunConfig, *, progress: bool = True) -> Dataset:
    """All training pairs of a run.

    For a network with position fields, ``origins`` holds each patch's corner
    in the image its operator ran on where the operator has a field (the
    pairs store it); the other operators' outputs do not depend on where a
    patch lies, so their patches get the fields from random places, the same
    for every run of the config. Likewise for image fields, ``gains`` holds
    the gain on the image the operator ran on where the operator has the
    field, and gains drawn as photographs give them elsewhere. For a network
    with a Laplacian bank, ``banks`` holds the maps of the pairs of the
    operators that read it, the only ones whose output depends on them.
    """
    from paramops.operators.fields import is_image_field, typical_gains
    from paramops.operators.registry import get_operator

    images = list_images(config.data.train)
    encoding = config.encoding()
    fields = config.model_config().get("fields") or ()
    placed, scaled = bool(fields), [name for name in fields if is_image_field(name)]
    rng = np.random.default_rng([config.train.seed, FIELD_STREAM])
    inputs, targets, vectors, op_index, cdfs, origins, gains, banks, bank_rows = [], [], [], [], [], [], [], [], []
    bank_count = 0
    for op in config.trained_operators:
        index = config.operators.index(op)
        pairs = make_pairs(pair_spec(config, op), images, progress=progress)
        operator = get_operator(op)
        count = len(pairs["params"])
        inputs.append(pairs["inputs"])
        targets.append(pairs["targets"])
        vectors.append(encoding.encode_batch([(op, dict(zip(operator.param_names, row))) for row in pairs["params"]]))
        op_index.append(np.full(count, index))
        cdfs.append(pairs["cdfs"])
        if placed:
            origins.append(pairs["origins"] if operator.position_field else rng.integers(0, 2**16, (count, 2)))
        if scaled:
            gains.append(np.stack([pairs["gains"] if operator.image_field == name else typical_gains(name, rng, count)
                                   for name in scaled], axis=1))
        if op in config.bank_readers:
            banks.append(pairs["banks"])
            bank_rows.append(np.arange(bank_count, bank_count + count))
            bank_count += count
        else:
            bank_rows.append(np.full(count, -1))
    return Dataset(np.concatenate(inputs), np.concatenate(targets), np.concatenate(vectors), np.concatenate(op_index),
                   np.concatenate(cdfs), np.concatenate(origins) if placed else None,
                   np.concatenate(gains) if scaled else None,
                   np.concatenate(banks) if banks else None, np.concatenate(bank_rows) if config.bank_readers else None)


def pair_spec(config: RunConfig, op: str) -> PairSpec:
    """The spec of the training pairs a run makes for ``op``, seeded by the run's seed and ``op``'s place in its list."""
    return PairSpec(
        op,
        config.data.pairs_per_op,
        patch=config.data.patch,
        margin=config.data.margin,
        whole_photo=config.data.whole_photo,
        names=config.encoding().params[op],
        fixed=config.fixed.get(op, {}),
        seed=config.train.seed * 1000 + config.operators.index(op),
        bank=op in config.bank_readers,
    )


def pair_probabilities(config: RunConfig, op_index: np.ndarray) -> np.ndarray | None:
    """How likely each pair is to be drawn: ``train.op_weights`` shared among an operator's pairs.

    None when no weights are set: every pair equally likely, drawn as runs
    without weights always were, so their random streams stay as they were.
    """
    weights = config.train.op_weights
    if not weights:
        return None
    per_op = np.array([float(weights.get(op, 1.0)) for op in config.operators])
    counts = np.bincount(op_index, minlength=len(per_op))
    p = per_op[op_index] / counts[op_index]
    return p / p.sum()


def as_batch(images: np.ndarray, device):
    """uint8 images (N x H x W x 3) as a float tensor in [0, 1], N x 3 x H x W, on ``device``."""
    import torch

    return torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float().div_(255)


def input_batch(net, data: Dataset, idx: np.ndarray, device):
    """The network inputs of pairs ``idx``: :func:`as_batch`, positioned where ``net`` takes fields."""
    from paramops.models.layers import with_fields

    x = as_batch(data.inputs[idx], device)
    if not net.fields:
        return x
    return with_fields(x, net.fields, data.origins[idx], None if data.gains is None else data.gains[idx])


# The state-dict names of the tone head's predictor layers ("tone.color", "tone.curve" in the predictor).
TONE_PARAMETERS = "predictor.layers.tone_"
# Those of the detail branch: its convs and the predictor layers of its readout and gate.
DETAIL_PARAMETERS = ("detail_convs.", "predictor.layers.detail_")
# Those of the field branch and the own branch: their convs and readouts.
FIELD_PARAMETERS = ("field_convs.", "field_readout.")
OWN_PARAMETERS = ("own_convs.", "own_readout.")
# Each part with a learning rate of its own (PART_LEARNING_RATES): its parameters' state-dict names.
PART_PARAMETERS = {"tone_lr": TONE_PARAMETERS, "detail_lr": DETAIL_PARAMETERS, "field_lr": FIELD_PARAMETERS,
                   "own_lr": OWN_PARAMETERS, "bank_lr": "bank_readout."}


def _initial_weights(config: RunConfig, start, net) -> None:
    """Load ``start``'s weights into ``net``: the same architecture and encoding, or an error saying which differs.

    ``norm_windows`` may differ (it changes no weight), and a network with a
    tone head, a detail branch (hidden readout and all), a detail gate,
    position fields, a field branch or an own branch may start from one without, and one with a deeper branch
    from one with a shallower: each starts as an identity (the fields with
    zero weights), so the run starts from ``start``'s function.
    """
    from paramops.models.own_branches import SLOT_BRANCHES
    from paramops.models.registry import LATER_DEFAULTS, build_model, resolve_config
    from paramops.training.branch import deepen

    if start.encoding != config.encoding():
        raise ValueError(f"train.init {config.train.init!r} encodes other operators or parameters than this config")
    ours, theirs = resolve_config(config.model_config()), resolve_config(start.config)
    slot_branches = [f"{prefix}_branch" for prefix, _ in SLOT_BRANCHES]
    parts = ("tone_curve", "detail_branch", "detail_gate", "fields", *slot_branches, "bank_slots")
    added = {key: LATER_DEFAULTS[key] for key in parts if not theirs.get(key) and ours.get(key)}
    # What comes with a part and never after it: a hidden readout with its branch, a slot branch's width and slots.
    comes_with = {"detail_branch": ("detail_hidden",),
                  **{f"{prefix}_branch": (f"{prefix}_width", f"{prefix}_slots") for prefix, _ in SLOT_BRANCHES}}
    for part, others in comes_with.items():
        if part in added:
            added |= {key: LATER_DEFAULTS[key] for key in others if ours.get(key) != LATER_DEFAULTS[key]}
    if 0 < (theirs.get("detail_branch") or 0) < (ours.get("detail_branch") or 0):  # new convs after the last
        added["detail_branch"] = theirs["detail_branch"]
    our_fields, their_fields = list(ours.get("fields") or ()), list(theirs.get("fields") or ())
    # Fields after the start's own: their channels come last, so they are read with zero weights.
    more_fields = len(our_fields) > len(their_fields) and our_fields[: len(their_fields)] == their_fields
    differ = sorted(k for k in ours.keys() | theirs.keys()
                    if k not in {"norm_windows", *added, *(["fields"] if more_fields else [])}
                    and ours.get(k) != theirs.get(k))
    if differ:
        raise ValueError(f"train.init {config.train.init!r} has another architecture ({', '.join(differ)} differ)")
    state = start.net.state_dict()
    if more_fields:
        state = _with_field_inputs(state, net)
    missing, _ = net.load_state_dict(state, strict=not added)
    # Only what the added or grown options add may be missing: the rest is in a network as ``start`` is.
    lacking = [key for key in missing if key in build_model({**ours, **added}).state_dict()] if added else []
    if lacking:
        raise ValueError(f"train.init {config.train.init!r} lacks weights {', '.join(lacking)}")
    if added.get("detail_branch"):
        deepen(net.detail_convs, net.detail_ops, added["detail_branch"])


def _with_field_inputs(state: dict, net) -> dict:
    """``state`` of a network with fewer fields than ``net`` (its first ones, or none), with zero weights
    for ``net``'s other field channels.

    The fields come last in the network input (:func:`~paramops.models.layers.network_input`), which the
    first convs of B, of the detail branch and of the field branch read.
    """
    import torch

    from paramops.models.base import convs_of

    firsts = [f"convs.{convs_of(net.ops)[0].name}"]
    if net.detail_branch:
        firsts.append(f"detail_convs.{net.detail_ops[0].name}")
    for prefix in getattr(net, "slot_branches", ()):
        first = f"{prefix}_convs.{getattr(net, f'{prefix}_ops')[0].name}"
        if first in state:
            firsts.append(first)
    widened, own = dict(state), net.state_dict()
    for key in firsts:
        weight = state[key]
        zeros = weight.new_zeros(weight.shape[0], own[key].shape[1] - weight.shape[1], *weight.shape[2:])
        widened[key] = torch.cat([weight, zeros], dim=1)
    return widened


# Training inputs whose branch activations decide which channels are closed (train.revive).
REVIVE_PROBES = 2000


def _revive(net, data: Dataset, seed: int) -> dict[str, int]:
    """:func:`~paramops.training.branch.revive` the branch's channels that none of ``REVIVE_PROBES`` training inputs
    opens; how many each conv got back."""
    import torch

    from paramops.models.layers import network_input
    from paramops.training.branch import closed_channels, revive

    rng = np.random.default_rng(seed)
    probes = np.sort(rng.choice(len(data.inputs), min(REVIVE_PROBES, len(data.inputs)), replace=False))
    device = next(net.parameters()).device
    chunks = np.array_split(probes, -(-len(probes) // 100))
    batches = (network_input(input_batch(net, data, chunk, device)) for chunk in chunks)
    closed = closed_channels(net.detail_ops, net.detail_convs, batches)
    return revive(net.detail_ops, net.detail_convs, closed, torch.Generator().manual_seed(seed))


def bank_batch(data: Dataset, idx: np.ndarray, device):
    """The Laplacian bank maps of pairs ``idx`` (N x J x P x P float), zeros for the operators that do not read it."""
    import torch

    from paramops.models.bank import BANK_SIZE

    rows = data.bank_rows[idx]
    banks = np.zeros((len(idx), BANK_SIZE, *data.inputs.shape[1:3]), dtype=np.float32)
    if data.banks is not None:  # None when no operator this run draws reads the bank
        banks[rows >= 0] = data.banks[rows[rows >= 0]]
    return torch.from_numpy(banks).to(device)


def on_patches(net, x, p, cdfs: np.ndarray, bank=None):
    """``net`` on a batch of training patches: a tone head ranks their pixels in the images they were cut from,
    a Laplacian bank reads those images' maps, ``bank`` (cut and turned as ``x``)."""
    import torch

    context = {"bank": bank} if net.bank_slots else {}
    if net.tone_curve:
        context["cdf"] = torch.from_numpy(cdfs).to(x.device)
    return net(x, p, **context)


def _parameter_groups(net, config: RunConfig) -> list[dict]:
    """Adam's parameter groups: the tone head's at ``train.tone_lr``, the detail branch's at
    ``train.detail_lr``, the field branch's at ``train.field_lr``, the own branch's at ``train.own_lr`` and
    the Laplacian bank's readout at ``train.bank_lr`` when set, everything else at ``train.lr``; with
    ``train.tune_only``, those operators' own entries of the weight-learning network alone
    (:mod:`paramops.training.own`), and the parts only they read (``READ_BY``) at their rates when set.

    A group at rate 0 beside one that learns is frozen: its parameters leave
    the optimiser and get no gradients, so a run that trains one part alone
    does not pay for the backward pass through the rest.
    """
    tc = config.train
    if tc.tune_only:
        from paramops.training.own import own_columns

        slots = config.encoding().own_slots(tc.tune_only)
        groups = [{"params": own_columns(net, tc.tune_only, slots), "lr": tc.lr}]
        for key in READ_BY:  # only tuned operators read these parts (parse_config checks)
            if getattr(tc, key):
                groups.append({"params": [p.requires_grad_(True) for p in _part(net, key)], "lr": getattr(tc, key)})
        return groups
    groups = [{"params": _part(net, key), "lr": getattr(tc, key)}
              for key in PART_LEARNING_RATES if getattr(tc, key) is not None]
    grouped = {id(p) for group in groups for p in group["params"]}
    groups = [{"params": [p for p in net.parameters() if id(p) not in grouped], "lr": tc.lr}, *groups]
    if all(group["lr"] == 0 for group in groups):
        return groups
    for group in groups:
        if group["lr"] == 0:
            for p in group["params"]:
                p.requires_grad_(False)
    return [group for group in groups if group["lr"] != 0]


def _part(net, key: str) -> list:
    """The parameters of the part whose learning rate is ``train.<key>`` (:data:`PART_PARAMETERS`)."""
    return [p for name, p in net.named_parameters() if name.startswith(PART_PARAMETERS[key])]


def _save_atomic(obj, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(
    config: RunConfig,
    *,
    run_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    device: str | None = None,
    max_steps: int | None = None,
    progress: bool = True,
) -> Path:
    """Train one configuration, resuming from ``run_dir/last.pt`` if present.

    Parameters
    ----------
    config : RunConfig
    run_dir : path, optional
        Where resumable state and the log go; default ``<cache>/runs/<name>``,
        outside the work tree so that sittings survive a fresh checkout.
    out : path, optional
        The exported checkpoint; default ``weights/<name>.pt``.
    device : str, optional
        ``"cuda"``, ``"cpu"``...; default CUDA where present.
    max_steps : int, optional
        Stop (resumably) after this many steps in this call, for sittings.

    Returns
    -------
    Path
        The exported checkpoint, or the resumable state if the run is not finished.
    """
    import torch
    from tqdm import tqdm

    from paramops.models import build_model
    from paramops.models.checkpoint import save_checkpoint
    from paramops.models.symmetry import SYMMETRIES, turn
    from paramops.training.start import starting_model, training_so_far

    tc = config.train
    run_dir = Path(run_dir or cache_dir() / "runs" / config.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    out = Path(out or Path("weights") / f"{config.name}.pt")
    dev = pick_device(device)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)

    net = build_model(config.model_config())
    state_path = run_dir / "last.pt"
    state = torch.load(state_path, map_location=dev, weights_only=False) if state_path.exists() else None
    step, seconds = (state["step"], state["seconds"]) if state else (0, 0.0)
    stop = tc.steps if max_steps is None else min(tc.steps, step + max_steps)
    # Pairs take minutes to make or load; a run with no step to take, such as
    # one that only averages checkpoints (train.steps: 0), needs none.
    if step < stop or (tc.revive and state is None):
        data = build_dataset(config, progress=progress)
        draw = pair_probabilities(config, data.op_index)
    start = starting_model(tc.init)
    revived = None
    if state is None:  # a fresh run; a resumed one has its weights in its state
        if start is not None:
            _initial_weights(config, start, net)
        if tc.revive:
            revived = _revive(net, data, tc.seed)
    net = net.to(dev)
    groups = _parameter_groups(net, config)
    base_rates = [group["lr"] for group in groups]  # the schedule rewrites the groups' own
    optimiser = torch.optim.Adam(groups)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones=list(tc.milestones), gamma=tc.gamma)
    rng = np.random.default_rng(tc.seed)
    if state:
        net.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        # The config's schedule wins over the saved one, so a run can be
        # shortened or lengthened between sittings without starting again:
        # its milestones, and the rate they give at this step (MultiStepLR
        # only ever multiplies the rate it has).
        schedule.milestones = Counter(tc.milestones)
        for group, base in zip(optimiser.param_groups, base_rates):
            group["lr"] = tc.lr_at(step, base)

    def checkpoint() -> None:
        _save_atomic(
            {
                "model": net.state_dict(),
                "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict(),
                "rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "seconds": seconds,
                "loss": smoothed,
            },
            state_path,
        )

    bar = tqdm(total=tc.steps, initial=step, desc=f"train {config.name}", disable=not progress, dynamic_ncols=True)
    log = open(run_dir / "log.jsonl", "a")
    if revived is not None:
        log.write(json.dumps({"revived": revived}) + "\n")
    smoothed = state.get("loss") if state else None  # a run resumed to export reports its last loss
    net.train()
    try:
        while step < stop:
            started = time.perf_counter()
            count = len(data.inputs)
            idx = rng.integers(0, count, tc.batch) if draw is None else rng.choice(count, tc.batch, p=draw)
            symmetry = int(rng.integers(0, SYMMETRIES))
            x = turn(input_batch(net, data, idx, dev), symmetry)  # a patch's fields turn with it
            y = turn(as_batch(data.targets[idx], dev), symmetry)
            p = torch.from_numpy(data.vectors[idx]).to(dev)
            bank = turn(bank_batch(data, idx, dev), symmetry) if net.bank_slots else None
            output = on_patches(net, x, p, data.cdfs[idx], bank)  # turns keep the histogram
            loss = torch.nn.functional.mse_loss(output.clamp(0, 1) if tc.clamp else output, y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            seconds += time.perf_counter() - started
            value = float(loss.detach())
            smoothed = value if smoothed is None else 0.98 * smoothed + 0.02 * value
            bar.update(1)
            bar.set_postfix(loss=f"{smoothed:.5f}", psnr=f"{-10 * np.log10(max(smoothed, 1e-12)):.2f}")
            if step % tc.checkpoint_every == 0 or step == stop:
                checkpoint()
                log.write(json.dumps({"step": step, "loss": smoothed, "seconds": round(seconds, 1)}) + "\n")
                log.flush()
    finally:
        bar.close()
        log.close()
    if step < tc.steps:
        return state_path
    meta = {
        "name": config.name,
        "steps": step,
        "train_seconds": round(seconds, 1),
        "final_loss": smoothed,
        "device": str(dev),
        "data": {"folder": Path(config.data.train).name,
                 "pairs": config.data.pairs_per_op * len(config.trained_operators), "patch": config.data.patch,
                 **({"operators": list(config.data.operators)} if config.data.operators else {})},
        "batch": tc.batch,
        "fixed": {k: dict(v) for k, v in config.fixed.items()},
    }
    if start is not None:
        source = str(tc.init) if isinstance(tc.init, str) else list(tc.init)
        meta["init"] = {"from": source, **training_so_far(start.meta)}
    if tc.op_weights:
        meta["op_weights"] = dict(tc.op_weights)
    if tc.revive:
        meta["revive"] = True
    if tc.tune_only:
        meta["tune_only"] = list(tc.tune_only)
    if tc.clamp:
        meta["clamp"] = True
    for key in PART_LEARNING_RATES:
        if getattr(tc, key) is not None:
            meta[key] = getattr(tc, key)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, net.eval().cpu(), config.encoding(), meta=meta)
    return out
