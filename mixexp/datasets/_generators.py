"""Synthetic data drawn from known (hierarchical) mixtures of experts.

Every generator draws ``X ~ N(0, I)``, a latent expert (leaf) ``z_i`` for each
sample from softmax gate probabilities (a categorical draw, not the arg-max),
then ``y`` from the chosen expert.  With ``return_params=True`` the true
parameters and the drawn labels are returned too, so that fitted estimators can
be compared with the truth.

Random draws are made in a fixed order (gate parameters, expert parameters,
``X``, labels, ``y``) from one ``numpy.random.RandomState`` obtained with
:func:`sklearn.utils.check_random_state`, so a given ``random_state`` always
gives the same data.
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_moe_regression", "make_moe_classification", "make_hme_regression"]

# Attempts of make_moe_classification at drawing a sample holding every class.
_MAX_CLASS_ATTEMPTS = 100


# --------------------------------------------------------------------------- #
# argument checks
# --------------------------------------------------------------------------- #
def _check_int(name, value, min_value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {min_value}, got {value!r}")
    if value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    return int(value)


def _check_nonneg_real(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number >= 0, got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


# --------------------------------------------------------------------------- #
# shared pieces
# --------------------------------------------------------------------------- #
def _softmax(logits):
    """Softmax over the last axis, stable for large logits."""
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _draw_categorical(probs, rng):
    """One category per row of ``probs`` (n, k) by inverse-CDF sampling."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.uniform(size=(probs.shape[0], 1))
    idx = (u > cdf).sum(axis=1)
    # cdf[:, -1] may be 1 - eps: keep the index in range.
    return np.minimum(idx, probs.shape[1] - 1).astype(np.int64)


def _draw_gate_coef(shape, gate_scale, rng):
    """Gaussian rows rescaled to norm ``gate_scale``; last axis is features."""
    coef = rng.standard_normal(size=shape)
    norm = np.linalg.norm(coef, axis=-1, keepdims=True)
    return coef / np.maximum(norm, np.finfo(float).tiny) * gate_scale


def _draw_linear_gaussian_experts(n_experts, n_targets, n_features, noise, rng):
    coef = rng.standard_normal(size=(n_experts, n_targets, n_features))
    intercept = rng.standard_normal(size=(n_experts, n_targets))
    noise_variance = np.full((n_experts, n_targets), noise**2)
    return coef, intercept, noise_variance


def _draw_linear_gaussian_y(X, labels, coef, intercept, noise_variance, rng):
    """``y_i ~ N(coef[z_i] x_i + intercept[z_i], diag(noise_variance[z_i]))``."""
    mean = np.einsum("nd,ntd->nt", X, coef[labels]) + intercept[labels]
    eps = rng.standard_normal(size=mean.shape)
    return mean + eps * np.sqrt(noise_variance[labels])


def _check_n_informative(n_informative, n_features):
    if n_informative is None:
        return n_features
    n_informative = _check_int("n_informative", n_informative, 0)
    if n_informative > n_features:
        raise ValueError(
            f"n_informative must be <= n_features, got n_informative={n_informative} > "
            f"n_features={n_features}"
        )
    return n_informative


def _keep_informative(gate_coef, coef, n_informative, gate_scale):
    """Zero the gate and expert coefficients of the features past ``n_informative``.

    Gate rows are rescaled to norm ``gate_scale`` over the informative features.
    """
    if n_informative == gate_coef.shape[-1]:
        return gate_coef, coef
    gate_coef, coef = gate_coef.copy(), coef.copy()
    gate_coef[..., n_informative:] = 0.0
    coef[..., n_informative:] = 0.0
    norm = np.linalg.norm(gate_coef, axis=-1, keepdims=True)
    gate_coef = np.where(norm > 0, gate_coef / np.maximum(norm, np.finfo(float).tiny) * gate_scale, 0.0)
    return gate_coef, coef


def _squeeze_target(y, n_targets):
    return y[:, 0].copy() if n_targets == 1 else y


