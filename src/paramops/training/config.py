"""Training configurations: one YAML file per shipped model, in ``configs/``.

Example (``configs/default.yaml``)::

    name: default                 # written to weights/default.pt
    model: {arch: tunable, width: 32}
    operators: all                # or a list of registry names
    encode_params: {}             # e.g. {rtv: [lam, sigma, sharpness, iterations]}
    encoding_layout: code         # or onehot (see paramops.models.encoding)
    fixed: {}                     # e.g. {l0: {lam: 0.02}} for a single-value model
    data: {train: ../shared/data/train, pairs_per_op: 800, patch: 64, margin: 16,
           whole_photo: false,       # true: image-context operators run on whole photos
           operators: null}          # the operators whose pairs are made and trained, default all of them;
                                     # the others stay in the encoding, untrained (a part only some use)
    train: {steps: 6000, batch: 16, lr: 0.001, milestones: [4000, 5500], gamma: 0.1, seed: 0,
            init: null,           # a model name or checkpoint to start from (fine-tuning), or a list
                                  # of them: the run starts from the mean of their weights
            op_weights: {},       # e.g. {sr: 3}: how often an operator's pairs are drawn, relative to 1
            tone_lr: null,        # the tone head's learning rate (model.tone_curve), default lr
            detail_lr: null,      # the detail branch's (model.detail_branch), default lr
            field_lr: null,       # the field branch's (model.field_branch), default lr
            own_lr: null,         # the own branch's (model.own_branch), default lr; with tune_only, it
                                  # learns beside the tuned operators' entries, which must include the
                                  # operators that read it (model.own_operators)
            bank_lr: null,        # the Laplacian bank's readout (model.bank_operators), likewise
            clamp: false,         # the loss compares the output clamped to [0, 1], as users see it
            revive: false,        # draw the branch's never-open channels again at the start
            tune_only: []}        # e.g. [denoise, deblock]: only their own entries of the weight-learning
                                  # network learn, at lr; every other operator's output stays as it was
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paramops.models.encoding import ParamEncoding
from paramops.operators.registry import OPERATORS, get_operator, operators_laying

# Learning rates of their own for parts a fine-tune adds: the model option that adds the part, and its name.
PART_LEARNING_RATES = {"tone_lr": ("tone_curve", "tone head"), "detail_lr": ("detail_branch", "detail branch"),
                       "field_lr": ("field_branch", "field branch"), "own_lr": ("own_branch", "own branch"),
                       "bank_lr": ("bank_operators", "Laplacian bank")}
# The parts that some operators alone read, which train.tune_only may train beside them: the model option
# naming their readers.
READ_BY = {"own_lr": "own_operators", "bank_lr": "bank_operators"}
# Where the project's shared training photos live beside a checkout.
DEFAULT_TRAIN_DIR = Path("../shared/data/train")
DEFAULT_VAL_DIR = Path("../shared/data/val")


@dataclass(frozen=True)
class DataConfig:
    train: str = str(DEFAULT_TRAIN_DIR)
    pairs_per_op: int = 800
    patch: int = 64
    margin: int = 16
    whole_photo: bool = False
    operators: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 6000
    batch: int = 16
    lr: float = 1e-3
    milestones: tuple[int, ...] = (4000, 5500)
    gamma: float = 0.1
    seed: int = 0
    checkpoint_every: int = 250
    threads: int | None = None
    init: str | tuple[str, ...] | None = None
    op_weights: Mapping[str, float] = field(default_factory=dict)
    tone_lr: float | None = None
    detail_lr: float | None = None
    field_lr: float | None = None
    own_lr: float | None = None
    bank_lr: float | None = None
    revive: bool = False
    clamp: bool = False
    tune_only: tuple[str, ...] = ()

    def lr_at(self, step: int, base: float | None = None) -> float:
        """The learning rate of the step schedule after ``step`` steps, starting from ``base`` (default ``lr``)."""
        return (self.lr if base is None else base) * self.gamma ** sum(m <= step for m in self.milestones)


@dataclass(frozen=True)
class RunConfig:
    name: str
    model: Mapping[str, object]
    operators: tuple[str, ...]
    encode_params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    encoding_layout: str = "code"
    fixed: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()

    @property
    def trained_operators(self) -> tuple[str, ...]:
        """The operators whose pairs the run makes and draws (``data.operators``, by default all)."""
        return self.data.operators or self.operators

    @property
    def bank_readers(self) -> tuple[str, ...]:
        """The operators that read the model's Laplacian bank (``model.bank_operators``), if it has one."""
        return tuple(self.model.get("bank_operators") or ())

    def encoding(self) -> ParamEncoding:
        return ParamEncoding(self.operators, self.encode_params, layout=self.encoding_layout)

    def model_config(self) -> dict:
        """The model section, with what the encoding decides: ``param_dim`` and, with a field branch,
        ``field_slots`` (the entries of the operators that lay the model's fields); with an own branch,
        ``own_slots`` (those of ``own_operators``) in place of ``own_operators``; with a Laplacian bank,
        ``bank_slots`` (those of ``bank_operators``) in place of ``bank_operators``."""
        encoding = self.encoding()
        config = {**self.model, "param_dim": encoding.dim}
        readers = config.pop("bank_operators", None)
        if readers:
            config["bank_slots"] = _reader_slots(encoding, readers, "model.bank_operators")
        readers = config.pop("own_operators", None)
        if config.get("own_branch"):
            if not readers:
                raise ValueError("model.own_branch needs model.own_operators: the operators that read it")
            config["own_slots"] = _reader_slots(encoding, readers, "model.own_branch")
        elif readers:
            raise ValueError("model.own_operators names the readers of an own branch, and the model has none "
                             "(model.own_branch)")
        if config.get("field_branch"):
            if not encoding.with_op_code:
                # A bias-free readout of a vector that may be all zeros (an operator without parameters) is dead.
                raise ValueError("model.field_branch keeps the operators that lay a field apart from the others; "
                                 "a model of one operator has none: give it model.fields alone")
            fields = config.get("fields") or ()
            readers = operators_laying(fields, self.operators)
            if not readers:
                raise ValueError(f"model.field_branch: none of the operators lays the model's fields {list(fields)}")
            config["field_slots"] = encoding.own_slots(readers)
        return config


