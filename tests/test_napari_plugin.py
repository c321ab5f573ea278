"""The napari plugin's packaging: manifest, entry point, classifiers and shipped sample data (no Qt needed)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from paramops.napari import samples

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def manifest():
    npe2 = pytest.importorskip("npe2")
    return npe2.PluginManifest.from_distribution("napari-paramops")


def test_manifest_is_registered_and_valid(manifest):
    assert manifest.name == "napari-paramops"
    assert manifest.display_name == "paramops"
    assert [str(c) for c in manifest.categories] == ["Image Processing"]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("npe2")), "validate", "napari-paramops"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifest_is_the_top_level_file_shipped_in_the_package():
    packaged = ROOT / "src" / "paramops" / "napari.yaml"
    assert packaged.resolve() == (ROOT / "napari.yaml").resolve()
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["napari.manifest"] == {"napari-paramops": "paramops:napari.yaml"}
    assert "Framework :: napari" in project["classifiers"]


def test_every_command_resolves_to_a_callable(manifest):
    for command in manifest.contributions.commands:
        module, name = command.python_name.split(":")
        assert callable(getattr(importlib.import_module(module), name)), command.id


def test_widget_and_sample_contributions(manifest):
    widgets = manifest.contributions.widgets
    assert [w.display_name for w in widgets] == ["Operator tuner"]
    keys = {s.key for s in manifest.contributions.sample_data}
    assert keys == set(samples.SAMPLES)


def test_samples_are_shipped_small_and_of_the_promised_kinds():
    photo = samples.load_sample("astronaut")
    assert photo.shape == (512, 512, 3) and photo.dtype == np.uint8
    cell = samples.load_sample("cell")
    assert cell.ndim == 2 and cell.dtype == np.uint8
    nuclei = samples.load_sample("nuclei")
    assert nuclei.shape == (10, 256, 256) and nuclei.dtype == np.uint16
    # 12-bit counts: a microscopy range far below the dtype's, so 16-bit handling matters.
    assert 0 < nuclei.min() < nuclei.max() < 4096
    folder = ROOT / "src" / "paramops" / "data" / "samples"
    assert sum(f.stat().st_size for f in folder.iterdir()) < 3e6
    assert (folder / "README.md").read_text().count("license") >= 1


def test_sample_commands_return_layer_data():
    data, meta, kind = samples.nuclei_sample()[0]
    assert kind == "image" and data.dtype == np.uint16
    assert meta["scale"] == samples.NUCLEI_SCALE
    lo, hi = meta["contrast_limits"]
    assert data.min() <= lo < hi <= data.max()
    assert samples.astronaut_sample()[0][1]["rgb"] is True


def test_unknown_sample_names_the_valid_ones():
    with pytest.raises(ValueError, match="astronaut, cell, nuclei"):
        samples.load_sample("lena")
