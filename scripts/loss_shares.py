"""Each operator's share of a model's L2 training loss, on a training config's pairs.

Usage::

    .venv/bin/python scripts/loss_shares.py --model weights/analysis/default-long.pt \\
        --config configs/default.yaml

One L2 loss over all operators gives each the gradient its error earns: an
operator the network cannot learn keeps a large error and takes a large share,
however little it could still gain. The table shows, per operator, the mean
squared error of the model on ``--per-op`` random pairs of the config (made and
cached as training makes them), its PSNR, the input's PSNR against the same
targets, and the operator's share of the loss when operators are drawn equally
and when drawn as the config's ``train.op_weights`` say.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from paramops.evaluation.markdown import table
from paramops.training.config import load_config
from paramops.training.loop import as_batch, build_dataset, input_batch, on_patches


def loss_shares(model, config, *, per_op: int = 128, seed: int = 0) -> list[dict[str, float | str]]:
    """Per operator ``config`` trains: ``mse`` of ``model``, ``input_mse``, and the loss shares (fractions)."""
    import torch

    data = build_dataset(config, progress=False)
    rng = np.random.default_rng(seed)
    rows = []
    with torch.no_grad():
        for op in config.trained_operators:
            mine = np.flatnonzero(data.op_index == config.operators.index(op))
            idx = rng.choice(mine, min(per_op, len(mine)), replace=False)
            x, y = input_batch(model.net, data, idx, model.device), as_batch(data.targets[idx], model.device)
            p = torch.from_numpy(data.vectors[idx]).to(model.device)
            rows.append({"op": op, "mse": float(torch.mean((on_patches(model.net, x, p, data.cdfs[idx]) - y) ** 2)),
                         "input_mse": float(torch.mean((x[:, :3] - y) ** 2)),  # the image, not its fields
                         "weight": float(config.train.op_weights.get(op, 1.0))})
    equal = sum(r["mse"] for r in rows)
    weighted = sum(r["mse"] * r["weight"] for r in rows)
    for r in rows:
        r["share"] = r["mse"] / equal
        r["weighted_share"] = r["mse"] * r["weight"] / weighted
    return rows


def main(argv: list[str] | None = None) -> int:
    from paramops.models import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="shipped model name or checkpoint path")
    parser.add_argument("--config", required=True, type=Path, help="training config whose pairs are scored")
    parser.add_argument("--per-op", type=int, default=128, help="pairs per operator (default 128)")
    args = parser.parse_args(argv)
    if args.per_op < 1:
        parser.error(f"--per-op must be at least 1, got {args.per_op}")
    config = load_config(args.config)
    model = load_model(args.model, device="cpu")
    rows = loss_shares(model, config, per_op=args.per_op)

    def db(mse: float) -> str:
        return f"{-10 * np.log10(max(mse, 1e-12)):.2f}"

    body = [[r["op"], f"{r['mse']:.5f}", db(r["mse"]), db(r["input_mse"]), f"{100 * r['share']:.1f} %",
             f"{r['weight']:g}", f"{100 * r['weighted_share']:.1f} %"] for r in rows]
    print(f"`{args.model}` on {args.per_op} pairs an operator of `{args.config}`:\n")
    print("\n".join(table(["operator", "MSE", "PSNR (dB)", "input PSNR (dB)", "share, drawn equally",
                           "op weight", "share, drawn by op weight"], body)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
