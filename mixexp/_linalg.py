"""Dense linear algebra helpers (BLAS through numpy/scipy)."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve, lstsq

from ._kernels import gram_block

# Rows per parallel task.  The split of the rows, and the order in which
# partial sums are added, do not depend on the number of threads, so neither
# do the results.
_ROWS = 32768


def _n_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _map_row_blocks(func, n):
    """``[func(start, stop) for each block of _ROWS rows]``, on a few threads.

    The blocks do not depend on the number of threads, so results combined
    in block order do not either.  Thin matrix products gain little from
    BLAS's own threads, which spin after each call and then compete with
    numba's; fit() therefore limits BLAS to one thread and the rows are
    split here instead (numpy and the numba kernels release the GIL).
    """
    starts = range(0, max(n, 1), _ROWS)
    blocks = [(start, min(start + _ROWS, n)) for start in starts]
    n_threads = min(_n_threads(), len(blocks))
    if n_threads == 1:
        return [func(*block) for block in blocks]
    with ThreadPoolExecutor(n_threads) as pool:
        return list(pool.map(lambda block: func(*block), blocks))


def _sum_row_blocks(func, n):
    """``sum(func(start, stop))`` over the blocks of :func:`_map_row_blocks`, in block order."""
    parts = _map_row_blocks(func, n)
    total = parts[0]
    for other in parts[1:]:
        total += other
    return total


def matmul_rows(A, B, out=None):
    """``A @ B`` computed on blocks of rows of ``A`` in parallel."""
    if out is None:
        out = np.empty((A.shape[0], B.shape[1]))

    def block(start, stop):
        np.matmul(A[start:stop], B, out=out[start:stop])

    _map_row_blocks(block, A.shape[0])
    return out


def tdot_rows(A, B):
    """``A.T @ B`` as a sum over blocks of rows, in parallel, in a fixed order."""
    return _sum_row_blocks(lambda start, stop: A[start:stop].T @ B[start:stop], A.shape[0])


def weighted_grams(Z, W):
    """All weighted Gram matrices ``Z.T @ diag(W[:, k]) @ Z``, shape ``(K, q, q)``.

    One pass over the rows for all K (see :func:`mixexp._kernels.gram_block`),
    on blocks of rows in parallel.
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    W = np.ascontiguousarray(W, dtype=np.float64)
    q = Z.shape[1]
    K = W.shape[1]

    def part(start, stop):
        out = np.zeros((K, q * (q + 1) // 2))
        gram_block(Z, W, start, stop, out)
        return out

    upper = _sum_row_blocks(part, Z.shape[0])
    rows, cols = np.triu_indices(q)
    G = np.empty((K, q, q))
    G[:, rows, cols] = upper
    G[:, cols, rows] = upper
    return G


def weighted_gram(Xa, w):
    """``Xa.T @ diag(w) @ Xa`` for non-negative weights ``w``."""
    return weighted_grams(Xa, w[:, None])[0]


def solve_psd(A, B):
    """Solve ``A X = B`` for symmetric positive semi-definite ``A``.

    Cholesky when ``A`` is definite; otherwise the minimum-norm least-squares
    solution, which still minimises the quadratic ``x^T A x / 2 - b^T x``
    whenever ``b`` lies in the range of ``A`` (true for normal equations).
    """
    try:
        X = cho_solve(cho_factor(A, lower=True, check_finite=False), B, check_finite=False)
        if np.all(np.isfinite(X)):
            return X
    except LinAlgError:
        pass
    return lstsq(A, B, check_finite=False)[0]
