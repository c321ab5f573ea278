"""Threads that each run torch on one core, for work split into many small pieces.

torch parallelises each operation over the cores with OpenMP. For small
operations (a band of the head, a 96 px window of the trunk) that costs more
in synchronisation than it gains, and from any thread but the one that first
used torch it costs far more: the windowed trunk of a megapixel took 7.4 s in
a plain thread against 3.7 s in the main one (2 cores, torch 2.13), as the
OpenMP teams of two threads compete for two cores. These workers never start
a team: each runs torch single-threaded, and the work is split between them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")

_POOL: tuple[ThreadPoolExecutor, int] | None = None
_POOL_LOCK = threading.Lock()


def workers() -> tuple[ThreadPoolExecutor, int] | None:
    """(pool, size): threads that each run torch with one intra-op thread; None on a single core."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            threads = torch.get_num_threads()
            if threads < 2:
                return None
            pool = ThreadPoolExecutor(threads, thread_name_prefix="paramops-worker")
            started = threading.Barrier(threads + 1)

            def single_threaded() -> None:
                # A thread's first torch call sets its thread count from the process default: make
                # that call first, or it would undo set_num_threads(1) (each piece would run on all cores).
                torch.get_num_threads()
                torch.set_num_threads(1)
                started.wait()

            for _ in range(threads):  # start every thread now, each waiting at the barrier
                pool.submit(single_threaded)
            started.wait()
            # torch.set_num_threads also set the default of threads that first use torch from now
            # on: restore it (a thread doing so during these few milliseconds would run single-threaded).
            torch.set_num_threads(threads)
            _POOL = (pool, threads)
        return _POOL


def ordered_map(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``fn`` of each item on the workers, yielded in order; serially where there are none.

    At most twice as many items as workers are in flight, so results that the
    caller has not taken yet never pile up; closing the iterator early (an
    exception in the caller, a cancellation) cancels those not yet started.
    """
    pool = workers()
    if pool is None:
        yield from map(fn, items)
        return
    executor, size = pool
    pending: deque[Future] = deque()
    try:
        for item in items:
            pending.append(executor.submit(fn, item))
            if len(pending) >= 2 * size:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
