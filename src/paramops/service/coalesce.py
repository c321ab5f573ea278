"""Coalesced asynchronous renders: the newest request wins, stale results never land.

Requests go into *lanes*, one per (key, slice index, region): a new request
replaces the one waiting in its lane, whose future is cancelled. One worker
thread takes the oldest waiting request, renders it, calls its callback and
completes its future, so results come out in the order requests were made,
and a result is never delivered after the result of a newer request. When
requests arrive faster than renders finish, everything between the one being
rendered and the newest is dropped. Separate lanes let a host ask for the
on-screen window first and then the whole plane without one cancelling the
other. The worker exits when no request waits, so an idle service holds no
thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

Lane = tuple[Hashable, tuple[int, ...], tuple[int, int, int, int] | None]


@dataclass
class Request:
    generation: int
    lane: Lane
    render: Callable[[], np.ndarray]
    callback: Callable[[np.ndarray], None] | None
    future: Future = field(default_factory=Future)


class RenderQueue:
    """Single-worker queue of renders with one waiting slot per lane."""

    def __init__(self, name: str = "paramops-render") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._waiting: dict[Lane, Request] = {}
        self._generations = itertools.count()
        self._worker: threading.Thread | None = None

    def submit(self, lane: Lane, render: Callable[[], np.ndarray],
               callback: Callable[[np.ndarray], None] | None = None) -> Future:
        """Queue ``render()`` in ``lane``, replacing (and cancelling) the request waiting there."""
        with self._lock:
            request = Request(next(self._generations), lane, render, callback)
            replaced = self._waiting.pop(lane, None)
            self._waiting[lane] = request
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._worker.start()
        if replaced is not None:
            replaced.future.cancel()
        return request.future

    def cancel(self, predicate: Callable[[Lane], bool] = lambda lane: True) -> None:
        """Cancel the waiting requests whose lane satisfies ``predicate`` (the running one finishes)."""
        with self._lock:
            lanes = [lane for lane in self._waiting if predicate(lane)]
            dropped = [self._waiting.pop(lane) for lane in lanes]
        for request in dropped:
            request.future.cancel()

    def _next(self) -> Request | None:
        with self._lock:
            if not self._waiting:
                self._worker = None
                return None
            request = min(self._waiting.values(), key=lambda r: r.generation)
            del self._waiting[request.lane]
            return request

    def _work(self) -> None:
        while (request := self._next()) is not None:
            if not request.future.set_running_or_notify_cancel():
                continue
            try:
                result = request.render()
            except BaseException as exc:  # reported through the future, the worker goes on
                request.future.set_exception(exc)
                continue
            if request.callback is not None:
                try:
                    request.callback(result)
                except Exception:
                    log.exception("render callback failed")
            request.future.set_result(result)
