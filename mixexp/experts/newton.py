"""Damped Newton ascent within box bounds: the M-step of the families with shape parameters.

:func:`maximise` maximises a smooth objective ``F`` of a few parameters (an
expert's coefficients and the logarithms of its shape parameters) from the
current ones.  Each iteration takes the Newton direction of the coordinates
that are free (not held at a bound by a gradient pointing out of the box);
where the Hessian is not negative definite (the objective is not concave
everywhere: Burr, negative binomial, inverse Gaussian with log link) its
eigenvalues are replaced by their absolute values, floored, which keeps the
direction an ascent direction.  The step is halved until ``F`` does not
decrease, with the coordinates clipped to the box, so the result is never
worse than the start; if no step gains, a plain gradient step (scaled by the
Hessian's diagonal) is tried before giving up.  Near a maximum with a
negative definite Hessian it is Newton's method and converges quadratically.
"""

import numpy as np

MAX_ITER = 200


def _ascent_direction(g, H):
    """``-H^{-1} g`` when ``-H`` is positive definite, else with ``-H``'s eigenvalues
    made positive (absolute values, floored relative to the largest)."""
    A = -H
    try:
        L = np.linalg.cholesky(A)
        return np.linalg.solve(L.T, np.linalg.solve(L, g))
    except np.linalg.LinAlgError:
        lam, V = np.linalg.eigh(0.5 * (A + A.T))
        lam = np.abs(lam)
        lam = np.maximum(lam, 1e-10 * max(lam.max(initial=0.0), 1e-300))
        return V @ ((V.T @ g) / lam)


def _free_step(g, H, held):
    """The ascent direction of the coordinates not ``held`` (0 for those)."""
    step = np.zeros_like(g)
    free = np.flatnonzero(~held)
    if free.size:
        step[free] = _ascent_direction(g[free], H[np.ix_(free, free)])
    return step


def _bounded_step(x, g, H, lower, upper):
    """The ascent direction from ``x`` of the coordinates free to move, and which are held
    (at a bound, with the gradient or the step pointing out of the box)."""
    held = ((x <= lower) & (g < 0)) | ((x >= upper) & (g > 0))
    step = _free_step(g, H, held)
    # a coordinate at a bound that the step would push out of the box is held too
    out = ((x <= lower) & (step < 0)) | ((x >= upper) & (step > 0))
    while np.any(out & ~held):
        held |= out
        step = _free_step(g, H, held)
        out = ((x <= lower) & (step < 0)) | ((x >= upper) & (step > 0))
    return step, held


def _line_search(objective, x, F, step, lower, upper):
    """The first of ``x + t step`` (``t = 1, 1/2, ...``, clipped to the box) with an
    objective at least ``F``, as ``(x, F)``; None when none down to ``t = 1e-10``."""
    t = 1.0
    while t >= 1e-10:
        new = np.clip(x + t * step, lower, upper)
        F_new = objective(new)
        if F_new >= F:
            return new, F_new
        t *= 0.5
    return None


def maximise(objective, derivatives, x, lower, upper, max_iter=MAX_ITER):
    """Maximise ``objective`` within ``[lower, upper]`` from the feasible ``x``.

    Parameters
    ----------
    objective : callable ``x -> float``
        The objective (``-inf`` outside its domain).
    derivatives : callable ``x -> (gradient, Hessian)``
        Its gradient and Hessian.
    x : ndarray of shape (m,)
        The start; the result's objective is never below its objective.
    lower, upper : ndarray of shape (m,)
        Bounds of every coordinate (``-inf``, ``inf`` where there is none).

    Returns
    -------
    x : ndarray of shape (m,)
    """
    x = np.clip(np.asarray(x, dtype=np.float64), lower, upper)
    F = objective(x)
    for _ in range(max_iter):
        g, H = derivatives(x)
        step, held = _bounded_step(x, g, H, lower, upper)
        if g @ step <= 1e-13 * max(1.0, abs(F)):
            # converged: the step's gain is at the rounding of F, where a line search
            # cannot tell a gain from a loss; the step is the quadratic model's optimum
            return np.clip(x + step, lower, upper)
        found = _line_search(objective, x, F, step, lower, upper)
        if found is None:  # the model misled the search: a scaled gradient step
            scale = np.maximum(np.abs(np.diag(H)), 1e-12)
            gradient_step = np.where(held, 0.0, g / scale)
            found = _line_search(objective, x, F, gradient_step, lower, upper)
            if found is None:  # no ascent left at the resolution of F
                return x
        if found[1] == F:  # no gain at the resolution of F: converged as far as it can tell
            return found[0]
        x, F = found
    return x


def _line_searches(objective, x, F, step, searching, lower, upper):
    """:func:`_line_search` of the rows ``searching`` of ``x`` (L, m) at once, the rows'
    objectives evaluated together: ``(x, found)``, each found row's first ``x + t step``
    with an objective at least its ``F``, the others unchanged."""
    x, found, left = x.copy(), np.zeros(x.shape[0], dtype=bool), searching.copy()
    start = x.copy()
    t = 1.0
    while t >= 1e-10 and left.any():
        trial = np.where(left[:, None], np.clip(start + t * step, lower, upper), start)
        gained = left & (objective(trial) >= F)
        x[gained] = trial[gained]
        found |= gained
        left &= ~gained
        t *= 0.5
    return x, found


def ascend_once(objective, x, F, g, H, lower, upper):
    """One iteration of :func:`maximise` (``max_iter=1``) of each of ``L`` problems with the
    same bounds, from their objectives ``F``, gradients and Hessians at ``x``, the line
    searches' objectives evaluated together (the experts of a mixture: one pass over the
    rows for all of them).

    Parameters
    ----------
    objective : callable ``X (L, m) -> (L,)``
        Every problem's objective at its row of ``X`` (``-inf`` outside its domain).
    x : ndarray of shape (L, m)
        The starts, within ``[lower, upper]``.
    F : ndarray of shape (L,)
    g : ndarray of shape (L, m)
    H : ndarray of shape (L, m, m)
        The objectives, gradients and Hessians at ``x``.
    lower, upper : ndarray of shape (m,)

    Returns
    -------
    x : ndarray of shape (L, m)
        Each row's objective is never below its ``F``.
    """
    out = x.copy()
    steps, gradient_steps = np.zeros_like(x), np.zeros_like(x)
    searching = np.zeros(x.shape[0], dtype=bool)
    for i in range(x.shape[0]):
        step, held = _bounded_step(x[i], g[i], H[i], lower, upper)
        if g[i] @ step <= 1e-13 * max(1.0, abs(F[i])):  # converged (see maximise)
            out[i] = np.clip(x[i] + step, lower, upper)
            continue
        searching[i] = True
        steps[i] = step
        gradient_steps[i] = np.where(held, 0.0, g[i] / np.maximum(np.abs(np.diag(H[i])), 1e-12))
    stepped, found = _line_searches(objective, x, F, steps, searching, lower, upper)
    # where the model misled the search: a scaled gradient step, else no ascent left
    retried, _ = _line_searches(objective, x, F, gradient_steps, searching & ~found, lower, upper)
    out[searching] = np.where(found[searching, None], stepped[searching], retried[searching])
    return out
