"""Chen, Deng, Wu, Gu & Li (2022): binary classification with hidden cluster structure.

Every sample is ``n_patches`` patches of dimension ``patch_dim``.  With ``K``
clusters, ``2K`` orthonormal directions are drawn: a feature ``v_k`` and a
centre ``c_k`` per cluster.  A sample of cluster ``k`` (uniform) and label
``y = +-1`` (uniform) has, in shuffled order:

- the feature patch ``alpha * y * v_k``, ``alpha ~ U(0.5, 2)``;
- the cluster-centre patch ``beta * c_k``, ``beta ~ U(1, 2)``;
- a distractor ``eps * gamma * v_k'`` from another cluster ``k' != k``
  (uniform), ``eps = +-1`` independent of ``y``;
- ``n_patches - 3`` noise patches ``N(0, sigma^2 / patch_dim I)``;

all times ``scale`` (their code multiplies the data by 10).  The label is
linear within a cluster (``v_k``) but no linear function of the patch sum
separates the classes well, because the distractor (up to 3 times stronger
than the feature in settings 1 and 2) points along another cluster's feature.

Their four settings (``uclaml/MoE``, ``synthetic_data_s1..s4``):

======= ======= ===================
setting sigma   gamma
======= ======= ===================
1       1       U(0.5, 3)
2       2       U(0.5, 3)
3       1       U(0.5, 2)
4       2       U(0.5, 2)
======= ======= ===================
"""

import numpy as np
from sklearn.utils import check_random_state

from ._generators import _check_int, _check_nonneg_real

__all__ = ["make_cluster_patches", "CLUSTER_PATCH_SETTINGS"]

#: setting -> (noise sigma, gamma range); alpha ~ U(0.5, 2) and beta ~ U(1, 2) in all four.
CLUSTER_PATCH_SETTINGS = {1: (1.0, (0.5, 3.0)), 2: (2.0, (0.5, 3.0)), 3: (1.0, (0.5, 2.0)), 4: (2.0, (0.5, 2.0))}
_ALPHA = (0.5, 2.0)
_BETA = (1.0, 2.0)


def make_cluster_patches(
    setting=1,
    n_samples=16000,
    *,
    n_clusters=4,
    n_patches=4,
    patch_dim=50,
    scale=10.0,
    random_state=None,
    return_params=False,
):
    """Patch data with hidden clusters of Chen et al. (2022), one of their four settings.

    Parameters
    ----------
    setting : {1, 2, 3, 4}, default=1
        Noise level and distractor strength (see the module's table).
    n_samples : int, default=16000
        Number of samples (they train on 16000 and test on 16000).
    n_clusters : int, default=4
        Number of clusters ``K`` (at least 2).
    n_patches : int, default=4
        Patches per sample (at least 3: feature, centre, distractor; the rest noise).
    patch_dim : int, default=50
        Dimension of a patch (at least ``2 * n_clusters``).
    scale : float, default=10.0
        Factor applied to every patch.
    random_state : int, RandomState instance or None, default=None
        Seed.  The directions are drawn first, so two calls with the same
        seed and different ``n_samples`` share them; draw train and test
        sets in one call and split, as the examples do.
    return_params : bool, default=False
        Also return the directions and the latent variables.

    Returns
    -------
    X : ndarray of shape (n_samples, n_patches * patch_dim)
        Patch ``p`` of sample ``i`` is ``X[i, p * patch_dim:(p + 1) * patch_dim]``.
    y : ndarray of shape (n_samples,)
        Labels in ``{-1, 1}``.
    params : dict
        Only when ``return_params``: ``cluster`` (n,), ``distractor_cluster``
        (n,), ``features`` and ``centers`` (K, patch_dim) before ``scale``,
        ``alpha``, ``beta``, ``gamma``, ``sign`` (n,), and ``positions``
        (n, 3): the patch index of the feature, centre and distractor patches.

    Examples
    --------
    >>> from mixexp.datasets import make_cluster_patches
    >>> X, y = make_cluster_patches(setting=1, n_samples=100, random_state=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((100, 200), [-1, 1])
    """
    if setting not in CLUSTER_PATCH_SETTINGS or isinstance(setting, bool):
        raise ValueError(f"setting must be one of 1, 2, 3, 4, got {setting!r}")
    n = _check_int("n_samples", n_samples, 1)
    K = _check_int("n_clusters", n_clusters, 2)
    P = _check_int("n_patches", n_patches, 3)
    d = _check_int("patch_dim", patch_dim, 2 * K)
    scale = _check_nonneg_real("scale", scale)
    sigma, gamma_range = CLUSTER_PATCH_SETTINGS[setting]
    rng = check_random_state(random_state)

    Q = np.linalg.qr(rng.standard_normal((d, 2 * K)))[0].T  # 2K orthonormal rows
    features, centers = Q[:K], Q[K:]

    cluster = rng.randint(K, size=n)
    y = rng.choice([-1, 1], size=n)
    other = rng.randint(K - 1, size=n)
    distractor = other + (other >= cluster)  # uniform over the other clusters
    sign = rng.choice([-1, 1], size=n)
    alpha = rng.uniform(*_ALPHA, size=n)
    beta = rng.uniform(*_BETA, size=n)
    gamma = rng.uniform(*gamma_range, size=n)
    noise = rng.standard_normal((n, P - 3, d)) * (sigma / np.sqrt(d))
    order = np.argsort(rng.uniform(size=(n, P)), axis=1)  # a random permutation per sample

    patches = np.empty((n, P, d))
    patches[:, 0] = (alpha * y)[:, None] * features[cluster]
    patches[:, 1] = beta[:, None] * centers[cluster]
    patches[:, 2] = (sign * gamma)[:, None] * features[distractor]
    patches[:, 3:] = noise
    X = np.take_along_axis(patches, order[:, :, None], axis=1).reshape(n, P * d) * scale
    if not return_params:
        return X, y
    positions = np.argsort(order, axis=1)[:, :3]  # where patch types 0, 1, 2 went
    params = {
        "cluster": cluster,
        "distractor_cluster": distractor,
        "features": features,
        "centers": centers,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "sign": sign,
        "positions": positions,
    }
    return X, y, params
