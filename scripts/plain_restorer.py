"""How far a plain full-resolution CNN gets on the restorations in minutes; writes docs/plain_restorer.md.

Usage::

    .venv/bin/python scripts/plain_restorer.py                      # denoise, sr, deblock; about 25 minutes
    .venv/bin/python scripts/plain_restorer.py --ops sr --steps 500 --data DIR

A control for the shipped network, not a model the package ships: eight 3x3
convs of width 32 with ReLUs (the kind of network super-resolution and
denoising papers use), residual, the parameter as a constant input channel,
trained on one restoration alone with the default's own training pairs
(``configs/default.yaml``'s data section and seed) for a few thousand steps,
then scored like ``paramops evaluate`` at the issue's bar value on every
image: the restored image's PSNR minus the degraded input's. Run once
without norms and, for super-resolution, once with instance norm after every
hidden conv (statistics over the 64 px patch in training, the whole image
when scored), which is B's normalisation without its windows.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from paramops.evaluation.evaluate import cached_reference
from paramops.evaluation.markdown import table, write_generated
from paramops.evaluation.metrics import psnr
from paramops.image import to_working
from paramops.io import read_image
from paramops.training.config import DEFAULT_VAL_DIR, load_config
from paramops.training.loop import as_batch, pair_spec
from paramops.training.pairs import list_images, make_pairs

ROOT = Path(__file__).resolve().parents[1]
# The bars: the value each restoration is scored at, and the gain it must reach (dB).
BARS = {"denoise": ("sigma", 25.0, 8.0), "sr": ("scale", 2.0, 1.5), "deblock": ("quality", 10.0, 1.0)}
WIDTH, DEPTH = 32, 8


class PlainRestorer(nn.Module):
    """``x + f(x, t)``: DEPTH 3x3 convs, ReLUs between, optionally instance norm after each hidden conv."""

    def __init__(self, norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for k in range(DEPTH):
            last = k == DEPTH - 1
            layers.append(nn.Conv2d(4 if k == 0 else WIDTH, 3 if last else WIDTH, 3, padding=1))
            if not last:
                layers += ([nn.InstanceNorm2d(WIDTH, affine=True)] if norm and k else []) + [nn.ReLU()]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``t``: the parameter mapped to [0, 1] over its training range, (N,)."""
        level = t.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[-2:])
        return x + self.body(torch.cat([x - 0.5, level], 1))


def train(op: str, norm: bool, steps: int, config_path: Path) -> tuple[PlainRestorer, tuple[float, float], float]:
    config = load_config(config_path)
    pairs = make_pairs(pair_spec(config, op), list_images(config.data.train))
    x, y = as_batch(pairs["inputs"], "cpu"), as_batch(pairs["targets"], "cpu")
    value = torch.from_numpy(pairs["params"][:, 0]).float()
    span = (float(value.min()), float(value.max()))
    t = (value - span[0]) / (span[1] - span[0])
    torch.manual_seed(0)
    net = PlainRestorer(norm)
    optimiser = torch.optim.Adam(net.parameters(), 1e-3)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, [int(steps * 0.7)], 0.1)
    start = time.perf_counter()
    for _ in range(steps):
        batch = torch.randint(0, len(x), (16,))
        loss = ((net(x[batch], t[batch]) - y[batch]) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    return net.eval(), span, time.perf_counter() - start


def gain(net: PlainRestorer, span: tuple[float, float], op: str, data: Path) -> float:
    """Mean over ``data``'s images of the restored PSNR minus the degraded one, as ``paramops evaluate`` scores."""
    name, value, _ = BARS[op]
    gains = []
    for seed, path in enumerate(list_images(data)):
        clean = read_image(path)
        degraded = cached_reference(clean, path.name, op, {name: value}, seed)
        rgb, _ = to_working(degraded)
        x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
        t = torch.tensor([(value - span[0]) / (span[1] - span[0])])
        with torch.no_grad():
            restored = net(x, t).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        gains.append(psnr(restored, clean) - psnr(degraded, clean))
    return float(np.mean(gains))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", nargs="+", default=list(BARS), choices=list(BARS))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--data", type=Path, default=DEFAULT_VAL_DIR)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "plain_restorer.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    for op in args.ops:
        for norm in (False, True) if op == "sr" else (False,):
            net, span, seconds = train(op, norm, args.steps, args.config)
            name, value, bar = BARS[op]
            rows.append([f"{op} {name}={value:g}", "instance norm" if norm else "none", f"{args.steps}",
                         f"{seconds / 60:.1f}", f"{gain(net, span, op, args.data):+.2f}", f"+{bar:g}"])
            print(rows[-1], flush=True)
    images = len(list_images(args.data))
    write_generated(
        args.out, "A plain full-resolution CNN on the restorations", "python scripts/plain_restorer.py",
        [f"Validation set: `{args.data.name}/`, all {images} images; pairs from `{args.config.name}`'s data "
         f"section, the operator's alone. {DEPTH} convs of width {WIDTH}, batch 16, Adam at 1e-3, "
         f"a tenth of that for the last 30 % of the steps; torch using 2 threads."],
        ["", *table(["restoration", "norm", "steps", "minutes", "gain (dB)", "bar"], rows), "",
         "Gains are over the degraded input, scored as `paramops evaluate` scores them; compare "
         "`docs/results.md` for the shipped networks. The plain network is a control "
         "(`docs/training.md`, twelfth session), not a shipped model.", ""],
    )


if __name__ == "__main__":
    main()
