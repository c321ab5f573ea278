"""The model service: what makes tuning live (paper section 3.3), for any host.

:class:`ModelService` keeps the expensive trunk features of each image (or
slice of a stack) and recomputes only the cheap head when an operator or a
parameter changes. The napari plugin, the command line and scripts all use it
the same way::

    from paramops import ModelService

    service = ModelService()                     # the shipped default model
    service.prepare("img", image)                # trunk once: seconds
    out = service.render("img", "l0", lam=0.02)  # head: tens of milliseconds
    part = service.render("img", "l0", (slice(0, 512), slice(0, 512)), lam=0.05)
    future = service.submit("img", "l0", lam=0.03, callback=show)  # coalesced, async
    service.release("img")

Modules: :mod:`~paramops.service.core` (the class), :mod:`.slices` (planes
of host arrays, dtype and range mapping), :mod:`.trunk` (whole and tiled
trunk), :mod:`.head` (the fast band head), :mod:`.cache` (LRU feature cache),
:mod:`.coalesce` (the render queue), :mod:`.progress` (progress and
cancellation); ``apply(..., self_ensemble=True)`` turns planes with
:mod:`paramops.models.symmetry`, as training does its patches. See
docs/service.md.
"""

from paramops.service.core import ModelService
from paramops.service.progress import Cancelled

__all__ = ["Cancelled", "ModelService"]
