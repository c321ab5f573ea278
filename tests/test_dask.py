"""Batch processing at scale: chunked runs equal to whole-plane runs, on dask, resumable, memory-bounded.

Small untrained networks with short dilations stand in for the shipped model,
so that tiles of 32 pixels have real halos on images of 100 to 180 pixels:
for the numbers, one of 9 instance norms and a 20-pixel halo; for the
command line and the cluster, where task counts matter on 2 busy cores, one
of 5 norms and an 8-pixel halo. The tests marked ``slow`` start a
``dask.distributed`` cluster or a subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from skimage import data

import paramops
from paramops.evaluation.metrics import psnr
from paramops.models import ParamEncoding, ParamModel, build_model
from paramops.operators.registry import operators
from paramops.service import ModelService

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")

OPS = tuple(operators())
SHORT = [1, 2]  # dilations: a receptive radius of 19 pixels instead of the paper's 179


def tiny_model(arch: str = "tunable", width: int = 8, **config) -> ParamModel:
    torch.manual_seed(0)
    encoding = ParamEncoding(OPS)
    net = build_model({"arch": arch, "width": width, "param_dim": encoding.dim, "residual": True,
                       "dilations": SHORT, **config})
    return ParamModel(net, encoding, device="cpu")


@pytest.fixture(scope="module")
def model() -> ParamModel:
    return tiny_model()


@pytest.fixture(scope="module")
def cli_model() -> ParamModel:
    return tiny_model(width=4, dilations=[])


@pytest.fixture(scope="module")
def checkpoint(cli_model, tmp_path_factory):
    from paramops.models.checkpoint import save_checkpoint

    return save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", cli_model.net, cli_model.encoding)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.astronaut()[100:251, 50:227]  # (151, 177, 3) uint8: odd sizes on purpose


@pytest.fixture(scope="module")
def stack(photo) -> np.ndarray:
    """Two planes of 99 x 113 pixels: 4 x 4 tiles of 32 pixels each."""
    return np.stack([photo[:99, :113], photo[::-1, ::-1][:99, :113]])


CHUNKED = ["--op", "l0", "--param", "lam=0.02", "--chunk", "32"]


@pytest.fixture(scope="module")
def expected(cli_model, stack) -> np.ndarray:
    """What the command lines below compute: ``apply_dask`` on the local scheduler, tiles of 32 pixels."""
    return paramops.apply_dask(stack, "l0", model=cli_model, tile=32, lam=0.02).compute()


@pytest.fixture
def stack_zarr(tmp_path, stack):
    zarr.create_array(str(tmp_path / "in.zarr"), data=stack, chunks=(1, 64, 64, 3))
    return tmp_path / "in.zarr"


def apply_cli(*args: str) -> int:
    from paramops.cli import main

    return main(["apply", *map(str, args)])


# -- the numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float16", "float32", "float64"])
def test_value_range_from_blocks_equals_the_whole_plane(dtype):
    from paramops.image import intensity_range
    from paramops.service import percentiles
    from paramops.service.slices import intensity_mode

    rng = np.random.default_rng(3)
    if dtype == "uint8":
        planes = [rng.integers(0, 256, (37, 41, 3))]
    elif dtype == "uint16":
        planes = [rng.integers(100, 4000, (37, 41)), rng.integers(0, 3, (37, 41)), np.full((5, 7), 9)]
    else:
        planes = [rng.standard_normal((37, 41, 3)) * 1000, rng.random((37, 41)),
                  np.round(rng.standard_normal((37, 41)) * 3), np.full((5, 7), -2.5)]
    for plane in (p.astype(dtype) for p in planes):
        blocks = [plane[i : i + 6] for i in range(0, len(plane), 6)]
        state = percentiles.merge_first(plane.dtype, [percentiles.first_pass(b) for b in blocks])
        for _ in range(percentiles.refine_passes(plane.dtype)):
            state = percentiles.merge_refine(state, [percentiles.refine(b, state) for b in blocks])
        assert percentiles.value_range(state) == intensity_range(plane, intensity_mode(plane))
    with pytest.raises(ValueError, match="NaN"):
        percentiles.first_pass(np.array([[0.5, np.nan]], dtype="float32"))


@pytest.mark.parametrize("kind", ["uint8 rgb", "uint16 gray", "float32 rgba"])
def test_apply_dask_matches_the_whole_plane(model, photo, kind):
    """Tiles of 32 pixels with 20-pixel halos and two-pass statistics against one whole-plane pass."""
    if kind == "uint8 rgb":
        image = photo
    elif kind == "uint16 gray":  # percentile-mapped, as microscopy data
        image = photo[..., 1].astype(np.uint16) * 40 + 1000
    else:  # floats outside [0, 1]: percentile-mapped too; alpha passes through
        alpha = np.linspace(0, 1, photo.shape[1], dtype=np.float32)[None, :, None].repeat(photo.shape[0], 0)
        image = np.concatenate([photo / np.float32(200) - 0.2, alpha], axis=2).astype(np.float32)
    lazy = paramops.apply_dask(da.from_array(image, chunks=(50, 60) + image.shape[2:]), "l0", model=model,
                               tile=32, lam=0.02)
    assert isinstance(lazy, da.Array) and lazy.chunks == ((50, 50, 50, 1), (60, 60, 57)) + lazy.chunks[2:]
    chunked = lazy.compute()
    whole = ModelService(model).apply(image, "l0", lam=0.02)
    assert chunked.dtype == image.dtype and chunked.shape == image.shape
    if image.dtype.kind == "f":
        np.testing.assert_allclose(chunked, whole, atol=2e-5)
        np.testing.assert_array_equal(chunked[..., 3], image[..., 3])
    else:
        assert np.abs(chunked.astype(np.int64) - whole).max() <= 1  # a rounding step at most
    assert psnr(chunked, whole) > 90  # the dtype's range as peak; the issue asks for 45 dB; observed 97 to 140 dB


@pytest.mark.parametrize("arch", ["decoupled", "paramchannel"])
def test_apply_dask_covers_every_architecture(photo, arch):
    model = tiny_model(arch, width=4)
    image = photo[:90, :100].astype(np.float32) / 255
    chunked = paramops.apply_dask(da.from_array(image, chunks=(45, 50, 3)), "l0", model=model, tile=32,
                                  lam=0.02).compute()
    np.testing.assert_allclose(chunked, model.apply(image, "l0", lam=0.02), atol=2e-5)


def test_apply_dask_stacks_and_whole_planes(model, photo):
    """Leading axes are planes with their own statistics; planes of at most 4 tiles run whole, in one task."""
    gray = np.stack([photo[..., 0], photo[..., 2] // 2]).astype(np.uint16).reshape(2, 1, *photo.shape[:2])
    expected = ModelService(model).apply(gray, "wls", lam=2.0)
    chunked = paramops.apply_dask(da.from_array(gray, chunks=(1, 1, 64, 64)), "wls", model=model, tile=32, lam=2.0)
    assert np.abs(chunked.compute().astype(np.int64) - expected).max() <= 1
    whole = paramops.apply_dask(gray, "wls", model=model, tile=128, lam=2.0)  # 151 x 177 <= 4 * 128 * 128
    assert len(whole.dask) < len(chunked.dask) / 10  # no statistics passes
    assert np.abs(whole.compute().astype(np.int64) - expected).max() <= 1
    with pytest.raises(ValueError, match="lam"):
        paramops.apply_dask(gray, "wls", model=model, lam=-1)
    with pytest.raises(ValueError, match="tile"):
        paramops.apply_dask(gray, "wls", model=model, tile=4)


# -- the command line: zarr and TIFF, resuming ------------------------------------------------------


def test_cli_zarr_and_tiff_in_and_out(tmp_path, cli_model, checkpoint, stack, stack_zarr, expected):
    tifffile.imwrite(tmp_path / "in.tif", stack, photometric="rgb", tile=(64, 64))
    assert apply_cli(stack_zarr, tmp_path / "out.zarr", *CHUNKED, "--model", checkpoint) == 0
    from_zarr = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    assert from_zarr.chunks == (1, 32, 32, 3)
    np.testing.assert_array_equal(from_zarr[:], expected)
    assert apply_cli(tmp_path / "in.tif", tmp_path / "out.tif", *CHUNKED, "--model", checkpoint) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), expected)
    whole = ModelService(cli_model).apply(stack, "l0", lam=0.02)
    assert np.abs(expected.astype(np.int64) - whole).max() <= 1  # a rounding step at most
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "in.zarr", "out.tif", "out.zarr"]
    # Chunked output is zarr or TIFF; the input is never overwritten.
    assert apply_cli(stack_zarr, tmp_path / "out.png", *CHUNKED, "--model", checkpoint) == 2
    assert apply_cli(stack_zarr, stack_zarr, *CHUNKED, "--model", checkpoint) == 2


def test_cli_resumes_without_redoing_finished_chunks(tmp_path, checkpoint, stack_zarr, expected, monkeypatch):
    import dask

    from paramops import io_chunked
    from paramops.service.chunked import ChunkPlan

    args = [stack_zarr, tmp_path / "out.tif", *CHUNKED, "--model", checkpoint]
    total, per_plane = 2 * 4 * 4, 5 * 4 * 4  # chunks; statistics tasks of a plane: norms x tiles
    write = io_chunked.PartialOutput.write
    written = []
    lock = threading.Lock()

    def write_then_fail(self, block, tile):
        # Tasks write from several threads: after five writes every later one fails, so none lands late.
        with lock:
            if len(written) >= 5:
                raise RuntimeError("power cut")
            write(self, block, tile)
            written.append(block)

    monkeypatch.setattr(io_chunked.PartialOutput, "write", write_then_fail)
    # A pool of the first run's own: dask returns the error while other tasks still run; waiting for
    # them keeps their renders and writes out of the second run's counts.
    pool = ThreadPoolExecutor(4)
    with dask.config.set(pool=pool), pytest.raises(RuntimeError, match="power cut"):
        apply_cli(*args)
    pool.shutdown(wait=True)
    partial = io_chunked.PartialOutput(tmp_path / "out.tif")
    done = partial.done()
    assert set(written) == done and 5 <= len(done) < total and not (tmp_path / "out.tif").exists()
    saved = [index for index in [(0,), (1,)] if partial.statistics(index) is not None]
    assert {block[:1] for block in done} <= set(saved)  # statistics are saved before a plane's first chunk

    calls = {"render": 0, "moments": 0}
    for name in calls:
        def counted(self, *a, _name=name, _method=getattr(ChunkPlan, name)):
            calls[_name] += 1
            return _method(self, *a)
        monkeypatch.setattr(ChunkPlan, name, counted)
    monkeypatch.setattr(io_chunked.PartialOutput, "write", write)
    assert apply_cli(*args) == 0
    # Finished chunks are kept and saved statistics reused.
    assert calls == {"render": total - len(done), "moments": (2 - len(saved)) * per_plane}
    assert not partial.path.exists()
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), expected)


def test_cli_starts_afresh_for_another_job(tmp_path, checkpoint, stack, stack_zarr, expected):
    from paramops import io_chunked

    partial = io_chunked.PartialOutput(tmp_path / "out.zarr")
    partial.open({"another": "job"}, shape=stack.shape, dtype=stack.dtype, chunks=(1, 32, 32, 3))
    partial.write((0, 0, 0, 0), np.zeros((1, 32, 32, 3), np.uint8))
    assert partial.done() == {(0, 0, 0, 0)}
    assert apply_cli(stack_zarr, tmp_path / "out.zarr", *CHUNKED, "--model", checkpoint) == 0
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "out.zarr"), mode="r")[:], expected)


# -- a cluster ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.mark.slow
def test_cluster_run_equals_the_local_run(tmp_path, cluster, cli_model, checkpoint, stack_zarr, expected):
    from distributed import Client

    assert apply_cli(stack_zarr, tmp_path / "cluster.zarr", *CHUNKED, "--model", checkpoint,
                     "--scheduler", cluster.scheduler_address) == 0
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "cluster.zarr"), mode="r")[:], expected)
    with Client(cluster):  # apply_dask under a distributed client: the statistics run on the workers too
        lazy = paramops.apply_dask(da.from_zarr(str(stack_zarr)), "l0", model=cli_model, tile=32, lam=0.02)
        np.testing.assert_array_equal(lazy.compute(), expected)


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(tmp_path, cluster, checkpoint, stack_zarr, expected):
    from distributed import Client

    from paramops import io_chunked

    partial = io_chunked.PartialOutput(tmp_path / "out.zarr")
    with Client(cluster) as client:
        pids = client.run(os.getpid)
    killed = []

    def kill_once_chunks_are_done() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if partial.path.exists() and len(partial.done()) >= 2:
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append((victim, len(partial.done())))
            time.sleep(0.005)

    killer = threading.Thread(target=kill_once_chunks_are_done)
    killer.start()
    try:
        assert apply_cli(stack_zarr, tmp_path / "out.zarr", *CHUNKED, "--model", checkpoint,
                         "--scheduler", cluster.scheduler_address) == 0
    finally:
        killed.append(None)
        killer.join()
    assert killed[0] is not None and killed[0][1] < 2 * 16, "no worker was killed while chunks remained"
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "out.zarr"), mode="r")[:], expected)


# -- memory ---------------------------------------------------------------------------------------

MEMORY_SCRIPT = """
import resource, sys
import numpy as np, zarr
from paramops.cli import main
warm = sys.argv[2] + ".warm.zarr"
zarr.create_array(warm, data=np.random.default_rng(1).random((300, 300, 4)), chunks=(256, 256, 4))
assert main(["apply", warm, warm + ".out.zarr", *sys.argv[3:]]) == 0
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert main(["apply", *sys.argv[1:]]) == 0
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kilobytes on Linux")
def test_an_input_larger_than_the_memory_limit_runs_within_it(tmp_path):
    """98 MB of float64 RGBA through the CLI while the process's high-water mark rises by less than 80 MB.

    The limit is on what the run adds to a process that has already run once
    (torch, zarr and dask initialised, about 300 MB here): the memory that
    grows with the data.
    """
    from paramops.models.checkpoint import save_checkpoint

    limit = 80 * 2**20
    torch.manual_seed(0)
    encoding = ParamEncoding(OPS)
    net = build_model({"arch": "tunable", "width": 2, "dilations": [], "param_dim": encoding.dim, "residual": True})
    checkpoint = save_checkpoint(tmp_path / "small.pt", net, encoding)
    side = 1792
    big = zarr.create_array(str(tmp_path / "big.zarr"), shape=(side, side, 4), chunks=(256, 256, 4), dtype="float64",
                            compressors=None)
    rng = np.random.default_rng(0)
    for y in range(0, side, 256):
        big[y : y + 256] = rng.random((256, side, 4))
    assert big.nbytes > limit
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, tmp_path / "big.zarr", tmp_path / "out.zarr", "--op", "l0",
         "--model", checkpoint, "--chunk", "256"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    grown = int(result.stdout.split()[-1])
    assert grown < limit, f"the run added {grown / 2**20:.0f} MB"
    out = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    assert out.shape == big.shape and out.dtype == big.dtype
    np.testing.assert_array_equal(out[:, :, 3], big[:, :, 3])  # alpha passes through: every chunk was written
