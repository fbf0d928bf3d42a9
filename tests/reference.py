"""A slow, obviously-correct EM for (hierarchical) mixtures of experts in plain numpy.

Independent of mixexp's code: the E-step enumerates every leaf's path through
the tree (no upward/downward recursion), softmax M-steps are solved exactly by
damped full Newton, Gaussian M-steps by a dense ridge solve.  Coordinates are
mixexp's internal ones: weighted-standardised features with a trailing 1, and
(for regression) weighted-standardised targets.
"""

import numpy as np
from scipy.special import log_softmax, logsumexp


# -- coordinates --------------------------------------------------------------
def standardize(A, sw):
    mean = np.average(A, axis=0, weights=sw)
    scale = np.sqrt(np.average((A - mean) ** 2, axis=0, weights=sw))
    scale[scale <= 1e-12 * np.maximum(np.abs(mean), 1e-300)] = 1.0
    return (A - mean) / scale, mean, scale


def design(X, sw):
    Xs = standardize(np.asarray(X, float), sw)[0]
    return np.hstack([Xs, np.ones((Xs.shape[0], 1))])


# -- the tree -------------------------------------------------------------------
def n_inner(depth, b):
    return sum(b**level for level in range(depth))


def leaf_paths(depth, b):
    """For each leaf (breadth-first), the list of (inner node, child slot) on its path."""
    paths = []
    for leaf in range(b**depth):
        node = n_inner(depth, b) + leaf
        path = []
        while node > 0:
            parent = (node - 1) // b
            path.append((parent, node - 1 - parent * b))
            node = parent
        paths.append(path[::-1])
    return paths


def leaves_below(depth, b):
    """For each node, the leaves of its subtree."""
    out = {}
    for leaf, path in enumerate(leaf_paths(depth, b)):
        out.setdefault(n_inner(depth, b) + leaf, []).append(leaf)
        for node, slot in path:
            out.setdefault(node, []).append(leaf)
            child = node * b + 1 + slot
            out.setdefault(child, []).append(leaf)
    return {k: sorted(set(v)) for k, v in out.items()}


# -- E-step ---------------------------------------------------------------------
def log_path_gates(Xa, gates, depth, b):
    """log of each leaf's path product of gate probabilities, (n, n_leaves)."""
    log_g = [log_softmax(Xa @ W.T, axis=1) for W in gates]
    out = np.zeros((Xa.shape[0], b**depth))
    for leaf, path in enumerate(leaf_paths(depth, b)):
        for node, slot in path:
            out[:, leaf] += log_g[node][:, slot]
    return out


def gaussian_logdens(Xa, Ys, experts):
    cols = []
    for coef, var in experts:  # coef (T, p), var (T,)
        r = Ys - Xa @ coef.T
        cols.append(np.sum(-0.5 * (np.log(2 * np.pi * var) + r**2 / var), axis=1))
    return np.column_stack(cols)


def multinomial_logdens(Xa, y_index, experts):
    return np.column_stack(
        [log_softmax(Xa @ W.T, axis=1)[np.arange(Xa.shape[0]), y_index] for W in experts]
    )


def e_step(Xa, gates, leaf_logdens, depth, b):
    joint = log_path_gates(Xa, gates, depth, b) + leaf_logdens
    loglik = logsumexp(joint, axis=1)
    return np.exp(joint - loglik[:, None]), loglik


# -- M-steps --------------------------------------------------------------------
def softmax_objective(Xa, U, W, alpha):
    return np.sum(U * log_softmax(Xa @ W.T, axis=1)) - 0.5 * alpha * np.sum(W[:, :-1] ** 2)


def softmax_exact(Xa, U, alpha, max_iter=200):
    """argmax of the soft-label multinomial objective by damped full Newton from 0."""
    C, p = U.shape[1], Xa.shape[1]
    w = U.sum(axis=1)
    mask = np.ones(p)
    mask[-1] = 0.0
    W = np.zeros((C, p))
    f = softmax_objective(Xa, U, W, alpha)
    for _ in range(max_iter):
        P = np.exp(log_softmax(Xa @ W.T, axis=1))
        grad = (w[:, None] * P - U).T @ Xa + alpha * W * mask
        H = np.zeros((C * p, C * p))
        for c in range(C):
            for e in range(C):
                s = w * P[:, c] * (float(c == e) - P[:, e])
                H[c * p:(c + 1) * p, e * p:(e + 1) * p] = (Xa * s[:, None]).T @ Xa
        H += np.diag(np.tile(alpha * mask, C))
        step = np.linalg.lstsq(H, grad.ravel(), rcond=None)[0].reshape(C, p)
        t = 1.0
        while t > 1e-8:
            f_new = softmax_objective(Xa, U, W - t * step, alpha)
            if f_new >= f - 1e-12 * abs(f):
                break
            t /= 2
        W = W - t * step
        f = f_new
        if np.max(np.abs(t * step)) < 1e-13:
            break
    return W


def gaussian_exact(Xa, Ys, w, alpha, reg_variance):
    p = Xa.shape[1]
    D = np.diag(np.r_[np.full(p - 1, alpha), 0.0])
    beta = np.linalg.solve(Xa.T @ (w[:, None] * Xa) + D, Xa.T @ (w[:, None] * Ys))
    r = Ys - Xa @ beta
    var = (w @ r**2 + alpha * np.sum(beta[:-1] ** 2, axis=0)) / w.sum()
    return beta.T, np.maximum(var, reg_variance)


