"""What every analysis section needs: the images, the models (trained or not), their scores, figure output.

Models are named like their training configs. The three shipped ones used
here live in ``weights/<name>.pt`` (config ``configs/<name>.yaml``); every
other analysis model in ``weights/analysis/<name>.pt`` (config
``configs/analysis/<name>.yaml``), where :func:`available_models` does not
list them. A checkpoint that does not exist is reported as not trained, with
the command that trains it; nothing is ever filled in for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paramops.evaluation.budget import network_summary, training_summary
from paramops.evaluation.markdown import db, table  # noqa: F401  (the sections import them from here)
from paramops.evaluation.scores import NOT_TRAINED, ModelScores, load_entry, score_model

SHIPPED_MODELS = ("default", "decoupled-l0", "single-l0-0.02", "decoupled-rtv")
ANALYSIS_FOLDER = "analysis"
FIGURE_FOLDER = Path("figures") / "analysis"


@dataclass
class Context:
    """The inputs of one run of the analyses.

    Parameters
    ----------
    data : Path
        Folder holding exactly the images to score (names as in the validation set).
    weights, configs : Path
        The project's ``weights/`` and ``configs/`` folders (``configs`` may be missing).
    out : Path
        The docs folder: figures go to ``out/figures/analysis/``.
    device : str, optional
        Where the networks run.
    """

    data: Path
    weights: Path
    configs: Path | None
    out: Path
    device: str | None = None
    progress: bool = False
    _models: dict[str, ModelScores] = field(default_factory=dict)
    _scored: set[str] = field(default_factory=set)

    @property
    def images(self) -> list[Path]:
        from paramops.training.pairs import list_images

        return list_images(self.data)

    def _sub(self, name: str) -> Path:
        return Path() if name in SHIPPED_MODELS else Path(ANALYSIS_FOLDER)

    def checkpoint(self, name: str) -> Path:
        return self.weights / self._sub(name) / f"{name}.pt"

    def train_command(self, name: str) -> str:
        sub = self._sub(name)
        return (f"paramops train --config {(Path('configs') / sub / f'{name}.yaml').as_posix()} "
                f"--out {(Path('weights') / sub / f'{name}.pt').as_posix()}")

    def config(self, name: str):
        """The training config of ``name`` (a ``RunConfig``), ``None`` without one."""
        from paramops.training.config import load_config

        if self.configs is None:
            return None
        path = self.configs / self._sub(name) / f"{name}.yaml"
        return load_config(path) if path.is_file() else None

    def model(self, name: str) -> ModelScores:
        """``name`` loaded (not scored); its ``status`` says why not when it is not ``"ok"``."""
        if name not in self._models:
            self._models[name] = load_entry(name, self.checkpoint(name), self.device)
        return self._models[name]

    def scored(self, name: str, extra: Mapping[str, Sequence] | None = None) -> ModelScores:
        """``name`` scored on the images at its test points (or its fixed value) and at ``extra``.

        Each point is scored once per run, however many sections ask.
        """
        from paramops.evaluation.evaluate import evaluate, summarise

        entry = self.model(name)
        if not entry.ok:
            return entry
        if name not in self._scored:
            score_model(entry, self.data, progress=self.progress)
            self._scored.add(name)
        new = {op: [(param, value) for param, value in points if entry.row(op, value) is None]
               for op, points in (extra or {}).items() if op in entry.model.operators}
        new = {op: points for op, points in new.items() if points}
        if new:
            scores = evaluate(entry.model, self.data, ops=list(new), points=new, progress=self.progress)
            entry.extra.update({(r["op"], r["value"]): r for r in summarise(scores)})
        return entry

    def write_figure(self, name: str, image: np.ndarray | None) -> Path | None:
        """Write ``out/figures/analysis/<name>.png`` (or remove a stale one when ``image`` is None)."""
        from paramops.io import write_image

        path = self.out / FIGURE_FOLDER / f"{name}.png"
        if image is None:
            path.unlink(missing_ok=True)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, image)
        return path

    def figure_link(self, name: str, caption: str) -> str:
        return f"![{caption}]({(FIGURE_FOLDER / f'{name}.png').as_posix()})"


# --- markdown helpers ---------------------------------------------------------------------------------------




def score_cell(entry: ModelScores, op: str, value: float | None, *, ssim: bool = True) -> str:
    """PSNR (/ SSIM) of ``entry`` at one point, or why there is none."""
    if not entry.ok:
        return entry.status if entry.status == NOT_TRAINED else "unreadable"
    row = entry.row(op, value)
    if row is None:
        return "-"
    return f"{row['psnr']:.2f} / {row['ssim']:.3f}" if ssim else f"{row['psnr']:.2f}"


def budget(ctx: Context, name: str) -> str:
    """One line on ``name``: how it was trained, or that it is not and how to train it."""
    entry = ctx.model(name)
    if entry.ok:
        return f"`{name}`: {network_summary(entry.model.config)}; {training_summary(entry.model.meta)}"
    if entry.status != NOT_TRAINED:
        return f"`{name}`: {entry.status}"
    config = ctx.config(name)
    planned = f" (planned: {config.train.steps} steps x batch {config.train.batch})" if config else ""
    return f"`{name}`: **not trained**{planned}; train it with `{ctx.train_command(name)}`"


def models_note(ctx: Context, names: Sequence[str]) -> list[str]:
    return ["Models:", "", *[f"- {budget(ctx, n)}" for n in names], ""]
