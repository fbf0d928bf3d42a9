"""Slow, obviously-correct densities and M-steps of the expert families beyond the Gaussian.

Plain numpy and scipy, independent of mixexp's code: densities from
``scipy.stats``; every GLM coefficient fit by ``scipy.optimize.minimize``
(trust-region with the exact Hessian) on the written-out weighted penalised
log-likelihood; one-dimensional parameters by a root of the derivative of the
expected complete-data log-likelihood.  Coordinates are mixexp's internal
ones (see tests/reference.py); GLM targets are ``(y, offset)`` as mixexp
stores them (a zero-inflated family's: ``(y, offset, marks)``, the marks unused here).
"""

import numpy as np
from scipy import stats
from scipy.optimize import brentq, minimize
from scipy.special import digamma

NU_BOUNDS = (1e-2, 200.0)


# -- densities: (n, n_leaves) ---------------------------------------------------
def t_logdens(Xa, Y, experts):
    """experts: list of (coef (T, p), var (T,), nu (T,))."""
    return np.column_stack([
        stats.t.logpdf(Y, df=nu, loc=Xa @ coef.T, scale=np.sqrt(var)).sum(axis=1)
        for coef, var, nu in experts
    ])


def poisson_logdens(Xa, target, experts):
    y, offset = target
    return np.column_stack([stats.poisson.logpmf(y, np.exp(Xa @ c + offset)) for c in experts])


def gamma_logdens(Xa, target, experts):
    """experts: list of (coef (p,), shape a)."""
    y, offset = target
    return np.column_stack([
        stats.gamma.logpdf(y, a, scale=np.exp(Xa @ c + offset) / a) for c, a in experts
    ])


def zip_logdens(Xa, target, experts):
    """experts: list of (coef (p,), pi)."""
    y, offset = target[:2]
    cols = []
    for c, pi in experts:
        mu = np.exp(Xa @ c + offset)
        zero = np.log(pi + (1.0 - pi) * np.exp(-mu))
        cols.append(np.where(y == 0, zero, np.log(1.0 - pi) + stats.poisson.logpmf(y, mu)))
    return np.column_stack(cols)


# -- M-steps of one leaf with weights w ---------------------------------------------
def _penalty_mask(p):
    mask = np.ones(p)
    mask[-1] = 0.0
    return mask


def glm_fit(Xa, offset, w, start, alpha, ell, d_ell, d2_ell):
    """argmax of sum_i w_i ell(x_i c + o_i) - alpha / 2 ||c[:-1]||^2 (concave)."""
    D = alpha * _penalty_mask(Xa.shape[1])

    def f(c):
        return -(w @ ell(Xa @ c + offset)) + 0.5 * np.sum(D * c * c)

    def g(c):
        return -(Xa.T @ (w * d_ell(Xa @ c + offset))) + D * c

    def h(c):
        return (Xa * (-w * d2_ell(Xa @ c + offset))[:, None]).T @ Xa + np.diag(D)

    c = minimize(f, start, jac=g, hess=h, method="trust-exact", options={"gtol": 1e-11, "maxiter": 1000}).x
    for _ in range(10):  # trust-exact may stop at a gradient of 1e-6: polish with plain Newton
        c = c - np.linalg.solve(h(c), g(c))
    return c


def poisson_fit(Xa, y, offset, w, start, alpha):
    return glm_fit(Xa, offset, w, start, alpha,
                   lambda e: y * e - np.exp(e), lambda e: y - np.exp(e), lambda e: -np.exp(e))