def _reader_slots(encoding: ParamEncoding, readers: Sequence[str], part: str) -> list[int]:
    """The entries of the parameter vector that the operators ``readers`` alone fill, for ``part``."""
    if not encoding.with_op_code:
        raise ValueError(f"{part} keeps some operators apart from the others; a model of one operator has none")
    return encoding.own_slots(readers)


def parse_config(raw: Mapping) -> RunConfig:
    """Build a :class:`RunConfig` from a mapping, with errors naming the bad key."""
    known = {"name", "model", "operators", "encode_params", "encoding_layout", "fixed", "data", "train"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(known))})")
    for key in ("name", "model", "operators"):
        if key not in raw:
            raise ValueError(f"config is missing {key!r}")
    ops = raw["operators"]
    ops = tuple(OPERATORS) if ops == "all" else tuple(ops)
    try:
        data = dict(raw.get("data", {}))
        if data.get("operators") is not None:
            data["operators"] = tuple(data["operators"])
        data = DataConfig(**data)
        train = dict(raw.get("train", {}))
        if "milestones" in train:
            train["milestones"] = tuple(train["milestones"])
        train["op_weights"] = dict(train.get("op_weights") or {})
        if isinstance(train.get("init"), list):
            train["init"] = tuple(train["init"])
        train["tune_only"] = tuple(train.get("tune_only") or ())
        train = TrainConfig(**train)
    except TypeError as err:
        raise ValueError(f"bad config section: {err}") from None
    if data.operators is not None and (not data.operators or not set(data.operators) <= set(ops)):
        raise ValueError(f"data.operators must be some of the operators this run covers ({', '.join(ops)}), "
                         f"got {list(data.operators)}")
    _check_op_weights(train.op_weights, data.operators or ops)
    _check_init(train.init)
    for key, (option, part) in PART_LEARNING_RATES.items():
        value = getattr(train, key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"train.{key} must be a positive number, got {value!r}")
        if not raw["model"].get(option):
            raise ValueError(f"train.{key} is set but the model has no {part} (model.{option})")
    for key in ("revive", "clamp"):
        if not isinstance(getattr(train, key), bool):
            raise ValueError(f"train.{key} must be true or false, got {getattr(train, key)!r}")
    if train.revive and not raw["model"].get("detail_branch"):
        raise ValueError("train.revive is set but the model has no detail branch (model.detail_branch)")
    _check_tune_only(train, data.operators or ops, raw["model"])
    _check_bank_readers(raw["model"].get("bank_operators") or (), data)
    config = RunConfig(
        name=str(raw["name"]),
        model=dict(raw["model"]),
        operators=ops,
        encode_params={k: tuple(v) for k, v in (raw.get("encode_params") or {}).items()},
        encoding_layout=str(raw.get("encoding_layout", "code")),
        fixed={k: dict(v) for k, v in (raw.get("fixed") or {}).items()},
        data=data,
        train=train,
    )
    config.encoding()  # validates operator and parameter names
    return config


