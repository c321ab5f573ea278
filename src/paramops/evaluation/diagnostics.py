"""What the diagnostic scripts write beside ``results.md``, and how the report reads it back.

Each script under ``scripts/`` that measures why a bar falls short writes a
JSON file named here; the report cites it where it bears, and reads nothing
where the script has not been run.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paramops.operators.registry import operators

# Written by scripts/plain_restorer.py beside results.md: the control networks' gains on the restorations.
PLAIN_CONTROL_FILE = "plain_restorer.json"
# Written by scripts/pencil_phase.py beside results.md: what a network blind to the pixel's place in pencil's paper
# texture can reach.
PHASE_CEILING_FILE = "pencil_phase.json"
# Written by scripts/pencil_oracles.py beside results.md: what corrections fitted to pencil's reference would buy.
ORACLE_FILE = "pencil_oracles.json"


def parse_with_images(parser: argparse.ArgumentParser, argv: Sequence[str] | None, root: Path, *,
                      match: str | None = None) -> tuple[argparse.Namespace, list[Path]]:
    """Parse a diagnostic script's ``argv`` with a ``--data`` image folder, by default the validation photos
    beside the checkout ``root``, and, given a default glob ``match``, a ``--match`` over the images' names:
    the arguments, and the images chosen (or the parser's usage error saying why there are none)."""
    from paramops.training.config import DEFAULT_VAL_DIR
    from paramops.training.pairs import list_images

    parser.add_argument("--data", type=Path, default=root / DEFAULT_VAL_DIR, help="image folder")
    if match is not None:
        parser.add_argument("--match", default=match, help=f"glob over image names (default {match})")
    args = parser.parse_args(argv)
    try:
        return args, list_images(args.data, args.match if match is not None else None)
    except ValueError as err:
        parser.error(str(err))


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
