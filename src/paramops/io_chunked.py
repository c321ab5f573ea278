"""Files of chunked runs: inputs read lazily (zarr, TIFF), outputs written resumably (zarr, TIFF).

Inputs (:func:`open_lazy`): a zarr array (a directory whose name ends in
``.zarr``) or a TIFF file, as a dask array whose chunks are read when a task
needs them. TIFF windows are read by path through tifffile's zarr interface,
so the workers of a cluster read them too when they see the same files.

Outputs (:class:`PartialOutput`) are built in ``OUT.partial``, a zarr array
chunked like the job's tiles:

* a tile's task writes its chunk (zarr writes a chunk file under a temporary
  name and renames it into place), then records it done with an empty file
  ``OUT.partial/paramops/done/<chunk>``. A task killed in between leaves a
  chunk not recorded, which the next run writes again: a half-written chunk
  never counts as done, and writing a chunk twice writes the same bytes;
* each plane's statistics are saved once computed
  (``OUT.partial/paramops/statistics/``), so a resumed run skips them;
* ``OUT.partial/paramops/job.json`` says what is being computed (input,
  network fingerprint, operator, parameters, geometry): the same command
  resumes, a different one starts afresh.

:meth:`PartialOutput.finish` then moves the zarr array to ``OUT`` (zarr) or
writes ``OUT`` (TIFF) from it tile by tile under a temporary name renamed
into place, and removes ``OUT.partial``.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

ZARR_SUFFIX = ".zarr"
TIFF_SUFFIXES = (".tif", ".tiff")
TIFF_DTYPES = ("uint8", "uint16", "float32", "float64")
# TIFF output tiles are square, a multiple of 16 pixels a side.
TIFF_TILE_MULTIPLE = 16
# Files beyond this many bytes are never written as plain TIFF (its offsets are 32-bit).
CLASSIC_TIFF_LIMIT = 2**32 - 2**25


def is_zarr(path: Path) -> bool:
    return Path(path).suffix.lower() == ZARR_SUFFIX


def is_tiff(path: Path) -> bool:
    return Path(path).suffix.lower() in TIFF_SUFFIXES


def partial_path(output: Path) -> Path:
    """Where the output of ``output`` is built: ``OUT.partial`` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".partial")


class TiffWindows:
    """A TIFF file's first image series as an array that reads only the windows asked for (by path)."""

    def __init__(self, path: str | os.PathLike) -> None:
        import tifffile

        self.path = os.fspath(path)
        try:
            with tifffile.TiffFile(self.path) as tif:
                series = tif.series[0]
                self.shape, self.dtype = tuple(series.shape), np.dtype(series.dtype)
        except Exception as exc:  # tifffile raises many types on corrupt files
            raise ValueError(f"{path}: cannot read as TIFF ({exc})") from None
        self.ndim = len(self.shape)

    def __getitem__(self, key) -> np.ndarray:
        import tifffile

        return np.asarray(tifffile.imread(self.path, selection=key))

    def __dask_tokenize__(self):
        stat = os.stat(self.path)
        return ("paramops-tiff", self.path, stat.st_size, stat.st_mtime_ns)


def open_lazy(path: str | os.PathLike, chunk: int, rgb: bool | None = None):
    """A zarr array or TIFF file as a dask array, one plane deep and ``chunk`` pixels a side per chunk.

    Raises ``FileNotFoundError`` for a missing input and ``ValueError`` for
    anything else that cannot be read as an image array.
    """
    import dask.array as da

    from paramops.service.slices import infer_rgb, leading_shape

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    if is_zarr(path):
        import zarr

        try:
            array = zarr.open_array(str(path), mode="r")
        except Exception as exc:  # zarr raises several types for groups, missing metadata, ...
            raise ValueError(f"{path}: not a zarr array ({type(exc).__name__}: {exc})") from None
    elif is_tiff(path):
        if not path.is_file():
            raise ValueError(f"{path}: not a file")
        array = TiffWindows(path)
    else:
        raise ValueError(f"{path.name}: chunked input must be a zarr array ({ZARR_SUFFIX}) or a TIFF file")
    shape = tuple(array.shape)
    rgb = infer_rgb(shape, rgb)
    leading = len(leading_shape(shape, rgb))
    chunks = (1,) * leading + (chunk, chunk) + ((shape[-1],) if rgb else ())
    return da.from_array(array, chunks=chunks, lock=False, asarray=False, name=f"paramops-input-{_token(path)}")


