"""The group softmax: softmax and log-softmax within groups of columns.

Every softmax of mixexp (the gates, the multinomial experts, prediction) is one
of these: the exact kernel and its two fast variants.

:func:`log_softmax_groups`
    The exact kernel (numba): each group shifted by its maximum, one libm exp
    per entry.  The reference of the others (tests/test_kernels.py,
    tests/test_mixing.py) and the route of their rows with infinite or huge logits.
:func:`log_softmax_groups_rows`
    The fit's variant: the kernel's numbers with numpy's vectorised exp and log
    (the softmax and attention gates' scores, the multinomial experts').
:func:`group_softmax`, :func:`path_softmax_rows`
    Prediction's variant: probabilities from logits relative to each group's
    first member, in member-major columns (below).

numpy's exp.  numba compiles np.exp to one scalar libm call per element (no
SVML here); numpy's own exp is SIMD (AVX2/AVX-512), about five times faster
per element (16M exps: 69 ms against 13 ms on AVX-512).  The fast variants give
the kernel's numbers on a chunk of rows with whole-array numpy operations and
small numba loops without transcendental functions; rows whose results are not
finite are recomputed by the kernel itself, so the edge cases (every member
impossible, infinite logits) behave exactly as the kernel's.  numpy's exp
leaves its SIMD path for arguments from -708 down (results near the
subnormals, subnormal or 0, and -inf): 4 to 50 times slower per element.  Far
leaves and confident gates give such arguments in bulk, so they are raised to
:data:`EXP_FLOOR` first and the results at the floor (up to :data:`EXP_TINY`,
twice it whatever the last bit of a SIMD exp) read as 0 (:func:`exp_floored`,
also used by the E-step's and the bound step's fast variants).

Relative logits (prediction).  A softmax is unchanged when one logit is
subtracted from every member of its group, so the components give the logits
of members ``1 .. size - 1`` relative to member 0 (``coef[c] - coef[0]`` as
coefficient rows, :func:`relative_rows`): member 0's exponential is 1 and
needs neither a product nor an exp.  A binary tree's gate then takes 7 columns
for its 7 inner nodes instead of 14, and a 3-class multinomial expert 2 per
leaf instead of 3.

Layout.  Groups are member-major: relative member ``c`` (member ``c + 1``)
of group ``g`` is column ``c * n_groups + g`` of the logits, and member ``c``
of group ``g`` is column ``c * n_groups + g`` of the probabilities, so a
row's sums, reciprocals and scalings run along contiguous runs of
``n_groups`` columns.  Loops over short groups of 2 or 3 consecutive columns
ran 5 to 10 times slower (measured); so did the column-major layout, whose
products (``coef @ X.T``) BLAS computes 1.5 to 2 times slower than
``X @ coef.T`` at these widths.

Range.  The relative logits are not shifted by their group's maximum first:
that would be a pass of its own over the logits, and a range check before the
exp another.  Each group's sum ``1 + sum(exp)`` is checked after the exp
instead.  It is at least 1, so an exponential that underflowed stands for a
probability below 2.2e-308, which the shifted softmax makes 0 as well; a group
is exact to the exp's rounding when its sum is at most :data:`SUM_MAX`
(nothing overflowed).  A row with any other group (relative logits beyond
about +690, infinities, NaN) is recomputed on the shifted route of
:func:`log_softmax_groups` (:func:`shifted_softmax`).  Probabilities below
about 1e-304 may be 0 on either route.
"""

from functools import lru_cache

import numpy as np
from numba import njit

EXP_FLOOR = -700.0
EXP_TINY = 2.0 * float(np.exp(EXP_FLOOR))
SUM_MAX = 1e300

# -- the exact kernel ------------------------------------------------------------


