"""The one-Newton-step M-step of the Weibull and negative binomial experts from the sums of
a pass (mixexp/experts/glm.py, LogLinkExperts._one_step_update): its numba kernels
(mixexp/_numerics/shapes.py) against the families' numpy derivatives, the batched step
against Newton's one iteration leaf by leaf, and the step itself against the M-step on the
concatenated rows (one Newton step per leaf, ``_fit_expert``).
"""

import numpy as np
import pytest

from mixexp._engine import add_stats
from mixexp._numerics.shapes import (
    nb_log_pmf,
    nb_step_terms,
    nb_value_sums,
    weibull_step_terms,
    weibull_value_sums,
)
from mixexp.experts import EXPERTS
from mixexp.experts import negative_binomial as nb
from mixexp.experts import weibull as wb
from mixexp.experts.newton import ascend_once, maximise


def _weights(rng, n, K):
    W = rng.uniform(0.1, 2.0, size=(n, K))
    W[rng.random((n, K)) < 0.2] = 0.0
    return W


def _expected(W, terms):
    """The kernels' outputs from the numpy terms ``(ell, ell_e, ell_ee, ell_s, ell_es, ell_ss)``."""
    value, l_e, l_ee, l_s, l_es, l_ss = (np.where(W > 0, W * t, 0.0) for t in terms)
    return np.hstack([l_e, l_es]), -l_ee, np.array([value.sum(0), l_s.sum(0), l_ss.sum(0)])