# --------------------------------------------------------------------------- #
# public generators
# --------------------------------------------------------------------------- #
def make_moe_regression(
    n_samples=1000,
    n_features=5,
    n_experts=4,
    noise=0.1,
    random_state=None,
    return_params=False,
    *,
    n_targets=1,
    gate_scale=3.0,
    n_informative=None,
):
    """Draw a regression sample from a known flat mixture of linear experts.

    ``X ~ N(0, I)``.  The gate is a softmax over experts with logits
    ``X @ gate_coef.T + gate_intercept``; each row of ``gate_coef`` is a
    Gaussian direction rescaled to norm ``gate_scale`` (larger means sharper,
    better separated regions) and ``gate_intercept`` is zero.  Each sample draws
    its expert ``z_i`` from its gate probabilities, then
    ``y_i ~ N(x_i @ expert_coef[z_i].T + expert_intercept[z_i], noise**2)``
    with expert coefficients and intercepts drawn ``N(0, 1)``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples, >= 1.
    n_features : int, default=5
        Number of input features, >= 1.
    n_experts : int, default=4
        Number of experts, >= 1.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise of every expert, >= 0.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, as scikit-learn's ``random_state``.
    return_params : bool, default=False
        If True, also return the true parameters and labels.
    n_targets : int, default=1
        Number of regression targets, >= 1.
    gate_scale : float, default=3.0
        Norm of each row of ``gate_coef``, >= 0 (0 gives a uniform gate).
    n_informative : int, default=None
        Features that matter: the gate and the experts use only the first
        ``n_informative`` columns of ``X`` (the coefficients of the others are
        0; gate rows keep norm ``gate_scale`` over the informative ones).
        None: all.  The random draws are the same whatever its value.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        1-D when ``n_targets == 1``.
    params : dict, only if ``return_params=True``
        ``"gate_coef"`` (n_experts, n_features), ``"gate_intercept"``
        (n_experts,), ``"expert_coef"`` (n_experts, n_targets, n_features),
        ``"expert_intercept"`` (n_experts, n_targets), ``"noise_variance"``
        (n_experts, n_targets) and ``"labels"`` (n_samples,) int64, the expert
        each sample was drawn from.

    Examples
    --------
    >>> from mixexp.datasets import make_moe_regression
    >>> X, y, params = make_moe_regression(200, n_features=3, n_experts=2,
    ...                                    random_state=0, return_params=True)
    >>> X.shape, y.shape, params["expert_coef"].shape
    ((200, 3), (200,), (2, 1, 3))
    """
    n_samples = _check_int("n_samples", n_samples, 1)
    n_features = _check_int("n_features", n_features, 1)
    n_experts = _check_int("n_experts", n_experts, 1)
    n_targets = _check_int("n_targets", n_targets, 1)
    noise = _check_nonneg_real("noise", noise)
    gate_scale = _check_nonneg_real("gate_scale", gate_scale)
    n_informative = _check_n_informative(n_informative, n_features)
    rng = check_random_state(random_state)

    gate_coef = _draw_gate_coef((n_experts, n_features), gate_scale, rng)
    gate_intercept = np.zeros(n_experts)
    coef, intercept, noise_variance = _draw_linear_gaussian_experts(
        n_experts, n_targets, n_features, noise, rng
    )
    gate_coef, coef = _keep_informative(gate_coef, coef, n_informative, gate_scale)

    X = rng.standard_normal(size=(n_samples, n_features))
    labels = _draw_categorical(_softmax(X @ gate_coef.T + gate_intercept), rng)
    y = _draw_linear_gaussian_y(X, labels, coef, intercept, noise_variance, rng)
    y = _squeeze_target(y, n_targets)

    if not return_params:
        return X, y
    params = {
        "gate_coef": gate_coef,
        "gate_intercept": gate_intercept,
        "expert_coef": coef,
        "expert_intercept": intercept,
        "noise_variance": noise_variance,
        "labels": labels,
    }
    return X, y, params


