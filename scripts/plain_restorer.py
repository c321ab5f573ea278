"""How far a plain full-resolution CNN gets on the restorations in minutes; writes docs/plain_restorer.md.

Usage::

    .venv/bin/python scripts/plain_restorer.py                  # six runs, about 40 minutes on 2 cores
    .venv/bin/python scripts/plain_restorer.py --ops sr --steps 500 --data DIR

A control for the shipped network, not a model the package ships: eight 3x3
convs of width 32 with biases and ReLUs (the kind of network
super-resolution and denoising papers use), residual, trained on one
restoration alone with the default's own training pairs
(``configs/default.yaml``'s data section and seed) for 1,500 steps, then
scored like ``paramops evaluate`` at the issue's bar value on every image:
the restored image's PSNR minus the degraded input's. How the network learns
the parameter (mapped to [0, 1] over its training range):

- ``given``: as a constant input channel;
- ``grid`` (deblocking): ``given``, and where each pixel lies in the JPEG's
  8 and 16 px blocks as eight more channels, which a translation-invariant
  network can only infer from the artifacts themselves;
- ``blind``: not at all, as a trunk that does not depend on the parameters;
- ``head``: the first six convs blind (a trunk), the last two's weights and
  biases predicted from it by a small MLP (a head of cheap tuning's kind,
  two full-resolution layers that a parameter change recomputes);
- ``on-default``: ``head``, added to the shipped default's output instead of
  the input, so it learns the default's error, as a detail branch does;
- ``gated-default``: ``head``, added to the input plus the default's
  residual scaled by a factor an MLP predicts from the parameter (1 at
  first), so the head may take over where it does better than the default.

For super-resolution also instance norm after every hidden conv (statistics
over the 64 px patch in training, the whole image when scored), B's
normalisation without its windows. Each run's result is kept in
docs/plain_restorer.json (``scripts/report.py`` cites it) and not run again unless
``--rerun``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from paramops.evaluation.diagnostics import PLAIN_CONTROL_FILE
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
# Convs at the end whose weights the ``head`` variant predicts.
HEAD_DEPTH = 2
MODES = {"given": "given", "grid": "given, with the pixel's place in the JPEG's 8 and 16 px blocks",
         "blind": "not given (blind)", "head": f"predicted weights of the last {HEAD_DEPTH} convs",
         "on-default": f"predicted weights of the last {HEAD_DEPTH} convs, added to the default's output",
         "gated-default": f"predicted weights of the last {HEAD_DEPTH} convs, added to the input plus the default's"
                          " residual times a predicted factor"}
DEFAULT_BASED = ("on-default", "gated-default")
# The modes whose network takes the parameter as an input channel.
PARAMETER_CHANNEL = ("given", "grid")
# (operator, instance norm, how the parameter reaches the network: a key of MODES)
VARIANTS = (("sr", False, "given"), ("sr", False, "blind"), ("denoise", False, "given"), ("denoise", False, "blind"),
            ("sr", True, "given"), ("deblock", False, "given"),
            ("sr", False, "head"), ("denoise", False, "head"), ("deblock", False, "head"), ("sr", False, "on-default"),
            ("sr", False, "gated-default"), ("deblock", False, "gated-default"), ("deblock", False, "grid"))
# The ``grid`` variant's block periods: JPEG codes luminance in 8 px blocks and, with its default 4:2:0
# subsampling, colour in 16 px ones, both from the image's corner, where training crops and scored images start.
GRID_PERIODS = (8, 16)


class PredictedConv(nn.Module):
    """A 3x3 conv whose weight and bias an MLP predicts from ``t``, one set per sample."""

    def __init__(self, cin: int, cout: int, hidden: int = 16) -> None:
        super().__init__()
        self.shape = (cout, cin, 3, 3)
        template = nn.Conv2d(cin, cout, 3)
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, template.weight.numel() + cout))
        # Start as the template conv for every t: the MLP's last layer predicts offsets from it, small at first.
        with torch.no_grad():
            self.mlp[2].weight.mul_(0.1 * template.weight.std().item())
            self.mlp[2].bias.copy_(torch.cat([template.weight.flatten(), template.bias]))

    def forward(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n, cout = len(h), self.shape[0]
        theta = self.mlp(t.view(-1, 1))
        weight, bias = theta[:, :-cout].reshape(n * cout, *self.shape[1:]), theta[:, -cout:].reshape(-1)
        # One grouped conv for the whole batch: sample i's channels form group i.
        out = nn.functional.conv2d(h.reshape(1, -1, *h.shape[-2:]), weight, bias, padding=1, groups=n)
        return out.view(n, cout, *h.shape[-2:])


class PlainRestorer(nn.Module):
    """``base + f(x, t)``, ``base`` the input unless given: DEPTH 3x3 convs, ReLUs between, optionally instance
    norm after each hidden conv."""

    def __init__(self, norm: bool, mode: str) -> None:
        super().__init__()
        self.mode = mode
        predicted = HEAD_DEPTH if mode in ("head", *DEFAULT_BASED) else 0
        self.layers = nn.ModuleList()
        for k in range(DEPTH):
            cin = (3 + (mode in PARAMETER_CHANNEL) + 4 * len(GRID_PERIODS) * (mode == "grid")) if k == 0 else WIDTH
            cout = 3 if k == DEPTH - 1 else WIDTH
            self.layers.append(PredictedConv(cin, cout) if k >= DEPTH - predicted else nn.Conv2d(cin, cout, 3, padding=1))
        self.gate = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1)) if mode == "gated-default" else None
        if self.gate is not None:  # the default's residual whole at first
            with torch.no_grad():
                self.gate[2].weight.mul_(0.1)
                self.gate[2].bias.fill_(1.0)
        self.norms = nn.ModuleList(nn.InstanceNorm2d(WIDTH, affine=True) if norm and k else nn.Identity()
                                   for k in range(DEPTH - 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        """``t``: the parameter mapped to [0, 1] over its training range, (N,); ``base``: what the output adds
        to, the input if None."""
        h = x - 0.5
        if self.mode in PARAMETER_CHANNEL:
            h = torch.cat([h, t.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[-2:])], 1)
        if self.mode == "grid":
            h = torch.cat([h, block_phase(*x.shape[-2:]).expand(len(x), -1, -1, -1)], 1)
        for k, layer in enumerate(self.layers):
            h = layer(h, t) if isinstance(layer, PredictedConv) else layer(h)
            if k < DEPTH - 1:
                h = torch.relu(self.norms[k](h))
        if base is not None and self.gate is not None:
            base = x + self.gate(t.view(-1, 1)).view(-1, 1, 1, 1) * (base - x)
        return (x if base is None else base) + h


def block_phase(height: int, width: int) -> torch.Tensor:
    """Where each pixel lies in the blocks of :data:`GRID_PERIODS`, counted from the top-left corner: the cosine
    and sine of its row's and its column's phase in each, (1, 4 * len(GRID_PERIODS), height, width)."""
    rows, cols = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                                indexing="ij")
    angles = [2 * np.pi * place / period for period in GRID_PERIODS for place in (rows, cols)]
    return torch.stack([f(a) for a in angles for f in (torch.cos, torch.sin)])[None]


def default_outputs(op: str, inputs: torch.Tensor, params: np.ndarray, cdfs: np.ndarray) -> torch.Tensor:
    """The shipped default's outputs on training patches (N, 3, H, W), as the training loop runs it."""
    from paramops.models.checkpoint import load_model
    from paramops.operators.registry import get_operator
    from paramops.training.loop import on_patches

    model = load_model("default", device="cpu")
    names = get_operator(op).param_names
    p = torch.from_numpy(model.encoding.encode_batch([(op, dict(zip(names, row))) for row in params])).float()
    with torch.no_grad():
        return torch.cat([on_patches(model.net, inputs[i : i + 64], p[i : i + 64], cdfs[i : i + 64]).clamp(0, 1)
                          for i in range(0, len(inputs), 64)])


