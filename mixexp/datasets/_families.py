"""Synthetic data for the expert families beyond the Gaussian.

:func:`make_moe_family` draws from a known flat mixture of experts of one
family (Student-t, Poisson, Gamma, zero-inflated Poisson, negative binomial,
log-normal, Weibull, inverse Gaussian or Burr), with a gate and
experts that may see different columns; :func:`make_npreg` follows the
documented model of flexmix's ``ExNPreg`` (the ``NPreg`` example of Leisch
2004 and Grün & Leisch 2008), two latent classes of one input.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._generators import _check_int, _check_nonneg_real, _draw_categorical, _softmax

FAMILIES = ("student_t", "poisson", "gamma", "zip", "negative_binomial", "lognormal", "weibull",
            "inverse_gaussian", "burr")
# the families whose mean takes an exposure (a log-offset)
EXPOSURE_FAMILIES = ("poisson", "gamma", "zip", "negative_binomial")


def _columns(selection, n_features, name):
    """A boolean mask of the features a part sees (None: all)."""
    mask = np.zeros(n_features, dtype=bool)
    if selection is None:
        mask[:] = True
        return mask
    try:
        mask[np.asarray(list(selection), dtype=np.intp)] = True
    except (IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold column indices below n_features={n_features}") from exc
    return mask


def _scale_rows(coef, norm):
    """Rows rescaled to the norm ``norm`` (rows of zeros stay zero)."""
    lengths = np.linalg.norm(coef, axis=1, keepdims=True)
    return np.where(lengths > 0, coef / np.where(lengths > 0, lengths, 1.0) * norm, 0.0)


def _draw_y(family, mean, rng, nu, noise, dispersion, zero_inflation, shape, shape2):
    """Draws of the family with ``mean`` the linear predictor (``"student_t"``) or its
    exponential (the others: their mean, median or scale)."""
    if family == "student_t":
        return mean + noise * rng.standard_t(nu, size=mean.shape)
    if family == "gamma":
        a = 1.0 / dispersion
        return rng.gamma(a, mean / a)
    if family == "negative_binomial":
        theta = 1.0 / dispersion
        return rng.negative_binomial(theta, theta / (theta + mean)).astype(np.float64)
    if family == "lognormal":
        return mean * np.exp(noise * rng.standard_normal(size=mean.shape))
    if family == "weibull":
        return mean * rng.weibull(shape, size=mean.shape)
    if family == "inverse_gaussian":
        return rng.wald(mean, 1.0 / dispersion)
    if family == "burr":
        u = rng.uniform(size=mean.shape)
        return mean * np.expm1(-np.log1p(-u) / shape) ** (1.0 / shape2)
    y = rng.poisson(mean).astype(np.float64)
    if family == "zip":
        y[rng.uniform(size=mean.shape) < zero_inflation] = 0.0
    return y


def make_moe_family(
    family="poisson",
    n_samples=1000,
    n_features=2,
    n_experts=2,
    *,
    gate_features=None,
    expert_features=None,
    exposure=None,
    gate_scale=3.0,
    coef_scale=0.5,
    nu=4.0,
    noise=0.5,
    dispersion=0.25,
    zero_inflation=0.3,
    shape=2.0,
    shape2=3.0,
    random_state=None,
    return_params=False,
):
    """Draw a sample from a known flat mixture of experts of one family.

    ``X ~ N(0, I)``; the gate is a softmax with logits ``X @ gate_coef.T``
    (Gaussian rows centred over the experts and scaled to the norm
    ``gate_scale`` on the gate's columns, 0 elsewhere) and each
    sample draws its expert from it.  Expert ``k`` has the linear predictor
    ``eta_k(x) = x @ expert_coef[k] + expert_intercept[k]``, coefficients
    drawn ``N(0, coef_scale**2)`` on the experts' columns (0 elsewhere):

    - ``"student_t"``: ``y = eta + noise * t(nu)``, intercepts drawn ``N(0, 1)``
      and coefficients ``N(0, 1)``;
    - ``"poisson"``: ``y ~ Poisson(exposure * exp(eta))``;
    - ``"gamma"``: ``y ~ Gamma`` with mean ``exposure * exp(eta)`` and
      variance ``dispersion * mean**2``;
    - ``"zip"``: 0 with probability ``zero_inflation``, else Poisson;
    - ``"negative_binomial"``: NB2 with mean ``exposure * exp(eta)`` and
      variance ``mean + dispersion * mean**2``;
    - ``"lognormal"``: ``log y = eta + noise * N(0, 1)``;
    - ``"weibull"``: Weibull with scale ``exp(eta)`` and shape ``shape``;
    - ``"inverse_gaussian"``: inverse Gaussian with mean ``exp(eta)`` and
      variance ``dispersion * mean**3``;
    - ``"burr"``: Burr XII with scale ``exp(eta)``, ``shape1 = shape`` and
      ``shape2 = shape2`` (actuar's ``rburr``; tail index ``shape * shape2``).

    The intercepts of all but the Student-t are ``linspace(0.5, 2.5,
    n_experts)`` in a random order, so that the experts differ.

    Parameters
    ----------
    family : {"student_t", "poisson", "gamma", "zip", "negative_binomial", \
"lognormal", "weibull", "inverse_gaussian", "burr"}, default="poisson"
        The experts' family.
    n_samples : int, default=1000
        Number of samples, >= 1.
    n_features : int, default=2
        Number of input features, >= 1.
    n_experts : int, default=2
        Number of experts, >= 1.
    gate_features, expert_features : list of int or None, default=None
        The columns the gate and the experts depend on (None: all; ``[]``:
        none, e.g. constant mixing weights).
    exposure : array-like of shape (n_samples,) or None, default=None
        Positive exposures multiplying the means of ``"poisson"``, ``"gamma"``,
        ``"zip"`` and ``"negative_binomial"``.
    gate_scale : float, default=3.0
        Norm of each gate row, >= 0.
    coef_scale : float, default=0.5
        Standard deviation of the log-link experts' coefficients, >= 0.
    nu : float, default=4.0
        Degrees of freedom of the Student-t noise, > 0.
    noise : float, default=0.5
        Scale of the Student-t noise and standard deviation of the log-normal's
        ``log y``, >= 0.
    dispersion : float, default=0.25
        Dispersion of the Gamma (squared coefficient of variation), negative
        binomial (``1 / size``) and inverse Gaussian experts, > 0.
    zero_inflation : float, default=0.3
        Probability of a structural zero of the ZIP experts, in [0, 1].
    shape : float, default=2.0
        Shape of the Weibull experts, first shape (``alpha``) of the Burr, > 0.
    shape2 : float, default=3.0
        Second shape (``gamma``) of the Burr experts, > 0.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, as scikit-learn's ``random_state``.
    return_params : bool, default=False
        If True, also return the true parameters and labels.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    params : dict, only if ``return_params=True``
        ``"gate_coef"`` (n_experts, n_features), ``"gate_intercept"``,
        ``"expert_coef"`` (n_experts, 1, n_features), ``"expert_intercept"``
        (n_experts, 1), ``"labels"`` (n_samples,) and the family's own
        ``"nu"``, ``"noise_scale"``, ``"dispersion"``, ``"zero_inflation"``,
        ``"shape"`` or ``"shape2"``.

    Examples
    --------
    >>> from mixexp.datasets import make_moe_family
    >>> X, y = make_moe_family("poisson", 500, n_features=3, gate_features=[0],
    ...                        expert_features=[1, 2], random_state=0)
    >>> X.shape, bool((y >= 0).all())
    ((500, 3), True)
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    n_samples = _check_int("n_samples", n_samples, 1)
    n_features = _check_int("n_features", n_features, 1)
    n_experts = _check_int("n_experts", n_experts, 1)
    gate_scale = _check_nonneg_real("gate_scale", gate_scale)
    coef_scale = _check_nonneg_real("coef_scale", coef_scale)
    noise = _check_nonneg_real("noise", noise)
    if not (np.isfinite(nu) and nu > 0):
        raise ValueError(f"nu must be a positive number, got {nu!r}")
    if not (np.isfinite(dispersion) and dispersion > 0):
        raise ValueError(f"dispersion must be a positive number, got {dispersion!r}")
    if not 0.0 <= zero_inflation <= 1.0:
        raise ValueError(f"zero_inflation must be in [0, 1], got {zero_inflation!r}")
    for name, value in (("shape", shape), ("shape2", shape2)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if exposure is not None:
        exposure = np.asarray(exposure, dtype=np.float64)
        if family not in EXPOSURE_FAMILIES:
            raise ValueError(f"exposure is for the families {EXPOSURE_FAMILIES}, not {family!r}")
        if exposure.shape != (n_samples,) or not np.all(exposure > 0):
            raise ValueError("exposure must hold n_samples positive values")
    rng = check_random_state(random_state)
    gate_mask = _columns(gate_features, n_features, "gate_features")
    expert_mask = _columns(expert_features, n_features, "expert_features")

    gate_coef = np.zeros((n_experts, n_features))
    if gate_mask.any():
        # centred over the experts before scaling: with few gate columns, rows of
        # one sign would not separate the experts
        raw = rng.standard_normal(size=(n_experts, int(gate_mask.sum())))
        gate_coef[:, gate_mask] = _scale_rows(raw - raw.mean(axis=0), gate_scale)
    gate_intercept = np.zeros(n_experts)
    coef = np.zeros((n_experts, 1, n_features))
    if family == "student_t":
        coef[:, :, expert_mask] = rng.standard_normal(size=(n_experts, 1, int(expert_mask.sum())))
        intercept = rng.standard_normal(size=(n_experts, 1))
    else:
        coef[:, :, expert_mask] = coef_scale * rng.standard_normal(size=(n_experts, 1, int(expert_mask.sum())))
        intercept = rng.permutation(np.linspace(0.5, 2.5, n_experts))[:, None]

    X = rng.standard_normal(size=(n_samples, n_features))
    labels = _draw_categorical(_softmax(X @ gate_coef.T + gate_intercept), rng)
    eta = np.einsum("nd,nd->n", X, coef[labels, 0]) + intercept[labels, 0]
    mean = eta if family == "student_t" else np.exp(eta) * (1.0 if exposure is None else exposure)
    y = _draw_y(family, mean, rng, nu, noise, dispersion, zero_inflation, shape, shape2)
    if not return_params:
        return X, y
    own = {
        "student_t": {"nu": nu, "noise_scale": noise},
        "gamma": {"dispersion": dispersion},
        "zip": {"zero_inflation": zero_inflation},
        "poisson": {},
        "negative_binomial": {"dispersion": dispersion},
        "lognormal": {"noise_scale": noise},
        "weibull": {"shape": shape},
        "inverse_gaussian": {"dispersion": dispersion},
        "burr": {"shape": shape, "shape2": shape2},
    }[family]
    params = {
        "gate_coef": gate_coef,
        "gate_intercept": gate_intercept,
        "expert_coef": coef,
        "expert_intercept": intercept,
        "labels": labels,
        **own,
    }
    return X, y, params


def make_npreg(n_per_class=100, *, response="poisson", random_state=None, return_labels=False):
    """Two latent classes of one input, after flexmix's ``ExNPreg``.

    ``x ~ U(0, 10)``; the first ``n_per_class`` rows are class 1, the others
    class 2.  ``response`` chooses the target, as the columns of flexmix's
    ``NPreg`` data: ``"gaussian"`` (``yn``: ``5 x`` and ``40 - (x - 5)^2``
    plus ``N(0, 3^2)`` noise), ``"poisson"`` (``yp``: means ``exp(2 - 0.2 x)``
    and ``exp(1 + 0.1 x)``) or ``"binomial"`` (``yb``: probabilities
    ``logistic(x - 5)`` and ``logistic(5 - x)``).  It follows the model
    documented in flexmix; the draws are numpy's, not R's, so it does not
    reproduce flexmix's ``NPreg`` rows.

    Parameters
    ----------
    n_per_class : int, default=100
        Rows of each class, >= 1.
    response : {"poisson", "gaussian", "binomial"}, default="poisson"
        The target.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, as scikit-learn's ``random_state``.
    return_labels : bool, default=False
        If True, also return the class of each row (0 or 1).

    Returns
    -------
    X : ndarray of shape (2 * n_per_class, 1)
    y : ndarray of shape (2 * n_per_class,)
    labels : ndarray of shape (2 * n_per_class,), only if ``return_labels=True``

    Examples
    --------
    >>> from mixexp.datasets import make_npreg
    >>> X, y = make_npreg(100, random_state=0)
    >>> X.shape, y.shape
    ((200, 1), (200,))
    """
    n = _check_int("n_per_class", n_per_class, 1)
    if response not in ("poisson", "gaussian", "binomial"):
        raise ValueError(f"response must be 'poisson', 'gaussian' or 'binomial', got {response!r}")
    rng = check_random_state(random_state)
    x = rng.uniform(0.0, 10.0, size=2 * n)
    labels = np.repeat([0, 1], n)
    first = labels == 0
    if response == "gaussian":
        y = np.where(first, 5.0 * x, 40.0 - (x - 5.0) ** 2) + 3.0 * rng.standard_normal(2 * n)
    elif response == "poisson":
        y = rng.poisson(np.exp(np.where(first, 2.0 - 0.2 * x, 1.0 + 0.1 * x))).astype(np.float64)
    else:
        p = 1.0 / (1.0 + np.exp(-np.where(first, x - 5.0, 5.0 - x)))
        y = (rng.uniform(size=2 * n) < p).astype(np.float64)
    X = x[:, None]
    return (X, y, labels) if return_labels else (X, y)
