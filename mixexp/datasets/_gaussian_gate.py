"""Synthetic data from a Gaussian-gated mixture of linear experts.

The localized mixture of experts of Xu, Jordan & Hinton (1995) models the
inputs too: ``x`` comes from a mixture of Gaussians, and the expert of each
sample is the component its ``x`` was drawn from.  The gate of that model is
the posterior of the component given ``x``,
``g_k(x) = a_k N(x; m_k, S_k) / sum_j a_j N(x; m_j, S_j)``.

Random draws are made in a fixed order (gate parameters, expert parameters,
labels, ``X``, ``y``) from one ``numpy.random.RandomState`` obtained with
:func:`sklearn.utils.check_random_state`, so a given ``random_state`` always
gives the same data.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._generators import (
    _check_int,
    _check_nonneg_real,
    _draw_categorical,
    _draw_linear_gaussian_experts,
    _draw_linear_gaussian_y,
    _squeeze_target,
)

__all__ = ["make_gaussian_gated_regression"]

# Concentration of the Dirichlet draw of the mixing weights: every component
# keeps a sizeable share (the smallest weight is rarely below a third of 1/k).
_WEIGHT_CONCENTRATION = 10.0
# Range of the covariances' eigenvalues (their axes have random directions).
_MIN_EIGENVALUE, _MAX_EIGENVALUE = 0.25, 1.0


def _random_rotation(d, rng):
    """A random orthogonal matrix (Haar distributed), from the QR of a Gaussian matrix."""
    Q, R = np.linalg.qr(rng.standard_normal(size=(d, d)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def _draw_covariances(n_experts, n_features, rng):
    """Covariances with random axes and eigenvalues uniform in [0.25, 1]."""
    cov = np.empty((n_experts, n_features, n_features))
    for k in range(n_experts):
        Q = _random_rotation(n_features, rng)
        lam = rng.uniform(_MIN_EIGENVALUE, _MAX_EIGENVALUE, size=n_features)
        C = (Q * lam) @ Q.T
        cov[k] = 0.5 * (C + C.T)
    return cov


def make_gaussian_gated_regression(
    n_samples=1000,
    n_features=2,
    n_experts=3,
    noise=0.1,
    random_state=None,
    return_params=False,
    *,
    n_targets=1,
    mean_scale=3.0,
):
    """Draw a regression sample from a Gaussian-gated mixture of linear experts.

    The generative model of Xu, Jordan & Hinton (1995): each sample draws its
    component ``z_i`` with probabilities ``gate_weights``, then
    ``x_i ~ N(gate_means[z_i], gate_covariances[z_i])`` and
    ``y_i ~ N(x_i @ expert_coef[z_i].T + expert_intercept[z_i], noise**2)``.
    The expert of a sample is the Gaussian component its ``x`` came from, so
    the gate of the fitted model (``MixtureOfExpertsRegressor(gate="gaussian")``)
    is the posterior ``a_k N(x; m_k, S_k) / sum_j a_j N(x; m_j, S_j)``.

    ``gate_weights`` are drawn from a Dirichlet distribution with all
    concentrations 10 (no component is tiny), ``gate_means`` from
    ``N(0, mean_scale**2 I)``, each covariance has random principal axes and
    eigenvalues uniform in ``[0.25, 1]``; expert coefficients and intercepts
    are drawn ``N(0, 1)``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples, >= 1.
    n_features : int, default=2
        Number of input features, >= 1.
    n_experts : int, default=3
        Number of experts (Gaussian components), >= 1.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise of every expert, >= 0.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, as scikit-learn's ``random_state``.
    return_params : bool, default=False
        If True, also return the true parameters and labels.
    n_targets : int, default=1
        Number of regression targets, >= 1.
    mean_scale : float, default=3.0
        Standard deviation of the components' means around 0, >= 0 (larger
        means better separated components; 0 puts every mean at the origin).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        1-D when ``n_targets == 1``.
    params : dict, only if ``return_params=True``
        ``"gate_weights"`` (n_experts,), ``"gate_means"`` (n_experts,
        n_features), ``"gate_covariances"`` (n_experts, n_features,
        n_features), ``"expert_coef"`` (n_experts, n_targets, n_features),
        ``"expert_intercept"`` (n_experts, n_targets), ``"noise_variance"``
        (n_experts, n_targets) and ``"labels"`` (n_samples,) int64, the
        component (expert) each sample was drawn from.  The names follow the
        fitted attributes of the estimators (``gate_weights_``, ...).

    Examples
    --------
    >>> from mixexp.datasets import make_gaussian_gated_regression
    >>> X, y, params = make_gaussian_gated_regression(200, random_state=0,
    ...                                               return_params=True)
    >>> X.shape, y.shape, params["gate_covariances"].shape
    ((200, 2), (200,), (3, 2, 2))
    """
    n_samples = _check_int("n_samples", n_samples, 1)
    n_features = _check_int("n_features", n_features, 1)
    n_experts = _check_int("n_experts", n_experts, 1)
    n_targets = _check_int("n_targets", n_targets, 1)
    noise = _check_nonneg_real("noise", noise)
    mean_scale = _check_nonneg_real("mean_scale", mean_scale)
    rng = check_random_state(random_state)

    weights = rng.dirichlet(np.full(n_experts, _WEIGHT_CONCENTRATION))
    means = mean_scale * rng.standard_normal(size=(n_experts, n_features))
    covariances = _draw_covariances(n_experts, n_features, rng)
    coef, intercept, noise_variance = _draw_linear_gaussian_experts(
        n_experts, n_targets, n_features, noise, rng
    )

    labels = _draw_categorical(np.broadcast_to(weights, (n_samples, n_experts)), rng)
    # x_i = m_z + L_z e_i with L_z L_z^T = S_z
    chol = np.linalg.cholesky(covariances)
    eps = rng.standard_normal(size=(n_samples, n_features))
    X = means[labels] + np.einsum("nij,nj->ni", chol[labels], eps)
    y = _draw_linear_gaussian_y(X, labels, coef, intercept, noise_variance, rng)
    y = _squeeze_target(y, n_targets)

    if not return_params:
        return X, y
    params = {
        "gate_weights": weights,
        "gate_means": means,
        "gate_covariances": covariances,
        "expert_coef": coef,
        "expert_intercept": intercept,
        "noise_variance": noise_variance,
        "labels": labels,
    }
    return X, y, params