def make_moe_classification(
    n_samples=1000,
    n_features=5,
    n_experts=4,
    n_classes=3,
    random_state=None,
    return_params=False,
    *,
    gate_scale=3.0,
    expert_scale=3.0,
    n_informative=None,
):
    """Draw a classification sample from a known flat mixture of softmax experts.

    The inputs, gate and expert labels are drawn as in
    :func:`make_moe_regression`.  Expert ``k`` is a multinomial logistic model,
    ``p(y = c | x, k) = softmax_c(x @ expert_coef[k].T + expert_intercept[k])``,
    with ``expert_coef`` drawn ``N(0, expert_scale**2)`` and
    ``expert_intercept`` drawn ``N(0, 1)``; ``y_i`` is drawn from expert
    ``z_i``'s class probabilities.

    Every class is guaranteed to appear: if a draw misses a class, the whole
    draw (parameters included) is repeated from the same random stream, at most
    100 times.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples, >= ``n_classes``.
    n_features : int, default=5
        Number of input features, >= 1.
    n_experts : int, default=4
        Number of experts, >= 1.
    n_classes : int, default=3
        Number of classes, >= 2.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, as scikit-learn's ``random_state``.
    return_params : bool, default=False
        If True, also return the true parameters and labels.
    gate_scale : float, default=3.0
        Norm of each row of ``gate_coef``, >= 0.
    expert_scale : float, default=3.0
        Standard deviation of the expert coefficients, >= 0 (larger means more
        confident experts).
    n_informative : int, default=None
        Features that matter: the gate and the experts use only the first
        ``n_informative`` columns of ``X`` (the coefficients of the others are
        0; gate rows keep norm ``gate_scale`` over the informative ones).
        None: all.  The random draws are the same whatever its value.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), int64
        Class labels in ``0 .. n_classes - 1``, each present at least once.
    params : dict, only if ``return_params=True``
        ``"gate_coef"`` (n_experts, n_features), ``"gate_intercept"``
        (n_experts,), ``"expert_coef"`` (n_experts, n_classes, n_features),
        ``"expert_intercept"`` (n_experts, n_classes) and ``"labels"``
        (n_samples,) int64, the expert each sample was drawn from.

    Raises
    ------
    ValueError
        For invalid arguments, if ``n_samples < n_classes``, or if no draw in
        100 attempts held every class (only likely when ``n_samples`` is close
        to ``n_classes``).

    Examples
    --------
    >>> import numpy as np
    >>> from mixexp.datasets import make_moe_classification
    >>> X, y = make_moe_classification(300, n_classes=4, random_state=0)
    >>> X.shape, y.dtype, np.unique(y).tolist()
    ((300, 5), dtype('int64'), [0, 1, 2, 3])
    """
    n_samples = _check_int("n_samples", n_samples, 1)
    n_features = _check_int("n_features", n_features, 1)
    n_experts = _check_int("n_experts", n_experts, 1)
    n_classes = _check_int("n_classes", n_classes, 2)
    gate_scale = _check_nonneg_real("gate_scale", gate_scale)
    expert_scale = _check_nonneg_real("expert_scale", expert_scale)
    n_informative = _check_n_informative(n_informative, n_features)
    if n_samples < n_classes:
        raise ValueError(
            f"n_samples must be >= n_classes so that every class can appear, "
            f"got n_samples={n_samples} < n_classes={n_classes}"
        )
    rng = check_random_state(random_state)

    for _ in range(_MAX_CLASS_ATTEMPTS):
        gate_coef = _draw_gate_coef((n_experts, n_features), gate_scale, rng)
        gate_intercept = np.zeros(n_experts)
        coef = expert_scale * rng.standard_normal(size=(n_experts, n_classes, n_features))
        intercept = rng.standard_normal(size=(n_experts, n_classes))
        gate_coef, coef = _keep_informative(gate_coef, coef, n_informative, gate_scale)

        X = rng.standard_normal(size=(n_samples, n_features))
        labels = _draw_categorical(_softmax(X @ gate_coef.T + gate_intercept), rng)
        class_logits = np.einsum("nd,ncd->nc", X, coef[labels]) + intercept[labels]
        y = _draw_categorical(_softmax(class_logits), rng)
        if np.unique(y).size == n_classes:
            break
    else:
        raise ValueError(
            f"could not draw a sample containing all {n_classes} classes in "
            f"{_MAX_CLASS_ATTEMPTS} attempts with n_samples={n_samples}; "
            f"increase n_samples"
        )

    if not return_params:
        return X, y
    params = {
        "gate_coef": gate_coef,
        "gate_intercept": gate_intercept,
        "expert_coef": coef,
        "expert_intercept": intercept,
        "labels": labels,
    }
    return X, y, params


