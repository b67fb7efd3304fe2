"""HogwildPool: a queue of blocks that threads take when free, with no barrier."""

from __future__ import annotations

import threading

import pytest

from recsys_core.models.hogwild import HogwildPool

TIMEOUT = 60.0  # generous: these waits end at once unless the pool is broken


def _finishes(fn, *args) -> bool:
    """Run ``fn(*args)`` in a thread; True when it returned within TIMEOUT."""
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    t.join(TIMEOUT)
    return not t.is_alive()


def test_one_thread_runs_jobs_in_order_and_sums_their_loss() -> None:
    pool = HogwildPool(1)
    order: list[int] = []

    def job(i: int):
        return lambda: (order.append(i), (float(i), 1))[1]

    for i in range(20):
        pool.submit(job(i))
    pool.wait()
    assert order == list(range(20))
    assert pool.take_loss() == (sum(range(20)), 20)
    assert pool.take_loss() == (0.0, 0)
    pool.close()


def test_a_stalled_thread_does_not_hold_the_others_back() -> None:
    """One job blocks (a descheduled thread); the other thread takes every later block."""
    pool = HogwildPool(2)
    release = threading.Event()
    pool.submit(lambda: (release.wait(TIMEOUT), (0.0, 0))[1])
    for _ in range(50):
        pool.submit(lambda: (1.0, 1))
    # all 51 submitted; 50 of them can finish while the first still blocks
    assert _finishes(pool.wait, 51 - 1)
    assert not release.is_set()
    release.set()
    assert _finishes(pool.wait)
    assert pool.take_loss() == (50.0, 50)
    pool.close()


def test_an_error_in_a_job_is_raised_by_wait_and_drops_the_queue() -> None:
    pool = HogwildPool(1)
    ran: list[int] = []
    gate = threading.Event()
    pool.submit(lambda: (gate.wait(TIMEOUT), (0.0, 0))[1])

    def boom():
        raise ValueError("kernel failed")

    pool.submit(boom)
    pool.submit(lambda: (ran.append(1), (0.0, 0))[1])
    gate.set()
    with pytest.raises(ValueError, match="kernel failed"):
        pool.wait()
    assert ran == []
    pool.submit(lambda: (ran.append(2), (0.0, 0))[1])  # the pool still works
    pool.wait()
    assert ran == [2]
    pool.close()


def test_cancel_drops_queued_jobs_and_close_stops_the_threads() -> None:
    pool = HogwildPool(2)
    gate = threading.Event()
    ran: list[int] = []
    for _ in range(2):
        pool.submit(lambda: (gate.wait(TIMEOUT), (0.0, 0))[1])
    for i in range(10):
        pool.submit(lambda i=i: (ran.append(i), (0.0, 0))[1])

    def open_gate_once_queue_is_empty() -> None:
        # the blocked jobs hold both threads, so nothing queued can start before this
        while pool._jobs:
            threading.Event().wait(0.01)
        gate.set()

    threading.Thread(target=open_gate_once_queue_is_empty, daemon=True).start()
    assert _finishes(pool.cancel)
    assert ran == []  # the queued ones were dropped, not run
    assert _finishes(pool.close)
    assert not any(t.is_alive() for t in pool._threads)
