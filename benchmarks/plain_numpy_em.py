"""A plain-numpy EM for a flat mixture of linear-Gaussian experts: the benchmark's baseline (b).

Written to be obviously correct, not fast.  The model is the one mixexp fits::

    g_k(x)  = softmax_k(v_k . x + c_k)                       (gate)
    y | x, k ~ N(b_k . x + b0_k, s2_k)                       (experts)

and one EM iteration is

* E-step: responsibilities ``h_ik`` from the joint ``log g_k(x_i) + log N(y_i | ...)``
  (log-sum-exp for stability);
* M-step, experts: a weighted ridge regression per expert from its normal
  equations ``X~^T diag(h_k) X~ beta = X~^T diag(h_k) y`` (``X~ = [X, 1]``) and the
  weighted residual variance;
* M-step, gate: ONE full Newton step on the soft-label multinomial
  log-likelihood ``sum_i sum_k h_ik log g_k(x_i) - gate_alpha / 2 ||V||^2``, with the
  full ``K (d + 1)`` square Hessian built block by block (``K^2`` weighted Grams,
  O(n K^2 d^2) flops), solved by least squares (the softmax is invariant to a
  common shift of the intercepts) and halved until the objective does not
  decrease (a generalised EM step: the likelihood never decreases).

Nothing is cached between iterations and nothing is fused: this is what a
careful person writes in an afternoon with numpy.  It works in the raw
coordinates of ``X`` and ``y``.

Usage::

    from plain_numpy_em import PlainNumpyMoE
    em = PlainNumpyMoE(n_experts=8, max_iter=100, tol=1e-4).fit(X, y, init_labels)
    em.iter_times_, em.estep_times_, em.mstep_times_, em.loglik_
"""

import time

import numpy as np


def log_softmax(Z):
    """Row-wise ``log softmax`` of ``Z`` (n, K)."""
    m = Z.max(axis=1, keepdims=True)
    return Z - m - np.log(np.exp(Z - m).sum(axis=1, keepdims=True))


def logsumexp_rows(A):
    m = A.max(axis=1)
    return m + np.log(np.exp(A - m[:, None]).sum(axis=1))


def add_ones(X):
    return np.hstack([X, np.ones((X.shape[0], 1))])