def train(op: str, norm: bool, mode: str, steps: int, config_path: Path) -> tuple[PlainRestorer, tuple[float, float], float]:
    config = load_config(config_path)
    pairs = make_pairs(pair_spec(config, op), list_images(config.data.train))
    x, y = as_batch(pairs["inputs"], "cpu"), as_batch(pairs["targets"], "cpu")
    value = torch.from_numpy(pairs["params"][:, 0]).float()
    span = (float(value.min()), float(value.max()))
    t = (value - span[0]) / (span[1] - span[0])
    base = default_outputs(op, x, pairs["params"], pairs["cdfs"]) if mode in DEFAULT_BASED else None
    torch.manual_seed(0)
    net = PlainRestorer(norm, mode)
    optimiser = torch.optim.Adam(net.parameters(), 1e-3)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, [int(steps * 0.7)], 0.1)
    start = time.perf_counter()
    for _ in range(steps):
        batch = torch.randint(0, len(x), (16,))
        loss = ((net(x[batch], t[batch], None if base is None else base[batch]) - y[batch]) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    return net.eval(), span, time.perf_counter() - start


def gain(net: PlainRestorer, span: tuple[float, float], op: str, data: Path) -> float:
    """Mean over ``data``'s images of the restored PSNR minus the degraded one, as ``paramops evaluate`` scores."""
    from paramops.models.checkpoint import load_model

    name, value, _ = BARS[op]
    default = load_model("default", device="cpu") if net.mode in DEFAULT_BASED else None
    gains = []
    for seed, path in enumerate(list_images(data)):
        clean = read_image(path)
        degraded = cached_reference(clean, path.name, op, {name: value}, seed)
        # In RGB, gray images as three equal channels: the same mean squared error, so the same PSNR.
        (truth, _), (rgb, _) = to_working(clean), to_working(degraded)
        x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
        t = torch.tensor([(value - span[0]) / (span[1] - span[0])])
        base = None if default is None else torch.from_numpy(default.apply(rgb, op, **{name: value})).permute(2, 0, 1)[None]
        with torch.no_grad():
            restored = net(x, t, base).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        gains.append(psnr(restored, truth) - psnr(rgb, truth))
    return float(np.mean(gains))


def variant_key(op: str, norm: bool, mode: str, steps: int) -> str:
    return f"{op}/{mode}/{'instance norm' if norm else 'none'}/{steps}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", nargs="+", default=list(BARS), choices=list(BARS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--data", type=Path, default=DEFAULT_VAL_DIR)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "plain_restorer.md")
    parser.add_argument("--rerun", action="store_true", help=f"run variants already in {PLAIN_CONTROL_FILE} beside --out again")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    store = args.out.parent / PLAIN_CONTROL_FILE  # where the report reads it
    results: dict[str, dict] = json.loads(store.read_text()) if store.exists() else {}
    images = len(list_images(args.data))

    def write() -> None:
        store.write_text(json.dumps(results, indent=1) + "\n")
        rows = [[f"{r['op']} {BARS[r['op']][0]}={BARS[r['op']][1]:g}", MODES[r["mode"]], r["norm"], f"{r['steps']}",
                 f"{r['minutes']:.1f}", f"{r['gain']:+.2f}", f"+{BARS[r['op']][2]:g}"] for r in results.values()]
        write_generated(
            args.out, "A plain full-resolution CNN on the restorations", "python scripts/plain_restorer.py",
            [f"Validation set: `{args.data.name}/`, all {images} images; pairs from `{args.config.name}`'s data "
             f"section, the operator's alone. {DEPTH} convs of width {WIDTH}, batch 16, Adam at 1e-3, "
             f"a tenth of that for the last 30 % of the steps. Minutes: the training's wall time, which other "
             f"processes on the machine lengthen. Rows are kept in `{store.name}` from the run that measured "
             f"them; the machine line is this run's."],
            ["", *table(["restoration", "parameter", "norm", "steps", "minutes", "gain (dB)", "bar"], rows), "",
             "Gains are over the degraded input, scored as `paramops evaluate` scores them; compare "
             "`docs/results.md` for the shipped networks. The plain network is a control "
             "(`docs/training.md`, twelfth, thirteenth and twenty-seventh sessions), not a shipped model.", ""],
        )

    for op, norm, mode in VARIANTS:
        key = variant_key(op, norm, mode, args.steps)
        if op not in args.ops or mode not in args.modes or (key in results and not args.rerun):
            continue
        net, span, seconds = train(op, norm, mode, args.steps, args.config)
        results[key] = {"op": op, "mode": mode, "norm": "instance norm" if norm else "none", "steps": args.steps,
                        "minutes": round(seconds / 60, 1), "gain": round(gain(net, span, op, args.data), 2)}
        write()  # after every run: a long run stopped early keeps what it measured
    write()


if __name__ == "__main__":
    main()
