"""The M-step of every softmax: soft-label multinomial logistic regression.

Used by the gate at every inner node (targets: the children's posteriors) and
by multinomial experts (targets: one-hot labels weighted by the leaf's
posterior).  For one block of coefficients ``V`` (k rows acting on ``x``,
which ends with a constant 1) it increases

    f(V) = sum_i sum_c u_ic log softmax(V x_i)_c - alpha / 2 * ||V[:, :-1]||^2

from two row sums taken at the current ``V`` during the E-step pass: the
gradient ``G = sum_i (w_i p_i - u_i) x_i^T`` (``w_i = sum_c u_ic``) and the
Gram matrix ``sum_i w_i x_i x_i^T``.  Böhning's bound on the Hessian
(``1/2 I ⊗ X^T W X``, Böhning 1992) gives the step ``delta`` that maximises a
quadratic minorizer of ``f``; any step ``t * delta`` with ``0 < t <= 2``
then never decreases ``f`` (the minorizer is symmetric about ``t = 1``).

Where the bound is loose (confident softmax) longer steps gain more.  The
step length ``t`` is learned across EM iterations at no extra pass over the
data: after a step ``D``, the next pass's gradient gives the slope of ``f``
along ``D`` at the new point, and with the slope at the start the secant
estimates the best length.  Steps longer than 2 may decrease ``f``; the EM
engine checks its objective after every pass and, when it fell, takes the
safe steps (``t = 1``) from the same sums instead.

A rejected length is remembered: the safe step records a cap of half of it
(``limit``), and the next steps go back to their secant's length at once, up
to the cap, instead of regrowing from 1 by ``_MAX_GROWTH`` per iteration; the
cap then loosens by ``_LIMIT_GROWTH`` per step.  Restarting from 1 forgot
what had been learned: the classifier's expert and gate lengths cycled
1, 4, 16, 64, rejected, 1, ... (benchmarks/results/classifier_speed.md).

The gradient's rows: :func:`gate_residual` (exact kernel) and
:func:`gate_residual_rows` (its fast variant, numpy's vectorised exp) for the
gates, :func:`multinomial_residual` for the multinomial experts.
"""

import numpy as np
from numba import njit
from scipy.linalg import cho_factor, cho_solve

from .linalg import tdot, weighted_grams
from .prox import l1_weights, softmax_prox_step
from .softmax import EXP_TINY, exp_floored, log_softmax_groups_rows

MAX_SCALE = 1024.0  # longest step, in units of the bound's step
_MAX_GROWTH = 4.0  # longest change of the step length from one iteration to the next
SAFE_SCALE = 2.0  # steps up to this length never decrease f
_LIMIT_GROWTH = 2.0  # loosening of a rejected length's cap at every step that follows
STEP_STATE_KEYS = ("scale", "step", "slope", "limit")
# A slope below this many nats per unit of weight says the block has converged:
# the step length learned from it would be rounding noise (a million times above
# it), and results would depend on the order of the sums.
_SLOPE_RESOLUTION = 1e-9


def penalty_mask(n_params):
    """1 for coefficients, 0 for the trailing intercept."""
    mask = np.ones(n_params)
    mask[-1] = 0.0
    return mask


def bound_factor(gram, alpha):
    """Cholesky factor of Böhning's bound ``gram / 2 + alpha * D``."""
    return cho_factor(bound_matrix(gram, alpha), lower=True, check_finite=False)


def bound_matrix(gram, alpha):
    """Böhning's bound on the negative Hessian of one row: ``gram / 2 + alpha * D``."""
    p = gram.shape[0]
    H = 0.5 * gram
    H[np.diag_indices(p)] += alpha * penalty_mask(p)
    # A tiny ridge keeps the factor defined for empty or constant columns; a
    # larger bound is still a bound, so monotonicity is kept.
    H[np.diag_indices(p)] += 1e-10 * (np.trace(H) / p) + 1e-300
    return H


def init_step_state(n_blocks, k, p):
    """Step-length memory of ``n_blocks`` blocks of ``(k, p)`` coefficients."""
    return {
        "scale": np.ones(n_blocks),
        "step": np.zeros((n_blocks, k, p)),  # the last step taken
        "slope": np.zeros(n_blocks),  # slope of f along it at its start
        "limit": np.zeros(n_blocks),  # cap on the length after a rejected one (0: none)
    }


