"""The napari plugin: the "Operator tuner" dock widget and sample data.

napari finds it through the ``napari.manifest`` entry point (``napari.yaml``).
napari itself is imported only when a function here needs it.

Reaching the docked widget from code or the napari console::

    import paramops.napari
    tuner = paramops.napari.tuner(viewer)   # docks it if needed
    tuner.layer = "astronaut"
    tuner.set("l0", lam=0.05)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from napari.viewer import Viewer

    from paramops.napari.widget import OperatorTuner

PLUGIN = "napari-paramops"
WIDGET = "Operator tuner"


def tuner(viewer: Viewer | None = None) -> OperatorTuner:
    """The Operator tuner docked in ``viewer`` (default: the current viewer), docking it if needed.

    Same as ``viewer.window.add_plugin_dock_widget("napari-paramops", "Operator tuner")[1]``.
    """
    if viewer is None:
        import napari

        viewer = napari.current_viewer()
        if viewer is None:
            raise ValueError("no napari viewer is open: pass one, or create it with napari.Viewer()")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    return widget