def _check(cross, curv, sums, expected):
    np.testing.assert_allclose(cross, expected[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(curv, expected[1], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(sums, expected[2], rtol=1e-12)


def test_weibull_kernel_is_the_numpy_derivatives():
    rng = np.random.default_rng(0)
    n, K = 500, 3
    log_y, eta, log_k = rng.normal(size=(n, 1)), rng.normal(size=(n, K)), np.log([0.5, 1.0, 4.0])
    W = _weights(rng, n, K)
    eta[0, 1], W[0, 1] = -1e4, 0.0  # an infinite term on a row of weight 0 adds nothing
    z = wb._z(log_y, eta, np.exp(log_k))
    with np.errstate(over="ignore"):
        e = np.exp(z)
    cross, curv, sums = np.empty((n, 2 * K)), np.empty((n, K)), np.zeros((3, K))
    weibull_step_terms(z, e, log_k, W, cross, curv, sums)
    keep = W > 0
    expected = _expected(W, [np.where(keep, t, 0.0) for t in (log_k + z - e, *wb._derivatives(z, e, np.exp(log_k)))])
    _check(cross, curv, sums, expected)
    value = np.zeros(K)
    weibull_value_sums(z, e, log_k, W, value)
    np.testing.assert_array_equal(value, sums[0])  # the line search's digits are the step's


@pytest.mark.parametrize("theta", [[0.3, 2.0, 1e8], [1e-3, 50.0, 1e12]])
def test_nb_kernel_is_the_numpy_derivatives(theta):
    rng = np.random.default_rng(1)
    n, K = 600, 3
    y = rng.poisson(3.0, size=n).astype(float)
    y[:3] = [0.0, 250.0, 40.0]
    eta, log_theta = rng.normal(1.0, 2.0, size=(n, K)), np.log(theta)
    eta[1] = 30.0  # mu far above theta
    W = _weights(rng, n, K)
    values, index = nb._count_index(y)
    norm = nb._log_norm(values[:, None], np.exp(log_theta))
    steps = [nb._digamma_steps(values, t) for t in np.exp(log_theta)]
    psi1, psi2 = (np.column_stack([s[i] for s in steps]) for i in (0, 1))
    e, excess = nb._excess_parts(eta, log_theta)
    cross, curv, sums = np.empty((n, 2 * K)), np.empty((n, K)), np.zeros((3, K))
    nb_step_terms(y, eta, log_theta, e, excess, index, norm, psi1, psi2, W, cross, curv, sums)
    yc = y[:, None]
    log_pmf = nb._log_pmf(yc, eta, log_theta, norm[index])
    np.testing.assert_allclose(log_pmf, nb._log_pmf(yc, eta, log_theta), rtol=1e-14, atol=1e-12)
    terms = (log_pmf, *nb._derivatives(yc, eta, log_theta, excess, psi1[index], psi2[index]))
    _check(cross, curv, sums, _expected(W, terms))
    value = np.zeros(K)
    nb_value_sums(y, eta, log_theta, excess, index, norm, W, value)
    np.testing.assert_array_equal(value, sums[0])
    pmf = np.empty((n, K))
    nb_log_pmf(y, eta, log_theta, excess, index, norm, pmf)
    np.testing.assert_allclose(pmf, log_pmf, rtol=1e-14, atol=1e-12)
    # log(1 + mu / theta) as numpy's logaddexp gives it
    np.testing.assert_allclose(excess, np.logaddexp(0.0, eta - log_theta), rtol=1e-15, atol=0)


def test_kernels_refuse_shapes_that_do_not_match():
    n, K = 5, 2
    z, W = np.zeros((n, K)), np.ones((n, K))
    with pytest.raises(ValueError, match="shapes"):
        weibull_step_terms(z, z, np.zeros(K), W, np.empty((n, K)), np.empty((n, K)), np.zeros((3, K)))
    with pytest.raises(ValueError, match="shapes"):
        weibull_value_sums(z, z[:-1], np.zeros(K), W, np.zeros(K))
    y, index, table = np.zeros(n), np.zeros(n, dtype=np.intp), np.zeros((1, K))
    with pytest.raises(ValueError, match="out of range"):
        nb_value_sums(y, z, np.zeros(K), z, index + 1, table, W, np.zeros(K))
    with pytest.raises(ValueError, match="tables"):
        nb_step_terms(y, z, np.zeros(K), z, z, index, table, table[:, :1], table, W, np.empty((n, 2 * K)),
                      np.empty((n, K)), np.zeros((3, K)))


def _problem(a, c):
    """``F(x) = -sum a (x - c)^2 / 2 + sin(x_0) x_1``: not concave everywhere."""
    def objective(x):
        return float(-0.5 * a @ (x - c) ** 2 + np.sin(x[0]) * x[1])

    def derivatives(x):
        g = -a * (x - c)
        g[0] += np.cos(x[0]) * x[1]
        g[1] += np.sin(x[0])
        H = -np.diag(a)
        H[0, 0] -= np.sin(x[0]) * x[1]
        H[0, 1] = H[1, 0] = np.cos(x[0])
        return g, H

    return objective, derivatives


def test_ascend_once_is_one_iteration_of_maximise_per_problem():
    rng = np.random.default_rng(2)
    L, m = 8, 3
    lower, upper = np.array([-np.inf, -1.0, 0.0]), np.array([np.inf, 2.0, 1.0])
    problems = [_problem(rng.uniform(0.05, 3.0, m), rng.normal(0.0, 2.0, m)) for _ in range(L)]
    x = np.clip(rng.normal(size=(L, m)), lower, upper)
    x[0, 2] = 1.0  # at a bound
    x[1] = np.clip(x[1], lower, upper)
    F = np.array([f(xi) for (f, _), xi in zip(problems, x)])
    grads = [d(xi) for (_, d), xi in zip(problems, x)]
    g, H = np.array([gh[0] for gh in grads]), np.array([gh[1] for gh in grads])

    def objective(X):
        return np.array([f(xi) for (f, _), xi in zip(problems, X)])

    out = ascend_once(objective, x, F, g, H, lower, upper)
    for (f, d), xi, oi in zip(problems, x, out):
        np.testing.assert_array_equal(oi, maximise(f, d, xi, lower, upper, max_iter=1))
        assert f(oi) >= f(xi)
    assert np.any(out != x)


def _component_setup(family, seed=0, n=400, K=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    Xa = np.column_stack([X, np.ones(n)])
    mean = np.exp(0.3 * X[:, 0] - 0.2 * X[:, 1])
    y = rng.poisson(2.0 * mean).astype(float) if family == "negative_binomial" else rng.weibull(1.5, n) * mean
    experts = EXPERTS["regression"][family].from_params({"alpha": 0.1, "reg_variance": 1e-3})
    target, info = experts.prepare_target(y, np.ones(n))
    params = experts.init_params(K, Xa.shape[1], info)
    params["coef"][:, 0, :] += 0.1 * rng.normal(size=(K, Xa.shape[1]))
    own = "theta" if family == "negative_binomial" else "shape"
    params[own] = np.array([0.7, 1.3, 3.0])
    W = _weights(rng, n, K)
    return experts, Xa, target, W, params


def _objective(experts, Xa, target, W, params):
    """Every leaf's ``sum_i W_ik log p_k(y_i) - penalty``."""
    dens = experts.scores(Xa, target, params)[0]
    return np.where(W > 0, W * dens, 0.0).sum(axis=0) - np.array(
        [experts.penalty(experts.leaf_params(params, [k])) for k in range(W.shape[1])])


@pytest.mark.parametrize("family", ["weibull", "negative_binomial"])
def test_one_step_from_pass_sums_is_the_newton_step_on_the_rows(family):
    experts, Xa, target, W, params = _component_setup(family)
    K = W.shape[1]
    halves = [slice(0, 150), slice(150, None)]  # two chunks of a pass, their sums added
    S = None
    for s in halves:
        dens_ctx = experts.scores(Xa[s], tuple(t[s] for t in target), params)[1]
        part = experts.stats(Xa[s], tuple(t[s] for t in target), W[s], params, dens_ctx)
        S = part if S is None else add_stats(S, part)
    active = np.array([True, True, False])
    new = experts.update(S, params, active)[0]
    context = experts._pass_context((Xa, target, W))
    for k in range(K):
        if not active[k]:
            assert all(np.array_equal(new[key][k], params[key][k]) for key in params)
            continue
        keep = W[:, k] > 0
        one = experts._fit_expert(Xa[keep], target[0][keep], target[1][keep], W[keep, k],
                                  {key: value[k] for key, value in params.items()}, **context)
        for key, value in one.items():
            np.testing.assert_allclose(np.ravel(new[key][k]), np.ravel(value), rtol=1e-9, atol=1e-10, err_msg=key)
    gain = _objective(experts, Xa, target, W, new) - _objective(experts, Xa, target, W, params)
    assert np.all(gain[active] > 0)
    # the rows are released; the same call gives the same step, another is refused
    assert S["rows"] == []
    again = experts.update(S, params, active)[0]
    assert all(np.array_equal(again[key], new[key]) for key in new)
    with pytest.raises(RuntimeError, match="released"):
        experts.update(S, new, active)
