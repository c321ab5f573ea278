"""Write the sample images shipped in src/paramops/data/samples (run once; the files are committed).

* ``astronaut.png``: scikit-image's astronaut photograph (public domain, NASA), 512x512 RGB.
* ``cell.png``: scikit-image's "cell" microscope image (CC0), grayscale uint8.
* ``nuclei.tif``: a synthetic fluorescence z-stack of nuclei, (10, 256, 256) uint16,
  generated here with a fixed seed: blurred ellipsoids with chromatin texture on an
  uneven background, Poisson shot noise and Gaussian read noise, in a 12-bit range.

Usage: ``python scripts/make_samples.py``
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "src" / "paramops" / "data" / "samples"
SHAPE = (10, 256, 256)
SEED = 2018


def synthetic_nuclei(shape: tuple[int, int, int] = SHAPE, seed: int = SEED) -> np.ndarray:
    """A fluorescence-like uint16 z-stack of nuclei (counts in a 12-bit range)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    signal = np.zeros(shape, np.float32)
    for _ in range(45):
        cz = rng.uniform(-1, shape[0])
        cy, cx = rng.uniform(0, shape[1]), rng.uniform(0, shape[2])
        rz, ry, rx = rng.uniform(2.5, 4.0), rng.uniform(9, 18), rng.uniform(9, 18)
        angle = rng.uniform(0, np.pi)
        dy, dx = y - cy, x - cx
        u = dy * np.cos(angle) + dx * np.sin(angle)
        v = -dy * np.sin(angle) + dx * np.cos(angle)
        inside = ((z - cz) / rz) ** 2 + (u / ry) ** 2 + (v / rx) ** 2 <= 1.0
        signal[inside] = np.maximum(signal[inside], rng.uniform(0.5, 1.0))
    # Chromatin texture: bright speckles inside the nuclei.
    texture = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), (0.7, 1.5, 1.5))
    signal *= 1.0 + 2.5 * texture
    # Optical blur: the axial PSF is wider than the lateral one.
    signal = ndimage.gaussian_filter(np.clip(signal, 0, None), (1.2, 1.4, 1.4))
    background = 180.0 + 60.0 * (x / shape[2]) + 40.0 * (y / shape[1])
    expected = background + 2600.0 * signal / signal.max()
    counts = rng.poisson(expected).astype(np.float32) + rng.normal(0.0, 6.0, shape)
    return np.clip(np.rint(counts), 0, 4095).astype(np.uint16)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    skimage_data = Path(data.__file__).parent
    shutil.copyfile(skimage_data / "astronaut.png", OUT / "astronaut.png")
    shutil.copyfile(skimage_data / "cell.png", OUT / "cell.png")
    tifffile.imwrite(OUT / "nuclei.tif", synthetic_nuclei(), compression="zlib", metadata={"axes": "ZYX"})
    for path in sorted(OUT.glob("*.*")):
        print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
