"""Dask wiring of batch processing: the graphs behind ``paramops.apply_dask`` and chunked ``paramops apply``.

:class:`Job` turns an array of planes into one dask graph of the tasks of
:mod:`paramops.service.chunked`. Per plane: the passes of its value range,
one statistics pass per instance norm, then one render task per output tile
(a plane small enough runs whole, in one task). Every pass is tasks over tiles
whose small results (histograms, moments) are merged by one task, so the
statistics run wherever the graph runs: dask's local scheduler or a
``dask.distributed`` cluster.

Tasks read their own input window (:class:`Source`): no task result the size
of the input lives from one pass to the next, so memory stays that of the
tasks running, whatever the input's size. Every task is a pure function of
its arguments, so a task lost with its worker is simply run again.

:func:`run` computes a set of keys with a progress bar, on the local
scheduler or on a cluster; :mod:`paramops.io_chunked` adds the files.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from paramops.image import color_values
from paramops.service import percentiles
from paramops.service.slices import check_array, infer_rgb, leading_shape

Key = Hashable
# Parts merged by one task of a value-range pass.
TREE_WIDTH = 8
# glibc's trim threshold for runs on the local scheduler: what dask.distributed sets for its workers
# (MALLOC_TRIM_THRESHOLD_). Left dynamic, glibc keeps several tiles' worth of freed activations.
TRIM_THRESHOLD = 65536


class Source:
    """An input array (..., Y, X[, C]), read window by window inside the tasks that need it."""

    def __init__(self, array) -> None:
        self.array = array

    def read(self, index: tuple[int, ...], window: tuple[int, int, int, int]) -> np.ndarray:
        """Plane ``index``'s pixels in ``window`` (y0, y1, x0, x1), all channels."""
        y0, y1, x0, x1 = window
        block = self.array[(*index, slice(y0, y1), slice(x0, x1))]
        # Inside a task: compute here, on this thread, whatever scheduler runs the task.
        return np.asarray(block.compute(scheduler="sync") if hasattr(block, "compute") else block)

    def __dask_tokenize__(self):
        return ("paramops-source", getattr(self.array, "name", id(self.array)))


# -- the tasks: module-level functions of picklable arguments --------------------------------------


def _range_first(source: Source, index, window):
    return percentiles.first_pass(color_values(source.read(index, window)))


def _range_refine(source: Source, index, window, state):
    if not state.needs_percentiles:  # the dtype's range applies: nothing to read
        return {}
    return percentiles.refine(color_values(source.read(index, window)), state)


def _moments(plan, source: Source, index, window, crop, norm, statistics, value_range, gains=()):
    span = plan.span(crop)
    return plan.moments(source.read(index, span), (span[0], span[2]), window, crop, norm, statistics or {},
                        value_range, gains)


def _add_norm(plan, statistics, norm, parts):
    from paramops.service.chunked import merge_moments

    return {**(statistics or {}), plan.norm_name(norm): merge_moments(parts)}


def _levels(plan, source: Source, index, window, value_range):
    return plan.levels(source.read(index, window), value_range)


def _add_levels(parts):
    return np.sum(parts, axis=0)


def _field_extremes(plan, source: Source, index, window, value_range):
    span = plan.field_span(window)
    return plan.field_extremes(source.read(index, span), (span[0], span[2]), window, value_range)


def _plane_gains(plan, parts):
    return plan.plane_gains(parts)


def _plane_statistics(value_range, norms, levels=None, gains=()):
    from paramops.service.chunked import PlaneStatistics

    return PlaneStatistics(tuple(value_range), norms or {}, levels, tuple(gains))


def _render(plan, source: Source, index, window, statistics):
    span = plan.span(plan.render_crop(window)[1])
    out = plan.render(source.read(index, span), (span[0], span[2]), window, statistics)
    return out[(np.newaxis,) * len(index)]


def _render_whole(plan, source: Source, index):
    height, width = plan.shape[:2]
    whole = (0, height, 0, width)
    return plan.render(source.read(index, whole), (0, 0), whole, None)


def _cut(plane, window, leading: int):
    y0, y1, x0, x1 = window
    return plane[y0:y1, x0:x1][(np.newaxis,) * leading]


# -- graphs ------------------------------------------------------------------------------------