def blocks_update(coef, grad, grams, alpha, state, active, safe=False, l1_ratio=0.0):
    """One bound step for each active block.

    With ``l1_ratio > 0`` the penalty is the elastic net ``alpha * (l1_ratio
    |V|_1 + (1 - l1_ratio) / 2 |V|^2)`` and the step is the proximal step on
    the bound (:func:`mixexp._numerics.prox.softmax_prox_step`), whose step length is
    learned the same way; only the bound's own step (length 1) is sure not to
    decrease f, so longer ones are reported as extrapolated.

    Parameters
    ----------
    coef : ndarray (B, k, p), current coefficients of B blocks.
    grad : ndarray (B, k, p), ``sum_i (w_i p_i - u_i) x_i^T`` at ``coef``.
    grams : ndarray (B, p, p) or a list of B factors/arrays; ``sum_i w_i x_i x_i^T``.
    alpha : float, L2 penalty on coefficients (not intercepts).
    state : dict from :func:`init_step_state` (not modified).
    active : iterable of block indices to update; the others are kept.
    safe : bool, take the bound's step (``t = 1``): the fallback after the step
        of the same call without ``safe`` was rejected.  Each block whose
        length was extrapolated then caps its next lengths at half of it.
    l1_ratio : float, the elastic-net mixing of ``alpha`` (0: ridge).

    Returns
    -------
    coef, state : the new coefficients and step-length memory.
    extrapolated : bool, whether some step was longer than ``SAFE_SCALE``.
    """
    coef = coef.copy()
    state = {key: value.copy() for key, value in state.items()}
    mask = penalty_mask(coef.shape[2])
    extrapolated = False
    if l1_ratio > 0.0:
        return _prox_blocks_update(coef, grad, grams, alpha, l1_ratio, state, active, mask, safe)
    for b in active:
        g = grad[b] + alpha * coef[b] * mask  # gradient of -f
        scale = 1.0
        # the block's total weight (the Gram's ones column): slopes far below it are rounding
        resolution = _SLOPE_RESOLUTION * grams[b][-1, -1]
        if state["slope"][b] > resolution:
            scale = _next_scale(state, b, -np.sum(g * state["step"][b]), safe)
        factor = bound_factor(grams[b], alpha)
        delta = -cho_solve(factor, g.T, check_finite=False).T
        step = scale * delta
        coef[b] += step
        state["scale"][b] = scale
        state["step"][b] = step
        state["slope"][b] = -np.sum(g * step)
        extrapolated |= scale > SAFE_SCALE
    return coef, state, extrapolated


def _prox_blocks_update(coef, grad, grams, alpha, l1_ratio, state, active, mask, safe):
    """:func:`blocks_update` under the elastic net: one proximal step per block.

    The step minimises the bound with its curvature divided by the learned
    step length (1: the bound itself, which never decreases f); the slopes
    along the last step include the L1 term's, which is linear along a step
    that changes no sign.  Longer steps are flagged ``extrapolated``.
    """
    ridge = alpha * (1.0 - l1_ratio)
    lam = l1_weights(coef.shape[2], alpha, l1_ratio)
    extrapolated = False
    for b in active:
        g = grad[b] + ridge * coef[b] * mask  # gradient of the smooth part of -f
        last = state["step"][b]
        scale = 1.0
        resolution = _SLOPE_RESOLUTION * grams[b][-1, -1]
        if state["slope"][b] > resolution:
            # slope of f along the last step at its end (the L1 term's from the left)
            sign = np.where(coef[b] != 0, np.sign(coef[b]), -np.sign(last))
            slope1 = -np.sum(g * last) - np.sum(lam * sign * last)
            scale = _next_scale(state, b, slope1, safe)
        H = bound_matrix(grams[b], ridge) / scale
        new = softmax_prox_step(coef[b], g, H, lam)
        step = new - coef[b]
        sign = np.where(coef[b] != 0, np.sign(coef[b]), np.sign(step))  # from the right
        state["slope"][b] = -np.sum(g * step) - np.sum(lam * sign * step)
        coef[b] = new
        state["scale"][b] = scale
        state["step"][b] = step
        extrapolated |= scale > 1.0
    return coef, state, extrapolated


def _next_scale(state, b, slope1, safe=False):
    """Step length of block ``b`` from the slopes of f at the start and the end of its
    last step; updates the block's cap ``state["limit"][b]``.

    The last step was ``state["scale"][b]`` bound steps long; along it f had slope
    ``state["slope"][b]`` at the start and ``slope1`` at the end (both per whole
    step).  With ``safe``, the length this call would take without it was
    rejected: it is 1, and a longer rejected length caps the next ones at its half.
    """
    scale, slope0, limit = state["scale"][b], state["slope"][b], state["limit"][b]
    if not (slope0 > 0.0 and np.isfinite(slope1)):
        return 1.0
    if slope0 - slope1 > 0.0:
        best = scale * slope0 / (slope0 - slope1)  # where the secant's slope is 0
    else:  # no curvature seen: still rising as fast
        best = _MAX_GROWTH * scale
    # below a rejected length's cap growth is not limited: the cap was learned
    high = min(MAX_SCALE, limit if limit > 0.0 else _MAX_GROWTH * scale)
    length = float(np.clip(best, max(1.0, scale / _MAX_GROWTH), high))
    if safe:
        if length > SAFE_SCALE:
            state["limit"][b] = max(SAFE_SCALE, length / 2.0)
        return 1.0
    if limit > 0.0:
        state["limit"][b] = min(MAX_SCALE, _LIMIT_GROWTH * limit)
    return length


