"""Slow, obviously-correct densities and M-steps of the expert families beyond the Gaussian.

Plain numpy and scipy, independent of mixexp's code: densities from
``scipy.stats``; every GLM coefficient fit by ``scipy.optimize.minimize``
(trust-region with the exact Hessian) on the written-out weighted penalised
log-likelihood; one-dimensional parameters by a root of the derivative of the
expected complete-data log-likelihood.  The families with shape parameters
(negative binomial, Weibull, Burr) and the inverse Gaussian's coefficients:
the root of the score equations, written out in the natural parameters
(``theta``, ``k``, ``alpha``, ``gamma``: mixexp works with their logarithms),
by MINPACK's ``hybr`` and Newton polishing with a finite-difference Jacobian;
``score_matches_density`` checks every score against finite differences of
the ``scipy.stats`` log-likelihood.  The log-normal: a weighted ridge fit of
the standardised ``log y``.  Coordinates are mixexp's internal ones (see
tests/reference.py); GLM targets are ``(y, offset)`` as mixexp stores them
(a zero-inflated family's: ``(y, offset, marks)``, the marks unused here), the
log-normal's ``(standardised log y (n, 1), log y)``.
"""

import numpy as np
from scipy import stats
from scipy.optimize import approx_fprime, brentq, minimize, root
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


def nb_logdens(Xa, target, experts):
    """experts: list of (coef (p,), theta)."""
    y, offset = target
    return np.column_stack([
        stats.nbinom.logpmf(y, theta, theta / (theta + np.exp(Xa @ c + offset))) for c, theta in experts
    ])


def lognormal_logdens(Xa, target, experts):
    """experts: list of (coef (p,), var) of the standardised log y; the Jacobian -log y."""
    z, log_y = target
    return np.column_stack([stats.norm.logpdf(z[:, 0], Xa @ c, np.sqrt(v)) - log_y for c, v in experts])


def weibull_logdens(Xa, target, experts):
    """experts: list of (coef (p,), shape k); scale exp(eta)."""
    y, offset = target
    return np.column_stack([stats.weibull_min.logpdf(y, k, scale=np.exp(Xa @ c + offset)) for c, k in experts])


def ig_logdens(Xa, target, experts):
    """experts: list of (coef (p,), lambda = 1 / dispersion); mean exp(eta)."""
    y, offset = target
    return np.column_stack([
        stats.invgauss.logpdf(y, np.exp(Xa @ c + offset) / lam, scale=lam) for c, lam in experts
    ])


