"""Scores kept on disk, under what the code computes from a model's weights, operator by operator.

A score depends on the weights and on the code that turns them into an
output and a number: the networks, the service, the image conventions and
the metrics. Keying scores by a digest of the weights and of that source
(:func:`code_digest`) throws every cached score away at any edit, one that
changes no output included, and rescoring every model of the report takes
hours on two cores. So scores are keyed by the *function* the code computes
from the weights as each operator (:func:`function_digests`): the exact
bytes of the model's outputs as that operator on probe images, through the
path the scores take (:func:`~paramops.evaluation.protocol.scored_output`),
in one pass at every test point and self-ensembled at the first, with the
source of the image conventions and the metrics, which outputs do not show.
An edit that leaves every probe output bit for bit as it was keeps the
scores; one that moves any of them scores again. Two models that compute
the same function as an operator share its scores: a run that tunes some
operators alone (``train.tune_only``) leaves every other operator's
function, and its scores, as they were.

The probes are an RGB photo larger than a norm window and a grey one
smaller, neither square nor a multiple of 8 px. They take the paths the
validation photos take: whole-image trunks (a model without norm windows
streams the trunk only for images over the service's ``tile_pixels``, which
on a machine of this one's memory no validation photo is). The digests are
computed once per weights and code (about 15 s for the default), on one
thread: the bytes of a convolution's sum may depend on how it is split.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from paramops.evaluation.protocol import CLEAN, is_restoration, scored_output, test_points
from paramops.training.pairs import cache_dir

# The source that turns weights into scores: the networks, the service that runs them, the image
# conventions and the metrics.
SCORED_BY = ("models/*.py", "service/*.py", "image.py", "evaluation/metrics.py")
# Matched above but never run by a score: the service's timings.
NOT_SCORING = ("service/bench.py",)
# What a score depends on beyond the outputs the probe hashes.
UNSEEN_BY_PROBE = ("image.py", "evaluation/metrics.py")
# The seed a probe's restoration degrades with.
PROBE_SEED = 0
# The installed package, whose source the digests read.
PACKAGE = Path(__file__).resolve().parents[1]


def _source(patterns, skipped=()) -> list[Path]:
    skip = {PACKAGE / name for name in skipped}
    return sorted(p for pattern in patterns for p in PACKAGE.glob(pattern) if p not in skip)


def _hash_files(digest, paths: list[Path]) -> None:
    for path in paths:
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())


def code_digest() -> str:
    """A digest of the :data:`SCORED_BY` source files (less :data:`NOT_SCORING`) of the installed package."""
    digest = hashlib.sha256()
    _hash_files(digest, _source(SCORED_BY, NOT_SCORING))
    return digest.hexdigest()


def probe_images() -> list[np.ndarray]:
    """An RGB photo (70 x 90), over a norm window, and a grey one (42 x 54), under it; uint8, as read for scoring."""
    from skimage import data

    return [data.astronaut()[100:170, 170:260], data.camera()[200:242, 220:274]]


def function_digests(model) -> dict[str, str]:
    """Per operator ``model`` covers, a digest of what the installed code computes from its weights as that
    operator, as scores see it (module doc)."""
    import torch

    from paramops.operators.reference import reference
    from paramops.service import ModelService

    unseen = hashlib.sha256()
    _hash_files(unseen, _source(UNSEEN_BY_PROBE))
    digests = {op: unseen.copy() for op in model.operators}
    for op, digest in digests.items():
        digest.update(op.encode())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    service = ModelService(model)
    try:
        for image in probe_images():
            service.prepare(CLEAN, image)
            for op in model.operators:
                for k, (name, value) in enumerate(test_points(op)):
                    params = {} if name is None else {name: value}
                    given = reference(image, op, seed=PROBE_SEED, **params) if is_restoration(op) else image
                    # The ensemble runs the one-pass network's code eight times: once per operator shows it.
                    for self_ensemble in (False, True)[: 2 if k == 0 else 1]:
                        out = scored_output(service, given, op, params, self_ensemble=self_ensemble)
                        digests[op].update(np.ascontiguousarray(out).tobytes())
            service.release(CLEAN)
    finally:
        service.clear()
        torch.set_num_threads(threads)
    return {op: digest.hexdigest() for op, digest in digests.items()}


class ScoreCache:
    """Scores of one model, per operator, on disk under ``<cache>/scores/<operator>-<function digest>.json``.

    Models that compute the same function as an operator share its scores:
    a run that tunes one operator alone (``train.tune_only``) scores that
    one again and no other. Function digests are kept under
    ``<cache>/scores/functions/<weights digest>-<code digest>.json``.
    """

    def __init__(self, model) -> None:
        from paramops.models.checkpoint import weights_digest

        self.digests = _cached_function_digests(model, weights_digest(model.net, model.encoding)[:24])
        self.files: dict[str, tuple[Path, dict]] = {}
        self.dirty: set[str] = set()

    def _scores(self, op: str) -> dict:
        if op not in self.files:
            path = cache_dir() / "scores" / f"{op}-{self.digests[op][:24]}.json"
            self.files[op] = path, json.loads(path.read_text()) if path.exists() else {}
        return self.files[op][1]

    def lookup(self, op: str, key: tuple) -> dict | None:
        """The scores of ``op`` under ``key`` (image, seed, operator, parameter, value, ...), or None."""
        return self._scores(op).get(json.dumps(key))

    def store(self, op: str, key: tuple, value: dict) -> None:
        self._scores(op)[json.dumps(key)] = value
        self.dirty.add(op)

    def save(self) -> None:
        for op in sorted(self.dirty):
            path, scores = self.files[op]
            _write(path, json.dumps(scores))
        self.dirty.clear()


def _cached_function_digests(model, weights: str) -> dict[str, str]:
    path = cache_dir() / "scores" / "functions" / f"{weights}-{code_digest()[:12]}.json"
    if path.exists():
        return json.loads(path.read_text())
    digests = function_digests(model)
    _write(path, json.dumps(digests))
    return digests


def _write(path: Path, text: str) -> None:
    """``text`` to ``path`` atomically: scoring processes may share the cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