def t_m_step(Xa, Y, w, expert, alpha, reg_variance):
    """ECM of one t leaf from its current (coef, var, nu): scale weights, ridge, scale, nu."""
    coef, var, nu = expert
    p = Xa.shape[1]
    D = np.diag(alpha * _penalty_mask(p))
    new_coef, new_var, new_nu = np.empty_like(coef), np.empty_like(var), np.empty_like(nu)
    for t in range(Y.shape[1]):
        r2 = (Y[:, t] - Xa @ coef[t]) ** 2 / var[t]
        u = (nu[t] + 1.0) / (nu[t] + r2)
        e_log_u = digamma((nu[t] + 1.0) / 2.0) - np.log((nu[t] + r2) / 2.0)
        wu = w * u
        beta = np.linalg.solve((Xa * wu[:, None]).T @ Xa + D, Xa.T @ (wu * Y[:, t]))
        resid = Y[:, t] - Xa @ beta
        new_coef[t] = beta
        new_var[t] = max((wu @ resid**2 + alpha * np.sum(beta[:-1] ** 2)) / w.sum(), reg_variance)
        # d/dnu of sum_i w_i E[log Gamma(u_i; nu/2, nu/2)], decreasing in nu
        def score(v):
            return w.sum() * (np.log(v / 2.0) + 1.0 - digamma(v / 2.0)) + w @ (e_log_u - u)
        lo, hi = NU_BOUNDS
        if score(hi) >= 0:
            new_nu[t] = hi
        elif score(lo) <= 0:
            new_nu[t] = lo
        else:
            new_nu[t] = brentq(score, lo, hi, xtol=1e-14, rtol=1e-15)
    return new_coef, new_var, new_nu


def gamma_m_step(Xa, y, offset, w, expert, alpha, reg_variance):
    coef, _ = expert
    beta = glm_fit(Xa, offset, w, coef, alpha,
                   lambda e: -e - y * np.exp(-e), lambda e: y * np.exp(-e) - 1.0,
                   lambda e: -y * np.exp(-e))
    mu = np.exp(Xa @ beta + offset)

    # d/da of sum_i w_i log Gamma(y_i; a, mu_i / a) - a alpha / 2 ||beta||^2
    def score(a):
        return w @ (np.log(a) + 1.0 - digamma(a) + np.log(y / mu) - y / mu) - 0.5 * alpha * np.sum(beta[:-1] ** 2)

    hi = 1.0 / reg_variance
    a = hi if score(hi) >= 0 else brentq(score, 1e-12, hi, xtol=1e-300, rtol=1e-15)
    return beta, a


def zip_m_step(Xa, y, offset, w, expert, alpha):
    coef, pi = expert
    mu = np.exp(Xa @ coef + offset)
    z = np.where(y == 0, pi / (pi + (1.0 - pi) * np.exp(-mu)), 0.0)
    return poisson_fit(Xa, y, offset, w * (1.0 - z), coef, alpha), (w @ z) / w.sum()


# -- one EM iteration of a flat mixture with a softmax gate ---------------------------
LOGDENS = {"student_t": t_logdens, "poisson": poisson_logdens, "gamma": gamma_logdens, "zip": zip_logdens}


def em_iteration(family, Xg, Xe, target, sw, gate, experts, gate_alpha, alpha, reg_variance, bound_step):
    """Posteriors at (gate, experts), then the gate's bound step and every expert's M-step.

    Returns (post, loglik, new_gate, new_experts).
    """
    from scipy.special import log_softmax, logsumexp

    joint = log_softmax(Xg @ gate.T, axis=1) + LOGDENS[family](Xe, target, experts)
    loglik = logsumexp(joint, axis=1)
    post = np.exp(joint - loglik[:, None])
    new_gate = bound_step(Xg, post * sw[:, None], gate, gate_alpha)
    new_experts = []
    for leaf, expert in enumerate(experts):
        w = sw * post[:, leaf]
        if family == "student_t":
            new_experts.append(t_m_step(Xe, target, w, expert, alpha, reg_variance))
        elif family == "poisson":
            new_experts.append(poisson_fit(Xe, target[0], target[1], w, expert, alpha))
        elif family == "gamma":
            new_experts.append(gamma_m_step(Xe, target[0], target[1], w, expert, alpha, reg_variance))
        else:
            new_experts.append(zip_m_step(Xe, target[0], target[1], w, expert, alpha))
    return post, loglik, new_gate, new_experts


def penalty(family, gate, experts, gate_alpha, alpha):
    pen = 0.5 * gate_alpha * np.sum(gate[:, :-1] ** 2)
    for e in experts:
        if family == "student_t":
            pen += 0.5 * alpha * np.sum(np.sum(e[0][:, :-1] ** 2, axis=1) / e[1])
        elif family == "poisson":
            pen += 0.5 * alpha * np.sum(e[:-1] ** 2)
        elif family == "gamma":
            pen += 0.5 * alpha * e[1] * np.sum(e[0][:-1] ** 2)
        else:
            pen += 0.5 * alpha * np.sum(e[0][:-1] ** 2)
    return pen
