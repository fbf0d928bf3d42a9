"""Mixture-of-experts classifiers: flat and hierarchical."""

from ._base import FLAT_CONSTRAINTS, TREE_CONSTRAINTS
from ._classifier import MixtureClassifierBase


class MixtureOfExpertsClassifier(MixtureClassifierBase):
    """Mixture of classification experts under a gate, fitted by EM.

    ``p(y = c | x) = sum_k g_k(x) p_k(c | x)``: with the defaults, a softmax
    gate ``g(x) = softmax(V x + c)`` over multinomial-logistic experts
    ``p_k(c | x) = softmax_c(W_k x + w_k)``.  EM never decreases the
    penalised log-likelihood.

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
    expert : "linear", estimator or list of estimators, default="linear"
        ``"linear"``: multinomial-logistic experts.  A scikit-learn classifier
        whose ``fit`` takes ``sample_weight`` and which has ``predict_proba``
        is cloned for every expert, a list gives one per expert; each is
        refitted with its posterior weights.  Such refits only approximate the
        M-step: EM keeps its best iterate and stops when an iteration does
        not gain.  A ``LogisticRegression`` expert's penalty counts in the
        objective, so ``expert=LogisticRegression(C=1 / a)`` (3 or more
        classes; ``C=2 / a`` for 2, whose one vector is the difference of the
        two rows penalised here) fits the same model as ``alpha=a``, with
        exact M-steps.
    gate_alpha : float, default=1.0
        L2 penalty on the softmax gate's coefficients (not intercepts), in
        units of standardised features.
    alpha : float, default=0.1
        L2 penalty on the linear experts' coefficients (not intercepts), in
        units of standardised features; keeps separable problems finite.
        Both defaults have the best mean rank in test log-loss over nine
        classification data sets (benchmarks/results/defaults.md).
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
        a plain mixture of classifiers (flexmix's ``concomitant=`` chooses the
        gate's variables the same way).
    expert_features : array-like of int, bool or str, default=None
        The columns the experts see, chosen the same way; None: all.
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
        from k-means (k-means++ seeding) on the standardised ``X``;
        ``"random"``: from the nearest of ``n_experts`` rows drawn at random;
        ``"short_em"``: five short EM runs from k-means and random partitions
        in turn (tolerance 1e-3, at most 50 iterations), then EM from the best
        (Biernacki, Celeux & Govaert 2003); on a small problem (start rows times
        free parameters at most 83,333) six short runs (one k-means, then
        uniformly random labels and random partitions in turn), the three best
        continued to convergence, then EM from the best final objective.
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
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisations, and of estimator experts whose own
        ``random_state`` is None (each expert gets a seed of its own).
    warm_start : bool, default=False
        Start the next ``fit`` from the current solution (``n_init`` ignored);
        the structure, gate, experts, features and classes must not change.
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
    classes_ : ndarray of shape (n_classes,)
        The classes seen in ``fit``.
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
    expert_coef_ : ndarray of shape (n_experts, n_classes, n_features)
        Linear experts' coefficients (``expert="linear"``).
    expert_intercept_ : ndarray of shape (n_experts, n_classes)
        Linear experts' intercepts (``expert="linear"``).
    experts_ : list of estimators
        The fitted estimator of each expert (estimator experts), fitted on
        the standardised features ``(X - x_mean_) / x_scale_`` and class
        indices ``0 .. n_classes - 1``.
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
    HierarchicalMixtureOfExpertsClassifier : a tree of gates over the experts.
    MixtureOfExpertsRegressor : the regressor.

    Examples
    --------
    >>> from mixexp import MixtureOfExpertsClassifier
    >>> from mixexp.datasets import make_moe_classification
    >>> X, y = make_moe_classification(n_samples=500, n_experts=2, random_state=0)
    >>> clf = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints = dict(FLAT_CONSTRAINTS)

    def __init__(
        self,
        n_experts=3,
        *,
        gate="softmax",
        expert="linear",
        gate_alpha=1.0,
        alpha=0.1,
        l1_ratio=0.0,
        covariance_type="full",
        reg_covar=1e-6,
        gate_features=None,
        expert_features=None,
        top_k=None,
        balance_alpha=0.0,
        specialization_alpha=0.0,
        max_iter=200,
        tol=1e-4,
        n_init=1,
        init_params="short_em",
        algorithm="em",
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
        self.gate_alpha = gate_alpha
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.top_k = top_k
        self.balance_alpha = balance_alpha
        self.specialization_alpha = specialization_alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init_params = init_params
        self.algorithm = algorithm
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset


class HierarchicalMixtureOfExpertsClassifier(MixtureClassifierBase):
    """Hierarchical mixture of classification experts, fitted by EM.

    A balanced tree of ``depth`` levels with ``branching`` children per inner
    node, a gate at every inner node and ``branching ** depth`` experts at the
    leaves (Jordan & Jacobs 1994).  The gate probability of a leaf is the
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
    expert : "linear", estimator or list of estimators, default="linear"
        ``"linear"``: multinomial-logistic experts.  A scikit-learn classifier
        whose ``fit`` takes ``sample_weight`` is cloned for every leaf (a list:
        one per leaf, breadth-first); see :class:`MixtureOfExpertsClassifier`.
    gate_alpha : float, default=1.0
        L2 penalty on the softmax gates' coefficients (not intercepts), in
        units of standardised features.
    alpha : float, default=0.1
        L2 penalty on the linear experts' coefficients (not intercepts), in
        units of standardised features (defaults measured as for
        :class:`MixtureOfExpertsClassifier`).
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
        a plain mixture of classifiers (flexmix's ``concomitant=`` chooses the
        gate's variables the same way).
    expert_features : array-like of int, bool or str, default=None
        The columns the experts see, chosen the same way; None: all.
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
        How the flat start begins: k-means on the standardised ``X``, the
        nearest of as many rows drawn at random as there are leaves, or the
        best of five short EM runs from those (``"short_em"``).
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
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisations, and of estimator experts whose own
        ``random_state`` is None (each expert gets a seed of its own).
    warm_start : bool, default=False
        Start the next ``fit`` from the current solution (``n_init`` ignored);
        the structure, gate, experts, features and classes must not change.
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
    classes_ : ndarray of shape (n_classes,)
        The classes seen in ``fit``.
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
    expert_coef_ : ndarray of shape (n_leaves, n_classes, n_features)
        Linear experts' coefficients, leaves in breadth-first order.
    expert_intercept_ : ndarray of shape (n_leaves, n_classes)
        Linear experts' intercepts.
    experts_ : list of estimators
        The fitted estimator of each leaf (estimator experts).
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
    MixtureOfExpertsClassifier : the flat mixture (a tree of depth 1).

    Examples
    --------
    >>> from mixexp import HierarchicalMixtureOfExpertsClassifier
    >>> from mixexp.datasets import make_moe_classification
    >>> X, y = make_moe_classification(n_samples=500, random_state=0)
    >>> clf = HierarchicalMixtureOfExpertsClassifier(depth=2, random_state=0).fit(X, y)
    >>> clf.predict_gate(X[:2]).shape
    (2, 4)
    """

    _parameter_constraints = dict(TREE_CONSTRAINTS)

    def __init__(
        self,
        depth=2,
        branching=2,
        *,
        gate="softmax",
        expert="linear",
        gate_alpha=1.0,
        alpha=0.1,
        l1_ratio=0.0,
        covariance_type="full",
        reg_covar=1e-6,
        gate_features=None,
        expert_features=None,
        top_k=None,
        balance_alpha=0.0,
        specialization_alpha=0.0,
        max_iter=200,
        tol=1e-4,
        n_init=1,
        init_params="short_em",
        algorithm="em",
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
        self.gate_alpha = gate_alpha
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.top_k = top_k
        self.balance_alpha = balance_alpha
        self.specialization_alpha = specialization_alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init_params = init_params
        self.algorithm = algorithm
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