def soft_label_objective(Xa, U, alpha, n_steps):
    """Best ``f(V)`` reached by ``n_steps`` bound steps from ``V = 0``.

    A measure of how well a linear softmax separates the soft labels ``U``
    (n, k); used to arrange the leaves of a tree at initialisation.
    """
    n, k = U.shape
    w = U.sum(axis=1)
    gram = [weighted_grams(Xa, w[:, None])[0]]
    node_weight = np.column_stack([w, U])  # a one-node tree: the root, then its children
    coef = np.zeros((1, k, Xa.shape[1]))
    state = init_step_state(1, k, Xa.shape[1])
    mask = penalty_mask(Xa.shape[1])
    log_gate = np.empty((n, k))
    residual = np.empty((n, k))

    def evaluate(coef):
        log_softmax_groups_rows(np.asarray(Xa @ coef[0].T), k, log_gate)
        value = np.sum(np.where(U > 0, U * log_gate, 0.0)) - 0.5 * alpha * np.sum((coef[0] * mask) ** 2)
        gate_residual_rows(log_gate, node_weight, k, residual)
        return value, tdot(residual, Xa)[None]

    f, grad = evaluate(coef)
    for _ in range(n_steps):
        new, new_state, extrapolated = blocks_update(coef, grad, gram, alpha, state, [0])
        f_new, grad_new = evaluate(new)
        if extrapolated and not f_new >= f:
            new, new_state, _ = blocks_update(coef, grad, gram, alpha, state, [0], safe=True)
            f_new, grad_new = evaluate(new)
        gain = f_new - f
        coef, state, f, grad = new, new_state, f_new, grad_new
        if not gain > 1e-12 * max(1.0, abs(f)):
            break
    return f


# -- the gradient's rows ----------------------------------------------------------


@njit(nogil=True, cache=True)
def gate_residual(log_gate, node_weight, branching, out):
    """Gradient rows of every softmax gate: ``w_j g_jc - w_c``.

    log_gate : (n, n_inner * branching) log gate probabilities.
    node_weight : (n, n_nodes) posterior weight of every node (times sample weight).
    out : (n, n_inner * branching) output.
    """
    n, m = log_gate.shape
    b = branching
    n_inner = m // b
    if (
        b < 1
        or n_inner * b != m
        or node_weight.shape[0] != n
        or node_weight.shape[1] < m + 1
        or out.shape[0] != n
        or out.shape[1] != m
    ):
        raise ValueError("gate_residual: array shapes do not match the tree")
    for i in range(n):
        for j in range(n_inner):
            w = node_weight[i, j]
            for c in range(b):
                out[i, j * b + c] = w * np.exp(log_gate[i, j * b + c]) - node_weight[i, j * b + 1 + c]


@njit(nogil=True, cache=True)
def _gate_residual_from_proba(out, node_weight, branching):
    """``out = w_j g_jc - w_c`` in place, ``out`` holding the gate probabilities ``g``
    from :func:`exp_floored`."""
    n, m = out.shape
    b = branching
    for i in range(n):
        for j in range(m // b):
            w = node_weight[i, j]
            for c in range(b):
                g = out[i, j * b + c]
                if g <= EXP_TINY:
                    g = 0.0
                out[i, j * b + c] = w * g - node_weight[i, j * b + 1 + c]


def gate_residual_rows(log_gate, node_weight, branching, out):
    """:func:`gate_residual` with numpy's vectorised exp."""
    n, m = log_gate.shape
    b = branching
    n_inner = m // b
    if (
        b < 1 or n_inner * b != m or node_weight.shape[0] != n or node_weight.shape[1] < m + 1
        or out.shape != log_gate.shape
    ):
        raise ValueError("gate_residual: array shapes do not match the tree")
    exp_floored(log_gate, out)
    _gate_residual_from_proba(out, node_weight, b)
    return out


@njit(nogil=True, cache=True)
def multinomial_residual(proba, y_index, weight, out):
    """Gradient rows of every softmax expert: ``w_il (p_ilc - [c = y_i])``.

    proba : (n, n_leaves * n_classes); weight : (n, n_leaves); out like proba.
    """
    n, m = proba.shape
    n_leaves = weight.shape[1]
    if n_leaves < 1 or m % n_leaves != 0 or weight.shape[0] != n or y_index.shape[0] != n:
        raise ValueError("multinomial_residual: array shapes do not match")
    if out.shape[0] != n or out.shape[1] != m:
        raise ValueError("multinomial_residual: array shapes do not match")
    k = m // n_leaves
    for i in range(n):
        if y_index[i] < 0 or y_index[i] >= k:
            raise ValueError("multinomial_residual: class index out of range")
        for leaf in range(n_leaves):
            w = weight[i, leaf]
            o = leaf * k
            for c in range(k):
                out[i, o + c] = w * proba[i, o + c]
            out[i, o + y_index[i]] -= w