def _token(path: Path) -> str:
    from dask.base import tokenize

    target = path / "zarr.json" if (path / "zarr.json").exists() else path / ".zarray" if path.is_dir() else path
    stat = target.stat() if target.exists() else path.stat()
    return tokenize(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def input_record(path: Path) -> dict:
    """What identifies an input file between runs: its resolved path, size and modification time."""
    return {"input": str(Path(path).resolve()), "input_version": _token(Path(path))}


def check_output(path: Path, dtype, shape: tuple[int, ...], rgb: bool) -> None:
    """Raise ``ValueError`` unless ``path`` names a zarr array or a TIFF file that can hold the output."""
    path = Path(path)
    if is_zarr(path):
        return
    if not is_tiff(path):
        raise ValueError(f"{path.name}: chunked output must be a zarr array ({ZARR_SUFFIX}) or a TIFF file "
                         f"({', '.join(TIFF_SUFFIXES)})")
    if np.dtype(dtype).name not in TIFF_DTYPES:
        raise ValueError(f"{path.name}: TIFF cannot hold {np.dtype(dtype).name} images "
                         f"({', '.join(TIFF_DTYPES)} only); write {ZARR_SUFFIX} instead")
    if rgb and shape[-1] not in (1, 3, 4):
        raise ValueError(f"{path.name}: TIFF cannot hold {shape[-1]} channels")


class PartialOutput:
    """The resumable output of one job in ``OUT.partial`` (see the module docstring).

    Picklable (it holds paths only), so the tasks that write tiles run on any
    worker that sees the same file system.
    """

    def __init__(self, output: str | os.PathLike) -> None:
        self.output = Path(output)
        self.path = partial_path(self.output)
        self._array = None

    @property
    def _meta(self) -> Path:
        return self.path / "paramops"

    def open(self, record: dict, *, shape: tuple[int, ...], dtype, chunks: tuple[int, ...]) -> bool:
        """Reuse ``OUT.partial`` if it holds this job (``record``), else start it afresh; True when resumed."""
        import zarr

        record = json.loads(json.dumps({**record, "shape": list(shape), "dtype": np.dtype(dtype).str,
                                        "chunks": list(chunks)}))
        job = self._meta / "job.json"
        if job.is_file():
            try:
                if json.loads(job.read_text()) == record:
                    self._array = None
                    return True
            except ValueError:
                pass
        if self.path.exists():
            shutil.rmtree(self.path)
        zarr.create_array(str(self.path), shape=shape, chunks=chunks, dtype=dtype, fill_value=0)
        for folder in ("done", "statistics"):
            (self._meta / folder).mkdir(parents=True)
        _write_atomically(job, json.dumps(record, indent=1).encode())
        return False

    def _zarr(self):
        if self._array is None:
            import zarr

            self._array = zarr.open_array(str(self.path), mode="r+")
        return self._array

    def done(self) -> set[tuple[int, ...]]:
        """Block indices of the chunks written completely."""
        folder = self._meta / "done"
        return {tuple(int(n) for n in name.split(".")) for name in os.listdir(folder)} if folder.is_dir() else set()

    def write(self, block: tuple[int, ...], data: np.ndarray) -> None:
        """Write chunk ``block`` (its index in the chunk grid), then record it done."""
        array = self._zarr()
        start = [b * c for b, c in zip(block, array.chunks)]
        array[tuple(slice(s, s + n) for s, n in zip(start, data.shape))] = data
        (self._meta / "done" / ".".join(map(str, block))).touch()

    def save_statistics(self, index: tuple[int, ...], statistics):
        """Keep a plane's :class:`~paramops.service.chunked.PlaneStatistics` for a resumed run; returns them."""
        arrays = {"value_range": np.asarray(statistics.value_range, dtype=np.float64)}
        for name, (mean, var) in statistics.norms.items():
            arrays[f"{name}.mean"], arrays[f"{name}.var"] = mean, var
        if statistics.levels is not None:
            arrays["levels"] = statistics.levels
        if statistics.gains:
            arrays["gains"] = np.asarray(statistics.gains, dtype=np.float64)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        _write_atomically(self._statistics_path(index), buffer.getvalue())
        return statistics

    def statistics(self, index: tuple[int, ...]):
        """The statistics saved for plane ``index``, or None."""
        from paramops.service.chunked import PlaneStatistics

        path = self._statistics_path(index)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as saved:
            names = [key[: -len(".mean")] for key in saved.files if key.endswith(".mean")]
            norms = {name: (saved[f"{name}.mean"], saved[f"{name}.var"]) for name in names}
            levels = saved["levels"] if "levels" in saved.files else None
            gains = tuple(float(v) for v in saved["gains"]) if "gains" in saved.files else ()
            return PlaneStatistics(tuple(float(v) for v in saved["value_range"]), norms, levels, gains)

    def _statistics_path(self, index: tuple[int, ...]) -> Path:
        return self._meta / "statistics" / f"{'.'.join(map(str, index)) or 'plane'}.npz"

    def finish(self, rgb: bool) -> None:
        """Put the complete output at ``OUT`` (see the module docstring) and remove ``OUT.partial``."""
        for leftover in self.path.rglob("*.partial"):  # temporaries of chunk writes that were killed
            leftover.unlink()
        if is_zarr(self.output):
            shutil.rmtree(self._meta)
            _replace_directory(self.path, self.output)
        else:
            _write_tiff(self._zarr(), self.output, rgb)
            shutil.rmtree(self.path)

    def __getstate__(self) -> dict:
        return {"output": self.output, "path": self.path, "_array": None}

    def __dask_tokenize__(self):
        return ("paramops-partial", str(self.path.resolve()))


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _replace_directory(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, replacing an existing ``target`` (moved aside first, then deleted)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
        os.replace(target, old)
    os.replace(source, target)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def _write_tiff(array, path: Path, rgb: bool) -> None:
    """Write the zarr ``array`` as a tiled TIFF at ``path``, tile by tile, atomically."""
    import tifffile

    shape, dtype = tuple(array.shape), np.dtype(array.dtype)
    if rgb and shape[-1] == 1:  # as paramops.io.write_image: gray (H, W, 1) is written (H, W)
        shape, rgb = shape[:-1], False
    plane = 3 if rgb else 2
    leading, (height, width) = shape[: len(shape) - plane], shape[len(shape) - plane : len(shape) - plane + 2]
    chunk = array.chunks[len(leading)]
    tile = -(-chunk // TIFF_TILE_MULTIPLE) * TIFF_TILE_MULTIPLE

    def tiles():
        for index in np.ndindex(*leading):
            for y in range(0, height, tile):
                for x in range(0, width, tile):
                    block = np.asarray(array[(*index, slice(y, y + tile), slice(x, x + tile))])
                    yield block if block.ndim == plane else block[..., 0]

    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    extrasamples = ("unassalpha",) if rgb and shape[-1] == 4 else None
    try:
        tifffile.imwrite(temp, tiles(), shape=shape, dtype=dtype, tile=(tile, tile),
                         photometric="rgb" if rgb else "minisblack", extrasamples=extrasamples,
                         bigtiff=int(np.prod(shape)) * dtype.itemsize > CLASSIC_TIFF_LIMIT)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