class Job:
    """The dask graph of one network, operator and parameters on every plane of an array.

    Parameters
    ----------
    data : dask array, shape (..., Y, X) or (..., Y, X, C)
    plan : paramops.service.chunked.ChunkPlan
        For planes of ``data``'s plane shape and dtype.
    rgb : bool
        Whether the last axis of ``data`` holds channels.

    The output's chunks are the plan's tiles, one plane deep
    (:meth:`array`); :meth:`tile` names one tile's key, :meth:`statistics`
    the key of a plane's :class:`~paramops.service.chunked.PlaneStatistics`.
    """

    def __init__(self, data, plan, rgb: bool) -> None:
        from dask.base import tokenize

        self.data, self.plan, self.rgb = data, plan, rgb
        self.leading = leading_shape(tuple(data.shape), rgb)
        token = tokenize(plan, data.name)
        self.name = f"paramops-{plan.op}-{token}"
        self.graph: dict = {f"paramops-plan-{token}": plan, f"paramops-source-{token}": Source(data)}
        self._plan, self._source = list(self.graph)
        self.steps: dict[tuple[int, ...], list[Key]] = {}
        self._statistics: dict[tuple, Key] = {}
        self.tiles = plan.tiles()
        self._columns = len({w[2] for w in self.tiles})

    @property
    def planes(self) -> list[tuple[int, ...]]:
        return list(np.ndindex(*self.leading))

    def _task(self, prefix: str, func: Callable, *args) -> str:
        from dask.base import tokenize

        key = f"paramops-{prefix}-{tokenize(self.name, func.__name__, *args)}"
        self.graph.setdefault(key, (func, *args))
        return key

    def _step(self, index: tuple[int, ...], key: Key) -> None:
        steps = self.steps.setdefault(index, [])
        if key not in steps:
            steps.append(key)

    def _tree(self, prefix: str, combine: Callable, parts: list[Key]) -> list[Key]:
        """Combine ``parts`` in groups of ``TREE_WIDTH`` until that many are left (their histograms can be large)."""
        while len(parts) > TREE_WIDTH:
            parts = [self._task(prefix, combine, parts[i : i + TREE_WIDTH]) for i in range(0, len(parts), TREE_WIDTH)]
        return parts

    def value_range(self, index: tuple[int, ...]) -> Key | tuple[float, float]:
        """The key of plane ``index``'s value range (a constant for uint8 data)."""
        plan = self.plan
        if plan.dtype == np.uint8:
            return (0.0, 255.0)
        windows = self.tiles
        parts = [self._task("range", _range_first, self._source, index, w) for w in windows]
        state = self._task("range-merge", percentiles.merge_first, plan.dtype.str,
                           self._tree("range-combine", percentiles.combine_first, parts))
        self._step(index, state)
        for _ in range(percentiles.refine_passes(plan.dtype)):
            parts = [self._task("range-refine", _range_refine, self._source, index, w, state)
                     for w in windows]
            state = self._task("range-merge", percentiles.merge_refine, state,
                               self._tree("range-combine", percentiles.combine_refine, parts))
            self._step(index, state)
        return self._task("range-result", percentiles.value_range, state)

    def statistics(self, index: tuple[int, ...], save: Callable | None = None) -> Key:
        """The key of plane ``index``'s statistics; ``save(index, statistics)``, if given, runs on them first.

        The passes' merge tasks are listed in ``steps[index]``: milestones for progress.
        """
        if (index, save) in self._statistics:
            return self._statistics[index, save]
        value_range = self.value_range(index)
        gains = ()
        if self.plan.scaled:
            parts = [self._task("field-extremes", _field_extremes, self._plan, self._source, index, w, value_range)
                     for w in self.tiles]
            gains = self._task("gains", _plane_gains, self._plan, parts)
            self._step(index, gains)
        statistics = None
        for norm in self.plan.norms:
            parts = [self._task("moments", _moments, self._plan, self._source, index, window, crop, norm, statistics,
                                value_range, gains) for window, crop in self.plan.statistics_tiles(norm)]
            statistics = self._task("norm", _add_norm, self._plan, statistics, norm, parts)
            self._step(index, statistics)
        levels = None
        if self.plan.toned:
            parts = [self._task("levels", _levels, self._plan, self._source, index, w, value_range)
                     for w in self.tiles]
            levels = self._task("levels-merge", _add_levels, self._tree("levels-combine", _add_levels, parts))
            self._step(index, levels)
        result = self._task("statistics", _plane_statistics, value_range, statistics, levels, gains)
        if save is not None:
            result = self._task("saved-statistics", save, index, result)
        self._statistics[index, save] = result
        return result

    def given_statistics(self, index: tuple[int, ...], statistics) -> Key:
        """A key holding statistics already known (for example saved by an earlier run)."""
        key = f"paramops-given-statistics-{self.name}-{'.'.join(map(str, index))}"
        self.graph[key] = statistics
        return key

    def tile_key(self, index: tuple[int, ...], number: int) -> tuple:
        """The key of output tile ``number`` of plane ``index``: its block of :meth:`array`."""
        row, col = divmod(number, self._columns)
        return (self.name, *index, row, col, *((0,) if self.rgb else ()))

    def tile(self, index: tuple[int, ...], number: int, statistics: Key | None = None) -> tuple:
        """Add the task of output tile ``number`` (row-major, see ``tiles``) of plane ``index``; its key.

        ``statistics``: the key of the plane's statistics; default
        :meth:`statistics`. Planes that run whole need none.
        """
        window, key = self.tiles[number], self.tile_key(index, number)
        if self.plan.whole:
            whole = self._task("whole", _render_whole, self._plan, self._source, index)
            self.graph[key] = (_cut, whole, window, len(index))
        else:
            statistics = self.statistics(index) if statistics is None else statistics
            self.graph[key] = (_render, self._plan, self._source, index, window, statistics)
        return key

    def write(self, index: tuple[int, ...], number: int, sink: Callable, statistics: Key | None = None) -> Key:
        """Add a task that renders tile ``number`` of plane ``index`` and passes it to ``sink(block, tile)``.

        ``block`` is the tile's index in the chunk grid of :meth:`array`; the
        task's value is ``sink``'s.
        """
        key = self.tile(index, number, statistics)
        return self._task("write", sink, key[1:], key)

    def chunks(self) -> tuple[tuple[int, ...], ...]:
        rows = tuple(w[1] - w[0] for w in self.tiles if w[2] == 0)
        cols = tuple(w[3] - w[2] for w in self.tiles if w[0] == 0)
        channels = ((self.plan.shape[2],),) if self.rgb else ()
        return (*((1,) * n for n in self.leading), rows, cols, *channels)

    def array(self):
        """The output of every plane as a dask array chunked by tiles (computed on demand)."""
        import dask.array as da
        from dask.highlevelgraph import HighLevelGraph

        for index in self.planes:
            statistics = None if self.plan.whole else self.statistics(index)
            for number in range(len(self.tiles)):
                self.tile(index, number, statistics)
        graph = HighLevelGraph.from_collections(self.name, dict(self.graph), dependencies=())
        meta = np.empty((0,) * self.data.ndim, dtype=self.plan.dtype)
        return da.Array(graph, self.name, self.chunks(), meta=meta)


