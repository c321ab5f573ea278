"""Where a number was measured: the one description every benchmark and generated document records."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from importlib import metadata

# Distribution names as pip knows them, and as a reader of docs/ knows them, where the two differ.
LIBRARY_NAMES = {"torch": "PyTorch", "numpy": "NumPy", "scipy": "SciPy", "opencv-contrib-python-headless": "OpenCV",
                 "dask": "Dask"}


def cpu_model() -> str:
    """The CPU's marketing name from ``/proc/cpuinfo``; :func:`platform.processor` where there is none."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int:
    """The cores this process may run on (its affinity), which a container may hold below the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine(libraries: Sequence[str] = ("torch", "numpy")) -> dict[str, str]:
    """The platform, the CPU and its usable cores, and the versions of Python and ``libraries``.

    ``libraries`` are distribution names (``"scikit-image"``, not ``"skimage"``);
    one that is not installed is recorded as such rather than failing.
    """
    versions = [f"Python {platform.python_version()}"]
    for name in libraries:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
        versions.append(f"{LIBRARY_NAMES.get(name, name)} {version}")
    return {
        "platform": platform.platform(),
        "cpu": f"{cpu_model()}, {usable_cores()} of {os.cpu_count()} cores usable",
        "software": ", ".join(versions),
    }


def machine_line(info: dict[str, str] | None = None) -> str:
    """:func:`machine` as one line of prose, for a document's header."""
    info = info or machine()
    return f"{info['platform']}; {info['cpu']}; {info['software']}"


def torch_runtime() -> str:
    """Where torch runs networks here: the GPU's name, or the CPU and how many threads torch uses on it."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU, torch using {torch.get_num_threads()} threads"
