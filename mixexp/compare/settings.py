"""What a comparison does: the tasks, their main score, and the :class:`Settings`."""

from dataclasses import dataclass, replace

import numpy as np

#: The kinds of problem a comparison handles.
TASKS = ("regression", "classification")

#: How the mixtures' inner search fits its grid (``Settings.search``).
SEARCHES = ("warm", "grid")

#: The start of the inner-search fits of ``search="grid"`` (``Settings.inner_starts``).
INNER_STARTS = ("quick", "default")

#: Main score of each task: (scikit-learn scorer name, label in tables).
MAIN_SCORE = {"regression": ("r2", "R²"), "classification": ("accuracy", "accuracy")}


@dataclass(frozen=True)
class Settings:
    """What a comparison does; the defaults are those of ``mixexp compare``.

    Parameters
    ----------
    n_splits : int, default=3
        Folds of the outer repeated K-fold (stratified for classification).
    n_repeats : int, default=2
        Repeats of the outer K-fold, each with a different shuffle.
    inner_splits : int, default=3
        Folds of the inner grid searches (number of experts, depth).
    max_iter : int, default=200
        EM iterations cap of the mixtures, the estimators' default (stopped
        fits are counted as ``ConvergenceWarning`` in the results, not printed).
    tol : float, default=1e-4
        EM tolerance (gain in mean per-sample log-likelihood), the estimators'
        default.
    moe_experts : tuple of int, default=(2, 4, 8)
        Grid of ``n_experts`` for the flat mixture.
    hme_depths : tuple of int, default=(1, 2, 3)
        Grid of ``depth`` for the binary hierarchical mixture (2, 4, 8 leaves).
    alphas : tuple of float, default=(0.1, 1.0)
        Grid of the expert penalty ``alpha`` of the regression mixtures (MoE
        and HME), searched jointly with ``moe_experts`` or ``hme_depths``: the
        best penalty varies between data sets (few rows per expert on few
        features want less, many one-hot columns and noisy targets more;
        benchmarks/results/alpha_default.md).  The classifiers keep their
        default ``alpha``.
    quad_alphas : tuple of float, default=(0.1, 1.0, 10.0)
        Grid of the expert penalty ``alpha`` of the quadratic-expert mixture
        (``"moe-quad"``), searched jointly with ``moe_experts``.
    sparse_gate_alphas : tuple of float, default=(10.0,)
        Where the data have at least
        :data:`~mixexp.compare.models.SPARSE_MIN_FEATURES` features, the regression
        MoE and HME also search their grid with a lasso gate, ``l1_ratio=1`` and
        ``gate_alpha`` each of these values (absolute penalties on the
        summed log-likelihood; the experts' ``alpha`` becomes a lasso penalty
        too), beside the dense grid.  Empty: the dense grid only.  Not with
        ``search="warm"``.
    classifier_one_expert : bool, default=True
        The classification MoE's grid also tries ``n_experts=1`` (one
        penalized multinomial logistic expert, no gate), so its inner search
        can fall back on the linear model where every mixture overfits
        (waveform_21: 0.842 to 0.868 over 6 test folds, stacking 0.866;
        benchmarks/results/compare_stacking_gap.md).
    spline_alphas : tuple of float, default=(0.1, 1.0)
        Grid of the expert penalty ``alpha`` of the spline-expert mixture
        (``"moe-spline"``), searched jointly with ``moe_experts``, for
        regression and classification.
    cart_depths : tuple of int or None, default=(2, 3, 4, 6, 8, 12, None)
        Grid of ``max_depth`` for CART.
    max_samples : int, default=2000
        Bundled datasets with more rows are subsampled to this many (without
        replacement, stratified for classification); 0 keeps every row.
    random_state : int, default=0
        Seed of the splits, the subsampling and every model.
    search : {"grid", "warm"}, default="grid"
        How the mixtures' inner search fits its grid: ``"warm"`` along
        warm-started paths (:class:`~mixexp.compare.search.WarmPathSearchCV`:
        one multi-start fit per inner fold, the other points continued from
        it), ``"grid"`` every point from scratch
        (:class:`~sklearn.model_selection.GridSearchCV`).  CART always uses
        the grid.  ``"warm"`` is about 3x cheaper in CPU with scores within the
        folds' noise but not always as high (benchmarks/results/compare_search.md),
        so it is not the default.
    inner_starts : {"quick", "default"}, default="quick"
        The start of the mixtures' inner-search fits under ``search="grid"``:
        ``"quick"`` (:class:`~mixexp.compare.search.QuickStartGridSearchCV`): a tree
        keeps its flat start's most separable arrangement instead of comparing six by
        the tree's EM, while the refit of the chosen point on the whole outer training
        fold keeps the estimators' default start; ``"default"``: every fit the
        default start.  With ``penalty_path`` it took the default comparison from 552
        s of CPU to 326 s; ``"default"`` with ``penalty_path``: 423 s.
        The inner fits only rank the grid points: on one outer fold of each default
        data set ``"quick"`` chose HME's same point at about 60% of its CPU; over the
        six folds HME's R² moved 0.873 -> 0.867 on concrete (one fold chose depth 2)
        and 0.664 -> 0.705 on mcycle, the other sets within 0.001.  Small flat
        mixtures keep their screened starts, without which mcycle's MoE chose 2
        experts instead of 4 (R² 0.722 -> 0.385; benchmarks/results/compare_cost.md).
    penalty_path : tuple of str, default=("moe-quad",)
        Mixtures (keys of :data:`~mixexp.compare.models.MIXTURES`) whose inner search
        under ``search="grid"`` runs each size's penalties along a warm path
        (:class:`~mixexp.compare.search.PenaltyPathSearchCV`: each size from scratch at
        the smallest ``alpha``, each larger one continuing its EM; the refit from
        scratch with the default start).  MoE-quad's 9-point grid was half of the
        default comparison's CPU; on its path it costs about half as much, six-fold
        R² and accuracy within 0.003 of the grid's or higher (concrete 0.849 -> 0.846,
        vowel 0.942 -> 0.949).  On MoE's and HME's 2-point penalty grids a
        (downward) path chose worse on concrete's and kin8nm's first fold, so they keep
        the grid (benchmarks/results/compare_cost.md).
    """

    n_splits: int = 3
    n_repeats: int = 2
    inner_splits: int = 3
    max_iter: int = 200
    tol: float = 1e-4
    moe_experts: tuple = (2, 4, 8)
    hme_depths: tuple = (1, 2, 3)
    alphas: tuple = (0.1, 1.0)
    quad_alphas: tuple = (0.1, 1.0, 10.0)
    sparse_gate_alphas: tuple = (10.0,)
    classifier_one_expert: bool = True
    spline_alphas: tuple = (0.1, 1.0)
    cart_depths: tuple = (2, 3, 4, 6, 8, 12, None)
    max_samples: int = 2000
    random_state: int = 0
    search: str = "grid"
    inner_starts: str = "quick"
    penalty_path: tuple = ("moe-quad",)

    def __post_init__(self):
        for name, low in [("n_splits", 2), ("n_repeats", 1), ("inner_splits", 2),
                          ("max_iter", 1), ("max_samples", 0)]:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.classifier_one_expert, (bool, np.bool_)):
            raise TypeError(f"classifier_one_expert must be a bool, got {self.classifier_one_expert!r}")
        if self.search not in SEARCHES:
            raise ValueError(f"search must be one of {SEARCHES}, got {self.search!r}")
        if self.inner_starts not in INNER_STARTS:
            raise ValueError(f"inner_starts must be one of {INNER_STARTS}, got {self.inner_starts!r}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        for name in ("moe_experts", "hme_depths", "alphas", "quad_alphas", "spline_alphas",
                     "cart_depths"):
            if len(getattr(self, name)) == 0:
                raise ValueError(f"{name} must not be empty")

    def describe(self):
        """One line: the cross-validation scheme."""
        repeats = f"{self.n_repeats} repeat{'s' if self.n_repeats > 1 else ''}"
        return (f"{self.n_splits}-fold CV × {repeats}, the same splits for every model; "
                f"random_state={self.random_state}")


#: Small grids and few folds: a smoke test in seconds (``mixexp compare --quick``).
QUICK_SETTINGS = Settings(
    n_splits=2, n_repeats=1, inner_splits=2, max_iter=30, moe_experts=(2, 4),
    hme_depths=(1, 2), alphas=(0.1, 1.0), quad_alphas=(1.0,), spline_alphas=(1.0,),
    cart_depths=(2, 4, 8), max_samples=500,
)


def settings_with(base=Settings(), **changes):
    """``base`` with the given fields replaced, ignoring those given as None."""
    return replace(base, **{k: v for k, v in changes.items() if v is not None})
