"""Progress reports and cancellation for the long calls (``prepare``, ``apply``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

ProgressFn = Callable[[float], None]
CancelArg = Callable[[], bool] | threading.Event | None


class Cancelled(Exception):
    """Raised by :meth:`ModelService.prepare` and :meth:`ModelService.apply` when ``cancel`` turned true."""


def as_cancel(cancel: CancelArg) -> Callable[[], bool]:
    """A ``threading.Event``, a predicate or None as one predicate."""
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    if not callable(cancel):
        raise ValueError(f"cancel must be a callable returning bool or a threading.Event, got {type(cancel).__name__}")
    return lambda: bool(cancel())


class Progress:
    """Reports fractions in [0, 1] of a job made of parts, never going backwards, in steps of at least 1 %.

    ``part(start, stop)`` gives a callback for a sub-job that maps its own
    [0, 1] onto [start, stop] of the whole; ``check()`` raises
    :class:`Cancelled` when the cancel predicate is true.
    """

    def __init__(self, report: ProgressFn | None, cancel: CancelArg) -> None:
        if report is not None and not callable(report):
            raise ValueError(f"progress must be a callable taking a fraction, got {type(report).__name__}")
        self._report = report
        self._cancelled = as_cancel(cancel)
        self._last = -1.0

    def check(self) -> None:
        if self._cancelled():
            raise Cancelled("cancelled")

    def __call__(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        # Hosts redraw on each report (a megapixel's windowed trunk has 256 steps): a hundred will do.
        if self._report is not None and (fraction >= self._last + 0.01 or fraction == 1.0 > self._last):
            self._last = fraction
            self._report(fraction)

    def part(self, start: float, stop: float) -> ProgressFn:
        return lambda fraction: self(start + (stop - start) * fraction)
