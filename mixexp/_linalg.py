"""Dense linear algebra helpers (BLAS through numpy/scipy)."""

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve, lstsq


def weighted_gram(Xa, w):
    """``Xa.T @ diag(w) @ Xa`` for non-negative weights ``w``."""
    return (Xa * w[:, None]).T @ Xa


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