@njit(inline="always")
def _max_and_logsum(a, start, size):
    """``(m, log sum exp(a - m))`` over ``a[start:start + size]``, ``m`` the maximum.

    Log-probabilities are then ``(a - m) - logsum``: the difference ``a - m`` is
    exact for nearby values, so they stay normalised even for logits of 1e8.
    """
    mx = -np.inf
    for c in range(start, start + size):
        mx = max(mx, a[c])
    if mx == -np.inf:  # every entry -inf: keep them so, without NaN
        return mx, 0.0
    s = 0.0
    for c in range(start, start + size):
        s += np.exp(a[c] - mx)
    return mx, np.log(s)


@njit(nogil=True, cache=True)
def log_softmax_groups(logits, group_size, out):
    """Log-softmax within consecutive groups of ``group_size`` columns."""
    n, m = logits.shape
    if group_size < 1 or m % group_size != 0 or out.shape[0] != n or out.shape[1] != m:
        raise ValueError("log_softmax_groups: array shapes do not match")
    n_groups = m // group_size
    for i in range(n):
        for g in range(n_groups):
            o = g * group_size
            mx, logsum = _max_and_logsum(logits[i], o, group_size)
            for c in range(group_size):
                out[i, o + c] = (logits[i, o + c] - mx) - logsum


# -- the fit's variant: numpy's vectorised exp and log -----------------------------


def exp_floored(A, out):
    """``exp(max(A, EXP_FLOOR))`` into ``out``: entries at ``EXP_TINY`` stand for 0."""
    np.maximum(A, EXP_FLOOR, out=out)
    return np.exp(out, out=out)


# Logits within this magnitude are exponentiated as they are, without the
# shift by their group's maximum (a pass of scalar code as long as the exp):
# the exponentials lie in [1e-87, 1e87], so no group's sum overflows or
# underflows, and ``log p = logit - log(sum)`` is off by at most 200 eps
# (4e-14) in absolute terms.  Larger logits take the shifted route.
_UNSHIFTED_LIMIT = 200.0


