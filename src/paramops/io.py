"""Read and write image files: PNG, JPEG and TIFF, keeping the file's dtype.

PNG and JPEG go through OpenCV, which keeps 16-bit RGB PNGs 16-bit (Pillow
reads them as 8-bit); TIFF goes through tifffile, which also holds float data.
Arrays are RGB(A) in channel order, gray images are (H, W). Orientation tags
(EXIF) are not applied: pixels come back in stored order.

What each format holds, and so what :func:`write_image` accepts:

========  ===============================  ===========================
format    dtypes                           layouts
========  ===============================  ===========================
PNG       uint8, uint16                    gray, RGB, RGBA
JPEG      uint8 (lossy, quality 95)        gray, RGB
TIFF      uint8, uint16, float32, float64  gray, RGB, RGBA
========  ===============================  ===========================

Nothing is converted silently: writing uint16 data to JPEG, or float data to
PNG, is a ``ValueError`` that says which formats can hold it.
"""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

JPEG_QUALITY = 95


@dataclass(frozen=True)
class _Format:
    name: str
    dtypes: tuple[str, ...]
    channels: tuple[int, ...]


_PNG = _Format("PNG", ("uint8", "uint16"), (1, 3, 4))
_JPEG = _Format("JPEG", ("uint8",), (1, 3))
_TIFF = _Format("TIFF", ("uint8", "uint16", "float32", "float64"), (1, 3, 4))
_FORMATS = {".png": _PNG, ".jpg": _JPEG, ".jpeg": _JPEG, ".tif": _TIFF, ".tiff": _TIFF}


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG, JPEG or TIFF file.

    Parameters
    ----------
    path : str or path-like
        ``.png``, ``.jpg``/``.jpeg`` or ``.tif``/``.tiff`` (any case).

    Returns
    -------
    ndarray
        The file's dtype (a 16-bit PNG stays uint16); (H, W) for gray, (H, W, 3)
        for RGB, (H, W, 4) for RGBA. A gray PNG with alpha comes back as RGBA.
        A multi-page TIFF comes back whole, as tifffile reads it.

    Raises
    ------
    FileNotFoundError
        If there is no such file (or it is a folder).
    ValueError
        If the suffix names no supported format or the file cannot be decoded.
    """
    path = Path(path)
    fmt = _format(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    data = path.read_bytes()
    if fmt is _TIFF:
        import tifffile

        try:
            return tifffile.imread(io.BytesIO(data))
        except Exception as exc:  # tifffile raises many types on corrupt files
            raise ValueError(f"{path}: cannot read as TIFF ({exc})") from None
    import cv2

    # OpenCV logs its own warning about a corrupt file; the ValueError below says it once.
    log_level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(log_level)
    if image is None:
        raise ValueError(f"{path}: cannot decode as {fmt.name}")
    return _swap_red_blue(image)


def check_writable(path: str | os.PathLike, image: np.ndarray) -> None:
    """Raise a ``ValueError`` if the format named by ``path``'s suffix cannot hold ``image``.

    :func:`write_image` calls this; call it yourself to fail before a long computation.
    """
    path = Path(path)
    fmt = _format(path)
    dtype = np.asarray(image).dtype.name
    if dtype not in fmt.dtypes:
        holders = [f.name for f in (_PNG, _JPEG, _TIFF) if dtype in f.dtypes]
        hint = f"write {' or '.join(holders)} instead" if holders else "convert it first"
        raise ValueError(f"{path.name}: {fmt.name} cannot hold {dtype} images ({', '.join(fmt.dtypes)} only); {hint}")
    shape = np.shape(image)
    channels = 1 if len(shape) == 2 else shape[2] if len(shape) == 3 else None
    if channels not in fmt.channels or min(shape[:2], default=0) < 1:
        raise ValueError(
            f"{path.name}: {fmt.name} cannot hold an image of shape {shape}; "
            f"use (H, W) or (H, W, C) with C in {fmt.channels}"
        )


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write ``image`` in the format its suffix names, atomically.

    The file is written next to ``path`` under a temporary name, then renamed
    over ``path`` (``os.replace``): readers never see a half-written file, and
    a failure leaves any existing ``path`` untouched and no temporary behind.

    Parameters
    ----------
    path : str or path-like
        ``.png``, ``.jpg``/``.jpeg`` or ``.tif``/``.tiff`` (any case). The
        folder must exist.
    image : ndarray
        (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); see the module docstring for
        the dtypes and layouts each format holds. JPEG is written at quality
        ``JPEG_QUALITY``.

    Raises
    ------
    ValueError
        If the suffix names no supported format or the format cannot hold ``image``.
    """
    path = Path(path)
    image = np.asarray(image)
    check_writable(path, image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    fmt = _format(path)
    if fmt is _TIFF:
        import tifffile

        buffer = io.BytesIO()
        photometric = "minisblack" if image.ndim == 2 else "rgb"
        extrasamples = ("unassalpha",) if image.ndim == 3 and image.shape[2] == 4 else None
        tifffile.imwrite(buffer, image, photometric=photometric, extrasamples=extrasamples)
        data = buffer.getvalue()
    else:
        import cv2

        flags = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if fmt is _JPEG else []
        ok, encoded = cv2.imencode(".png" if fmt is _PNG else ".jpg", _swap_red_blue(image), flags)
        if not ok:
            raise ValueError(f"{path.name}: OpenCV could not encode this image as {fmt.name}")
        data = encoded.tobytes()
    _write_atomically(path, data)


def _format(path: Path) -> _Format:
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"{path.name}: unsupported file type {path.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(_FORMATS)}"
        ) from None


def _swap_red_blue(image: np.ndarray) -> np.ndarray:
    """RGB(A) <-> OpenCV's BGR(A); gray passes through."""
    if image.ndim == 3 and image.shape[2] in (3, 4):
        order = [2, 1, 0, 3][: image.shape[2]]
        return np.ascontiguousarray(image[..., order])
    return image


def _write_atomically(path: Path, data: bytes) -> None:
    # A random name in the same folder, so os.replace is a same-filesystem rename;
    # opened with "x" (not mkstemp) so the file gets the usual umask permissions.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
