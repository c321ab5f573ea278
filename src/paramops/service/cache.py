"""The feature cache: trunk features by (key, slice index), checked against a fingerprint of the data.

Least recently used entries are evicted when the bytes held exceed the
budget; the newest entry always stays, even alone over budget, so the plane
just prepared can be rendered. Every prepare takes a ticket when it starts:
an entry is stored only if no prepare of the same (key, index) that started
later has stored one, and no ``release(key)`` came after it started, so a slow
computation on old data can never overwrite newer features.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from paramops.image import Layout
from paramops.models.features import TrunkFeatures

Slot = tuple[Hashable, tuple[int, ...]]


@dataclass(frozen=True)
class Entry:
    features: TrunkFeatures
    layout: Layout
    fingerprint: str
    ticket: int

    @property
    def nbytes(self) -> int:
        alpha = 0 if self.layout.alpha is None else self.layout.alpha.nbytes
        return self.features.nbytes + alpha

    @property
    def size(self) -> tuple[int, int]:
        return self.features.size


class FeatureCache:
    """Thread-safe LRU store of :class:`Entry` under a byte budget."""

    def __init__(self, budget: int) -> None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise ValueError(f"cache_bytes must be a non-negative integer, got {budget!r}")
        self.budget = budget
        self._entries: OrderedDict[Slot, Entry] = OrderedDict()
        self._last_index: dict[Hashable, tuple[int, ...]] = {}
        self._released: dict[Hashable, int] = {}
        self._tickets = itertools.count()
        self._lock = threading.Lock()

    def ticket(self) -> int:
        with self._lock:
            return next(self._tickets)

    def lookup(self, key: Hashable, index: tuple[int, ...], fingerprint: str) -> bool:
        """True (and the entry becomes the most recent) if features of exactly this data are held.

        An entry for the same slot holding other data is dropped at once, so
        it can never be rendered again.
        """
        slot = (key, index)
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None:
                return False
            if entry.fingerprint != fingerprint:
                del self._entries[slot]
                return False
            self._entries.move_to_end(slot)
            self._last_index[key] = index
            return True

    def get(self, key: Hashable, index: tuple[int, ...] | None) -> tuple[tuple[int, ...], Entry]:
        """The entry of ``key`` at ``index`` (None: the slice prepared last); ValueError if there is none."""
        with self._lock:
            if index is None:
                index = self._last_index.get(key)
            entry = None if index is None else self._entries.get((key, tuple(index)))
            if entry is None:
                where = "" if index is None else f" at index {tuple(index)}"
                raise ValueError(
                    f"no features for key {key!r}{where}: call prepare(key, image) first "
                    "(features are dropped by release() and by eviction when the cache is full)"
                )
            self._entries.move_to_end((key, tuple(index)))
            return tuple(index), entry

    def put(self, key: Hashable, index: tuple[int, ...], entry: Entry) -> tuple[bool, list[Entry]]:
        """Store ``entry`` unless superseded; returns (stored, evicted entries)."""
        slot = (key, index)
        with self._lock:
            held = self._entries.get(slot)
            if entry.ticket < self._released.get(key, -1) or (held is not None and held.ticket > entry.ticket):
                return False, []
            self._entries[slot] = entry
            self._entries.move_to_end(slot)
            self._last_index[key] = index
            evicted = []
            while len(self._entries) > 1 and self._bytes() > self.budget:
                old_slot, old = self._entries.popitem(last=False)
                evicted.append(old)
                if self._last_index.get(old_slot[0]) == old_slot[1]:
                    del self._last_index[old_slot[0]]
            return True, evicted

    def release(self, key: Hashable) -> list[Entry]:
        """Drop every entry of ``key``; prepares of ``key`` already running will not store theirs."""
        with self._lock:
            self._released[key] = next(self._tickets)
            self._last_index.pop(key, None)
            slots = [slot for slot in self._entries if slot[0] == key]
            return [self._entries.pop(slot) for slot in slots]

    def clear(self) -> list[Entry]:
        with self._lock:
            for key in {slot[0] for slot in self._entries}:
                self._released[key] = next(self._tickets)
            self._last_index.clear()
            entries = list(self._entries.values())
            self._entries.clear()
            return entries

    def _bytes(self) -> int:
        return sum(entry.nbytes for entry in self._entries.values())

    def info(self) -> dict:
        with self._lock:
            return {"bytes": self._bytes(), "budget": self.budget, "entries": len(self._entries)}
