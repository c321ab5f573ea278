"""The ``paramops`` command line and the image file IO under it.

Most tests call ``main([...])`` in-process; one runs the installed console
script. Input files are written, and outputs read back, with libraries other
than the one :mod:`paramops.io` uses where one exists (Pillow, tifffile).
"""

from __future__ import annotations

import io as stdio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from paramops import io, operators, reference
from paramops.cli import busy, main

H, W = 40, 52


def sample(dtype, layout: str) -> np.ndarray:
    """Different ramps per channel (a swapped channel shows) plus a little noise."""
    rng = np.random.default_rng(1)
    channels = {"gray": 1, "rgb": 3, "rgba": 4}[layout]
    y, x = np.mgrid[0:H, 0:W]
    ramps = [x / W, y / H, (x + y) / (H + W), 1 - x / W]
    unit = np.stack([0.1 + 0.8 * ramp for ramp in ramps[:channels]], axis=2)
    unit = np.clip(unit + 0.01 * rng.standard_normal(unit.shape), 0, 1)
    image = np.rint(unit * np.iinfo(dtype).max).astype(dtype)
    return image[..., 0] if layout == "gray" else image


def write_independently(path: Path, image: np.ndarray) -> None:
    """Write a test input without paramops.io."""
    if path.suffix == ".tif":
        tifffile.imwrite(path, image, photometric="minisblack" if image.ndim == 2 else "rgb")
    elif image.dtype == np.uint16 and image.ndim == 3:
        import cv2  # Pillow cannot write 16-bit RGB PNGs

        assert cv2.imwrite(str(path), image[..., ::-1])
    else:
        Image.fromarray(image).save(path, quality=95)


def read_independently(path: Path) -> np.ndarray:
    if path.suffix == ".tif":
        return tifffile.imread(path)
    header = path.read_bytes()[:26]
    if header.startswith(b"\x89PNG") and header[24] == 16 and header[25] != 0:
        import cv2  # Pillow reads 16-bit colour PNGs as 8-bit

        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., [2, 1, 0, 3][: 3 if header[25] == 2 else 4]]
    with Image.open(path) as im:
        image = np.asarray(im)
    return image.astype(np.uint16) if image.dtype.kind in "iu" and image.dtype.itemsize > 1 else image


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- list ----------------------------------------------------------------------


def test_list_json_describes_every_operator(capsys):
    code, out, err = run_cli(capsys, "list", "--json")
    assert code == 0 and err == ""
    listed = json.loads(out)
    registry = operators()
    assert [entry["name"] for entry in listed] == list(registry) and len(listed) == 15
    for entry in listed:
        spec = registry[entry["name"]]
        assert entry["family"] == spec.family and entry["summary"] == spec.summary
        assert [p["name"] for p in entry["params"]] == list(spec.param_names)
        for p in entry["params"]:
            param = spec.param(p["name"])
            assert {"name", "unit", "low", "high", "default", "scale"} <= p.keys()
            assert (p["low"], p["high"], p["default"], p["scale"]) == (
                param.low, param.high, param.default, param.scale,
            )


def test_list_table_names_every_operator_and_range(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for name, spec in operators().items():
        assert any(line.startswith(name + " ") for line in out.splitlines())
        for p in spec.params:
            assert f"[{p.low:g}, {p.high:g}]" in out


# --- reference on files --------------------------------------------------------

CASES = [
    (".png", np.uint8, "gray"),
    (".png", np.uint8, "rgb"),
    (".png", np.uint8, "rgba"),
    (".png", np.uint16, "gray"),
    (".png", np.uint16, "rgb"),
    (".tif", np.uint8, "gray"),
    (".tif", np.uint8, "rgb"),
    (".tif", np.uint16, "gray"),
    (".tif", np.uint16, "rgba"),
    (".jpg", np.uint8, "gray"),
    (".jpg", np.uint8, "rgb"),
]


@pytest.mark.parametrize(
    "suffix, dtype, layout", CASES, ids=[f"{s[1:]}-{np.dtype(d).name}-{l}" for s, d, l in CASES]
)
def test_reference_on_files(tmp_path, capsys, suffix, dtype, layout):
    image = sample(dtype, layout)
    src, dst = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    write_independently(src, image)
    loaded = read_independently(src)  # what the file really holds (JPEG is lossy)
    assert io.read_image(src).dtype == dtype and np.array_equal(io.read_image(src), loaded)

    if suffix == ".jpg":  # lossy: an operator whose result JPEG keeps well
        args = ["--op", "sr", "--param", "scale=3"]
        expected = reference(loaded, "sr", scale=3)
    else:  # lossless: exact, and the seed reaches the operator
        args = ["--op", "denoise", "--param", "sigma=20", "--seed", "4"]
        expected = reference(loaded, "denoise", seed=4, sigma=20)
    code, out, err = run_cli(capsys, "reference", src, dst, *args)
    assert (code, out, err) == (0, "", "")
    result = read_independently(dst)
    assert result.dtype == dtype and result.shape == image.shape
    if suffix == ".jpg":  # written at quality 95
        assert np.abs(result.astype(float) - expected).mean() < 2
    else:
        assert np.array_equal(result, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, dst.name])  # no temporary left


