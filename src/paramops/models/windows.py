"""Instance norm over overlapping windows: on any image, the statistics of a training patch.

The networks are trained on small patches, so every instance norm learned
the statistics of a patch. A whole image's are others, and a patch-trained
network renders it worse than the same image cut into patch-sized windows:
up to 6 dB on Set5 for the shipped ``default``, a gap that grows with
training. The same windows given the whole image's statistics score like the
whole image, so it is the statistics, not the context a pixel sees
(``docs/window_statistics.md``).

``norm_windows: [window, stride]`` in a :class:`~paramops.models.tunable.TunableNet`
config runs the trunk on overlapping ``window`` px squares every ``stride``
px, each as an image of its own, and blends their features with tent weights
that fall to nearly zero at a window's edge, so the result is seamless. The
head's norm (after the tuned conv) uses each window's own statistics, exact
for any parameters from per-window moments, spread over the pixels with the
same weights. An image no larger than one window is one window: exactly the
plain network, so training on patches is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import torch

Window = tuple[int, int, int, int]  # y0, y1, x0, x1


def window_starts(size: int, window: int, stride: int) -> tuple[int, ...]:
    """Starts of ``window``-long windows every ``stride`` along ``size``; the last ends at ``size``."""
    if size <= window:
        return (0,)
    return (*range(0, size - window, stride), size - window)


def tent(n: int) -> torch.Tensor:
    """Weights of an n-pixel window, 1 at its centre and 1 / n at its edge pixels (float64)."""
    index = torch.arange(n, dtype=torch.float64)
    distance = torch.minimum(index + 0.5, n - 0.5 - index)
    return distance / distance.max()


def check_norm_windows(value) -> list[int] | None:
    """Validate a config's ``norm_windows``: None, or [window, stride], both even, window >= 8, stride <= window.

    Even, so every window starts and ends on the stride-2 grid of the padded image.
    """
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value)
    if not ok or value[0] < 8 or value[0] % 2 or value[1] % 2 or not 2 <= value[1] <= value[0]:
        raise ValueError(f"norm_windows must be null or [window, stride] with even numbers, window >= 8 and "
                         f"2 <= stride <= window, got {value!r}")
    return list(value)


@dataclass(frozen=True)
class WindowGrid:
    """Overlapping square windows covering a ``height`` x ``width`` image."""

    height: int
    width: int
    window: int
    stride: int

    @cached_property
    def rows(self) -> tuple[int, ...]:
        return window_starts(self.height, self.window, self.stride)

    @cached_property
    def cols(self) -> tuple[int, ...]:
        return window_starts(self.width, self.window, self.stride)

    @property
    def shape(self) -> tuple[int, int]:
        """Windows down and across."""
        return len(self.rows), len(self.cols)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def __iter__(self) -> Iterator[Window]:
        """Each window (y0, y1, x0, x1), row by row."""
        for y0 in self.rows:
            for x0 in self.cols:
                yield y0, min(y0 + self.window, self.height), x0, min(x0 + self.window, self.width)

    def covering(self, region: Window) -> Window:
        """The union of the windows that overlap ``region`` (y0, y1, x0, x1).

        Cut out of the image, it is an image whose own grid is these windows:
        it starts and ends where windows do, so the trunk's features over
        ``region`` come out the same from it as from the whole image.
        """
        y0, y1, x0, x1 = region
        rows = [r for r in self.rows if r < y1 and r + self.window > y0]
        cols = [c for c in self.cols if c < x1 and c + self.window > x0]
        return rows[0], min(rows[-1] + self.window, self.height), cols[0], min(cols[-1] + self.window, self.width)

    @cached_property
    def _row_weights(self) -> torch.Tensor:
        return _axis_weights(self.rows, self.height, self.window)

    @cached_property
    def _col_weights(self) -> torch.Tensor:
        return _axis_weights(self.cols, self.width, self.window)

    def pixel_weights(self, window: Window, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(rows, cols) share of ``window`` in each of its pixels; over all windows the shares sum to 1."""
        y0, y1, x0, x1 = window
        rows = self._row_weights[self.rows.index(y0), y0:y1]
        cols = self._col_weights[self.cols.index(x0), x0:x1]
        return (rows[:, None] * cols[None, :]).to(dtype)

    def spread(self, values: torch.Tensor, region: Window) -> torch.Tensor:
        """Per-window values (N, windows, C), in grid order, as per-pixel maps (N, C, y1 - y0, x1 - x0) of ``region``.

        Each pixel gets the mean of its windows' values with the blending weights.
        """
        y0, y1, x0, x1 = region
        return self.spread_down(self.spread_across(values, x0, x1), y0, y1)

    def spread_across(self, values: torch.Tensor, x0: int, x1: int) -> torch.Tensor:
        """The first half of :meth:`spread`: (N, windows, C) blended along columns x0:x1, (N, window rows, C, x1 - x0).

        Split out so that a renderer working in row bands blends the columns once.
        """
        n, _, channels = values.shape
        grid = values.reshape(n, *self.shape, channels)
        cols = self._col_weights[:, x0:x1].to(values.dtype)  # (Q, w)
        return torch.einsum("nrqc,qx->nrcx", grid, cols).contiguous()

    def spread_down(self, across: torch.Tensor, y0: int, y1: int) -> torch.Tensor:
        """The second half of :meth:`spread`: :meth:`spread_across`'s result blended along rows y0:y1."""
        n, _, channels, width = across.shape
        rows = self._row_weights[:, y0:y1]  # (R, h)
        used = rows.any(1).nonzero()[:, 0]  # a band of rows lies in few windows: one small matrix product
        blended = across[:, used].transpose(0, 1).reshape(len(used), n * channels * width)
        maps = torch.mm(rows[used].T.to(across.dtype), blended)
        return maps.view(y1 - y0, n, channels, width).permute(1, 2, 0, 3)


# Pixels at a window's edge inside the image that get no weight: there the
# window's own zero padding makes its features far from its interior's (at
# conv19 of the default, |values| about 40 % larger on the outermost pixel),
# which even a small weight leaves as a visible line along the edge.
EDGE_PIXELS = 4


def _axis_weights(starts: tuple[int, ...], size: int, window: int) -> torch.Tensor:
    """(len(starts), size): each window's weight along one axis, divided by their sum at each pixel.

    A tent over the window, rising from zero ``EDGE_PIXELS`` in from an edge
    that lies inside the image; flat towards an edge that is the image's own,
    where no other window takes over.
    """
    weights = torch.zeros(len(starts), size, dtype=torch.float64)
    for i, start in enumerate(starts):
        end = min(start + window, size)
        index = torch.arange(end - start, dtype=torch.float64)
        inf = torch.full_like(index, float("inf"))
        before = index + 0.5 if start > 0 else inf
        after = end - start - 0.5 - index if end < size else inf
        distance = torch.minimum(torch.minimum(before, after), torch.tensor((end - start) / 2))
        weights[i, start:end] = (distance - EDGE_PIXELS).clamp_min(0)
    return weights / weights.sum(0)
