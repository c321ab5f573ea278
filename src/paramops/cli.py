"""The ``paramops`` command line.

Each subcommand is one function registered with :func:`subcommand`, which
also declares its arguments; :func:`main` builds the parser from that table.
Bad input of any kind (unknown operator, parameter out of range, unreadable
or unsupported file, ...) ends with exit code 2 and one line on stderr,
``paramops: error: ...``, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import paramops
from paramops.operators.registry import Param, get_operator, operators

EXIT_USAGE = 2
Argument = tuple[tuple[str, ...], dict]  # flags and keywords for ArgumentParser.add_argument


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    arguments: tuple[Argument, ...]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {}


def argument(*flags: str, **kwargs) -> Argument:
    """One argument of a subcommand, as passed to ``ArgumentParser.add_argument``."""
    return flags, kwargs


def subcommand(name: str, help: str, *arguments: Argument):
    """Register the decorated function as subcommand ``name``; it returns the exit code."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        SUBCOMMANDS[name] = Subcommand(name, help, arguments, run)
        return run

    return register


class UsageError(Exception):
    """Bad command-line input; :func:`main` reports it on one line."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage and exits; we want one line and a return code.
    def error(self, message: str):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="paramops",
        description="Parameterized image operators (Fan et al.): reference operators and fast networks.",
    )
    parser.add_argument("--version", action="version", version=f"paramops {paramops.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for sub in SUBCOMMANDS.values():
        sub_parser = commands.add_parser(sub.name, help=sub.help, description=sub.help)
        for flags, kwargs in sub.arguments:
            sub_parser.add_argument(*flags, **kwargs)
        sub_parser.set_defaults(run=sub.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (UsageError, ValueError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"paramops: error: {message}", file=sys.stderr)
        return EXIT_USAGE


@contextlib.contextmanager
def busy(description: str, stream: TextIO | None = None, *, enabled: bool | None = None) -> Iterator[None]:
    """Show a spinner with the elapsed time on ``stream`` (stderr) while the block runs.

    Shown only when ``stream`` is a terminal unless ``enabled`` says otherwise.
    The operators are single long calls, so a thread redraws the line.
    """
    stream = sys.stderr if stream is None else stream
    if enabled is None:
        enabled = stream.isatty()
    if not enabled:
        yield
        return
    from tqdm import tqdm

    done = threading.Event()
    with tqdm(desc=description, total=None, file=stream, leave=False, bar_format="{desc} {elapsed}") as bar:

        def spin() -> None:
            for frame in itertools.cycle("|/-\\"):
                bar.set_description_str(f"{frame} {description}")
                if done.wait(0.2):
                    return

        spinner = threading.Thread(target=spin, daemon=True)
        spinner.start()
        try:
            yield
        finally:
            done.set()
            spinner.join()


def _parse_seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if seed < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}")
    return seed


def _parse_param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


PARAM_ARGUMENT = argument(
    "--param",
    metavar="KEY=VALUE",
    type=_parse_param,
    action="append",
    default=[],
    help="operator parameter (repeat for several); missing ones take their default",
)


# IN, OUT, the operator and its parameters: what every file-processing subcommand takes.
FILE_ARGUMENTS = (
    argument("input", metavar="IN", type=Path, help="input image (.png, .jpg/.jpeg, .tif/.tiff)"),
    argument("output", metavar="OUT", type=Path, help="output image; its suffix picks the format"),
    argument("--op", required=True, help="operator name, see `paramops list`"),
    PARAM_ARGUMENT,
)


def _params_dict(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise UsageError(f"parameter {key!r} given twice")
        params[key] = value
    return params


def _param_cells(p: Param) -> tuple[str, str, str, str]:
    value_range = f"[{p.low:g}, {p.high:g}]" + (f" {p.unit}" if p.unit else "")
    return p.name, f"{p.default:g}", value_range, p.scale + (", integer" if p.integer else "")


@subcommand(
    "list",
    "list the operators, their parameters and ranges",
    argument("--json", action="store_true", help="print JSON: one object per operator"),
)
def list_operators(args: argparse.Namespace) -> int:
    specs = list(operators().values())
    if args.json:
        print(json.dumps([spec.as_dict() for spec in specs], indent=2))
        return 0
    rows = [("OPERATOR", "FAMILY", "PARAMETER", "DEFAULT", "RANGE", "SCALE", "SUMMARY")]
    for spec in specs:
        params = [_param_cells(p) for p in spec.params] or [("-", "", "", "")]
        rows.append((spec.name, spec.family, *params[0], spec.summary))
        rows += [("", "", *cells, "") for cells in params[1:]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


@subcommand(
    "reference",
    "run a reference operator on an image file",
    *FILE_ARGUMENTS,
    argument(
        "--seed",
        type=_parse_seed,
        help="random seed of the stochastic operators ("
        + ", ".join(name for name, spec in operators().items() if spec.stochastic)
        + ")",
    ),
)
def run_reference(args: argparse.Namespace) -> int:
    def run(image, op: str, params: dict):
        return paramops.reference(image, op, seed=args.seed, **params)

    return _process_file(args, f"{args.op} on {args.input.name}", run)


def _process_file(args: argparse.Namespace, label: str, run: Callable[[object, str, dict], object]) -> int:
    """Read ``args.input``, run ``run(image, op, params)`` under a spinner, write ``args.output`` atomically.

    Bad parameters and an OUT that would overwrite IN fail before anything is
    read; an OUT whose format cannot hold the result fails before the run.
    """
    from paramops import io

    spec = get_operator(args.op)
    params = _params_dict(args.param)
    spec.resolve(params)
    if _same_file(args.input, args.output):
        raise UsageError(f"refusing to overwrite the input {args.input}; choose another OUT")
    image = io.read_image(args.input)
    io.check_writable(args.output, image)  # the result has the input's dtype and shape
    with busy(label):
        result = run(image, spec.name, params)
    io.write_image(args.output, result)
    return 0


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.samefile(b)  # hard links
    except OSError:
        return False


@subcommand(
    "train",
    "train a model from a YAML config (resumes from its last checkpoint)",
    argument("--config", required=True, type=Path, help="a file in configs/, e.g. configs/default.yaml"),
    argument("--out", type=Path, help="exported checkpoint; default weights/<name>.pt"),
    argument("--run-dir", type=Path, help="resumable state and log; default <cache>/runs/<name>"),
    argument("--device", help="cuda, cpu, ...; default CUDA where present"),
    argument("--max-steps", type=int, help="stop (resumably) after this many steps in this sitting"),
    argument("--data", type=Path, help="folder of training photos; overrides the config's data.train"),
)
def run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from paramops.training.config import load_config
    from paramops.training.loop import train

    config = load_config(args.config)
    if args.data is not None:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, train=str(args.data)))
    path = train(config, run_dir=args.run_dir, out=args.out, device=args.device, max_steps=args.max_steps)
    print(path)
    return 0


# `paramops apply` runs chunk by chunk (resumably, on dask) when asked to, for zarr, and for
# TIFF inputs larger than this fraction of the machine's memory.
LARGE_INPUT_FRACTION = 0.125
DEFAULT_CHUNK = 1024
EXIT_INTERRUPTED = 130


@subcommand(
    "apply",
    "run a trained network as an operator on an image file, or chunk by chunk on a large TIFF or zarr array",
    argument("input", metavar="IN", type=Path,
             help="input image (.png, .jpg/.jpeg, .tif/.tiff) or zarr array (.zarr); stacks (..., Y, X[, C]) too"),
    argument("output", metavar="OUT", type=Path,
             help="output; its suffix picks the format (chunked runs write .zarr or .tif/.tiff)"),
    *FILE_ARGUMENTS[2:],
    argument("--model", default="default", help="shipped model name or checkpoint path (default: default)"),
    argument("--self-ensemble", action="store_true",
             help="the mean of the network's results under the image's 8 rotations and transposes: 8 times the "
                  "time, a little more fidelity (docs/results.md); whole planes only, not chunk by chunk"),
    argument("--scheduler", metavar="ADDRESS",
             help="run chunk by chunk on this dask.distributed scheduler (e.g. tcp://10.0.0.5:8786); "
                  "default: dask's local scheduler"),
    argument("--chunk", type=int, metavar="N",
             help=f"run chunk by chunk, N x N pixels each (default {DEFAULT_CHUNK}); implied by a zarr input or "
                  "output, --scheduler, or a TIFF input too large for memory. Such runs are built in OUT.partial "
                  "and resume where they stopped when the same command runs again"),
)
def run_apply(args: argparse.Namespace) -> int:
    if _runs_chunked(args):
        if args.self_ensemble:
            raise UsageError("--self-ensemble runs whole planes in memory; this run would go chunk by chunk "
                             "(--chunk, --scheduler, a zarr array or a TIFF too large for memory)")
        return _apply_chunked(args)

    def run(image, op: str, params: dict):
        from paramops.service import ModelService

        # The service tiles images too large for a whole-image pass.
        return ModelService(args.model).apply(image, op, self_ensemble=args.self_ensemble, **params)

    return _process_file(args, f"{args.op} ({args.model}) on {args.input.name}", run)


def _runs_chunked(args: argparse.Namespace) -> bool:
    from paramops import io_chunked

    if args.chunk is not None or args.scheduler is not None:
        return True
    if io_chunked.is_zarr(args.input) or io_chunked.is_zarr(args.output):
        return True
    if not (io_chunked.is_tiff(args.input) and args.input.is_file()):
        return False
    if io_chunked.partial_path(args.output).exists():
        return True
    tiff = io_chunked.TiffWindows(args.input)
    return math.prod(tiff.shape) * tiff.dtype.itemsize > LARGE_INPUT_FRACTION * _memory_bytes()


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _apply_chunked(args: argparse.Namespace) -> int:
    """``paramops apply`` chunk by chunk on dask, resumably (see :mod:`paramops.io_chunked`)."""
    from paramops import batch, io_chunked
    from paramops.models.checkpoint import load_model

    spec = get_operator(args.op)
    params = spec.resolve(_params_dict(args.param))
    chunk = DEFAULT_CHUNK if args.chunk is None else args.chunk
    if chunk < 16:
        raise UsageError(f"--chunk must be at least 16 pixels, got {chunk}")
    if _same_file(args.input, args.output):
        raise UsageError(f"refusing to overwrite the input {args.input}; choose another OUT")
    data = io_chunked.open_lazy(args.input, chunk)
    job = batch.make_job(data, spec.name, model=load_model(args.model), tile=chunk, **params)
    io_chunked.check_output(args.output, job.plan.dtype, tuple(data.shape), job.rgb)
    partial = io_chunked.PartialOutput(args.output)
    record = {"paramops": paramops.__version__, **io_chunked.input_record(args.input),
              "network": job.plan.fingerprint, "rgb": job.rgb}
    chunks = tuple(c[0] for c in job.chunks())
    resumed = partial.open(record, shape=tuple(data.shape), dtype=job.plan.dtype, chunks=chunks)
    done = partial.done()
    total = len(job.planes) * len(job.tiles)
    if resumed:
        print(f"paramops: resuming {partial.path}: {len(done)} of {total} chunks done", file=sys.stderr)
    writes = []
    for index in job.planes:
        todo = [n for n in range(len(job.tiles)) if job.tile_key(index, n)[1:] not in done]
        statistics = None
        if todo and not job.plan.whole:
            saved = partial.statistics(index)
            statistics = (job.given_statistics(index, saved) if saved is not None
                          else job.statistics(index, save=partial.save_statistics))
        writes += [job.write(index, n, partial.write, statistics) for n in todo]
    steps = [step for planes in job.steps.values() for step in planes]
    try:
        batch.run(job.graph, [*steps, *writes], scheduler=args.scheduler, progress=sys.stderr.isatty(),
                  description=f"{args.op} on {args.input.name}")
    except KeyboardInterrupt:
        print(f"paramops: interrupted; {len(partial.done())} of {total} chunks are saved in {partial.path}: "
              "run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    partial.finish(job.rgb)
    return 0


@subcommand(
    "evaluate",
    "score a model against the reference operators (PSNR, SSIM) on a folder of images",
    argument("--model", default="default", help="shipped model name or checkpoint path"),
    argument("--data", type=Path, help="image folder; default ../shared/data/val where present"),
    argument("--ops", nargs="+", help="operators to score; default all the model covers"),
    argument("--self-ensemble", action="store_true",
             help="score the mean over each image's 8 rotations and transposes, as `paramops apply --self-ensemble` "
                  "gives it (8 times the time)"),
    argument("--json", action="store_true", help="print JSON (summary and per-image scores)"),
)
def run_evaluate(args: argparse.Namespace) -> int:
    from paramops.evaluation.evaluate import as_json, evaluate, format_table, summarise
    from paramops.models.checkpoint import load_model
    from paramops.training.config import DEFAULT_VAL_DIR

    data = args.data or DEFAULT_VAL_DIR
    if args.data is None and not data.is_dir():
        raise UsageError(f"no --data given and the default validation folder {data} is missing")
    scores = evaluate(load_model(args.model), data, ops=args.ops, self_ensemble=args.self_ensemble,
                      progress=sys.stderr.isatty())
    print(as_json(scores) if args.json else format_table(summarise(scores)))
    return 0


@subcommand(
    "bench",
    "time the model service: trunk, head (a parameter change) and a window render against the whole network",
    argument("--model", default="default", help="shipped model name or checkpoint path; without shipped weights, "
             "an untrained network of the default architecture (timing does not depend on weights)"),
    argument("--size", type=int, nargs=2, default=(1024, 1024), metavar=("H", "W"),
             help="image size (default 1024 1024)"),
    argument("--region", type=int, nargs=2, default=(1080, 1920), metavar=("H", "W"),
             help="window rendered from a larger, tile-prepared image (default 1080 1920)"),
    argument("--op", default="l0", help="operator the head renders (default l0)"),
    argument("--repeat", type=int, default=5, help="runs per median (default 5)"),
    argument("--device", help="cuda, cpu, ...; default CUDA where present"),
    argument("--json", action="store_true", help="print JSON"),
)
def run_bench(args: argparse.Namespace) -> int:
    from paramops.machine import machine_line
    from paramops.service import bench

    if args.repeat < 1 or min(*args.size, *args.region) < 2:
        raise UsageError("--repeat must be at least 1 and sizes at least 2 pixels")

    def log(message: str) -> None:
        if sys.stderr.isatty():
            print(f"paramops bench: {message}", file=sys.stderr)

    result = bench.run(args.model, device=args.device, size=tuple(args.size), region=tuple(args.region),
                       region_image=(args.region[0] + 200, args.region[1] + 128), op=args.op, repeat=args.repeat,
                       log=log)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"model {result['model']} ({result['weights']}) on {result['device']}, {result['threads']} threads")
    print(f"machine {machine_line(result['machine'])}")
    print(f"image {result['size'][0]}x{result['size'][1]}: whole network {result['forward_ms']:.0f} ms, "
          f"trunk {result['trunk_ms']:.0f} ms, head {result['head_ms']:.1f} ms ({result['speedup']:.0f}x faster)")
    print(f"apply {result['apply_ms']:.0f} ms, self-ensembled {result['ensemble_ms']:.0f} ms "
          f"({result['ensemble_ratio']:.1f}x)")
    print(f"{result['region'][0]}x{result['region'][1]} window of a {result['region_image'][0]}x"
          f"{result['region_image'][1]} tiled image: {result['region_ms']:.1f} ms")
    return 0