class PlainNumpyMoE:
    """Flat mixture of linear-Gaussian experts fitted by plain-numpy EM.

    Parameters
    ----------
    n_experts : int
    max_iter : int
    tol : float, stop when the mean per-sample log-likelihood gains less than this.
    alpha : float, ridge on the expert slopes (not intercepts).
    gate_alpha : float, ridge on the gate slopes (not intercepts).
    min_variance : float, floor on each expert's variance relative to var(y).

    Attributes (after fit)
    ----------------------
    gate_ : (K, d + 1) rows ``[v_k, c_k]``
    coef_ : (K, d + 1) rows ``[b_k, b0_k]``
    var_ : (K,)
    loglik_ : list, mean per-sample log-likelihood after each iteration
    iter_times_, estep_times_, mstep_times_, gate_times_ : lists of seconds per iteration
    n_iter_, converged_
    """

    def __init__(self, n_experts, max_iter=100, tol=1e-4, alpha=1e-6, gate_alpha=1e-3,
                 min_variance=1e-6):
        self.n_experts = n_experts
        self.max_iter = max_iter
        self.tol = tol
        self.alpha = alpha
        self.gate_alpha = gate_alpha
        self.min_variance = min_variance

    # -- E-step -------------------------------------------------------------------
    def log_joint(self, Xa, y):
        """``log g_k(x_i) + log N(y_i | mu_ik, s2_k)``, (n, K)."""
        log_gate = log_softmax(Xa @ self.gate_.T)
        mu = Xa @ self.coef_.T
        log_dens = -0.5 * (np.log(2 * np.pi * self.var_) + (y[:, None] - mu) ** 2 / self.var_)
        return log_gate + log_dens

    def e_step(self, Xa, y):
        joint = self.log_joint(Xa, y)
        loglik = logsumexp_rows(joint)
        return np.exp(joint - loglik[:, None]), loglik

    # -- M-step -------------------------------------------------------------------
    def m_step_experts(self, Xa, y, H):
        n, p = Xa.shape
        ridge = np.full(p, self.alpha)
        ridge[-1] = 0.0
        floor = self.min_variance * np.var(y)
        for k in range(self.n_experts):
            h = H[:, k]
            if h.sum() <= 1e-10 * n:
                continue  # an empty expert keeps its parameters
            G = (Xa * h[:, None]).T @ Xa + np.diag(ridge)
            beta = np.linalg.solve(G, Xa.T @ (h * y))
            r = y - Xa @ beta
            self.coef_[k] = beta
            self.var_[k] = max((h @ r**2) / h.sum(), floor)

    def gate_objective(self, Xa, H, V):
        return np.sum(H * log_softmax(Xa @ V.T)) - 0.5 * self.gate_alpha * np.sum(V[:, :-1] ** 2)

    def m_step_gate(self, Xa, H):
        """One full Newton step (with step halving) on the soft-label multinomial fit."""
        K = self.n_experts
        p = Xa.shape[1]
        mask = np.ones(p)
        mask[-1] = 0.0
        V = self.gate_
        P = np.exp(log_softmax(Xa @ V.T))
        # gradient of the objective, (K, p)
        grad = (H - P).T @ Xa - self.gate_alpha * V * mask
        # Hessian of minus the objective, (K p, K p), one weighted Gram per block
        Hess = np.zeros((K * p, K * p))
        for k in range(K):
            for m in range(K):
                s = P[:, k] * ((k == m) - P[:, m])
                Hess[k * p:(k + 1) * p, m * p:(m + 1) * p] = (Xa * s[:, None]).T @ Xa
        Hess += np.diag(np.tile(self.gate_alpha * mask, K))
        step = np.linalg.lstsq(Hess, grad.ravel(), rcond=None)[0].reshape(K, p)
        f0 = self.gate_objective(Xa, H, V)
        t = 1.0
        while t > 1e-10:
            V_new = V + t * step
            if self.gate_objective(Xa, H, V_new) >= f0:
                self.gate_ = V_new
                return
            t /= 2.0
        # no ascent found along the Newton direction: keep the gate

    def m_step(self, Xa, y, H):
        t0 = time.perf_counter()
        self.m_step_experts(Xa, y, H)
        t1 = time.perf_counter()
        self.m_step_gate(Xa, H)
        return time.perf_counter() - t1, t1 - t0

    # -- EM -----------------------------------------------------------------------
    def fit(self, X, y, init_labels, time_budget=None):
        """EM from hard initial labels (an int array of expert indices, one per sample).

        ``time_budget`` (seconds): stop after the iteration that exceeds it.
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).ravel()
        Xa = add_ones(X)
        K, p = self.n_experts, Xa.shape[1]
        self.gate_ = np.zeros((K, p))
        self.coef_ = np.zeros((K, p))
        self.var_ = np.full(K, np.var(y))
        H = np.zeros((X.shape[0], K))
        H[np.arange(X.shape[0]), np.asarray(init_labels)] = 1.0
        self.m_step(Xa, y, H)  # initial parameters from the hard partition
        H, loglik = self.e_step(Xa, y)
        ll = loglik.mean()
        self.loglik_, self.iter_times_, self.estep_times_ = [], [], []
        self.mstep_times_, self.gate_times_, self.expert_times_ = [], [], []
        self.converged_ = False
        start = time.perf_counter()
        for it in range(1, self.max_iter + 1):
            t0 = time.perf_counter()
            gate_t, expert_t = self.m_step(Xa, y, H)
            t1 = time.perf_counter()
            H, loglik = self.e_step(Xa, y)
            new_ll = loglik.mean()
            t2 = time.perf_counter()
            self.mstep_times_.append(t1 - t0)
            self.gate_times_.append(gate_t)
            self.expert_times_.append(expert_t)
            self.estep_times_.append(t2 - t1)
            self.iter_times_.append(t2 - t0)
            self.loglik_.append(new_ll)
            self.n_iter_ = it
            if new_ll - ll < self.tol:
                self.converged_ = True
                break
            ll = new_ll
            if time_budget is not None and time.perf_counter() - start > time_budget:
                break
        return self

    def log_likelihood(self, X, y):
        Xa = add_ones(np.asarray(X, dtype=np.float64))
        return logsumexp_rows(self.log_joint(Xa, np.asarray(y, dtype=np.float64).ravel()))


if __name__ == "__main__":  # a self-check: EM on simulated data recovers a good fit
    import sys

    sys.path.insert(0, ".")
    from sklearn.cluster import KMeans

    from mixexp.datasets import make_moe_regression

    X, y = make_moe_regression(5000, 3, 3, noise=0.1, random_state=0)
    labels = KMeans(3, n_init=1, random_state=0).fit(np.column_stack([X, y])).labels_
    em = PlainNumpyMoE(3, max_iter=200, tol=1e-8).fit(X, y, labels)
    ll = np.array(em.loglik_)
    assert np.all(np.diff(ll) >= -1e-9), "log-likelihood decreased"
    print(f"{em.n_iter_} iterations, converged={em.converged_}, mean log-likelihood {ll[-1]:.4f}, "
          f"{np.median(em.iter_times_) * 1e3:.2f} ms/iteration")
