"""The diagnostic scripts behind docs/crop_consistency.md, docs/window_statistics.md, docs/pencil_phase.md,
docs/error_bands_llf.md, docs/pencil_oracles.md and the loss shares of docs/training.md."""

from __future__ import annotations

import json

import pytest
from skimage import data as samples

from paramops.io import write_image


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "val"
    folder.mkdir()
    write_image(folder / "set5_a.png", samples.astronaut()[:40, :48])
    write_image(folder / "other.png", samples.coffee()[:40, :40])
    write_image(folder / "set5_gray.png", samples.camera()[:40, :48])
    return folder


def test_window_statistics_scores_whole_and_windowed_runs(images, tmp_path, save_tiny_model, load_script):
    save_tiny_model(tmp_path / "tiny.pt", ("wls", "denoise"), arch="tunable")
    save_tiny_model(tmp_path / "other.pt", ("l0",))
    out = tmp_path / "window.md"
    assert load_script("window_statistics").main(
        ["--models", str(tmp_path / "tiny.pt"), str(tmp_path / "other.pt"), "--data", str(images),
         "--out", str(out)]) == 0
    text = out.read_text()
    assert "2 from `val/` matching `set5_*`" in text  # a gray image among them
    assert "### `other`" in text and "pairs of 32 px" in text
    text = text.split("### `other`")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert set(rows) == {"operator", "wls", "denoise"}
    assert rows["wls"].rstrip(" |").endswith("-")  # no input baseline for a filter
    assert not rows["denoise"].rstrip(" |").endswith("-")
    shared = 4  # the column of windows with the whole image's statistics
    assert rows["wls"].split(" | ")[shared] != "-"  # a TunableNet's trunk takes given statistics
    other = next(line for line in out.read_text().split("### `other`")[1].splitlines() if line.startswith("| l0 "))
    assert other.split(" | ")[shared] == "-"  # a network without a trunk does not


def test_crop_consistency_lists_every_filter_with_its_context(images, tmp_path, load_script):
    from paramops.operators.registry import OPERATORS

    out = tmp_path / "consistency.md"
    assert load_script("crop_consistency").main(["--data", str(images), "--margins", "8", "--out", str(out)]) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ") and "operator" not in line]
    filters = [name for name, spec in OPERATORS.items() if spec.family == "filter"]
    assert sorted({row.split(" | ")[0].strip("| ") for row in rows}) == sorted(filters)
    assert any("| style | - | image |" in row for row in rows)