def make_job(array, op: str, *, model, rgb: bool | None = None, tile: int | None = None, **params: float) -> Job:
    """A :class:`Job` for ``array`` (anything ``dask.array.asarray`` takes) and a ``ParamModel``."""
    import dask.array as da

    from paramops.service.chunked import TILE, ChunkPlan

    check_array(array)
    data = da.asarray(array)
    rgb = infer_rgb(tuple(data.shape), rgb)
    leading = leading_shape(tuple(data.shape), rgb)
    plane = tuple(data.shape[len(leading):])
    plan = ChunkPlan(model, op, params, shape=plane, dtype=data.dtype, tile=TILE if tile is None else tile)
    return Job(data, plan, rgb)


def apply_dask(array, op: str, *, model, rgb: bool | None = None, tile: int | None = None, **params: float):
    """``op`` on every plane of ``array``, lazily, chunked like ``array`` (see :func:`paramops.apply_dask`)."""
    job = make_job(array, op, model=model, rgb=rgb, tile=tile, **params)
    out = job.array()
    return out if out.chunks == job.data.chunks else out.rechunk(job.data.chunks)


# -- running -------------------------------------------------------------------------------------


def run(graph: dict, keys: Sequence[Key], *, scheduler: str | None = None, progress: bool = False,
        description: str = "paramops") -> None:
    """Compute ``keys`` of ``graph`` for their effects (errors are raised).

    ``scheduler``: the address of a ``dask.distributed`` scheduler, or None
    for dask's local threaded scheduler (then :func:`return_freed_memory`
    is applied to this process). With ``progress``, a bar on stderr
    advances as each key completes: give the statistics passes' merge keys
    (``Job.steps``) too, so that it moves during the statistics.
    """
    from tqdm import tqdm

    keys = list(dict.fromkeys(keys))
    if not keys:
        return
    if scheduler is None:
        return_freed_memory()
    with tqdm(total=len(keys), desc=description, unit="step", file=sys.stderr, disable=not progress,
              dynamic_ncols=True) as bar:
        if scheduler is None:
            _run_local(graph, keys, bar)
        else:
            _run_distributed(graph, keys, scheduler, bar)


def return_freed_memory() -> None:
    """Have glibc give freed memory back to the system at once, as ``dask.distributed`` has its workers do.

    Tiles allocate and free hundreds of megabytes over and over; with glibc's
    default, dynamic thresholds a process keeps several tiles' worth of freed
    memory (2.5 GB instead of 0.7 GB, tiles of 512 at width 32). Process-wide;
    a no-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold = -1
    libc.mallopt(m_trim_threshold, TRIM_THRESHOLD)


def _run_local(graph: dict, keys: list, bar) -> None:
    import dask.threaded
    from dask.callbacks import Callback

    wanted = set(keys)

    class Ticks(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if key in wanted:
                bar.update(1)

    with Ticks():
        dask.threaded.get(graph, keys)


def _run_distributed(graph: dict, keys: list, address: str, bar) -> None:
    from distributed import Client, as_completed

    with Client(address) as client:
        futures = client.get(graph, keys, sync=False)
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # raises the task's exception
            bar.update(1)
