"""Worker threads that run compiled, GIL-free kernels over a queue of blocks of pairs.

Why not numba's ``prange``: a parallel kernel call returns only when its slowest thread
has finished, so every call is a barrier. On a machine shared with other work one thread
is often descheduled, and the other waits for it at every slice; that made our skip-gram
343 s against gensim's 194 s under load (bench/README.md). Here each thread takes the
next block from one queue when it is free, as gensim's job queue does: a thread that
falls behind just takes fewer blocks, and nobody waits except where the caller asks to
(before a live evaluation, at an epoch's end).

Kernels must be ``numba.njit(nogil=True)`` so that the threads really run in parallel.
With one thread blocks run in submission order, so results depend only on the seed.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

Job = Callable[[], tuple[float, int]]


class HogwildPool:
    """``threads`` daemon threads draining one FIFO of jobs; each job returns (loss, count).

    :meth:`submit` never blocks; :meth:`wait` blocks until a given number of submitted
    jobs has finished; :meth:`take_loss` returns the loss summed by the jobs finished
    since the last call. An exception inside a job is raised again by the next
    :meth:`wait`, and the jobs still queued are dropped.
    """

    def __init__(self, threads: int) -> None:
        self._jobs: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._submitted = 0
        self._finished = 0
        self._loss = 0.0
        self._count = 0
        self._error: BaseException | None = None
        self._closing = False
        self._threads = [
            threading.Thread(target=self._work, name=f"hogwild-{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        for t in self._threads:
            t.start()

    @property
    def submitted(self) -> int:
        """Jobs submitted so far (a mark for :meth:`wait`)."""
        return self._submitted

    def submit(self, job: Job) -> None:
        """Queue ``job`` behind those already queued."""
        with self._cond:
            self._jobs.append(job)
            self._submitted += 1
            self._cond.notify()

    def wait(self, upto: int | None = None) -> None:
        """Block until ``upto`` jobs (default: every job submitted) have finished."""
        with self._cond:
            target = self._submitted if upto is None else upto
            self._cond.wait_for(lambda: self._finished >= target or self._error is not None)
            if self._error is not None:
                error, self._error = self._error, None
                raise error

    def take_loss(self) -> tuple[float, int]:
        """(summed loss, terms) of the jobs finished since the previous call."""
        with self._cond:
            out = (self._loss, self._count)
            self._loss, self._count = 0.0, 0
            return out

    def cancel(self) -> None:
        """Drop every queued job and wait for the running ones."""
        with self._cond:
            dropped = len(self._jobs)
            self._jobs.clear()
            self._finished += dropped
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._finished >= self._submitted)

    def close(self) -> None:
        """Drop queued jobs, let the running ones finish and stop the threads."""
        self.cancel()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for t in self._threads:
            t.join()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._jobs or self._closing)
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            try:
                loss, count = job()
            except BaseException as error:  # handed to the caller by wait()
                with self._cond:
                    self._error = error
                    dropped = len(self._jobs)
                    self._jobs.clear()
                    self._finished += dropped + 1
                    self._cond.notify_all()
                continue
            with self._cond:
                self._loss += loss
                self._count += count
                self._finished += 1
                self._cond.notify_all()
