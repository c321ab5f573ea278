"""The service's worker threads: torch on one core each, work handed out in order and bounded."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from paramops.service.workers import ordered_map, workers


@pytest.fixture()
def pool():
    if torch.get_num_threads() < 2:
        pytest.skip("a single core has no workers")
    return workers()


def test_workers_run_torch_single_threaded_and_leave_other_threads_alone(pool):
    executor, size = pool
    counts = [job.result() for job in [executor.submit(torch.get_num_threads) for _ in range(4 * size)]]
    assert counts == [1] * (4 * size)
    assert torch.get_num_threads() == size
    fresh = []
    thread = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert fresh == [size]


def test_ordered_map_keeps_the_order_and_few_items_in_flight(pool):
    _, size = pool
    started = []

    def slow_first(i: int) -> int:
        started.append(i)
        time.sleep(0.05 if i == 0 else 0)
        return i * i

    results = ordered_map(slow_first, range(40))
    assert next(results) == 0
    assert len(started) <= 2 * size  # nothing runs far ahead of what the caller has taken
    assert list(results) == [i * i for i in range(1, 40)]


def test_closing_ordered_map_early_cancels_what_has_not_started(pool):
    gate = threading.Event()
    ran = []

    def blocked(i: int) -> int:
        gate.wait(5)
        ran.append(i)
        return i

    results = ordered_map(blocked, range(100))
    threading.Timer(0.05, gate.set).start()
    assert next(results) == 0
    results.close()
    time.sleep(0.05)
    assert len(ran) < 100