@njit(nogil=True, cache=True)
def _group_shift(logits, group_size, out):
    """``out = logits - max`` within each group of columns; returns whether every
    group's maximum is finite."""
    n, m = logits.shape
    finite = True
    for i in range(n):
        for g in range(m // group_size):
            o = g * group_size
            mx = -np.inf
            for c in range(o, o + group_size):
                mx = max(mx, logits[i, c])
            finite &= np.isfinite(mx)
            for c in range(o, o + group_size):
                out[i, c] = logits[i, c] - mx
    return finite


# reassociated sums vectorise (a row's sum in SIMD lanes, not one long chain)
@njit(nogil=True, cache=True, fastmath={"reassoc"})
def group_sum(E, group_size, total, normalise):
    """``total`` (n, n_groups): the sum of ``E`` (from :func:`exp_floored`, its
    entries at the floor set to 0) within each group of columns; with
    ``normalise``, ``E`` is divided by it in place."""
    n, m = E.shape
    for i in range(n):
        for g in range(m // group_size):
            o = g * group_size
            s = 0.0
            for c in range(o, o + group_size):
                e = 0.0 if E[i, c] <= EXP_TINY else E[i, c]  # NaN stays NaN
                E[i, c] = e
                s += e
            total[i, g] = s
            if normalise:
                r = 1.0 / s
                for c in range(o, o + group_size):
                    E[i, c] *= r


@njit(nogil=True, cache=True)
def _group_subtract(A, group_size, log_total, out):
    """``out = A - log_total`` of each column's group."""
    n, m = A.shape
    for i in range(n):
        for g in range(m // group_size):
            for c in range(g * group_size, (g + 1) * group_size):
                out[i, c] = A[i, c] - log_total[i, g]


def group_exponents(logits, group_size, out=None, shift=False):
    """Exponents whose softmax within groups is that of ``logits``, and whether they are
    the logits themselves: so when the logits are small (:data:`_UNSHIFTED_LIMIT`) and
    ``shift`` is False, else they are shifted by each group's maximum; ``(None, False)``
    when some maximum is not finite (left to the kernels).  ValueError unless the groups
    divide the columns and ``out`` (the caller's output, if any) has the shape of ``logits``."""
    n, m = logits.shape
    if group_size < 1 or m % group_size != 0 or (out is not None and out.shape != (n, m)):
        raise ValueError("softmax_groups: array shapes do not match")
    logits = np.ascontiguousarray(logits)
    if logits.size == 0 or (
        not shift and logits.max() < _UNSHIFTED_LIMIT and logits.min() > -_UNSHIFTED_LIMIT
    ):
        return logits, True
    A = np.empty_like(logits)
    return (A, False) if _group_shift(logits, group_size, A) else (None, False)


def group_exp(A, unshifted, out):
    """``exp(A)`` into ``out``; shifted exponents go through :func:`exp_floored`
    (unshifted ones are above -200: exp has no slow path there and nothing is tiny)."""
    return np.exp(A, out=out) if unshifted else exp_floored(A, out)


def log_softmax_groups_rows(logits, group_size, out, shift=False):
    """:func:`log_softmax_groups` with numpy's vectorised exp and log.

    Logits within :data:`_UNSHIFTED_LIMIT` are exponentiated unshifted unless ``shift``:
    then every group is shifted by its maximum first, whatever the logits' size, as the
    kernel does (the attention gate's scores, whose numbers were those of this order).
    """
    n, m = logits.shape
    A, unshifted = group_exponents(logits, group_size, out, shift)
    if A is None:
        log_softmax_groups(logits, group_size, out)
        return out
    total = np.empty((n, m // group_size))
    group_sum(group_exp(A, unshifted, np.empty_like(A)), group_size, total, False)
    np.log(total, out=total)
    _group_subtract(A, group_size, total, out)
    return out


# -- prediction's variant: relative logits, member-major ---------------------------


@njit(nogil=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def _softmax_rows(E, P, bad):
    """``P[i]``: the softmax of ``[0, log E[i]]`` (one group); ``bad[i]``: whether row
    ``i`` is out of range (see the module's doc; True for NaN).  :func:`_softmax_groups`
    with one group, written for it: that loop ran 3 to 18 times slower on one group
    (2 to 16 members, measured)."""
    n, m = E.shape
    for i in range(n):
        s = 1.0
        for c in range(m):
            s += E[i, c]
        bad[i] = not (s <= SUM_MAX)
        r = 1.0 / s
        P[i, 0] = r
        for c in range(m):
            P[i, c + 1] = E[i, c] * r


# The kernels below write out the sums of member-major groups: called as a
# helper function, the same loops ran twice as slowly, and inlined by numba
# (``@njit(inline="always")``) still 15-25% slower (measured, 10^6 rows, one core).
@njit(nogil=True, cache=True, fastmath={"reassoc"}, error_model="numpy")
def _softmax_groups(E, n_groups, P, bad):
    """``P[i]``: the member-major group softmaxes of ``[0, log E[i]]`` (member 0 of every
    group first); ``bad`` as above, for any of the row's groups."""
    n, m = E.shape
    size = m // n_groups
    r = np.empty(n_groups)
    for i in range(n):
        for g in range(n_groups):
            r[g] = 1.0
        for c in range(size):
            for g in range(n_groups):
                r[g] += E[i, c * n_groups + g]
        n_bad = 0
        for g in range(n_groups):
            n_bad += not (r[g] <= SUM_MAX)
            r[g] = 1.0 / r[g]
            P[i, g] = r[g]
        bad[i] = n_bad > 0
        for c in range(size):
            for g in range(n_groups):
                P[i, (c + 1) * n_groups + g] = E[i, c * n_groups + g] * r[g]


@njit(nogil=True, cache=True)
def _path_products(P, path_cols, out):
    """``out[i, leaf]``: the product of ``P[i]`` over the columns ``path_cols[leaf]``."""
    n = P.shape[0]
    n_leaves, depth = path_cols.shape
    for i in range(n):
        for leaf in range(n_leaves):
            p = P[i, path_cols[leaf, 0]]
            for level in range(1, depth):
                p *= P[i, path_cols[leaf, level]]
            out[i, leaf] = p


def relative_rows(coef):
    """Coefficient rows whose products are relative logits, member-major: for ``coef``
    (n_groups, size, n_params), member ``c + 1`` of group ``g`` minus member 0 in row
    ``c * n_groups + g``, ``(n_groups * (size - 1), n_params)`` (what :func:`group_softmax`,
    :func:`path_softmax_rows` and :func:`mix_group_softmax` take the products of)."""
    return (coef[:, 1:] - coef[:, :1]).transpose(1, 0, 2).reshape(-1, coef.shape[2])


def check_groups(logits, n_groups):
    if n_groups < 1 or logits.ndim != 2 or logits.shape[1] % n_groups != 0:
        raise ValueError("group softmax: array shapes do not match")


def exp_relative(logits):
    """``exp(logits)`` as a new C array (overflow gives inf: the sums catch it)."""
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(logits, out=np.empty(logits.shape))


def shifted_softmax(logits, n_groups):
    """The member-major group softmaxes of ``[0, logits]`` (relative logits, as
    :func:`group_softmax`) on the shifted route of :func:`log_softmax_groups`
    (which takes group-major columns)."""
    n = logits.shape[0]
    full = np.hstack([np.zeros((n, n_groups)), logits])
    m = full.shape[1]
    size = m // n_groups
    grouped = np.ascontiguousarray(full.reshape(n, size, n_groups).transpose(0, 2, 1)).reshape(n, m)
    log_p = np.empty_like(grouped)
    log_softmax_groups(grouped, size, log_p)
    with np.errstate(under="ignore"):
        return np.exp(log_p).reshape(n, n_groups, size).transpose(0, 2, 1).reshape(n, m)


def group_softmax(logits, n_groups):
    """Softmax within each of ``n_groups`` member-major groups, from relative logits.

    Parameters
    ----------
    logits : ndarray of shape (n, (size - 1) * n_groups)
        Member ``c + 1`` of group ``g`` minus member 0, in column ``c * n_groups + g``.
    n_groups : int

    Returns
    -------
    ndarray of shape (n, size * n_groups)
        Member ``c`` of group ``g`` in column ``c * n_groups + g``.
    """
    check_groups(logits, n_groups)
    E = exp_relative(logits)
    n = E.shape[0]
    P = np.empty((n, E.shape[1] + n_groups))
    bad = np.empty(n, dtype=np.bool_)
    if n_groups == 1:
        _softmax_rows(E, P, bad)
    else:
        _softmax_groups(E, n_groups, P, bad)
    if bad.any():
        rows = np.flatnonzero(bad)
        P[rows] = shifted_softmax(logits[rows], n_groups)
    return P


def path_softmax_rows(logits, n_groups, path_cols):
    """Each leaf's product of the group softmaxes of relative ``logits`` (as
    :func:`group_softmax`) over the columns ``path_cols`` (n_leaves, depth) of the
    probabilities on its path, ``(n, n_leaves)``.  A flat gate (one group, paths of one
    column) gets its softmax."""
    cond = group_softmax(logits, n_groups)
    if path_cols.shape[1] == 1 and np.array_equal(path_cols[:, 0], np.arange(cond.shape[1])):
        return cond
    out = np.empty((cond.shape[0], path_cols.shape[0]))
    _path_products(cond, path_cols, out)
    return out


@lru_cache(maxsize=16)
def leaf_path_columns(tree):
    """The columns of member-major probabilities (child ``c`` of inner node ``j`` in
    column ``c * n_inner + j``) on each leaf's path, root first, ``(n_leaves, depth)``
    (read-only; ``tree`` a :class:`mixexp._tree.Tree`)."""
    b = tree.branching
    cols = np.empty((tree.n_leaves, tree.depth), dtype=np.intp)
    for leaf in range(tree.n_leaves):
        node = tree.n_inner + leaf
        for level in range(tree.depth - 1, -1, -1):
            parent = (node - 1) // b
            cols[leaf, level] = (node - 1 - parent * b) * tree.n_inner + parent
            node = parent
    cols.flags.writeable = False
    return cols