def _check_init(init: object) -> None:
    sources = init if isinstance(init, tuple) else (init,)
    if init is not None and (not sources or not all(isinstance(source, str) and source for source in sources)):
        raise ValueError(f"train.init must be a model name or checkpoint path, or a non-empty list of them, got {init!r}")


def _check_trained(key: str, named: Sequence[str], ops: tuple[str, ...]) -> None:
    """Raise if ``train.<key>`` names operators that this run, training ``ops``, does not train."""
    untrained = [op for op in named if op not in ops]
    if untrained:
        raise ValueError(f"train.{key} names {', '.join(map(repr, untrained))}, which this run does not train "
                         f"(it trains: {', '.join(ops)})")


def _check_op_weights(weights: Mapping[str, float], ops: tuple[str, ...]) -> None:
    _check_trained("op_weights", list(weights), ops)
    for op, weight in weights.items():
        if not isinstance(weight, (int, float)) or not weight > 0:
            raise ValueError(f"train.op_weights[{op!r}] must be a positive number, got {weight!r}")


def _check_bank_readers(readers: Sequence[str], data: DataConfig) -> None:
    """Raise if a reader of the Laplacian bank would train on pairs whose bank is not the whole image's."""
    cropped = [op for op in readers if not (data.whole_photo and get_operator(op).context == "image")]
    if cropped:
        raise ValueError(f"model.bank_operators: {', '.join(map(repr, cropped))} would train on pairs cut from crops, "
                         f"whose bank is not that of the image a user gives; the bank's readers must be operators "
                         f"that look at the whole image (registry context 'image'), with data.whole_photo: true")


def _check_tune_only(train: TrainConfig, trained: tuple[str, ...], model: Mapping) -> None:
    if not train.tune_only:
        return
    _check_trained("tune_only", train.tune_only, trained)
    # Everything but the named operators' own entries is frozen: a part's own rate would have nothing to train,
    # but for the parts that only tuned operators read.
    parts = [key for key in (*PART_LEARNING_RATES, "revive") if getattr(train, key) and key not in READ_BY]
    if parts:
        raise ValueError(f"train.tune_only freezes every part; it cannot be set with train.{', train.'.join(parts)}")
    for key, option in READ_BY.items():
        untuned = [op for op in model.get(option) or () if op not in train.tune_only]
        if getattr(train, key) and untuned:
            raise ValueError(f"train.{key} with train.tune_only trains the {PART_LEARNING_RATES[key][1]}, which "
                             f"{', '.join(map(repr, untuned))} read too; tune_only must name them "
                             f"(it names: {', '.join(train.tune_only)})")


def load_config(path: str | os.PathLike) -> RunConfig:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    with open(path) as fh:
        return parse_config(yaml.safe_load(fh))