def make_hme_regression(
    n_samples=1000,
    n_features=5,
    depth=2,
    branching=2,
    noise=0.1,
    random_state=None,
    return_params=False,
    *,
    n_targets=1,
    gate_scale=3.0,
    n_informative=None,
):
    """Draw a regression sample from a known hierarchical mixture of experts.

    The gating tree is balanced with ``depth`` levels of ``branching`` children.
    Nodes are numbered breadth-first: the root is 0, the children of inner node
    ``j`` are ``j * branching + 1 .. j * branching + branching``, there are
    ``n_inner = (branching**depth - 1) // (branching - 1)`` inner nodes and the
    last ``branching**depth`` nodes are the leaves (leaf index = node index -
    ``n_inner``).  Each inner node ``j`` has a softmax gate over its children
    with logits ``X @ gate_coef[j].T + gate_intercept[j]`` (rows of norm
    ``gate_scale``, zero intercepts).  Each sample walks down from the root,
    drawing a child at every inner node from that node's gate probabilities, and
    reaches leaf ``z_i``; ``y_i`` is then drawn from that leaf's linear-Gaussian
    expert as in :func:`make_moe_regression`.  The probability of leaf ``l`` is
    the product of the gate probabilities along its path.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples, >= 1.
    n_features : int, default=5
        Number of input features, >= 1.
    depth : int, default=2
        Number of gating levels, >= 1.
    branching : int, default=2
        Children per inner node, >= 2.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise of every expert, >= 0.
    random_state : int, RandomState instance or None, default=None
        Seed or generator, as scikit-learn's ``random_state``.
    return_params : bool, default=False
        If True, also return the true parameters and labels.
    n_targets : int, default=1
        Number of regression targets, >= 1.
    gate_scale : float, default=3.0
        Norm of each row of ``gate_coef``, >= 0.
    n_informative : int, default=None
        Features that matter: the gate and the experts use only the first
        ``n_informative`` columns of ``X`` (the coefficients of the others are
        0; gate rows keep norm ``gate_scale`` over the informative ones).
        None: all.  The random draws are the same whatever its value.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        1-D when ``n_targets == 1``.
    params : dict, only if ``return_params=True``
        ``"gate_coef"`` (n_inner, branching, n_features), ``"gate_intercept"``
        (n_inner, branching), ``"expert_coef"`` (n_leaves, n_targets,
        n_features), ``"expert_intercept"`` (n_leaves, n_targets),
        ``"noise_variance"`` (n_leaves, n_targets) and ``"labels"``
        (n_samples,) int64, the leaf each sample was drawn from.

    Examples
    --------
    >>> from mixexp.datasets import make_hme_regression
    >>> X, y, params = make_hme_regression(100, depth=2, branching=3,
    ...                                    random_state=0, return_params=True)
    >>> params["gate_coef"].shape, params["expert_coef"].shape
    ((4, 3, 5), (9, 1, 5))
    """
    n_samples = _check_int("n_samples", n_samples, 1)
    n_features = _check_int("n_features", n_features, 1)
    depth = _check_int("depth", depth, 1)
    branching = _check_int("branching", branching, 2)
    n_targets = _check_int("n_targets", n_targets, 1)
    noise = _check_nonneg_real("noise", noise)
    gate_scale = _check_nonneg_real("gate_scale", gate_scale)
    n_informative = _check_n_informative(n_informative, n_features)
    rng = check_random_state(random_state)

    n_leaves = branching**depth
    n_inner = (n_leaves - 1) // (branching - 1)

    gate_coef = _draw_gate_coef((n_inner, branching, n_features), gate_scale, rng)
    gate_intercept = np.zeros((n_inner, branching))
    coef, intercept, noise_variance = _draw_linear_gaussian_experts(
        n_leaves, n_targets, n_features, noise, rng
    )
    gate_coef, coef = _keep_informative(gate_coef, coef, n_informative, gate_scale)

    X = rng.standard_normal(size=(n_samples, n_features))
    node = np.zeros(n_samples, dtype=np.int64)
    for _ in range(depth):
        logits = np.einsum("nd,nbd->nb", X, gate_coef[node]) + gate_intercept[node]
        child = _draw_categorical(_softmax(logits), rng)
        node = node * branching + 1 + child
    labels = node - n_inner
    y = _draw_linear_gaussian_y(X, labels, coef, intercept, noise_variance, rng)
    y = _squeeze_target(y, n_targets)

    if not return_params:
        return X, y
    params = {
        "gate_coef": gate_coef,
        "gate_intercept": gate_intercept,
        "expert_coef": coef,
        "expert_intercept": intercept,
        "noise_variance": noise_variance,
        "labels": labels,
    }
    return X, y, params
