"""A plane's intensity range from passes over its blocks, equal to the whole-plane one.

Into the network, a plane's values are mapped to [0, 1] by the range that
:func:`paramops.image.intensity_range` picks (see
:func:`paramops.service.slices.to_network`): the dtype's range for 8-bit data
and floats inside [0, 1], else robust percentiles
(:data:`paramops.image.PERCENTILES`) of the colour values. For a plane too
large to hold, the same numbers come from blocks, whatever their size:

1. :func:`first_pass` per block (count, minimum, maximum, a histogram of the
   top 16 bits of each value's key), merged by :func:`merge_first`;
2. :func:`refine_passes` more passes of :func:`refine` / :func:`merge_refine`,
   each resolving the next 16 bits of the order statistics the percentiles
   interpolate between;
3. :func:`value_range`.

Histograms are sparse (the digits present and their counts), and
:func:`combine_first` / :func:`combine_refine` add any number of them into
one, so the merges can run as a tree with a bounded number of parts held.

Percentiles are order statistics, found by radix selection on keys that sort
like the values (uint8 and uint16 values as they are, floats by their bit
patterns with the sign folded in), so they are exact: uint16 and float16 need
the first pass only, float32 one more, float64 three more. The interpolation
between the order statistics repeats numpy's ``percentile`` (method
``"linear"``) operation for operation, so the range equals
:func:`paramops.service.slices.mapped_range` of the whole plane bit for bit.

Blocks are numpy arrays of the plane's colour values (alpha left out); every
function returns small, picklable results.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from paramops.image import PERCENTILES

DIGIT_BITS = 16
DIGITS = 1 << DIGIT_BITS
_KEY_TYPES = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


Histogram = tuple[np.ndarray, np.ndarray]  # sparse: (digits present, their counts), int64


@dataclass(frozen=True)
class BlockSummary:
    """What :func:`first_pass` finds in one block (or several, combined)."""

    count: int
    low: float
    high: float
    histogram: Histogram  # keys by their top 16 bits


@dataclass(frozen=True)
class RangeState:
    """The merged passes so far.

    For each order statistic sought (the values the percentiles interpolate
    between), ``prefixes`` holds the key bits found so far (``resolved_bits``
    of them) and ``remaining`` its rank among the keys sharing them.
    """

    dtype: np.dtype
    count: int
    low: float
    high: float
    prefixes: tuple[int, ...]
    remaining: tuple[int, ...]
    resolved_bits: int

    @property
    def needs_percentiles(self) -> bool:
        """False where the dtype's range applies (8-bit data, floats inside [0, 1])."""
        if self.dtype == np.uint8:
            return False
        return not (self.dtype.kind == "f" and self.low >= 0.0 and self.high <= 1.0)


def _sparse(dense: np.ndarray) -> Histogram:
    digits = np.flatnonzero(dense)
    return digits, dense[digits].astype(np.int64)


def _dense(histograms) -> np.ndarray:
    dense = np.zeros(DIGITS, dtype=np.int64)
    for digits, counts in histograms:
        dense[digits] += counts  # digits are unique within one histogram
    return dense


def _key_bits(dtype: np.dtype) -> int:
    return max(DIGIT_BITS, 8 * dtype.itemsize)


def refine_passes(dtype) -> int:
    """Passes of :func:`refine` after :func:`first_pass` for values of ``dtype``."""
    return _key_bits(np.dtype(dtype)) // DIGIT_BITS - 1


def _keys(values: np.ndarray) -> np.ndarray:
    """Unsigned integer keys that sort like ``values`` (flattened), at least 16 bits wide."""
    values = np.ascontiguousarray(values).reshape(-1)
    if values.dtype.kind == "u":
        return values.astype(np.uint16) if values.dtype.itemsize == 1 else values
    unsigned = _KEY_TYPES[values.dtype.itemsize]
    bits = values.view(unsigned)
    sign = unsigned(1) << unsigned(8 * values.dtype.itemsize - 1)
    # Negative floats: all bits flipped (larger magnitude sorts lower); others: the sign bit set.
    return np.where(bits & sign, ~bits, bits | sign)


def _value(key: int, dtype: np.dtype) -> np.ndarray:
    """The one-element array of ``dtype`` whose key is ``key``."""
    if dtype.kind == "u":
        return np.array([key], dtype=dtype)
    unsigned = _KEY_TYPES[dtype.itemsize]
    sign = 1 << (8 * dtype.itemsize - 1)
    bits = key ^ sign if key & sign else ~key & ((sign << 1) - 1)
    return np.array([bits], dtype=unsigned).view(dtype)


def _check(block: np.ndarray) -> np.ndarray:
    block = np.asarray(block)
    if block.dtype.kind not in "uf" or (block.dtype.kind == "u" and block.dtype.itemsize > 2):
        raise ValueError(f"unsupported dtype {block.dtype}; use uint8, uint16 or a float type")
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        raise ValueError("image contains NaN or Inf values")
    return block


def first_pass(block: np.ndarray) -> BlockSummary:
    """Count, minimum, maximum and top-16-bit key histogram of one block of colour values."""
    block = _check(block)
    keys = _keys(block)
    shift = _key_bits(block.dtype) - DIGIT_BITS
    histogram = np.bincount((keys >> keys.dtype.type(shift)).astype(np.intp), minlength=DIGITS)
    return BlockSummary(int(block.size), float(block.min()), float(block.max()), _sparse(histogram))


