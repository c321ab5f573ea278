"""The tuner's bridge to the model service: background threads in, Qt signals out.

Everything slow runs off the UI thread: loading the model, the trunk
(:meth:`ModelService.prepare`), the head (:meth:`ModelService.submit`, which
coalesces renders so only the newest lands), whole-stack application and the
exact reference operator. Results come back as Qt signals, which Qt delivers on
the UI thread. The widget never touches the service directly, and this module
never touches napari layers.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qtpy.QtCore import QObject, Signal

Index = tuple[int, ...]
Region = tuple[slice, slice] | None


@dataclass(frozen=True)
class Render:
    """One head result for the live output."""

    key: Hashable
    index: Index
    region: Region
    op: str
    params: Mapping[str, float]
    values: np.ndarray
    requested_at: float = field(default=0.0)
    tag: Any = None  # the caller's token, e.g. a data version, to recognise stale results


class Job(QObject):
    """A cancellable background computation reporting progress, result or error as signals.

    Connect to the signals before :meth:`start`: signals from the worker thread
    reach only the slots connected when they are emitted.
    """

    progressed = Signal(float)
    done = Signal(object)
    failed = Signal(str)
    finished = Signal()  # after done or failed

    def __init__(
        self,
        func: Callable[[Callable[[float], None], Callable[[], bool]], Any],
        stop: Callable[[], bool] | None = None,
        parent=None,
    ):
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self._stop = stop
        self._func = func
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: str | None = None

    def start(self) -> Job:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_event.set()

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the job's thread ends (or ``timeout`` seconds pass)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called or the ``stop`` predicate turned true."""
        return self.cancel_event.is_set() or (self._stop is not None and self._stop())

    def _run(self) -> None:
        from paramops.service import Cancelled

        try:
            result = self._func(self.progressed.emit, self.cancelled)
        except Cancelled:
            self.error = "cancelled"
            self.failed.emit(self.error)
        except Exception as exc:  # reported in the widget, never raised into Qt
            self.error = f"{type(exc).__name__}: {exc}"
            self.failed.emit(self.error)
        else:
            self.done.emit(result)
        finally:
            self.finished.emit()


def default_service():
    """The service used when the widget is given none: the default model's, shared with ``paramops.apply``."""
    from paramops.api import shared_service

    return shared_service("default")