def test_reference_converts_between_formats_and_uses_params(tmp_path, capsys):
    image = sample(np.uint8, "rgb")
    src = tmp_path / "in.png"
    write_independently(src, image)
    code, _, _ = run_cli(capsys, "reference", src, tmp_path / "out.TIFF", "--op", "sr", "--param", "scale=3.5")
    assert code == 0
    assert np.array_equal(tifffile.imread(tmp_path / "out.TIFF"), reference(image, "sr", scale=3.5))
    assert not np.array_equal(reference(image, "sr", scale=3.5), reference(image, "sr"))


def test_reference_replaces_an_existing_output(tmp_path, capsys):
    image = sample(np.uint8, "gray")
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    write_independently(src, image)
    dst.write_bytes(b"old")
    assert run_cli(capsys, "reference", src, dst, "--op", "deblock")[0] == 0
    assert np.array_equal(read_independently(dst), reference(image, "deblock"))


# --- bad input: exit code 2, one line, nothing written -------------------------

BAD = {
    "unknown op": (["--op", "blur"], "unknown operator 'blur'; valid operators: l0"),
    "out of range": (["--op", "sr", "--param", "scale=8"], "scale=8 is out of range [2, 4]"),
    "unknown param": (["--op", "sr", "--param", "sigma=3"], "has no parameter 'sigma'"),
    "not a number": (["--op", "sr", "--param", "scale=big"], "must be a number"),
    "nan": (["--op", "denoise", "--param", "sigma=nan"], "out of range"),
    "no equals": (["--op", "sr", "--param", "scale"], "expected KEY=VALUE"),
    "twice": (["--op", "sr", "--param", "scale=2", "--param", "scale=3"], "given twice"),
    "bad seed": (["--op", "denoise", "--seed", "x"], "seed must be a non-negative integer, got 'x'"),
    "negative seed": (["--op", "denoise", "--seed", "-1"], "seed must be a non-negative integer, got '-1'"),
    "no op": ([], "required: --op"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_arguments(tmp_path, capsys, case):
    extra, message = BAD[case]
    src = tmp_path / "in.png"
    write_independently(src, sample(np.uint8, "rgb"))
    code, out, err = run_cli(capsys, "reference", src, tmp_path / "out.png", *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("paramops: error: ") and message in err
    assert not (tmp_path / "out.png").exists()


def corrupt_png(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    write_independently(path, sample(np.uint8, "rgb"))
    path.write_bytes(path.read_bytes()[:60])
    return path


def file_named(name: str, content: bytes = b"") -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        (tmp_path / name).write_bytes(content)
        return tmp_path / name

    return make


def png16(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    write_independently(path, sample(np.uint16, "rgb"))
    return path


BAD_FILES = {
    "missing": (lambda tmp_path: tmp_path / "nope.png", "out.png", "no such file"),
    "corrupt png": (corrupt_png, "out.png", "cannot decode as PNG"),
    "text as tiff": (file_named("in.tif", b"hello"), "out.png", "cannot read as TIFF"),
    "unknown input type": (file_named("in.bmp", b"BM"), "out.png", "unsupported file type '.bmp'"),
    "no suffix": (file_named("in"), "out.png", "unsupported file type '(no suffix)'"),
    "a folder": (lambda tmp_path: Path(tmp_path / "dir.png").mkdir() or tmp_path / "dir.png", "out.png", "not a file"),
    "unknown output type": (png16, "out.webp", "unsupported file type '.webp'"),
    "uint16 to jpeg": (png16, "out.jpg", "JPEG cannot hold uint16"),
    "missing output folder": (png16, "missing/out.png", "No such file or directory"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files(tmp_path, capsys, case):
    make_input, out_name, message = BAD_FILES[case]
    src = make_input(tmp_path)
    before = sorted(os.listdir(tmp_path))
    code, out, err = run_cli(capsys, "reference", src, tmp_path / out_name, "--op", "sr")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("paramops: error: ") and message in err
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("argv", [[], ["train"], ["list", "--csv"]])
def test_bad_subcommands(capsys, argv):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("paramops: error: ")


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink", "hardlink"])
def test_refuses_to_overwrite_the_input(tmp_path, capsys, spelling):
    src = tmp_path / "in.png"
    write_independently(src, sample(np.uint8, "rgb"))
    original = src.read_bytes()
    (tmp_path / "sub").mkdir()
    dst = {"same": src, "dotted": tmp_path / "sub" / ".." / "in.png"}.get(spelling, tmp_path / "alias.png")
    if spelling == "symlink":
        dst.symlink_to(src)
    elif spelling == "hardlink":
        os.link(src, dst)
    code, _, err = run_cli(capsys, "reference", src, dst, "--op", "sr")
    assert code == 2 and "refusing to overwrite the input" in err and err.count("\n") == 1
    assert src.read_bytes() == original


def test_failed_write_leaves_no_temporary_and_keeps_the_old_output(tmp_path, capsys, monkeypatch):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    write_independently(src, sample(np.uint8, "rgb"))
    dst.write_bytes(b"old")

    def refuse(*args):
        raise PermissionError("simulated: cannot rename")

    monkeypatch.setattr(os, "replace", refuse)
    code, _, err = run_cli(capsys, "reference", src, dst, "--op", "sr")
    assert code == 2 and "simulated: cannot rename" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.png"]
    assert dst.read_bytes() == b"old"


# --- io --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("layout", ["gray", "gray1", "rgb", "rgba"])
def test_write_read_round_trip(tmp_path, suffix, dtype, layout):
    if np.dtype(dtype).kind == "f":
        image = sample(np.uint16, "rgba" if layout == "rgba" else "rgb" if layout == "rgb" else "gray") / 65535
        image = image.astype(dtype)
    else:
        image = sample(dtype, "gray" if layout == "gray1" else layout)
    if layout == "gray1":
        image = image[..., None]
    path = tmp_path / f"x{suffix}"
    holds = {".png": ("uint8", "uint16"), ".jpg": ("uint8",), ".tif": ("uint8", "uint16", "float32")}[suffix]
    if np.dtype(dtype).name not in holds:
        with pytest.raises(ValueError, match=f"cannot hold {np.dtype(dtype).name} images"):
            io.write_image(path, image)
    elif suffix == ".jpg" and layout == "rgba":
        with pytest.raises(ValueError, match=r"cannot hold an image of shape \(40, 52, 4\)"):
            io.write_image(path, image)
    else:
        io.write_image(path, image)
        back = io.read_image(path)
        expected = image[..., 0] if layout == "gray1" else image  # files store gray as (H, W)
        assert back.dtype == image.dtype and back.shape == expected.shape
        if suffix == ".jpg":
            assert np.abs(back.astype(float) - expected).mean() < 4  # a swapped channel gives ~50
        else:
            assert np.array_equal(back, expected)
            assert np.array_equal(read_independently(path), expected)
    assert [p.name for p in tmp_path.iterdir()] == ([path.name] if path.exists() else [])


def test_gray_alpha_png_reads_as_rgba(tmp_path):
    gray, alpha = sample(np.uint8, "gray"), sample(np.uint8, "gray")[::-1]
    Image.fromarray(np.stack([gray, alpha], axis=2), mode="LA").save(tmp_path / "la.png")
    image = io.read_image(tmp_path / "la.png")
    assert image.shape == (H, W, 4)
    assert all(np.array_equal(image[..., c], gray) for c in range(3))
    assert np.array_equal(image[..., 3], alpha)


def test_unknown_suffixes_are_refused(tmp_path):
    for name in ("x.bmp", "x.webp", "x"):
        with pytest.raises(ValueError, match="unsupported file type.*use one of .png, .jpg"):
            io.write_image(tmp_path / name, sample(np.uint8, "rgb"))
    assert list(tmp_path.iterdir()) == []


# --- progress --------------------------------------------------------------------


def test_spinner_shows_only_when_asked_or_on_a_terminal():
    shown = stdio.StringIO()
    with busy("l0 on photo.png", shown, enabled=True):
        pass
    assert "l0 on photo.png" in shown.getvalue()
    hidden = stdio.StringIO()  # not a terminal
    with busy("l0 on photo.png", hidden):
        pass
    assert hidden.getvalue() == ""


# --- the installed command -------------------------------------------------------


def test_console_script(tmp_path):
    script = Path(sys.executable).with_name("paramops")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "paramops"]
    src = tmp_path / "in.jpg"
    write_independently(src, sample(np.uint8, "rgb"))
    ok = subprocess.run([*command, "reference", str(src), str(tmp_path / "out.png"), "--op", "derain", "--seed", "1"],
                        capture_output=True, text=True, timeout=120)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert np.array_equal(read_independently(tmp_path / "out.png"), reference(io.read_image(src), "derain", seed=1))
    bad = subprocess.run([*command, "reference", str(src), str(tmp_path / "x.png"), "--op", "sr", "--param", "scale=9"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "paramops: error: sr: scale=9 is out of range [2, 4] x\n"
