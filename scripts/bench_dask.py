"""Benchmark of chunked batch processing (``paramops apply --chunk``): megapixels per second and memory.

Usage::

    .venv/bin/python scripts/bench_dask.py                     # 1536 x 1536 RGB, tiles of 512: a few minutes
    .venv/bin/python scripts/bench_dask.py --size 4096 --tile 1024 --json  # larger, JSON for docs/dask.md

One uint8 RGB image (skimage's astronaut, tiled) is written to a zarr array,
then ``paramops apply IN.zarr OUT.zarr --chunk TILE`` runs in a fresh process:

* ``local``: dask's local threaded scheduler (the default), torch on every core;
* ``N workers``: a ``dask.distributed.LocalCluster`` on loopback with N worker
  processes of one thread each (``--scheduler ADDRESS``);
* ``whole``: for comparison, ``ModelService.apply`` on the image in memory
  (no tiles, no statistics passes), when the image fits.

Reported per run: wall seconds of the ``apply`` call, megapixels per second,
and the memory high-water mark (peak resident set size) of the process that
ran it, and of each worker. Every chunked output must be bit-identical to
the ``local`` one. Timing does not depend on the weights: by default an
untrained network of the shipped default's architecture is measured; give
``--model`` for another.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from paramops.machine import machine

CHILD = """
import json, resource, sys, time
args = json.loads(sys.argv[1])
if args["mode"] == "whole":
    import zarr
    from paramops.models.checkpoint import load_model
    from paramops.service import ModelService
    image = zarr.open_array(args["input"], mode="r")[:]
    service = ModelService(load_model(args["model"]))
    start = time.perf_counter()
    service.apply(image, args["op"])
else:
    from paramops.cli import main
    command = ["apply", args["input"], args["output"], "--op", args["op"], "--model", args["model"],
               "--chunk", str(args["tile"])]
    if args.get("scheduler"):
        command += ["--scheduler", args["scheduler"]]
    start = time.perf_counter()
    assert main(command) == 0
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def child(**args) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench(size: int, tile: int, workers: list[int], op: str, model: str | None, whole: bool, log) -> dict:
    import zarr
    from distributed import Client, LocalCluster

    from paramops.models.checkpoint import save_checkpoint
    from paramops.service import bench as service_bench

    folder = Path(tempfile.mkdtemp(prefix="paramops-bench-dask-"))
    if model is None:
        untrained = service_bench.untrained_default(device="cpu")
        model = str(save_checkpoint(folder / "untrained.pt", untrained.net, untrained.encoding))
        weights = "untrained default architecture"
    else:
        weights = model
    source = str(folder / "in.zarr")
    zarr.create_array(source, data=service_bench.sample_image(size, size), chunks=(tile, tile, 3))
    megapixels = size * size / 1e6
    common = {"input": source, "op": op, "model": model, "tile": tile}
    runs, outputs = [], {}

    def record(name: str, result: dict, **extra) -> None:
        result = {"run": name, **result, "megapixels_per_s": megapixels / result["seconds"], **extra}
        runs.append(result)
        log(f"{name}: {result['seconds']:.1f} s, {result['megapixels_per_s']:.3f} MP/s, "
            f"peak RSS {result['peak_rss'] / 2**30:.2f} GiB" +
            (f", workers {[round(p / 2**30, 2) for p in extra['worker_peak_rss']]} GiB" if extra else ""))

    from paramops.service.chunked import WHOLE_TILES

    chunked = size * size > WHOLE_TILES * tile * tile
    log(f"{size} x {size} RGB ({megapixels:.1f} MP), tiles of {tile}, {weights}, {os.cpu_count()} CPUs" +
        ("" if chunked else f"; at most {WHOLE_TILES} tiles: the plane runs whole, without statistics passes"))
    outputs["local"] = str(folder / "local.zarr")
    record("local", child(mode="chunked", output=outputs["local"], **common))
    for n in workers:
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            outputs[f"{n} workers"] = str(folder / f"workers{n}.zarr")
            result = child(mode="chunked", output=outputs[f"{n} workers"], scheduler=cluster.scheduler_address,
                           **common)
            peaks = sorted(client.run(worker_peak).values())
            record(f"{n} workers", result, worker_peak_rss=peaks)
    reference = zarr.open_array(outputs["local"], mode="r")[:]
    identical = all(np.array_equal(zarr.open_array(path, mode="r")[:], reference) for path in outputs.values())
    if whole:
        record("whole", child(mode="whole", **common))
    return {
        "size": [size, size], "megapixels": megapixels, "tile": tile, "chunked": chunked, "op": op, "weights": weights,
        "machine": machine(("numpy", "torch", "dask")),
        "outputs_identical": identical, "runs": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1536, help="image side in pixels (default 1536)")
    parser.add_argument("--tile", type=int, default=512, help="--chunk of paramops apply (default 512)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="cluster sizes (default 1 2)")
    parser.add_argument("--op", default="l0", help="operator (default l0)")
    parser.add_argument("--model", help="checkpoint path; default an untrained network of the default architecture")
    parser.add_argument("--no-whole", action="store_true", help="skip the in-memory ModelService.apply reference")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    start = time.perf_counter()
    result = bench(args.size, args.tile, args.workers, args.op, args.model, not args.no_whole,
                   log=lambda message: print(message, file=sys.stderr))
    result["bench_seconds"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"| run | seconds | MP/s | peak RSS (GiB) |\n|---|---|---|---|")
        for run in result["runs"]:
            peak = run["peak_rss"] / 2**30
            workers = run.get("worker_peak_rss")
            memory = f"{peak:.2f}" + (f" + workers {', '.join(f'{p / 2**30:.2f}' for p in workers)}" if workers else "")
            print(f"| {run['run']} | {run['seconds']:.1f} | {run['megapixels_per_s']:.3f} | {memory} |")
        print(f"outputs identical: {result['outputs_identical']}")
    return 0 if result["outputs_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
