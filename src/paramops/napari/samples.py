"""Sample images shipped with paramops, as plain arrays and as napari sample data.

The files live in ``paramops/data/samples`` (see the README there for their
origin and license); nothing is downloaded.
"""

from __future__ import annotations

from importlib.resources import as_file, files

import numpy as np

SAMPLES = {
    "astronaut": "astronaut.png",
    "cell": "cell.png",
    "nuclei": "nuclei.tif",
}

# Voxel size of the synthetic nuclei stack in micrometres (z, y, x): a
# widefield stack with a coarser axial step, so its layer has a real scale.
NUCLEI_SCALE = (0.5, 0.2, 0.2)


def load_sample(name: str) -> np.ndarray:
    """Read a shipped sample image.

    Parameters
    ----------
    name : {"astronaut", "cell", "nuclei"}
        ``"astronaut"``: 512x512 RGB uint8 photograph. ``"cell"``: 660x550
        grayscale uint8 microscope image. ``"nuclei"``: synthetic fluorescence
        z-stack, (10, 256, 256) uint16 with 12-bit counts.

    Returns
    -------
    ndarray
    """
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; samples: {', '.join(SAMPLES)}")
    resource = files("paramops") / "data" / "samples" / SAMPLES[name]
    with as_file(resource) as path:
        if path.suffix == ".tif":
            import tifffile

            return tifffile.imread(path)
        import imageio.v3 as iio

        return np.asarray(iio.imread(path))


# napari sample-data commands (see napari.yaml): each returns layer data tuples.


def astronaut_sample() -> list[tuple]:
    return [(load_sample("astronaut"), {"name": "astronaut", "rgb": True}, "image")]


def cell_sample() -> list[tuple]:
    return [(load_sample("cell"), {"name": "cell", "colormap": "gray"}, "image")]


def nuclei_sample() -> list[tuple]:
    stack = load_sample("nuclei")
    meta = {
        "name": "nuclei",
        "colormap": "gray",
        "scale": NUCLEI_SCALE,
        "units": "um",
        "contrast_limits": (float(np.percentile(stack, 0.1)), float(np.percentile(stack, 99.9))),
    }
    return [(stack, meta, "image")]