def burr_logdens(Xa, target, experts):
    """experts: list of (coef (p,), alpha (shape1), gamma (shape2)); scale exp(eta)."""
    y, offset = target
    return np.column_stack([
        stats.burr12.logpdf(y, g, a, scale=np.exp(Xa @ c + offset)) for c, a, g in experts
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


def solve_score(score, x0):
    """The root of ``score`` near ``x0``: MINPACK's hybr, then Newton with a central
    finite-difference Jacobian until the step is below 1e-13."""
    x = root(score, x0, method="hybr", options={"xtol": 1e-14}).x
    for _ in range(20):
        h = 1e-6 * np.maximum(1.0, np.abs(x))
        J = np.column_stack([(score(x + hi) - score(x - hi)) / (2 * hi[i]) for i, hi in enumerate(np.diag(h))])
        step = np.linalg.solve(J, score(x))
        x = x - step
        if np.max(np.abs(step)) < 1e-13 * max(1.0, np.max(np.abs(x))):
            break
    return x


def _split(x, p):
    return x[:p], x[p:]


# scores (gradients) of sum_i w_i log p(y_i) - penalty in the natural parameters
def nb_score(Xa, y, offset, w, alpha):
    """x = (beta, theta); penalty alpha / 2 ||beta[:-1]||^2."""
    D = alpha * _penalty_mask(Xa.shape[1])

    def score(x):
        beta, (theta,) = _split(x, Xa.shape[1])
        mu = np.exp(Xa @ beta + offset)
        g_beta = Xa.T @ (w * theta * (y - mu) / (mu + theta)) - D * beta
        g_theta = w @ (digamma(y + theta) - digamma(theta) + np.log(theta) + 1.0 - np.log(mu + theta)
                       - (y + theta) / (mu + theta))
        return np.append(g_beta, g_theta)
    return score


def weibull_score(Xa, y, offset, w, alpha):
    """x = (beta, k), scale exp(x beta); penalty alpha k^2 / 2 ||beta[:-1]||^2."""
    M = _penalty_mask(Xa.shape[1])

    def score(x):
        beta, (k,) = _split(x, Xa.shape[1])
        lam = np.exp(Xa @ beta + offset)
        u = (y / lam) ** k
        g_beta = Xa.T @ (w * k * (u - 1.0)) - alpha * k * k * M * beta
        g_k = w @ (1.0 / k + np.log(y / lam) * (1.0 - u)) - alpha * k * np.sum((M * beta) ** 2)
        return np.append(g_beta, g_k)
    return score


def burr_score(Xa, y, offset, w, alpha):
    """x = (beta, alpha_shape, gamma), scale exp(x beta); penalty alpha gamma^2 / 2 ||beta[:-1]||^2."""
    M = _penalty_mask(Xa.shape[1])

    def score(x):
        beta, (a, g) = _split(x, Xa.shape[1])
        r = np.log(y) - (Xa @ beta + offset)  # log(y / theta)
        u = np.exp(g * r)
        frac = u / (1.0 + u)
        g_beta = Xa.T @ (w * g * ((a + 1.0) * frac - 1.0)) - alpha * g * g * M * beta
        g_a = w @ (1.0 / a - np.log1p(u))
        g_g = w @ (1.0 / g + r - (a + 1.0) * frac * r) - alpha * g * np.sum((M * beta) ** 2)
        return np.concatenate([g_beta, [g_a, g_g]])
    return score


def ig_score(Xa, y, offset, w, alpha):
    """x = beta, mean exp(x beta): the gradient of -sum_i w_i (y - mu)^2 / (2 mu^2 y) -
    alpha / 2 ||beta[:-1]||^2."""
    D = alpha * _penalty_mask(Xa.shape[1])

    def score(beta):
        mu = np.exp(Xa @ beta + offset)
        return Xa.T @ (w * (y - mu) / mu**2) - D * beta
    return score


def score_matches_density(family, Xa, target, w, expert, alpha, rtol=1e-5):
    """Whether the family's score is the finite-difference gradient of the scipy.stats
    log-likelihood (for the families with a written-out score)."""
    y, offset = target
    p = Xa.shape[1]
    make, dens = {
        "negative_binomial": (nb_score, nb_logdens), "weibull": (weibull_score, weibull_logdens),
        "burr": (burr_score, burr_logdens),
    }[family]
    factor = {"negative_binomial": lambda s: 1.0, "weibull": lambda s: s[0] ** 2, "burr": lambda s: s[1] ** 2}[family]

    def objective(x):
        beta, s = x[:p], x[p:]
        return w @ dens(Xa, target, [(beta, *s)])[:, 0] - 0.5 * alpha * factor(s) * np.sum(beta[:-1] ** 2)

    x = np.concatenate([expert[0], expert[1:]])
    numeric = approx_fprime(x, objective, 1e-7 * np.maximum(1.0, np.abs(x)))
    analytic = make(Xa, y, offset, w, alpha)(x)
    return np.allclose(analytic, numeric, rtol=rtol, atol=rtol * np.abs(numeric).max())


def newton_step(score, logdens, Xa, target, w, expert, alpha, factor):
    """One safeguarded Newton step (generalised EM, ECM) of ``(beta, log shape)`` from
    ``expert`` on ``sum_i w_i log p(y_i) - alpha / 2 factor(shape) ||beta[:-1]||^2``: the
    gradient from the natural-parameter ``score`` by the chain rule, the Hessian by complex-step
    differences of that gradient (exact to rounding), the direction ``-H^-1 g`` (``-H``'s
    eigenvalues made positive where it is not definite), halved until the objective (from the
    ``scipy.stats`` ``logdens``) does not decrease."""
    y, offset = target
    p = Xa.shape[1]

    def gradient(x):
        shape = np.exp(x[p:])
        g = score(np.concatenate([x[:p], shape]))
        return np.concatenate([g[:p], g[p:] * shape])

    def objective(x):
        shape = np.exp(x[p:])
        pen = 0.5 * alpha * factor(shape) * np.sum(x[: p - 1] ** 2)
        return w @ logdens(Xa, target, [(x[:p], *shape)])[:, 0] - pen

    x = np.concatenate([expert[0], np.log(expert[1:])])
    g, h = gradient(x), 1e-30
    H = np.column_stack([np.imag(gradient(x + 1j * h * e)) / h for e in np.eye(x.size)])
    lam, V = np.linalg.eigh(-0.5 * (H + H.T))
    lam = np.maximum(np.abs(lam), 1e-10 * np.abs(lam).max())
    step = V @ ((V.T @ g) / lam)
    F, t = objective(x), 1.0
    while objective(x + t * step) < F:
        t *= 0.5
    new = x + t * step
    return (new[:p], *np.exp(new[p:]))


def nb_newton_step(Xa, y, offset, w, expert, alpha):
    return newton_step(nb_score(Xa, y, offset, w, alpha), nb_logdens, Xa, (y, offset), w, expert, alpha,
                       lambda s: 1.0)


def weibull_newton_step(Xa, y, offset, w, expert, alpha):
    return newton_step(weibull_score(Xa, y, offset, w, alpha), weibull_logdens, Xa, (y, offset), w, expert,
                       alpha, lambda s: s[0] ** 2)


def nb_m_step(Xa, y, offset, w, expert, alpha):
    coef, theta = expert
    x = solve_score(nb_score(Xa, y, offset, w, alpha), np.append(coef, theta))
    return x[:-1], x[-1]


def weibull_m_step(Xa, y, offset, w, expert, alpha):
    coef, k = expert
    x = solve_score(weibull_score(Xa, y, offset, w, alpha), np.append(coef, k))
    return x[:-1], x[-1]


def burr_m_step(Xa, y, offset, w, expert, alpha):
    coef, a, g = expert
    x = solve_score(burr_score(Xa, y, offset, w, alpha), np.concatenate([coef, [a, g]]))
    return x[:-2], x[-2], x[-1]


def ig_m_step(Xa, y, offset, w, expert, alpha, reg_variance):
    coef, _ = expert
    beta = solve_score(ig_score(Xa, y, offset, w, alpha), coef)
    mu = np.exp(Xa @ beta + offset)
    D = w @ ((y - mu) ** 2 / (mu**2 * y)) + alpha * np.sum(beta[:-1] ** 2)
    return beta, min(w.sum() / D, 1.0 / reg_variance)


def lognormal_m_step(Xa, target, w, alpha, reg_variance):
    """The weighted ridge fit of the standardised log y and the penalised mean squared residual."""
    z = target[0][:, 0]
    D = np.diag(alpha * _penalty_mask(Xa.shape[1]))
    beta = np.linalg.solve((Xa * w[:, None]).T @ Xa + D, Xa.T @ (w * z))
    var = (w @ (z - Xa @ beta) ** 2 + alpha * np.sum(beta[:-1] ** 2)) / w.sum()
    return beta, max(var, reg_variance)


# -- one EM iteration of a flat mixture with a softmax gate ---------------------------
LOGDENS = {"student_t": t_logdens, "poisson": poisson_logdens, "gamma": gamma_logdens, "zip": zip_logdens,
           "negative_binomial": nb_logdens, "lognormal": lognormal_logdens, "weibull": weibull_logdens,
           "inverse_gaussian": ig_logdens, "burr": burr_logdens}


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
        elif family == "zip":
            new_experts.append(zip_m_step(Xe, target[0], target[1], w, expert, alpha))
        elif family == "lognormal":
            new_experts.append(lognormal_m_step(Xe, target, w, alpha, reg_variance))
        elif family == "inverse_gaussian":
            new_experts.append(ig_m_step(Xe, target[0], target[1], w, expert, alpha, reg_variance))
        else:
            # negative binomial and Weibull: one Newton step per EM iteration (generalised EM)
            m_step = {"negative_binomial": nb_newton_step, "weibull": weibull_newton_step,
                      "burr": burr_m_step}[family]
            new_experts.append(m_step(Xe, target[0], target[1], w, expert, alpha))
    return post, loglik, new_gate, new_experts


def penalty(family, gate, experts, gate_alpha, alpha):
    pen = 0.5 * gate_alpha * np.sum(gate[:, :-1] ** 2)
    for e in experts:
        if family == "student_t":
            pen += 0.5 * alpha * np.sum(np.sum(e[0][:, :-1] ** 2, axis=1) / e[1])
        elif family == "poisson":
            pen += 0.5 * alpha * np.sum(e[:-1] ** 2)
        elif family in ("gamma", "inverse_gaussian"):  # times the shape, 1 / dispersion
            pen += 0.5 * alpha * e[1] * np.sum(e[0][:-1] ** 2)
        elif family == "lognormal":  # divided by sigma^2 (the Gaussian's on log y)
            pen += 0.5 * alpha * np.sum(e[0][:-1] ** 2) / e[1]
        elif family in ("weibull", "burr"):  # times the last shape squared (1 / scale of log y)
            pen += 0.5 * alpha * e[-1] ** 2 * np.sum(e[0][:-1] ** 2)
        else:  # zip, negative binomial
            pen += 0.5 * alpha * np.sum(e[0][:-1] ** 2)
    return pen
