"""Linear algebra on the design: weighted Grams (dense or sparse), products and PSD solves.

:func:`gram_block` is the numba kernel of the dense weighted Grams
(:func:`weighted_grams`); :func:`add_to_rows` adds the intercepts of :func:`affine_rows`.
"""

from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.linalg import LinAlgError, cho_factor, cho_solve, lstsq

_GRAM_CHUNK = 128  # rows per BLAS call in gram_block: the products stay in cache


def weighted_grams(Z, W):
    """All weighted Gram matrices ``Z.T @ diag(W[:, k]) @ Z``, shape ``(K, q, q)``.

    Dense ``Z``: one pass over the rows for all K
    (:func:`gram_block`).  Sparse ``Z``: one sparse product per
    column of ``W``.
    """
    W = np.ascontiguousarray(W, dtype=np.float64)
    K = W.shape[1]
    q = Z.shape[1]
    if sp.issparse(Z):
        G = np.empty((K, q, q))
        Zt = Z.T.tocsr()
        for k in range(K):
            G[k] = (Zt @ Z.multiply(W[:, k : k + 1]).tocsc()).toarray()
        return G
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    upper = np.zeros((K, q * (q + 1) // 2))
    gram_block(Z, W, upper)
    upper_at, lower_at = _triangle_positions(q)
    G = np.empty((K, q * q))
    G[:, upper_at] = upper
    G[:, lower_at] = upper
    return G.reshape(K, q, q)


@lru_cache(maxsize=32)
def _triangle_positions(q):
    """Flat positions in a ``q x q`` matrix of its upper triangle (row-major) and of their mirrors."""
    rows, cols = np.triu_indices(q)
    return rows * q + cols, cols * q + rows


def block_products(Xa, coef):
    """Every row of coefficients of ``coef`` (B, k, p) or (m, p) applied to the rows of
    ``Xa`` (n, p): ``(n, B * k)`` as a dense array, block-major (dense or sparse ``Xa``)."""
    return np.asarray(Xa @ coef.reshape(-1, coef.shape[-1]).T)


def affine_rows(X, coef_t, intercept):
    """``X @ coef_t + intercept`` for rows ``X`` (n, d), ``coef_t`` (d, m), ``intercept`` (m,).

    numpy's matmul releases the GIL (scipy's ``dgemm`` holds it: two threads
    predicting chunks ran their products one at a time); a numba pass adds the
    intercept (numpy's broadcast add of a short row is slower).
    """
    out = np.ascontiguousarray(X @ coef_t, dtype=np.float64)
    add_to_rows(out, np.asarray(intercept, dtype=np.float64))
    return out


def column_sums(A):
    """``A.sum(axis=0)`` of a dense 2-D array as one matrix-vector product: numpy's
    reduction down the rows of a narrow array is six times slower."""
    return np.ones(A.shape[0]) @ A


def tdot(A, B):
    """``A.T @ B`` as a dense array, for dense or sparse ``A``."""
    out = A.T @ B
    return out.toarray() if sp.issparse(out) else np.asarray(out)


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


def solve_psd_stack(A, B):
    """:func:`solve_psd` for every matrix of a stack: ``A`` (L, p, p), ``B`` (L, p, m).

    When every ``A[l]`` is definite (one batched Cholesky factorisation says so)
    the systems are solved in one batched call; otherwise each by :func:`solve_psd`.
    A dozen small systems solved one by one cost most of an EM iteration's M-step.
    """
    try:
        np.linalg.cholesky(A)
        X = np.linalg.solve(A, B)
        if np.all(np.isfinite(X)):
            return X
    except np.linalg.LinAlgError:
        pass
    return np.stack([solve_psd(a, b) for a, b in zip(A, B)])


# -- kernels ---------------------------------------------------------------------


@njit(nogil=True, cache=True)
def gram_block(Z, W, out):
    """Add ``sum_i W[i, k] z_i z_i^T`` over all rows to ``out[k]`` (upper triangles).

    Z : (n, q); W : (n, K) non-negative; out : (K, q * (q + 1) // 2), the
    upper triangles of the K Gram matrices, row-major.  All K Grams come
    from one matrix product per small chunk of rows, ``Q_chunk @ W_chunk``
    where ``Q`` holds the rows' outer products: half the flops of K separate
    ``(Z * w_k).T @ Z`` products, with both operands in cache.  ``Q`` is built
    column by column from the transposed chunk, so its inner loops run over
    contiguous rows and vectorise (2.4 times faster than row by row).
    """
    n, q = Z.shape
    K = W.shape[1]
    m = q * (q + 1) // 2
    if W.shape[0] != n or out.shape[0] != K or out.shape[1] != m:
        raise ValueError("gram_block: array shapes do not match")
    Zt = np.empty((q, _GRAM_CHUNK))
    Q = np.empty((m, _GRAM_CHUNK))
    # Plain loops, not np.zeros, np.ascontiguousarray and array expressions: each numpy
    # function is one more implementation for numba to compile on the first fit after
    # install (0.3-0.45 s of this kernel's 1.3 s), for the same numbers.
    total = np.empty((m, K))
    for a in range(m):
        for k in range(K):
            total[a, k] = 0.0
    for start in range(0, n, _GRAM_CHUNK):
        stop = min(start + _GRAM_CHUNK, n)
        r = stop - start
        for i in range(r):
            for a in range(q):
                Zt[a, i] = Z[start + i, a]
        c = 0
        for a in range(q):
            for b in range(a, q):
                za = Zt[a]
                zb = Zt[b]
                row = Q[c]
                for i in range(r):
                    row[i] = za[i] * zb[i]
                c += 1
        if r == _GRAM_CHUNK:
            P = np.dot(Q, W[start:stop])
        else:
            Qr = np.empty((m, r))
            for a in range(m):
                for i in range(r):
                    Qr[a, i] = Q[a, i]
            P = np.dot(Qr, W[start:stop])
        for a in range(m):
            for k in range(K):
                total[a, k] += P[a, k]
    for k in range(K):
        for a in range(m):
            out[k, a] += total[a, k]


@njit(nogil=True, cache=True)
def add_to_rows(A, v):
    """``A += v`` in place for ``A`` (n, m) and ``v`` (m,)."""
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            A[i, j] += v[j]


@njit(nogil=True, cache=True, fastmath={"reassoc"})
def own_affine_rows(X, coef, intercept, leaf):
    """``X[i] @ coef[leaf[i]].T + intercept[leaf[i]]`` of every row: each row's own leaf's
    affine map, ``(n, m)``, for ``X`` (n, d), ``coef`` (n_leaves, m, d), ``intercept``
    (n_leaves, m) and ``leaf`` (n,): hard routing's products without grouping the rows."""
    n, d = X.shape
    m = coef.shape[1]
    out = np.empty((n, m))
    for i in range(n):
        k = leaf[i]
        for t in range(m):
            s = intercept[k, t]
            for j in range(d):
                s += X[i, j] * coef[k, t, j]
            out[i, t] = s
    return out