def m_step(Xa, target, sw, leaf_post, depth, b, gate_alpha, alpha, kind, reg_variance=None):
    """Exact M-step: gates per inner node, experts per leaf."""
    below = leaves_below(depth, b)
    post = {node: leaf_post[:, leaves].sum(axis=1) for node, leaves in below.items()}
    gates = []
    for j in range(n_inner(depth, b)):
        U = np.column_stack([sw * post[j * b + 1 + c] for c in range(b)])
        gates.append(softmax_exact(Xa, U, gate_alpha))
    experts = []
    for leaf in range(b**depth):
        w = sw * leaf_post[:, leaf]
        if kind == "gaussian":
            experts.append(gaussian_exact(Xa, target, w, alpha, reg_variance))
        else:
            onehot = np.eye(int(target.max()) + 1)[target]
            experts.append(softmax_exact(Xa, onehot * w[:, None], alpha))
    return gates, experts


def logdens(Xa, target, experts, kind):
    if kind == "gaussian":
        return gaussian_logdens(Xa, target, experts)
    return multinomial_logdens(Xa, target, experts)


def penalty(gates, experts, gate_alpha, alpha, kind):
    pen = 0.5 * gate_alpha * sum(np.sum(W[:, :-1] ** 2) for W in gates)
    if kind == "gaussian":
        pen += 0.5 * alpha * sum(np.sum(np.sum(c[:, :-1] ** 2, axis=1) / v) for c, v in experts)
    else:
        pen += 0.5 * alpha * sum(np.sum(W[:, :-1] ** 2) for W in experts)
    return pen


# -- one generalised-EM step (what one mixexp iteration does) ---------------------
def bound_step(Xa, U, W, alpha):
    """One step of Böhning's bound from W for the soft-label multinomial objective:
    W - grad H^-1 with H = X^T diag(w) X / 2 + alpha D (Böhning 1992)."""
    w = U.sum(axis=1)
    p = Xa.shape[1]
    mask = np.ones(p)
    mask[-1] = 0.0
    P = np.exp(log_softmax(Xa @ W.T, axis=1))
    grad = (w[:, None] * P - U).T @ Xa + alpha * W * mask
    H = 0.5 * (Xa * w[:, None]).T @ Xa + np.diag(alpha * mask)
    return W - np.linalg.solve(H, grad.T).T


def gem_step(Xa, target, sw, leaf_post, gates, experts, depth, b, gate_alpha, alpha, kind, reg_variance=None):
    """The M-step of one mixexp iteration from given posteriors: a bound step for every
    softmax (gates; multinomial experts), the exact fit for Gaussian experts."""
    below = leaves_below(depth, b)
    post = {node: leaf_post[:, leaves].sum(axis=1) for node, leaves in below.items()}
    new_gates = []
    for j, W in enumerate(gates):
        U = np.column_stack([sw * post[j * b + 1 + c] for c in range(b)])
        new_gates.append(bound_step(Xa, U, W, gate_alpha))
    new_experts = []
    for leaf, e in enumerate(experts):
        w = sw * leaf_post[:, leaf]
        if kind == "gaussian":
            new_experts.append(gaussian_exact(Xa, target, w, alpha, reg_variance))
        else:
            onehot = np.eye(e.shape[0])[target]
            new_experts.append(bound_step(Xa, onehot * w[:, None], e, alpha))
    return new_gates, new_experts


# -- the Gaussian gate (Xu, Jordan & Hinton) ------------------------------------------
def gaussian_gate_log_terms(Xs, weights, means, covs, depth, b):
    """log of each leaf's product of mixing weights on its path, plus log N(x; m_leaf, S_leaf)."""
    from scipy.stats import multivariate_normal

    out = np.zeros((Xs.shape[0], b**depth))
    for leaf, path in enumerate(leaf_paths(depth, b)):
        for node, slot in path:
            out[:, leaf] += np.log(weights[node][slot])
        out[:, leaf] += multivariate_normal(means[leaf], covs[leaf]).logpdf(Xs)
    return out


def gaussian_gate_e_step(Xs, weights, means, covs, leaf_logdens, depth, b):
    """Posteriors and log p(x, y)."""
    joint = gaussian_gate_log_terms(Xs, weights, means, covs, depth, b) + leaf_logdens
    loglik = logsumexp(joint, axis=1)
    return np.exp(joint - loglik[:, None]), loglik


def gaussian_gate_m_step(Xs, sw, leaf_post, depth, b, reg_covar):
    """Mixing weights per inner node, weighted means and covariances per leaf
    (eigenvalues clipped at reg_covar)."""
    below = leaves_below(depth, b)
    mass = {node: sw @ leaf_post[:, leaves] .sum(axis=1) for node, leaves in below.items()}
    weights = [np.array([mass[j * b + 1 + c] / mass[j] for c in range(b)]) for j in range(n_inner(depth, b))]
    means, covs = [], []
    for leaf in range(b**depth):
        w = sw * leaf_post[:, leaf]
        m = w @ Xs / w.sum()
        S = ((Xs - m) * w[:, None]).T @ (Xs - m) / w.sum()
        lam, V = np.linalg.eigh(S)
        means.append(m)
        covs.append((V * np.maximum(lam, reg_covar)) @ V.T)
    return weights, means, covs
