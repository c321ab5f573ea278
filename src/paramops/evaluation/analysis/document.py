"""``docs/analysis.md``: every analysis as a section, each regenerated on its own.

Sections sit between ``<!-- analysis:NAME -->`` and ``<!-- /analysis:NAME -->``
markers. A run of some analyses (``only``) replaces their sections and keeps
the others as the file has them, so one analysis can be rerun when its model
appears; each section says which command and which images produced it.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from paramops.evaluation.analysis.ablations import fc_section, rtv_section, skip_section, tuned_section, unseen_section
from paramops.evaluation.analysis.context import Context
from paramops.evaluation.analysis.interpretation import erf_section, multipath_section, weights_section
from paramops.machine import machine_line, torch_runtime
from paramops.training.pairs import list_images

# name -> (title, section builder), in the paper's order; our own change last.
ANALYSES: dict[str, tuple[str, Callable[[Context], list[str]]]] = {
    "rtv": ("Several parameters of one operator (4.6, Table IV)", rtv_section),
    "erf": ("Effective receptive field (6.2, Fig. 4)", erf_section),
    "weights": ("Learned-weight statistics (6.3.1, Table XI)", weights_section),
    "tuned": ("Which layer is tuned, and what a parameter change costs (6.3.2, Table XII)", tuned_section),
    "multipath": ("One FC layer = d+1 fixed convolutions (6.4, eq. 5)", multipath_section),
    "fc": ("One or two FC layers in the weight-learning network (6.5.2, Table XIII)", fc_section),
    "unseen": ("Parameter values never seen in training (6.6, Table XIV)", unseen_section),
    "skip": ("The long skip, and what to tune with it (ours, not in the paper)", skip_section),
}
DOC_NAME = "analysis.md"


def _block(name: str, lines: Sequence[str]) -> str:
    return "\n".join([f"<!-- analysis:{name} -->", *lines]).rstrip() + f"\n<!-- /analysis:{name} -->"


def existing_sections(text: str) -> dict[str, str]:
    """The marked section blocks of a previous ``analysis.md``, by name."""
    found = re.finditer(r"<!-- analysis:([\w-]+) -->\n.*?<!-- /analysis:\1 -->", text, flags=re.S)
    return {m.group(1): m.group(0) for m in found}


def _header() -> list[str]:
    return [
        "# Analyses of the trained networks",
        "",
        "The paper's analyses (its sections 4.6 and 6) as one command each, at this project's training budget",
        "(small networks, a few thousand steps on a CPU; each section lists its models' budgets), with the",
        "paper's numbers beside ours. Regenerate everything with `python scripts/analysis.py`, one analysis with",
        "`--only NAME` (" + ", ".join(f"`{n}`" for n in ANALYSES) + "). A model that is not trained is said to",
        "be so, with the command that trains it; no number is filled in for it. The last section measures a",
        "change of ours to the paper's base network, the long skip the shipped `default` uses.",
        "",
        "Scores are means over the validation images of PSNR (dB) and SSIM against our reference operators.",
        "The paper's numbers come from its own test images and the authors' operator implementations, and its",
        "networks are far larger and longer trained: compare tendencies, not decimals.",
        "",
        f"Last run on: {machine_line()}; networks on {torch_runtime()}.",
        "",
        *(f"- [{title}](#{_anchor(title)})" for title, _ in ANALYSES.values()),
        "",
    ]


def _anchor(title: str) -> str:
    """GitHub's heading anchor."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def write_analysis(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    weights: str | os.PathLike,
    configs: str | os.PathLike | None = None,
    match: str | None = None,
    only: Sequence[str] | None = None,
    device: str | None = None,
    progress: bool = False,
    command: str = "python scripts/analysis.py",
) -> Path:
    """Run the analyses and write ``<out>/analysis.md`` and ``<out>/figures/analysis/<name>.png``.

    Parameters
    ----------
    data : path
        Folder of validation images.
    out : path
        The docs folder.
    weights : path
        The project's ``weights/`` folder (analysis models in ``weights/analysis/``).
    configs : path, optional
        The project's ``configs/`` folder: planned budgets, training commands,
        and the architectures whose cost is measured before they are trained.
    match : str, optional
        Use only the images whose names match this glob, e.g. ``"set5_*"``.
    only : sequence of str, optional
        Run only these analyses (names of :data:`ANALYSES`); the file's other
        sections are kept as they are.
    device : str, optional
        Where the networks run; default CUDA when available.
    progress : bool
        Progress bars on stderr while scoring.
    command : str
        The command line quoted in each regenerated section.

    Returns
    -------
    Path
        The markdown file.
    """
    chosen_names = list(only or ANALYSES)
    unknown = [n for n in chosen_names if n not in ANALYSES]
    if unknown:
        raise ValueError(f"unknown analysis {', '.join(unknown)}; choose from {', '.join(ANALYSES)}")
    data, out = Path(data), Path(out)
    files = list_images(data)
    chosen = list_images(data, match)
    path = out / DOC_NAME
    kept = existing_sections(path.read_text()) if path.is_file() else {}
    shown = ", ".join(p.stem for p in chosen[:5]) + (", ..." if len(chosen) > 5 else "")
    stamp = (f"*Generated by `{command}` on {datetime.date.today().isoformat()} from {len(chosen)} image(s) of "
             f"`{data.name}/` ({shown}).*")
    with tempfile.TemporaryDirectory(prefix="paramops-analysis-") as tmp:
        # Scoring reads a whole folder; a subset keeps its names (the reference cache's key) and order (seeds).
        folder = data
        if len(chosen) < len(files):
            folder = Path(tmp)
            for image in chosen:
                shutil.copy2(image, folder / image.name)
        ctx = Context(folder, Path(weights), Path(configs) if configs else None, out, device=device, progress=progress)
        for name in chosen_names:
            title, build = ANALYSES[name]
            kept[name] = _block(name, [f"## {title}", "", stamp, "", *build(ctx)])
    blocks = [kept.get(name) or _block(name, [f"## {ANALYSES[name][0]}", "",
                                              f"Not run yet: `python scripts/analysis.py --only {name}`.", ""])
              for name in ANALYSES]
    out.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(_header()) + "\n" + "\n\n".join(blocks) + "\n")
    return path