def combine_first(parts: list[BlockSummary]) -> BlockSummary:
    """Several blocks' :func:`first_pass` results as one."""
    return BlockSummary(sum(p.count for p in parts), min(p.low for p in parts), max(p.high for p in parts),
                        _sparse(_dense(p.histogram for p in parts)))


def _order_ranks(count: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """numpy's linear-method virtual indexes, their floor and the ranks to find (as in ``np.percentile``)."""
    q = np.true_divide(np.asarray(PERCENTILES, dtype=np.float64), 100)
    virtual = (count - 1) * q
    previous = np.floor(virtual)
    following = previous + 1
    above, below = virtual >= count - 1, virtual < 0
    previous[above], following[above] = count - 1, count - 1
    previous[below], following[below] = 0, 0
    ranks = tuple(int(r) for r in np.concatenate([previous, following]))
    return virtual, previous, ranks


def _select(histogram: np.ndarray, rank: int) -> tuple[int, int]:
    """(digit, rank among the keys with that digit) of the key of rank ``rank`` in a digit histogram."""
    cumulative = np.cumsum(histogram)
    digit = int(np.searchsorted(cumulative, rank, side="right"))
    return digit, rank - (int(cumulative[digit - 1]) if digit else 0)


def merge_first(dtype, parts: list[BlockSummary]) -> RangeState:
    """Combine the blocks' :func:`first_pass` results into the state of the search."""
    dtype = np.dtype(dtype)
    total = combine_first(parts)
    if total.count == 0:
        raise ValueError("the image is empty")
    histogram = _dense([total.histogram])
    _, _, ranks = _order_ranks(total.count)
    prefixes, remaining = zip(*(_select(histogram, rank) for rank in ranks))
    return RangeState(dtype, total.count, total.low, total.high, tuple(prefixes), tuple(remaining), DIGIT_BITS)


def refine(block: np.ndarray, state: RangeState) -> dict[int, Histogram]:
    """Histograms of the next 16 key bits of the block's values that share each sought prefix."""
    if not state.needs_percentiles:
        return {}
    keys = _keys(_check(block))
    bits = _key_bits(state.dtype)
    above = keys >> keys.dtype.type(bits - state.resolved_bits)
    digit_shift = keys.dtype.type(bits - state.resolved_bits - DIGIT_BITS)
    result = {}
    for prefix in sorted(set(state.prefixes)):
        digits = (keys[above == prefix] >> digit_shift) & keys.dtype.type(DIGITS - 1)
        result[prefix] = _sparse(np.bincount(digits.astype(np.intp), minlength=DIGITS))
    return result


def combine_refine(parts: list[dict[int, Histogram]]) -> dict[int, Histogram]:
    """Several blocks' :func:`refine` results as one."""
    prefixes = {prefix for part in parts for prefix in part}
    return {prefix: _sparse(_dense(part[prefix] for part in parts if prefix in part)) for prefix in prefixes}


def merge_refine(state: RangeState, parts: list[dict[int, Histogram]]) -> RangeState:
    """Extend every sought prefix by the next 16 bits from the blocks' :func:`refine` histograms."""
    if not state.needs_percentiles:
        return state
    total = combine_refine(parts)
    prefixes, remaining = [], []
    for prefix, rank in zip(state.prefixes, state.remaining):
        digit, rank = _select(_dense([total[prefix]]), rank)
        prefixes.append((prefix << DIGIT_BITS) | digit)
        remaining.append(rank)
    return replace(state, prefixes=tuple(prefixes), remaining=tuple(remaining),
                   resolved_bits=state.resolved_bits + DIGIT_BITS)


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    # numpy's own interpolation (numpy.lib._function_base_impl._lerp), step for step.
    diff_b_a = b - a
    result = np.asanyarray(np.add(a, diff_b_a * t))
    np.subtract(b, diff_b_a * (1 - t), out=result, where=t >= 0.5, casting="unsafe", dtype=type(result.dtype))
    return result


def percentiles(state: RangeState) -> tuple[float, float]:
    """``np.percentile(plane, PERCENTILES)`` of the plane, once every pass is merged."""
    if state.resolved_bits != _key_bits(state.dtype):
        merged = state.resolved_bits // DIGIT_BITS - 1
        raise ValueError(f"{refine_passes(state.dtype)} refine passes are needed, {merged} were merged")
    virtual, previous, _ = _order_ranks(state.count)
    values = np.concatenate([_value(prefix, state.dtype) for prefix in state.prefixes])
    half = len(PERCENTILES)
    gamma = np.asanyarray(virtual - previous, dtype=virtual.dtype)
    low, high = (float(v) for v in _lerp(values[:half], values[half:], gamma))
    return low, high


def value_range(state: RangeState) -> tuple[float, float]:
    """The range :func:`paramops.image.intensity_range` gives the whole plane (see the module docstring)."""
    dtype = state.dtype
    if not state.needs_percentiles:
        return (0.0, 255.0) if dtype == np.uint8 else (0.0, 1.0)
    low, high = percentiles(state)
    if high > low:
        return low, high
    if dtype == np.uint16:
        return 0.0, 65535.0
    return (state.low, state.high) if state.high > state.low else (state.low, state.low + 1.0)
