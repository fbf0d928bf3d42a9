"""How many threads a pass over the rows uses, and the threads that run it.

mixexp's numba kernels are serial and release the GIL; parallelism comes from
running fixed chunks of rows on a few Python threads.  Waiting threads block
(they never spin), so a busy machine slows a fit at most in proportion to the
cores it really gets.  The chunks, and the order in which their results are
combined, do not depend on the number of threads, so neither do the results.

The number of threads is the smallest of the cores this process may use,
``numba.get_num_threads()`` (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``,
which joblib's workers set), ``OMP_NUM_THREADS``, the OpenMP limit seen by
threadpoolctl (``threadpool_limits``), and the number of chunks; concurrent
fits in one process share these threads.  BLAS is held to one thread inside
``fit``: the chunks already use the cores, and BLAS threads, which spin after
each call, would compete with them.
"""

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController

# Rows per chunk of a pass: each chunk's workspaces fit in cache-friendly
# sizes, and below two chunks a pass runs on the calling thread alone.
# Measured on 2 cores (benchmarks/threads.py): two threads gain from about
# 2 x 4096 rows on, and lose nothing above that.
CHUNK_ROWS = 4096

_lock = threading.Lock()
_active = 0  # fits and predictions in progress that may use threads
_controller = None


def _threadpool_controller():
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def cpu_limit():
    """Threads this process may use for mixexp's work, from the outer limits."""
    try:
        limit = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        limit = os.cpu_count() or 1
    limit = min(limit, numba.get_num_threads())
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        limit = min(limit, int(env))
    for lib in _threadpool_controller().select(user_api="openmp").lib_controllers:
        if lib.num_threads and lib.num_threads > 0:
            limit = min(limit, lib.num_threads)
    return max(1, limit)


def blas_single_thread():
    """Context manager holding BLAS to one thread (threadpoolctl)."""
    return _threadpool_controller().limit(limits=1, user_api="blas")


def openmp_threads(n_threads):
    """Context manager holding OpenMP libraries (scikit-learn's k-means) to ``n_threads``."""
    return _threadpool_controller().limit(limits=n_threads, user_api="openmp")


class Runner:
    """Maps a function over chunks of rows on ``n_threads`` threads: the calling
    thread and ``n_threads - 1`` workers.

    Results come back in chunk order whatever the number of threads.
    """

    def __init__(self, n_threads):
        self.n_threads = n_threads
        self._pool = ThreadPoolExecutor(n_threads - 1) if n_threads > 1 else None

    def map(self, func, chunks):
        """``func(chunk)`` for every chunk, yielded in chunk order.

        Every ``n_threads``-th chunk runs on the calling thread, which would
        otherwise only wait (a pass of two chunks hands one to a worker, not
        two).  At most one task per thread waits beyond the one being consumed,
        so the results held at once (e.g. every chunk's row sums) do not grow
        with the number of chunks.
        """
        chunks = list(chunks)
        if self._pool is None or len(chunks) < 2:
            yield from map(func, chunks)
            return
        ahead = self.n_threads + 1
        pending = deque()  # (chunk, its future, or None for the calling thread)
        queued = 0

        def queue():
            nonlocal queued
            while queued < len(chunks) and len(pending) < ahead:
                c = chunks[queued]
                pending.append((c, None if queued % self.n_threads == 0 else self._pool.submit(func, c)))
                queued += 1

        queue()
        while pending:
            c, future = pending.popleft()
            queue()
            yield func(c) if future is None else future.result()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()


@contextmanager
def runner(n_rows, chunk_rows=CHUNK_ROWS):
    """A :class:`Runner` for work on ``n_rows`` rows, sharing the cores with
    the other fits in progress in this process.  While it runs chunks on
    several threads, BLAS is held to one."""
    global _active
    n_chunks = -(-n_rows // chunk_rows)
    if n_chunks < 2:
        yield Runner(1)
        return
    with _lock:
        _active += 1
        share = _active
    try:
        run = Runner(max(1, min(cpu_limit() // share, n_chunks)))
        try:
            if run.n_threads > 1:
                with blas_single_thread():
                    yield run
            else:
                yield run
        finally:
            run.close()
    finally:
        with _lock:
            _active -= 1


@contextmanager
def inner_runner(n_chunks):
    """A :class:`Runner` for a pass that a component makes inside a fit, between the engine's
    passes (whose threads then wait): as many threads as :func:`runner` gives each fit in
    progress now, without counting another."""
    with _lock:
        share = max(1, _active)
    run = Runner(max(1, min(cpu_limit() // share, n_chunks)))
    try:
        yield run
    finally:
        run.close()


def chunk_slices(n_rows, chunk_rows=CHUNK_ROWS):
    """Consecutive ``slice`` objects of ``chunk_rows`` rows covering ``n_rows``."""
    return [slice(start, min(start + chunk_rows, n_rows)) for start in range(0, n_rows, chunk_rows)]


def balanced_chunk_slices(n_rows, chunk_rows=CHUNK_ROWS):
    """Consecutive ``slice`` objects covering ``n_rows``: one chunk, or an even number
    of chunks of equal size (give or take a row), each of at most ``1.5 * chunk_rows``
    rows, rounded up (an odd number of ``chunk_rows`` chunks becomes one fewer).

    Two threads then get the same number of rows, and small passes have fewer
    chunks: 10,000 rows as 4096 + 4096 + 1808 kept one thread busy for 5904 of them
    and the pass for three chunks' fixed costs, as 2 x 5000 for 5000 and two.
    """
    n_chunks = -(-n_rows // chunk_rows)
    if n_chunks == 0:
        return []
    if n_chunks > 1 and n_chunks % 2:
        n_chunks -= 1
    bounds = [i * n_rows // n_chunks for i in range(n_chunks + 1)]
    return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]
