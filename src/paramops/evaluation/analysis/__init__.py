"""The paper's analyses of its trained networks (sections 4.6 and 6), each one reproducible command.

Computations, one job each:

* :mod:`.erf` -- effective receptive field of one output pixel (6.2);
* :mod:`.weight_stats` -- per-layer correlation, mean and variance of two networks' conv weights (6.3.1);
* :mod:`.head_cost` -- what a parameter change recomputes in a ``TunableNet`` (6.3.2);
* :mod:`.multipath` -- a predicted conv layer as d+1 fixed convolutions (6.4).

The document: :mod:`.context` (images, models trained or not, scores),
:mod:`.interpretation` and :mod:`.ablations` (the sections), :mod:`.charts`
(figures without a plotting library) and :mod:`.document` (``docs/analysis.md``,
driven by ``scripts/analysis.py``).
"""
