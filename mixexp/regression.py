"""Mixture-of-experts regressors: flat and hierarchical."""

from ._base import FLAT_CONSTRAINTS, TREE_CONSTRAINTS
from ._regressor import (
    REG_VARIANCE_CONSTRAINT, SHARED_CONSTRAINTS, ZERO_INFLATION_CONSTRAINT, MixtureRegressorBase,
)


class MixtureOfExpertsRegressor(MixtureRegressorBase):
    """Mixture of regression experts under a gate, fitted by EM.

    ``p(y | x) = sum_k g_k(x) p_k(y | x)``: with the defaults, a softmax gate
    ``g(x) = softmax(V x + c)`` over linear-Gaussian experts
    ``p_k(y | x) = N(y; B_k x + b_k, diag(var_k))`` (Jacobs, Jordan, Nowlan &
    Hinton 1991).  EM never decreases the penalised log-likelihood.

    Parameters
    ----------
    n_experts : int, default=3
        Number of experts.
    gate : {"softmax", "gaussian", "attention"}, default="softmax"
        ``"softmax"``: a softmax of linear functions of ``x``.  ``"gaussian"``:
        the localized gate of Xu, Jordan & Hinton, ``g_k(x) ∝ a_k N(x; m_k,
        S_k)``, whose M-step is closed form; EM then maximises the joint
        likelihood ``p(x, y)`` and :meth:`score_samples` gives ``log p(x)``.
        ``"attention"``: the attention-like gate of Krishnamurthy et al.
        (2023), ``g_k(x) = softmax_k(q(x)^T r_k(x))`` with a query ``q(x)``
        linear in ``x`` and each expert's own representation ``r_k(x)`` (its
        centred logits or mean, an MLP's hidden layer); fitted by ECM.
    expert : {"linear", "student_t", "poisson", "gamma", "zip", "negative_binomial", "lognormal", \
"weibull", "inverse_gaussian", "burr"}, dict, ExpertFamily, estimator or list of estimators, default="linear"
        ``"linear"``: linear-Gaussian experts.  ``"student_t"``: linear
        experts with Student-t noise, robust to outliers, a scale and degrees
        of freedom ``nu`` in [0.01, 200] per expert (ECM with latent scale
        weights).  ``"poisson"`` (counts), ``"gamma"`` (positive amounts, a
        dispersion per expert), ``"zip"`` (zero-inflated Poisson, a
        zero-inflation probability per expert) and ``"negative_binomial"``
        (NB2 counts, a dispersion per expert): log-link GLM experts on a
        single target, which take ``exposure`` in ``fit`` and ``predict``.
        ``"lognormal"``, ``"weibull"``, ``"inverse_gaussian"`` and ``"burr"``
        (Burr XII, heavy-tailed): positive amounts with a log link on the
        median, scale or mean and their own shapes or dispersion.
        Every family's M-step never decreases the penalised log-likelihood
        (docs/families.md).  A scikit-learn regressor whose
        ``fit`` takes ``sample_weight`` (a pipeline: its last step) is cloned
        for every expert, a list gives one per expert; each is refitted with
        its posterior weights and has a Gaussian noise variance from its
        weighted residuals.  Such refits only approximate the M-step: EM keeps
        its best iterate after at most 5 iterations in a row without gain.  A
        ``Ridge`` expert's penalty counts in the objective (and its variance),
        so ``expert=Ridge(alpha=a)`` fits the same model as ``alpha=a``.
        An instance of a :class:`mixexp.experts.ExpertFamily` subclass is the
        user's own family (its density, M-step and means on the experts'
        columns as given; docs/user_family.md); EM checks that its ``m_step``
        never decreases the weighted log-likelihood.  A dict ``{column: family}``
        with a 2-D ``y`` models several responses, each with its own family
        (a name, or ``{"family": name, "zero_inflation": True}``), conditionally
        independent given the expert and sharing the gate: a claim count and a
        claim size.  Columns are indices, or names with a DataFrame ``y``;
        every column needs a family.  NaN in a continuous column is a missing
        response (no claim, no size); ``exposure`` applies to the count
        columns.  See docs/multiresponse.md.
    zero_inflation : bool, default=False
        Add to every expert a point mass at ``y = 0`` whose probability
        ``pi_k`` is a parameter of that expert (``zero_inflation_``):
        ``p_k(y | x) = pi_k 1[y = 0] + (1 - pi_k) f_k(y | x)`` for any named
        family (not estimator experts nor an ExpertFamily), on one target.
        For counts a zero is structural or the family's own, a second latent
        variable of EM; for a continuous family the law is mixed (an atom at
        0, the density elsewhere) and every zero is structural.  EM stays
        monotone.  ``expert="zip"`` is ``expert="poisson"`` with
        ``zero_inflation=True`` (the same fit).  See docs/families.md.
    gate_alpha : float, default=0.1
        L2 penalty on the softmax gate's coefficients (not intercepts; a tree:
        every inner node's gate), in units of standardised features.
    alpha : float, default=1.0
        Ridge penalty on the experts' coefficients (not intercepts), in units
        of standardised features and targets: a conjugate prior ``alpha / (2
        var) ||B||^2``, coefficients ``N(0, var / alpha)``, which weighs as
        ``alpha`` extra rows per feature whatever the number of rows, so the
        data outweigh it as they grow (``"student_t"``, ``"lognormal"``: over the squared scale;
        ``"gamma"``, ``"inverse_gaussian"``: over the dispersion;
        ``"weibull"``, ``"burr"``: times the squared shape ``k`` or
        ``shape2``; ``"poisson"``, ``"zip"``, ``"negative_binomial"``:
        ``alpha / 2 ||B||^2``).  ``alpha=1`` with ``gate_alpha=0.1`` has the best mean
        test R² over seven development and four real data sets among the
        settings with no development-set fold more than 0.1 below least
        squares, with or without ``clip_experts``
        (benchmarks/results/alpha_default.md).  Few rows per expert on few
        features (mcycle) score better with less, many one-hot columns and
        noisy targets with more: tune both for your data.
    l1_ratio : float, default=0.0
        Elastic-net mixing, as scikit-learn's ``ElasticNet``: the penalty on
        the softmax gate's and the linear experts' coefficients is
        ``a * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|^2)`` with ``a`` =
        ``gate_alpha`` or ``alpha``.  0 is the ridge penalty; above 0 some
        coefficients become exactly 0 (a sparse mixture, Khalili 2010),
        fitted by proximal M-steps that never decrease the penalised
        objective, and BIC counts only the nonzero coefficients.
    covariance_type : {"full", "diag"}, default="full"
        Covariances of the Gaussian gate (``gate="gaussian"`` only).
    reg_covar : float, default=1e-6
        Smallest eigenvalue of every Gaussian gate covariance, in units of
        standardised features (``gate="gaussian"`` only).
    gate_features : array-like of int, bool or str, default=None
        The columns the gate sees: indices, a boolean mask, or names of a
        DataFrame's columns; None: all.  ``[]`` gives constant mixing weights,
        a plain mixture of regressions (flexmix's ``concomitant=`` chooses the
        gate's variables the same way).
    expert_features : array-like of int, bool or str, default=None
        The columns the experts see, chosen the same way; None: all.
    shared_features : array-like of int, bool or str, default=None
        Columns (chosen as ``gate_features``, among the experts' columns)
        whose expert coefficients are equal in every expert (flexmix's
        ``FLXMRglmfix(fixed = ~ x)``): one coefficient per target for all
        experts, fitted by one weighted least squares over the stacked
        experts' rows; intercepts stay per expert.  ``expert="linear"`` and
        ``"lognormal"`` (on ``log y``) only, ridge penalty (``l1_ratio=0``);
        other families refuse it.  Counted once in ``bic`` and ``summary``
        (component ``"every expert"``).  None: no shared coefficients.  See
        docs/inference.md.
    tied_variance : bool, default=False
        One noise variance per target for all experts (flexmix's ``varFix =
        TRUE``): the pooled weighted residual variance; ``"lognormal"``: one
        ``sigma``; ``"gamma"``: one dispersion.  Other families refuse it.
    top_k : int, default=None
        Sparse routing at prediction: only the ``top_k`` most probable
        experts of each sample (under the gate) are evaluated, and their gate
        probabilities are renormalised to sum to 1; the others are skipped
        (each expert is evaluated on its routed rows only; a user's
        ``ExpertFamily`` on all rows).  ``top_k=1`` (hard routing) evaluates
        one expert per row.  None: every expert (dense).  Fitting is always dense (EM); ``predict_gate``,
        ``responsibilities`` and ``log_likelihood`` stay dense.
    balance_alpha : float, default=0.0
        Load-balance penalty on the softmax gate (``gate="softmax"`` or
        ``"attention"``): ``balance_alpha`` times the squared coefficient of
        variation of the experts' mean gate probabilities (Shazeer et al.
        2017), per sample; it counters the collapse of the gate onto few
        experts.  EM stays monotone in the penalised log-likelihood.
    specialization_alpha : float, default=0.0
        Specialization penalty on the gate (Krishnamurthy, Watkins & Gärtner
        2023): ``specialization_alpha`` times each expert's share times its
        gate-weighted scatter of the gate's standardised features, per
        sample, i.e. the gate-weighted sum of squared distances between rows
        routed to the same expert.  It favours experts that each take a
        compact region of the inputs.  EM stays monotone in the penalised
        log-likelihood.  See :mod:`mixexp.gates.penalties`.
    max_iter : int, default=200
        Maximum number of EM iterations per initialisation (at ``tol=1e-4``,
        99% of the fits on the development datasets need at most 83, all at
        most 110: benchmarks/results/defaults.md).
    tol : float, default=1e-4
        EM stops, converged, when the gain in mean per-sample penalised
        log-likelihood has been below ``tol`` in two iterations in a row (one
        small gain is not enough: a long extrapolated step of the gate can
        gain little just before a step that gains much more).  The same rule
        ends the short runs of ``init_params="short_em"`` at their own
        tolerance.
    n_init : int, default=1
        Number of initialisations; the best final log-likelihood is kept.
    init_params : {"short_em", "kmeans", "random"} or array-like, default="short_em"
        How each initialisation starts.  ``"kmeans"``: hard responsibilities
        from k-means (k-means++ seeding) on the standardised ``[X, y]``;
        ``"random"``: from the nearest of ``n_experts`` rows drawn at random;
        ``"short_em"``: five short EM runs from k-means and random partitions
        in turn (tolerance 1e-3, at most 50 iterations), then EM from the best
        (Biernacki, Celeux & Govaert 2003); on a small problem (start rows times
        free parameters at most 83,333) six short runs (one k-means, then
        uniformly random labels and random partitions in turn), the three best
        continued to convergence, then EM from the best final objective.  On
        the development datasets it reaches the best of 20 starts more often
        than either alone
        (benchmarks/start_quality.py).
        The start works on a random subsample of 30 rows per free
        parameter (at least 3000, at most 100,000); EM on all rows goes on
        from it.
        An array gives the initial responsibilities instead (flexmix's
        ``cluster=``, MoEClust's ``z.list``): shape (n_samples, n_experts),
        non-negative rows with a positive sum (normalised), or a 1-D integer
        array of labels in [0, n_experts); the first M-step fits them on all
        rows, then EM goes on.  With ``groups``, a group starts from its
        rows' weighted mean responsibilities (labels: its label of largest
        weight).  With ``n_init > 1`` every initialisation would be the same:
        fitted once, with a warning (``algorithm="sem"``: ``n_init`` chains
        from that start).
    algorithm : {"em", "cem", "sem"}, default="em"
        ``"em"``: EM, which maximises the penalised observed-data
        log-likelihood.  ``"cem"``: classification EM (flexmix's
        ``classify="CEM"``): every E-step gives each sample (each group, with
        ``groups``) to its expert of largest posterior, and the M-step fits
        these hard assignments.  It maximises the penalised classification
        log-likelihood ``sum_i w_i log(g_{z_i}(x_i) p_{z_i}(y_i | x_i))`` over
        the parameters and the partition ``z`` jointly; it never decreases,
        and ``lower_bound_`` and ``lower_bounds_`` record it.  ``"sem"``:
        stochastic EM (flexmix's ``classify="SEM"``): every E-step draws one
        expert per sample from its posteriors (seeded by ``random_state``);
        the iterate of largest observed log-likelihood is kept (the start
        included) and ``lower_bounds_`` records the best so far.  SEM runs
        ``max_iter`` iterations or stops, converged, after 20 in a row that
        did not raise the best by more than ``tol``.  All three start alike
        (``init_params``).  See docs/algorithms.md.
    reg_variance : float, default=1e-6
        Lower bound on every expert's noise variance, relative to the variance
        of each target (like ``reg_covar`` of ``GaussianMixture``, but scale
        free); for ``"student_t"`` on its squared scale, for ``"lognormal"``
        on ``sigma^2`` relative to the variance of ``log y``, for ``"gamma"``
        on its dispersion, for ``"inverse_gaussian"`` and
        ``"negative_binomial"`` on the dispersion times the mean of ``y``,
        for ``"weibull"`` and ``"burr"`` on ``1 / k^2`` and ``1 / shape2^2``.
    clip_experts : bool, default=True
        Guard against extrapolation: at prediction (``predict``,
        ``predict_experts``, ``score``) each expert's mean is clipped to the
        range of the training targets of the rows it owns, those whose largest
        posterior is its own (the range of all rows for an expert that owns
        none).  An expert fitted on few effective rows can otherwise predict
        far outside anything it was fitted on, where the gate extends its reach
        (benchmarks/results/alpha_default.md).  The model's density is
        unchanged: ``log_likelihood``, ``responsibilities``, ``sample_y`` and
        EM use the unclipped experts; ``return_std`` spreads around the clipped
        means.  Read when predicting, so ``set_params`` after ``fit`` applies.
        Online EM (:meth:`partial_fit`): the range over all batches; dask
        input: over the in-memory start sample.  The log-link families
        and the families of positive amounts, whose means scale with an
        exposure or whose internal target is not the standardised y, are
        not clipped (only ``"linear"``, ``"student_t"`` and estimator
        experts are).
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisations, and of estimator experts whose own
        ``random_state`` is None (each expert gets a seed of its own).
    warm_start : bool, default=False
        Start the next ``fit`` from the current solution (``n_init`` ignored);
        the structure, gate, experts, features and targets must not change.
    verbose : int, default=0
        1 prints each initialisation's result, 2 also every
        ``verbose_interval`` iterations.
    verbose_interval : int, default=10
        Iterations between progress lines with ``verbose=2``.
    learning_decay : float, default=0.7
        Online EM (:meth:`partial_fit`): the ``t``-th batch is blended into
        the running statistics with weight ``(learning_offset + t) **
        -learning_decay``; in (0.5, 1] (Cappé & Moulines 2009; the name is
        ``LatentDirichletAllocation``'s).
    learning_offset : float, default=10.0
        Online EM: a non-negative offset that shortens the first steps.

    Attributes
    ----------
    gate_coef_ : ndarray of shape (n_experts, n_features)
        Softmax gate coefficients on the raw features (``gate="softmax"``).
    gate_intercept_ : ndarray of shape (n_experts,)
        Softmax gate intercepts (``gate="softmax"``).
    gate_weights_ : ndarray of shape (n_experts,)
        Mixing weights ``a_k`` (``gate="gaussian"``).
    gate_means_ : ndarray of shape (n_experts, n_features)
        Gaussian gate means (``gate="gaussian"``).
    gate_covariances_ : ndarray of shape (n_experts, n_features, n_features) or (n_experts, n_features)
        Gaussian gate covariances, full or diagonal (``gate="gaussian"``).
    gate_query_coef_ : ndarray of shape (n_repr, n_features)
        Attention gate (``gate="attention"``): ``q(x) = gate_query_coef_ @ x
        + gate_query_intercept_`` meets each expert's representation (HME: one
        per inner node, a leading axis).
    gate_query_intercept_ : ndarray of shape (n_repr,)
        Attention gate's query intercept.
    expert_coef_ : ndarray of shape (n_experts, n_targets, n_features)
        Linear experts' coefficients (the GLM families: of ``log`` of the
        mean, with ``n_targets`` 1).
    expert_intercept_ : ndarray of shape (n_experts, n_targets)
        Linear experts' intercepts.
    experts_ : list of estimators
        The fitted estimator of each expert (estimator experts), fitted on
        the standardised features ``(X - x_mean_) / x_scale_`` and targets.
    experts_params_ : dict
        The parameters of a user's :class:`mixexp.experts.ExpertFamily`: the
        dict its ``m_step`` returned.
    noise_variance_ : ndarray of shape (n_experts, n_targets)
        Each expert's Gaussian noise variance (``"linear"`` and estimators).
    noise_scale_ : ndarray of shape (n_experts, n_targets)
        Each Student-t expert's scale ``sigma`` (``"student_t"``); each
        log-normal expert's standard deviation of ``log y`` (``"lognormal"``).
    nu_ : ndarray of shape (n_experts, n_targets)
        Each Student-t expert's degrees of freedom (``"student_t"``); its
        variance ``sigma^2 nu / (nu - 2)`` is infinite where ``nu <= 2``.
    dispersion_ : ndarray of shape (n_experts,)
        Each expert's dispersion ``phi``: ``Var y = phi mu^2`` (``"gamma"``),
        ``phi mu^3`` (``"inverse_gaussian"``), ``mu + phi mu^2``
        (``"negative_binomial"``, ``phi = 1 / theta``).
    shape_ : ndarray of shape (n_experts,)
        Each Weibull expert's shape ``k`` (``"weibull"``); each Burr expert's
        first shape ``alpha`` (``"burr"``, actuar's ``shape1``).
    shape2_ : ndarray of shape (n_experts,)
        Each Burr expert's second shape ``gamma`` (``"burr"``, actuar's
        ``shape2``); the mean exists only where ``shape_ * shape2_ > 1``, the
        variance where it is above 2.
    zero_inflation_ : ndarray of shape (n_experts,)
        Each expert's probability of a structural zero (``zero_inflation=True``
        or ``"zip"``).
    x_mean_, x_scale_ : ndarray of shape (n_features,)
        The internal standardisation of the features (sparse input: mean 0).
    converged_ : bool
        Whether the best initialisation met ``tol`` (two small gains in a
        row; not stopped by ``max_iter``).  With estimator experts EM also
        stops, converged, after 5 iterations in a row without gain: they
        count in ``n_iter_``, the best iterate's parameters are kept and their
        entries of ``lower_bounds_`` repeat the best value.
    n_iter_ : int
        EM iterations of the best initialisation.
    lower_bound_ : float
        Mean per-sample penalised log-likelihood of the best initialisation
        (``gate="gaussian"``: of ``p(x, y)``).
    lower_bounds_ : ndarray of shape (``n_iter_``,)
        Its value after each EM iteration (never decreasing).  With
        ``algorithm="cem"`` both are the classification log-likelihood; with
        ``algorithm="sem"``, the best value so far.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Only when ``X`` has string column names.

    See Also
    --------
    HierarchicalMixtureOfExpertsRegressor : a tree of gates over the experts.
    MixtureOfExpertsClassifier : the classifier.

    Examples
    --------
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> X, y = make_moe_regression(n_samples=500, n_experts=2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> model.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {**FLAT_CONSTRAINTS, **REG_VARIANCE_CONSTRAINT, **ZERO_INFLATION_CONSTRAINT,
        **SHARED_CONSTRAINTS}

    def __init__(
        self,
        n_experts=3,
        *,
        gate="softmax",
        expert="linear",
        zero_inflation=False,
        gate_alpha=0.1,
        alpha=1.0,
        l1_ratio=0.0,
        covariance_type="full",
        reg_covar=1e-6,
        gate_features=None,
        expert_features=None,
        shared_features=None,
        tied_variance=False,
        top_k=None,
        balance_alpha=0.0,
        specialization_alpha=0.0,
        max_iter=200,
        tol=1e-4,
        n_init=1,
        init_params="short_em",
        algorithm="em",
        reg_variance=1e-6,
        clip_experts=True,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        learning_decay=0.7,
        learning_offset=10.0,
    ):
        self.n_experts = n_experts
        self.gate = gate
        self.expert = expert
        self.zero_inflation = zero_inflation
        self.gate_alpha = gate_alpha
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.shared_features = shared_features
        self.tied_variance = tied_variance
        self.top_k = top_k
        self.balance_alpha = balance_alpha
        self.specialization_alpha = specialization_alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init_params = init_params
        self.algorithm = algorithm
        self.reg_variance = reg_variance
        self.clip_experts = clip_experts
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset


class HierarchicalMixtureOfExpertsRegressor(MixtureRegressorBase):
    """Hierarchical mixture of regression experts, fitted by EM.

    A balanced tree of ``depth`` levels with ``branching`` children per inner
    node; every inner node has a gate and the ``branching ** depth`` leaves
    are experts (Jordan & Jacobs 1994).  The gate probability of a leaf is the
    product of the gates on its path.  It starts from a flat mixture with one
    expert per leaf, arranged into the tree.

    Parameters
    ----------
    depth : int, default=2
        Levels of gates.
    branching : int, default=2
        Children of every inner node.
    gate : {"softmax", "gaussian", "attention"}, default="softmax"
        The gate of every inner node.  ``"gaussian"``: every leaf has a
        Gaussian over ``x`` and every inner node mixing weights; a node's gate
        weighs its children by their mixtures of the Gaussians below them
        (Xu, Jordan & Hinton), and EM maximises ``p(x, y)``.
        ``"attention"``: the attention-like gate of Krishnamurthy et al.
        (2023), ``g_k(x) = softmax_k(q(x)^T r_k(x))`` with a query ``q(x)``
        linear in ``x`` and each expert's own representation ``r_k(x)`` (its
        centred logits or mean, an MLP's hidden layer); fitted by ECM.
    expert : {"linear", "student_t", "poisson", "gamma", "zip", "negative_binomial", "lognormal", \
"weibull", "inverse_gaussian", "burr"}, dict, ExpertFamily, estimator or list of estimators, default="linear"
        ``"linear"``: linear-Gaussian experts; the other names: the other
        families, and a dict ``{column: family}`` several responses, as in
        :class:`MixtureOfExpertsRegressor` (docs/multiresponse.md).  A scikit-learn regressor whose
        ``fit`` takes ``sample_weight`` is cloned for every leaf (a list: one
        per leaf, breadth-first); see :class:`MixtureOfExpertsRegressor`, also
        for a user's :class:`mixexp.experts.ExpertFamily`.
    zero_inflation : bool, default=False
        Add to every expert a point mass at ``y = 0`` whose probability
        ``pi_k`` is a parameter of that expert (``zero_inflation_``):
        ``p_k(y | x) = pi_k 1[y = 0] + (1 - pi_k) f_k(y | x)`` for any named
        family (not estimator experts nor an ExpertFamily), on one target.
        For counts a zero is structural or the family's own, a second latent
        variable of EM; for a continuous family the law is mixed (an atom at
        0, the density elsewhere) and every zero is structural.  EM stays
        monotone.  ``expert="zip"`` is ``expert="poisson"`` with
        ``zero_inflation=True`` (the same fit).  See docs/families.md.
    gate_alpha : float, default=0.1
        L2 penalty on the softmax gate's coefficients (not intercepts; a tree:
        every inner node's gate), in units of standardised features.
    alpha : float, default=1.0
        Ridge penalty on the experts' coefficients (not intercepts), in units
        of standardised features and targets: a conjugate prior ``alpha / (2
        var) ||B||^2``, coefficients ``N(0, var / alpha)``, which weighs as
        ``alpha`` extra rows per feature whatever the number of rows, so the
        data outweigh it as they grow (``"student_t"``: over its scale,
        ``"gamma"``: over its dispersion; ``"poisson"``, ``"zip"``: ``alpha
        / 2 ||B||^2``).  ``alpha=1`` with ``gate_alpha=0.1`` has the best mean
        test R² over seven development and four real data sets among the
        settings with no development-set fold more than 0.1 below least
        squares, with or without ``clip_experts``
        (benchmarks/results/alpha_default.md).  Few rows per expert on few
        features (mcycle) score better with less, many one-hot columns and
        noisy targets with more: tune both for your data.
    l1_ratio : float, default=0.0
        Elastic-net mixing, as scikit-learn's ``ElasticNet``: the penalty on
        the softmax gate's and the linear experts' coefficients is
        ``a * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|^2)`` with ``a`` =
        ``gate_alpha`` or ``alpha``.  0 is the ridge penalty; above 0 some
        coefficients become exactly 0 (a sparse mixture, Khalili 2010),
        fitted by proximal M-steps that never decrease the penalised
        objective, and BIC counts only the nonzero coefficients.
    covariance_type : {"full", "diag"}, default="full"
        Covariances of the Gaussian gate (``gate="gaussian"`` only).
    reg_covar : float, default=1e-6
        Smallest eigenvalue of every Gaussian gate covariance, in units of
        standardised features (``gate="gaussian"`` only).
    gate_features : array-like of int, bool or str, default=None
        The columns the gate sees: indices, a boolean mask, or names of a
        DataFrame's columns; None: all.  ``[]`` gives constant mixing weights,
        a plain mixture of regressions (flexmix's ``concomitant=`` chooses the
        gate's variables the same way).
    expert_features : array-like of int, bool or str, default=None
        The columns the experts see, chosen the same way; None: all.
    shared_features : array-like of int, bool or str, default=None
        Columns (chosen as ``gate_features``, among the experts' columns)
        whose expert coefficients are equal in every expert (flexmix's
        ``FLXMRglmfix(fixed = ~ x)``): one coefficient per target for all
        experts, fitted by one weighted least squares over the stacked
        experts' rows; intercepts stay per expert.  ``expert="linear"`` and
        ``"lognormal"`` (on ``log y``) only, ridge penalty (``l1_ratio=0``);
        other families refuse it.  Counted once in ``bic`` and ``summary``
        (component ``"every expert"``).  None: no shared coefficients.  See
        docs/inference.md.
    tied_variance : bool, default=False
        One noise variance per target for all experts (flexmix's ``varFix =
        TRUE``): the pooled weighted residual variance; ``"lognormal"``: one
        ``sigma``; ``"gamma"``: one dispersion.  Other families refuse it.
    top_k : int, default=None
        Sparse routing at prediction: only the ``top_k`` most probable
        experts of each sample (under the gate) are evaluated, and their gate
        probabilities are renormalised to sum to 1; the others are skipped
        (each expert is evaluated on its routed rows only; a user's
        ``ExpertFamily`` on all rows).  ``top_k=1`` (hard routing) evaluates
        one expert per row.  None: every expert (dense).  Fitting is always dense (EM); ``predict_gate``,
        ``responsibilities`` and ``log_likelihood`` stay dense.
    balance_alpha : float, default=0.0
        Load-balance penalty on every softmax gate (``gate="softmax"`` or
        ``"attention"``): ``balance_alpha`` times the squared coefficient of
        variation of the children's mean gate probabilities at every inner
        node (Shazeer et al. 2017), per sample; it counters the collapse of the gate onto few
        experts.  EM stays monotone in the penalised log-likelihood.
    specialization_alpha : float, default=0.0
        Specialization penalty on every inner node's gate (Krishnamurthy, Watkins & Gärtner
        2023): ``specialization_alpha`` times each expert's share times its
        gate-weighted scatter of the gate's standardised features, per
        sample, i.e. the gate-weighted sum of squared distances between rows
        routed to the same expert.  It favours experts that each take a
        compact region of the inputs.  EM stays monotone in the penalised
        log-likelihood.  See :mod:`mixexp.gates.penalties`.
    max_iter : int, default=200
        Maximum number of EM iterations per initialisation (at ``tol=1e-4``,
        99% of the fits on the development datasets need at most 83, all at
        most 110: benchmarks/results/defaults.md).
    tol : float, default=1e-4
        EM stops, converged, when the gain in mean per-sample penalised
        log-likelihood has been below ``tol`` in two iterations in a row (one
        small gain is not enough: a long extrapolated step of the gate can
        gain little just before a step that gains much more).  The same rule
        ends the short runs of ``init_params="short_em"`` at their own
        tolerance.
    n_init : int, default=1
        Number of initialisations; the best final log-likelihood is kept.
    init_params : {"short_em", "kmeans", "random"} or array-like, default="short_em"
        How the flat start begins: k-means on the standardised ``[X, y]``,
        the nearest of as many rows drawn at random as there are leaves, or
        the best of five short EM runs from those (``"short_em"``).
        The start works on a random subsample of 30 rows per free
        parameter (at least 3000, at most 100,000); EM on all rows goes on
        from it.
        An array gives the initial responsibilities of the leaves instead
        (flexmix's ``cluster=``, MoEClust's ``z.list``): shape (n_samples,
        n_leaves), leaves in breadth-first order, non-negative rows with a
        positive sum (normalised), or a 1-D integer array of leaf labels in
        [0, n_leaves); the first M-step fits every gate and leaf to them on
        all rows (no flat start), then EM goes on.  With ``groups``, a group
        starts from its rows' weighted mean responsibilities (labels: its
        label of largest weight).  With ``n_init > 1`` every initialisation
        would be the same: fitted once, with a warning (``algorithm="sem"``:
        ``n_init`` chains from that start).
    algorithm : {"em", "cem", "sem"}, default="em"
        ``"em"``: EM, which maximises the penalised observed-data
        log-likelihood.  ``"cem"``: classification EM (flexmix's
        ``classify="CEM"``): every E-step gives each sample (each group, with
        ``groups``) to its expert of largest posterior, and the M-step fits
        these hard assignments.  It maximises the penalised classification
        log-likelihood ``sum_i w_i log(g_{z_i}(x_i) p_{z_i}(y_i | x_i))`` over
        the parameters and the partition ``z`` jointly; it never decreases,
        and ``lower_bound_`` and ``lower_bounds_`` record it.  ``"sem"``:
        stochastic EM (flexmix's ``classify="SEM"``): every E-step draws one
        expert per sample from its posteriors (seeded by ``random_state``);
        the iterate of largest observed log-likelihood is kept (the start
        included) and ``lower_bounds_`` records the best so far.  SEM runs
        ``max_iter`` iterations or stops, converged, after 20 in a row that
        did not raise the best by more than ``tol``.  All three start alike
        (``init_params``).  See docs/algorithms.md.
    reg_variance : float, default=1e-6
        Lower bound on every expert's noise variance, relative to the variance
        of each target.
    clip_experts : bool, default=True
        Guard against extrapolation: at prediction (``predict``,
        ``predict_experts``, ``score``) each expert's mean is clipped to the
        range of the training targets of the rows it owns, those whose largest
        posterior is its own (the range of all rows for an expert that owns
        none).  An expert fitted on few effective rows can otherwise predict
        far outside anything it was fitted on, where the gate extends its reach
        (benchmarks/results/alpha_default.md).  The model's density is
        unchanged: ``log_likelihood``, ``responsibilities``, ``sample_y`` and
        EM use the unclipped experts; ``return_std`` spreads around the clipped
        means.  Read when predicting, so ``set_params`` after ``fit`` applies.
        Online EM (:meth:`partial_fit`): the range over all batches; dask
        input: over the in-memory start sample.  The log-link families
        (``"poisson"``, ``"gamma"``, ``"zip"``), whose means scale with an
        exposure, are not clipped.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisations, and of estimator experts whose own
        ``random_state`` is None (each expert gets a seed of its own).
    warm_start : bool, default=False
        Start the next ``fit`` from the current solution (``n_init`` ignored);
        the structure, gate, experts, features and targets must not change.
    verbose : int, default=0
        1 prints each initialisation's result, 2 also every
        ``verbose_interval`` iterations.
    verbose_interval : int, default=10
        Iterations between progress lines with ``verbose=2``.
    learning_decay : float, default=0.7
        Online EM (:meth:`partial_fit`): the ``t``-th batch is blended into
        the running statistics with weight ``(learning_offset + t) **
        -learning_decay``; in (0.5, 1] (Cappé & Moulines 2009; the name is
        ``LatentDirichletAllocation``'s).
    learning_offset : float, default=10.0
        Online EM: a non-negative offset that shortens the first steps.

    Attributes
    ----------
    gate_coef_ : ndarray of shape (n_inner_nodes, branching, n_features)
        Softmax gate coefficients, inner nodes in breadth-first order.
    gate_intercept_ : ndarray of shape (n_inner_nodes, branching)
        Softmax gate intercepts.
    gate_weights_ : ndarray of shape (n_inner_nodes, branching)
        Mixing weights of every inner node (``gate="gaussian"``).
    gate_means_, gate_covariances_ : ndarray
        Each leaf's Gaussian over ``x`` (``gate="gaussian"``).
    gate_query_coef_ : ndarray of shape (n_repr, n_features)
        Attention gate (``gate="attention"``): ``q(x) = gate_query_coef_ @ x
        + gate_query_intercept_`` meets each expert's representation (HME: one
        per inner node, a leading axis).
    gate_query_intercept_ : ndarray of shape (n_repr,)
        Attention gate's query intercept.
    expert_coef_ : ndarray of shape (n_leaves, n_targets, n_features)
        Linear experts' coefficients, leaves in breadth-first order.
    expert_intercept_ : ndarray of shape (n_leaves, n_targets)
        Linear experts' intercepts.
    experts_ : list of estimators
        The fitted estimator of each leaf (estimator experts).
    experts_params_ : dict
        The parameters of a user's :class:`mixexp.experts.ExpertFamily`.
    noise_variance_ : ndarray of shape (n_leaves, n_targets)
        Each expert's Gaussian noise variance (``"linear"`` and estimators).
    noise_scale_, nu_, dispersion_, shape_, shape2_, zero_inflation_ : ndarray
        The other families' parameters of each leaf, as in
        :class:`MixtureOfExpertsRegressor`.
    x_mean_, x_scale_ : ndarray of shape (n_features,)
        The internal standardisation of the features.
    converged_ : bool
        Whether the best initialisation met ``tol`` (two small gains in a
        row; not stopped by ``max_iter``).  With estimator experts EM also
        stops, converged, after 5 iterations in a row without gain: they
        count in ``n_iter_``, the best iterate's parameters are kept and their
        entries of ``lower_bounds_`` repeat the best value.
    n_iter_ : int
        EM iterations of the best initialisation (after its flat start).
    lower_bound_ : float
        Mean per-sample penalised log-likelihood of the best initialisation.
    lower_bounds_ : ndarray of shape (``n_iter_``,)
        Its value after each EM iteration (never decreasing).  With
        ``algorithm="cem"`` both are the classification log-likelihood; with
        ``algorithm="sem"``, the best value so far.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Only when ``X`` has string column names.

    See Also
    --------
    MixtureOfExpertsRegressor : the flat mixture (a tree of depth 1).

    Examples
    --------
    >>> from mixexp import HierarchicalMixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_hme_regression
    >>> X, y = make_hme_regression(n_samples=500, random_state=0)
    >>> model = HierarchicalMixtureOfExpertsRegressor(depth=2, random_state=0).fit(X, y)
    >>> model.predict_gate(X[:2]).shape
    (2, 4)
    """

    _parameter_constraints = {**TREE_CONSTRAINTS, **REG_VARIANCE_CONSTRAINT, **ZERO_INFLATION_CONSTRAINT,
        **SHARED_CONSTRAINTS}

    def __init__(
        self,
        depth=2,
        branching=2,
        *,
        gate="softmax",
        expert="linear",
        zero_inflation=False,
        gate_alpha=0.1,
        alpha=1.0,
        l1_ratio=0.0,
        covariance_type="full",
        reg_covar=1e-6,
        gate_features=None,
        expert_features=None,
        shared_features=None,
        tied_variance=False,
        top_k=None,
        balance_alpha=0.0,
        specialization_alpha=0.0,
        max_iter=200,
        tol=1e-4,
        n_init=1,
        init_params="short_em",
        algorithm="em",
        reg_variance=1e-6,
        clip_experts=True,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        learning_decay=0.7,
        learning_offset=10.0,
    ):
        self.depth = depth
        self.branching = branching
        self.gate = gate
        self.expert = expert
        self.zero_inflation = zero_inflation
        self.gate_alpha = gate_alpha
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.shared_features = shared_features
        self.tied_variance = tied_variance
        self.top_k = top_k
        self.balance_alpha = balance_alpha
        self.specialization_alpha = specialization_alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init_params = init_params
        self.algorithm = algorithm
        self.reg_variance = reg_variance
        self.clip_experts = clip_experts
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