class TunerController(QObject):
    """Owns the :class:`~paramops.service.ModelService` and runs its calls off the UI thread.

    Parameters
    ----------
    service : ModelService or callable returning one, optional
        Default: the shipped default model's service, shared with
        ``paramops.apply``, loaded in the background on first use.
    """

    ready = Signal(object)  # the service, once loaded
    progressed = Signal(object, float)  # key, fraction of the trunk done
    prepared = Signal(object, object)  # key, index
    trunk_idle = Signal()  # no slice left to prepare
    rendered = Signal(object)  # Render
    failed = Signal(str, str)  # stage, message

    def __init__(self, service=None, parent=None) -> None:
        super().__init__(parent)
        self._factory = service if callable(service) and not hasattr(service, "prepare") else None
        self._service = None if self._factory or service is None else service
        self._lock = threading.Lock()
        self._service_lock = threading.Lock()
        self._pending: tuple | None = None
        self._cancel: threading.Event | None = None
        self._trunk_busy = False
        self._prepared: set[tuple[Hashable, Index]] = set()
        self._keys: set[Hashable] = set()  # every key sent to the service, to release on close
        self._closed = False
        self._trunk_thread: threading.Thread | None = None
        self._in_flight: set = set()  # render futures and jobs not finished, awaited on close

    # -- the service -------------------------------------------------------------

    @property
    def service(self):
        """The model service, or None while it is still loading (or failed to load)."""
        return self._service

    def _get_service(self):
        with self._service_lock:
            if self._service is None:
                self._service = (self._factory or default_service)()
                self.ready.emit(self._service)
            return self._service

    def load(self) -> None:
        """Load the service in the background (emits ``ready``, or ``failed`` with stage "model")."""
        if self._service is not None:
            self.ready.emit(self._service)
            return

        def load():
            try:
                self._get_service()
            except Exception as exc:
                self.failed.emit("model", f"{type(exc).__name__}: {exc}")

        threading.Thread(target=load, daemon=True).start()

    # -- the trunk: one slice at a time, newest request wins ------------------

    def is_prepared(self, key: Hashable, index: Index) -> bool:
        return (key, index) in self._prepared

    def trunk_busy(self) -> bool:
        return self._trunk_busy

    def prepare(self, key: Hashable, data, *, rgb: bool, index: Index) -> None:
        """Compute ``key``'s features at slice ``index`` in the background.

        A newer request cancels the one running: scrubbing through a stack only
        computes where the slider stops.
        """
        with self._lock:
            self._keys.add(key)
            self._prepared.discard((key, index))
            self._pending = (key, data, rgb, index)
            if self._cancel is not None:
                self._cancel.set()
            if self._trunk_busy:
                return
            self._trunk_busy = True
            self._trunk_thread = threading.Thread(target=self._trunk_loop, name="paramops-trunk", daemon=True)
            self._trunk_thread.start()

    def _trunk_loop(self) -> None:
        while True:
            with self._lock:
                if self._pending is None:
                    self._trunk_busy = False
                    self._cancel = None
                    self.trunk_idle.emit()
                    return
                key, data, rgb, index = self._pending
                self._pending = None
                cancel = self._cancel = threading.Event()
            try:
                service = self._get_service()
            except Exception as exc:
                self.failed.emit("model", f"{type(exc).__name__}: {exc}")
                continue
            from paramops.service import Cancelled

            try:
                service.prepare(
                    key, data, rgb=rgb, index=index, cancel=cancel,
                    progress=lambda fraction, key=key: self.progressed.emit(key, fraction),
                )
            except Cancelled:
                continue
            except Exception as exc:
                self.failed.emit("trunk", f"{type(exc).__name__}: {exc}")
                continue
            with self._lock:
                closed = self._closed
                # Asked again meanwhile (e.g. its data changed): the newer request reports.
                superseded = self._pending is not None and self._pending[0] == key and self._pending[3] == index
                if not (closed or superseded):
                    self._prepared.add((key, index))
            if closed:
                service.release(key)  # outside the lock: cancelling renders runs their callbacks
            elif not superseded:
                self.prepared.emit(key, index)

    # -- the head --------------------------------------------------------------

    def render(
        self, key: Hashable, index: Index, op: str, params: Mapping[str, float],
        regions: tuple[Region, ...] = (None,), requested_at: float | None = None, tag: Any = None,
    ) -> None:
        """Render ``op`` on a prepared slice, one submit per region, in order (e.g. on-screen window, then all)."""
        service = self._service
        if service is None or not self.is_prepared(key, index):
            raise RuntimeError("render() before the slice was prepared")
        requested_at = time.perf_counter() if requested_at is None else requested_at
        params = dict(params)
        for region in regions:
            def deliver(values, region=region):
                if not self._closed:
                    self.rendered.emit(Render(key, index, region, op, params, values, requested_at, tag))

            try:
                future = service.submit(key, op, region, index=index, callback=deliver, **params)
            except ValueError as exc:  # e.g. the features were evicted from the cache: prepare again
                with self._lock:
                    self._prepared.discard((key, index))
                self.failed.emit("head", str(exc))
                return
            with self._lock:
                self._in_flight.add(future)
            future.add_done_callback(self._report_failure)

    def _report_failure(self, future) -> None:
        self._forget(future)
        if not future.cancelled() and future.exception() is not None and not self._closed:
            exc = future.exception()
            self.failed.emit("head", f"{type(exc).__name__}: {exc}")

    # -- lifecycle ------------------------------------------------------------------

    def release(self, key: Hashable) -> None:
        """Forget ``key``'s features (all slices) and free their memory."""
        with self._lock:
            self._prepared = {entry for entry in self._prepared if entry[0] != key}
            self._keys.discard(key)
        if self._service is not None:
            self._service.release(key)

    def close(self, timeout: float = 10.0) -> None:
        """Stop all work, wait for what is running, release every key used (the service may be shared).

        Waiting matters: network code still running in a background thread
        when the interpreter exits can abort the process.
        """
        with self._lock:
            self._closed = True
            self._pending = None
            if self._cancel is not None:
                self._cancel.set()
        for key in list(self._keys):  # the lock is free again: release() takes it
            self.release(key)  # also drops renders still waiting in the service's queue
        deadline = time.monotonic() + timeout
        with self._lock:
            in_flight = list(self._in_flight)
        for work in in_flight:
            if isinstance(work, Job):
                work.cancel()
                work.wait(max(0.0, deadline - time.monotonic()))
            else:
                concurrent.futures.wait([work], timeout=max(0.0, deadline - time.monotonic()))
        if self._trunk_thread is not None:
            self._trunk_thread.join(max(0.0, deadline - time.monotonic()))
        for key in list(self._keys):  # a trunk that finished meanwhile
            self.release(key)

    # -- whole-array jobs ------------------------------------------------------------

    def apply_all(
        self, data, *, rgb: bool, op: str, params: Mapping[str, float], self_ensemble: bool = False,
        stop: Callable[[], bool] | None = None
    ) -> Job:
        """A job running the network on every slice of ``data``; its result is the output array.

        ``self_ensemble``: see :meth:`ModelService.apply`. ``stop``: an extra cancellation predicate (e.g.
        napari's progress bar's cancel button).
        """
        params = dict(params)

        def apply(progress, cancelled):
            return self._get_service().apply(data, op, rgb=rgb, self_ensemble=self_ensemble, progress=progress,
                                             cancel=cancelled, **params)

        return self._track(Job(apply, stop=stop, parent=self))

    def reference(self, image: np.ndarray, *, op: str, params: Mapping[str, float]) -> Job:
        """A job running the exact (slow) reference operator on one slice; its result is its output."""
        params = dict(params)
        # Not awaited on close: the reference operators cannot be interrupted, and run no torch code.
        return Job(lambda progress, cancelled: exact_reference(image, op, **params), parent=self)

    def _track(self, job: Job) -> Job:
        with self._lock:
            self._in_flight.add(job)
        job.finished.connect(lambda: self._forget(job))
        return job

    def _forget(self, work) -> None:
        with self._lock:
            self._in_flight.discard(work)


def exact_reference(image: np.ndarray, op: str, **params: float) -> np.ndarray:
    """The reference operator on one plane, seeing the values the network sees.

    The service maps 12/16-bit planes to [0, 1] by robust percentiles, not by
    the dtype's range as :func:`paramops.reference` does; the comparison is
    only fair if the exact operator gets the same mapping. Returns the plane's
    dtype, shape and range.
    """
    from paramops.image import from_working, to_working
    from paramops.operators.reference import reference
    from paramops.service.slices import mapped_range

    working, layout = to_working(image, value_range=mapped_range(image))
    return from_working(reference(np.clip(working, 0.0, 1.0), op, **params), layout)
