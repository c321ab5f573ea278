"""Scripting paramops from Python and from the napari console.

Shows both ways in:

1. ``paramops.apply(layer_or_array, op, **params)``: the network as a plain
   function; it takes an array or a napari Image layer and returns an array of
   the same dtype and shape.
2. The docked "Operator tuner" widget, reached from code, whose operator and
   parameters are set like its sliders would be.

Run it with ``python examples/napari_scripting.py`` (opens a napari window).
In napari's own console (the ``>_`` button) the same lines work with the
``viewer`` that is already there.
"""

from __future__ import annotations

import napari

import paramops
import paramops.napari
from paramops.napari.samples import load_sample

image = load_sample("astronaut")  # (512, 512, 3) uint8, shipped with paramops

# 1. As a function. Same dtype and shape back; parameters in their registry units.
flat = paramops.apply(image, "l0", lam=0.05)
print(f"paramops.apply: {image.shape} {image.dtype} -> {flat.shape} {flat.dtype}")

viewer = napari.Viewer(title="paramops scripting example")
layer = viewer.add_image(image, name="astronaut", rgb=True)
viewer.add_image(paramops.apply(layer, "wls", lam=2.0), name="astronaut wls (paramops.apply)", rgb=True)

# 2. The docked widget. paramops.napari.tuner(viewer) docks it once and returns the same
#    widget afterwards; it is viewer.window.add_plugin_dock_widget("napari-paramops", "Operator tuner")[1].
tuner = paramops.napari.tuner(viewer)
tuner.layer = "astronaut"  # a layer or its name
tuner.set("l0", lam=0.01)  # operator and parameters: the sliders move, the output follows when live
print("operator:", tuner.operator, "parameters:", tuner.params)
print("sliders of this operator:", list(tuner.sliders))
# tuner.output_layer is "astronaut [l0]" once the first render lands; its metadata["paramops"]
# records operator, parameters and model. For a z/t stack, tuner.apply_to_all_slices() renders
# every slice, and tuner.exact_reference() runs the slow exact operator on the current one.

napari.run()