def test_loss_shares_split_the_loss_among_operators_as_drawn(images, tmp_path, save_tiny_model, load_script,
                                                             monkeypatch, capsys):
    import yaml

    monkeypatch.setenv("PARAMOPS_CACHE", str(tmp_path / "cache"))
    save_tiny_model(tmp_path / "tiny.pt", ("wls", "denoise"), arch="tunable")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "name": "tiny", "model": {"arch": "tunable", "width": 4, "residual": True}, "operators": ["wls", "denoise"],
        "data": {"train": str(images), "pairs_per_op": 6, "patch": 16, "margin": 4},
        "train": {"op_weights": {"denoise": 3}}}))
    script = load_script("loss_shares")
    from paramops.models import load_model
    from paramops.training.config import load_config

    rows = script.loss_shares(load_model(tmp_path / "tiny.pt", device="cpu"), load_config(config), per_op=4)
    assert [r["op"] for r in rows] == ["wls", "denoise"]
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    wls, denoise = rows
    assert denoise["weighted_share"] / wls["weighted_share"] == pytest.approx(3 * denoise["mse"] / wls["mse"])
    assert denoise["input_mse"] > 0.001  # the noisy input is far from the clean target

    assert script.main(["--model", str(tmp_path / "tiny.pt"), "--config", str(config), "--per-op", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| operator | MSE | PSNR (dB) |")
    assert lines[4].startswith("| wls |") and lines[5].startswith("| denoise |") and " | 3 | " in lines[5]


def test_pencil_phase_scores_other_texture_origins_and_the_model(images, tmp_path, save_tiny_model, load_script,
                                                                 monkeypatch):
    monkeypatch.setenv("PARAMOPS_CACHE", str(tmp_path / "cache"))
    save_tiny_model(tmp_path / "tiny.pt", ("pencil",), arch="tunable")
    out = tmp_path / "pencil.md"
    assert load_script("pencil_phase").main(["--data", str(images), "--phases", "3", "--model",
                                             str(tmp_path / "tiny.pt"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "mean over 3 origins" in text
    rows = [line.strip("| ").split(" | ") for line in text.splitlines() if line.startswith("| ")][1:]
    assert [r[0] for r in rows] == ["other.png", "set5_a.png", "set5_gray.png", "**mean**"]
    for _, another, mean, _ in rows[:-1]:
        # The mean over origins keeps the texture's average and drops most of the wrong phases' streaks.
        assert float(mean) > float(another)
    from paramops.evaluation.diagnostics import load_phase_ceilings

    ceiling = load_phase_ceilings(tmp_path)["pencil"]
    assert ceiling["phases"] == 3 and f"{ceiling['psnr']:.2f}" == rows[-1][2].strip("*")


def test_error_bands_add_up_to_the_error(load_script):
    import numpy as np

    script = load_script("error_bands")
    error = np.random.default_rng(0).normal(size=(70, 90)).astype(np.float32)
    bands = script.band_errors(error)
    assert len(bands) == script.FINE_BANDS + 2
    np.testing.assert_allclose(np.sum(bands, axis=0), error, atol=1e-4)
    assert np.ptp(bands[-1]) < 1e-6  # one pixel of the pyramid, spread over the image
    # A shift of the whole image's brightness lies in the last band alone.
    shifted = script.band_errors(error * 0 + 0.25)
    np.testing.assert_allclose(shifted[-1], 0.25, atol=1e-6)
    assert all(np.abs(band).max() < 1e-6 for band in shifted[:-1])
    with pytest.raises(ValueError, match="at least 65 px"):
        script.band_errors(error[:40, :40])


def test_error_bands_scores_the_model_without_each_band(tmp_path, save_tiny_model, load_script, monkeypatch):
    monkeypatch.setenv("PARAMOPS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "val"
    folder.mkdir()
    write_image(folder / "a.png", samples.astronaut()[:72, :80])
    write_image(folder / "gray.png", samples.camera()[:80, :72])
    save_tiny_model(tmp_path / "tiny.pt", ("llf",), arch="tunable")
    out = tmp_path / "bands.md"
    assert load_script("error_bands").main(["--data", str(folder), "--model", str(tmp_path / "tiny.pt"),
                                            "--out", str(out)]) == 0
    lines = [line.strip("| ").split(" | ") for line in out.read_text().splitlines() if line.startswith("| ")]
    values = ["detail=2.0", "detail=3.0", "detail=5.0", "detail=7.0", "detail=8.0"]
    rows, gained = lines[:6], lines[6:]
    assert rows[0][:3] == ["value", "all of it", "band 0"] and rows[0][-1] == "mean"
    assert [r[0] for r in rows[1:]] == values
    for row in rows[1:]:
        whole = float(row[1])
        for cell in row[2:]:
            without, gain = cell.split(" (")
            assert float(gain.rstrip(")")) == pytest.approx(float(without) - whole, abs=0.011)
    assert gained[0][:4] == ["value", "all of it", "shared gains", "each image's gains"]
    assert gained[0][-1] == "gain, mean" and [r[0] for r in gained[1:]] == values
    for row, gains in zip(rows[1:], gained[1:]):
        # The whole change is the whole error again; fitted gains can only lower it, each image's most.
        assert float(gains[1]) == pytest.approx(float(row[1]), abs=0.011)
        shared, each = (float(cell.split(" (")[0]) for cell in gains[2:4])
        assert float(gains[1]) - 0.01 <= shared <= each + 0.01
    # The same rows, for the report; it cites only the default's.
    from paramops.evaluation.diagnostics import band_gains_file, load_band_gains

    written = json.loads((tmp_path / band_gains_file("llf")).read_text())
    assert written["model"] == str(tmp_path / "tiny.pt") and written["images"] == 2
    assert [f"{r['param']}={r['value']}" for r in written["rows"]] == values
    assert all(len(r["gains"]) == len(rows[0]) - 2 == len(written["scales"]) for r in written["rows"])
    assert load_band_gains(tmp_path) == {}
    (tmp_path / band_gains_file("llf")).write_text(json.dumps({**written, "model": "default"}))
    assert load_band_gains(tmp_path)["llf"]["rows"] == written["rows"]


def test_band_gains_are_scored_and_fitted_without_keeping_the_bands(load_script):
    import numpy as np

    script = load_script("error_bands")
    rng = np.random.default_rng(1)
    change = rng.normal(size=(70, 90)).astype(np.float32)
    bands = script.band_errors(change)
    gains = rng.uniform(0.5, 2.0, size=len(bands))
    wanted = np.sum([g * b for g, b in zip(gains, bands)], axis=0)
    gram = script.band_gram(change, wanted)
    some = rng.uniform(0.5, 2.0, size=len(bands))
    direct = 10 * np.log10(change.size / np.sum((np.sum([g * b for g, b in zip(some, bands)], axis=0) - wanted) ** 2))
    assert script.gained_psnr(gram, some, change.size) == pytest.approx(direct, abs=1e-6)
    np.testing.assert_allclose(script.fitted_gains([gram]), gains, atol=1e-4)
    # Shared over two images that want opposite gains, the fit lies between them.
    halved = script.band_gram(change, 0.5 * np.sum(bands, axis=0))
    doubled = script.band_gram(change, 2.0 * np.sum(bands, axis=0))
    np.testing.assert_allclose(script.fitted_gains([halved, doubled]), 1.25, atol=1e-4)


def test_pencil_oracles_score_the_model_with_and_without_each_correction(tmp_path, save_tiny_model, load_script,
                                                                          monkeypatch):
    import numpy as np

    monkeypatch.setenv("PARAMOPS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "val"
    folder.mkdir()
    write_image(folder / "a.png", samples.astronaut()[:48, :56])
    write_image(folder / "gray.png", samples.camera()[:40, :48])
    save_tiny_model(tmp_path / "tiny.pt", ("pencil",), arch="tunable")
    out = tmp_path / "oracles.md"
    script = load_script("pencil_oracles")
    assert script.main(["--data", str(folder), "--model", str(tmp_path / "tiny.pt"), "--out", str(out)]) == 0
    rows = [line.strip("| ").split(" | ") for line in out.read_text().splitlines() if line.startswith("| ")]
    assert rows[0] == ["image", "range", "typical range", "model", "+ stroke gain", "+ texture amplitude", "control"]
    assert [r[0] for r in rows[1:]] == ["a.png", "gray.png", "mean"]
    for row in rows[1:]:
        model = float(row[3])
        for cell in row[4:]:
            corrected, gain = cell.split(" (")
            assert float(gain.rstrip(")")) == pytest.approx(float(corrected) - model, abs=0.011)
        assert float(row[4].split(" (")[0]) >= model - 0.005  # one least-squares multiple can only help
    from paramops.evaluation.diagnostics import load_oracles

    gains = load_oracles(tmp_path)["pencil"]
    assert gains["images"] == 2 and f"{gains['texture_amplitude']:+.2f}" == rows[-1][5].split(" (")[1].rstrip(")")
    error = np.random.default_rng(0).normal(size=(30, 30))
    basis = np.random.default_rng(1).normal(size=(30, 30))
    np.testing.assert_allclose(np.vdot(script.with_multiple(error, basis), basis), 0, atol=1e-9)
    assert np.abs(script.with_multiple(3 * basis, basis)).max() < 1e-9


def test_plain_restorer_grid_channels_tell_each_place_in_a_jpeg_block(load_script):
    import torch

    script = load_script("plain_restorer")
    phase = script.block_phase(33, 40)
    assert phase.shape == (1, 4 * len(script.GRID_PERIODS), 33, 40) == (1, 8, 33, 40)
    torch.testing.assert_close(phase[..., :16, :16], phase[..., 16:32, 16:32])
    assert not torch.allclose(phase[..., :8, :8], phase[..., 8:16, 8:16])  # the 16 px blocks tell these apart
    places = phase[0, :, :16, :16].reshape(8, -1).T
    assert len(torch.unique(places.round(decimals=4), dim=0)) == 256
    net = script.PlainRestorer(False, "grid")
    assert net(torch.rand(2, 3, 17, 23), torch.rand(2)).shape == (2, 3, 17, 23)


def test_the_jpeg_projection_keeps_a_consistent_image_and_moves_others_into_its_intervals(load_script):
    import numpy as np
    from skimage import data as samples

    from paramops.operators.degradations import jpeg_compress

    script = load_script("jpeg_consistency")
    np.testing.assert_array_equal(script.quantisation_steps(50), script.LUMA_TABLE)  # quality 50: the table itself
    # Whole blocks and a part block, in mid-grey, so that no projection is clipped to [0, 1].
    clean = (0.3 + 0.4 * samples.astronaut()[:43, :61] / 255).astype(np.float32)
    jpeg = jpeg_compress(clean, quality=10)
    # The decoded JPEG's coefficients lie in their own intervals, up to its 8-bit rounding: next to nothing moves.
    same, outside = script.project(jpeg, jpeg, 10)
    assert outside == 0 and np.abs(same - jpeg).max() < 1e-5
    # The clean image lies in them too, by construction; one with noise added does not.
    noisy = (clean + np.random.default_rng(0).normal(0, 0.06, clean.shape)).astype(np.float32)
    projected, outside = script.project(noisy, jpeg, 10)
    assert outside > 0.005 and script.project(clean, jpeg, 10)[1] == 0
    steps = script.quantisation_steps(10)
    index = np.round(script.luma_blocks(jpeg) / steps)
    assert np.all(np.abs(script.luma_blocks(projected) - index * steps) <= steps / 2 + 0.01)  # up to float rounding
    np.testing.assert_array_equal(projected[40:], noisy[40:])  # the part block is left as it was
