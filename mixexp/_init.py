"""Initial parameters for EM.

``"kmeans"``: k-means (k-means++ seeding) on the standardised inputs and
targets gives hard responsibilities.  ``"random"``: ``n_leaves`` rows drawn
at random are the centres of a partition of the same space, each row going
to its nearest centre (scikit-learn's ``"random_from_data"``): the experts
start on distinct regions, so EM does not start at, and stop in, the
symmetric point where every expert is the same (as random soft
responsibilities do).  ``"short_em"`` (Biernacki, Celeux & Govaert 2003;
flexmix's ``initFlexmix``): several short EM runs from k-means and random
partitions in turn, stopped at a loose tolerance; EM continues from the best.
On a small flat mixture (rows times free parameters at most ``SMALL_START_SIZE``) the best
short run is often not the best in the end, and k-means and random-centre partitions miss
optima that uniformly random labels find: there ``"short_em"`` runs a short run from each
partition of ``SCREEN_KINDS`` (one k-means, then ``"uniform"``, uniformly random labels, and
random-centre partitions), continues the ``FINALISTS`` best to convergence at the fit's
``max_iter`` and ``tol`` (at least ``FULL_RUN_TOL``) and keeps the best final objective
(:func:`screened_runs`).
Each set of responsibilities is turned into parameters by an M-step.  The
user may give them instead (``init_params`` as an array, flexmix's
``cluster=``): :func:`check_responsibilities` validates them, and the M-step
works on all the rows (a tree's gates and leaves directly, without the flat
start).

Censored and truncated rows (:mod:`mixexp._censoring`) start from the family's exact EM
with every row taken as exact and untruncated (:func:`censored_start_design`), which is
fast, but a censored row's value is only a stand-in at an end of its interval: rows
right-censored at one limit sit at one value, a cluster of zero variance that a start's
expert takes and EM on the censored rows cannot leave (benchmarks/censored_starts.py).
The start therefore leaves the censored rows out, unless the exact rows are fewer than
the flat mixture's free parameters (then every row, at its stand-in).

The whole start (k-means, the short runs, a tree's flat mixture and its
arrangement) works on the rows of positive weight, or a random subsample of
:func:`start_rows` of them: all up to ``START_MIN_ROWS`` (3000), else 30 rows
per free parameter of the flat mixture, at least 3000 and at most
``START_MAX_ROWS`` (100,000).  Its cost then does not grow with n, and EM on
all the rows starts from its result.  k-means and the nearest-centre
assignment run on one thread: scikit-learn's OpenMP threads spin at every
barrier, and on a busy 2-core machine two of them made k-means on 20,000 rows
ten times slower than one.

Trees deeper than one level are hard to start well: EM through a randomly or
k-means-started tree often stops in a poor optimum whose top split cuts
across the data's structure.  A tree therefore starts from a *flat* mixture
with as many experts as it has leaves, fitted by EM; its experts are then
arranged into the tree top-down, choosing at each inner node the balanced
grouping of experts that a linear softmax gate separates best.  The most
separable top split is not always the tree's: the root's ``TREE_ARRANGEMENTS``
most separable groupings (the best ones below each) each run the tree's EM on
the start's rows, and the best final objective is kept
(benchmarks/results/best_optimum.md).
"""

import itertools
import math
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ._design import take_rows
from ._numerics.bound import soft_label_objective
from ._parallel import openmp_threads

# at most this many candidate groupings are compared at one inner node;
# beyond it, experts are grouped along the main axis of their centroids
MAX_GROUPINGS = 300
_GROUPING_STEPS = 30
INIT_STEPS = 10  # softmax M-steps (bound steps) fitted to the initial responsibilities
# k-means runs on at most this many rows (drawn at random); every row then goes
# to its nearest centre, chunk by chunk: the start needs no copy of all of X
KMEANS_MAX_ROWS = 20000
SHORT_RUNS = 5  # short EM runs of "short_em"
SHORT_TOL = 1e-3  # their tolerance (gain in nats per sample per iteration)
SHORT_MAX_ITER = 50
# the start works on a random subsample of the rows (see the module's doc): all rows
# up to START_MIN_ROWS, else START_ROWS_PER_PARAM rows per free parameter of the flat
# mixture, at most START_MAX_ROWS (benchmarks/start_rows.py measured the choice)
START_MIN_ROWS = 3000
START_ROWS_PER_PARAM = 30
START_MAX_ROWS = 100_000
# small flat problems (start rows x free parameters at most SMALL_START_SIZE): a short run
# from each of SCREEN_KINDS, the FINALISTS best of them run to convergence.  Measured on
# NPreg and mcycle (benchmarks/results/best_optimum.md): these 6 short runs and 3 finalists
# reach what 20 runs to convergence reached on NPreg in a fifth of their passes over the
# data (1.1-2.5 times the passes of the five short runs); 2 finalists did worse, 8 or 12
# short runs better on harder data at 2-3 times the time; trees gained nothing from full runs
SMALL_START_SIZE = 83_333
FINALISTS = 3
# the finalists stop at the fit's tol but no lower: EM on all rows continues from the best at tol
FULL_RUN_TOL = 1e-5
# a tree compares this many arrangements of its flat start's experts (the root's most
# separable groupings) by the tree's EM on the start's rows
TREE_ARRANGEMENTS = 6
# k-means from another seed mostly repeats its partition: one k-means start, then
# uniformly random labels and random centres in turn
SCREEN_KINDS = ("kmeans", "uniform", "random", "uniform", "random", "uniform")


def start_features(Xa, extra):
    """The space starts partition: standardised inputs beside the experts' target features."""
    X = Xa[:, :-1]
    if sp.issparse(X):
        return sp.hstack([X, sp.csr_matrix(extra)], format="csr")
    return np.hstack([X, extra])


def kmeans(F, sw, n_clusters, rs, n_threads=1):
    """A fitted k-means; fewer distinct points than clusters leaves some empty.

    It runs on one OpenMP thread whatever ``n_threads`` (see the module's doc).
    """
    # imported at the first start, not with mixexp: sklearn.cluster brings
    # linear_model, model_selection and neighbors, a tenth of ``import mixexp``
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n_clusters, n_init=1, random_state=rs.randint(np.iinfo(np.int32).max))
    with warnings.catch_warnings(), openmp_threads(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return km.fit(F, sample_weight=sw)


def kmeans_labels(F, sw, n_clusters, rs, n_threads=1):
    """k-means labels of the rows of ``F``; fewer rows than clusters: a cluster per row
    (what k-means would give, the other clusters empty)."""
    if F.shape[0] < n_clusters:
        return np.arange(F.shape[0])
    return kmeans(F, sw, n_clusters, rs, n_threads).labels_


def nearest_centre(F, centres):
    """Index of the nearest of ``centres`` (Euclidean) for every row of ``F``, on one thread."""
    from sklearn.metrics import pairwise_distances_argmin  # as KMeans in kmeans

    with openmp_threads(1):
        return pairwise_distances_argmin(F, centres)


def random_centres(sw, n_clusters, rs):
    """Indices of ``n_clusters`` distinct rows drawn at random (weighted by ``sw``)."""
    p = sw / sw.sum()
    return rs.choice(sw.shape[0], size=min(n_clusters, np.count_nonzero(p)), replace=False, p=p)


def random_partition_labels(F, sw, n_clusters, rs):
    """Nearest of ``n_clusters`` distinct rows drawn at random (weighted by ``sw``)."""
    centres = random_centres(sw, n_clusters, rs)
    labels = nearest_centre(F, F[centres])
    # a centre's own row goes to that centre, so every drawn centre holds a row
    labels[centres] = np.arange(centres.shape[0])
    return labels


def _balanced_groupings(members, n_groups):
    """All partitions of ``members`` into ``n_groups`` unordered groups of equal size."""
    if n_groups == 1:
        yield [list(members)]
        return
    size = len(members) // n_groups
    first, rest = members[0], members[1:]
    for others in itertools.combinations(rest, size - 1):
        group = [first, *others]
        remaining = [m for m in rest if m not in others]
        for tail in _balanced_groupings(remaining, n_groups - 1):
            yield [group, *tail]


def _n_groupings(n_members, n_groups):
    size = n_members // n_groups
    return math.factorial(n_members) // (math.factorial(size) ** n_groups * math.factorial(n_groups))


def _axis_grouping(members, X, W, n_groups):
    """Experts ordered along the main axis of their centroids, cut into equal chunks."""
    centroids = np.array([np.asarray(W[:, m] @ X).ravel() / max(W[:, m].sum(), 1e-300) for m in members])
    centered = centroids - centroids.mean(axis=0)
    axis = np.linalg.svd(centered, full_matrices=False)[2][0]
    order = [members[i] for i in np.argsort(centered @ axis)]
    size = len(members) // n_groups
    return [order[g * size:(g + 1) * size] for g in range(n_groups)]


def leaf_arrangements(leaf_post, Xa, sw, depth, branching, gate_alpha, n_orders=1):
    """Orders of flat experts as the leaves of a tree (breadth-first leaf order), best first.

    Parameters
    ----------
    leaf_post : (n, branching ** depth) posteriors of a flat mixture's experts.
    n_orders : int
        At most this many orders: the root's ``n_orders`` most separable groupings, each
        with the most separable grouping at every inner node below it.

    Returns
    -------
    orders : list of lists of expert indices; ``leaf_post[:, order]`` are the tree's leaves.
    """
    W = leaf_post * sw[:, None]

    def separability(groups):
        U = np.column_stack([W[:, g].sum(axis=1) for g in groups])
        keep = U.sum(axis=1) > 0
        return soft_label_objective(Xa[keep], U[keep], gate_alpha, _GROUPING_STEPS)

    def groupings(members, n):
        if _n_groupings(len(members), branching) <= MAX_GROUPINGS:
            ranked = sorted(_balanced_groupings(members, branching), key=separability, reverse=True)
            return ranked[:n]
        return [_axis_grouping(members, Xa[:, :-1], W, branching)]

    def arrange(members, n):
        if len(members) == branching:
            return [list(members)]
        return [[leaf for g in groups for leaf in arrange(g, 1)[0]] for groups in groupings(members, n)]

    # depth-first arrangement gives the leaves left to right, which for a
    # balanced tree is the breadth-first order of the last level
    return arrange(list(range(branching**depth)), n_orders)


def initial_labels(kind, engine, design, rs, n_threads=1):
    """The leaf of every row in a k-means or random partition of ``[X, y]`` (``"uniform"``:
    uniformly random labels, for the screened starts of small problems)."""
    n_leaves = engine.tree.n_leaves
    n = design.n_rows

    def features(rows):
        return start_features(design.Xa[rows], engine.experts.kmeans_features(take_rows(design.target, rows)))

    if kind == "uniform":
        return rs.randint(n_leaves, size=n)
    if n <= KMEANS_MAX_ROWS:
        F = features(slice(None))
        if kind == "random":
            return random_partition_labels(F, design.sw, n_leaves, rs)
        return kmeans_labels(F, design.sw, n_leaves, rs, n_threads)
    sample = np.sort(rs.choice(n, size=KMEANS_MAX_ROWS, replace=False))
    F = features(sample)
    if kind == "random":
        centres = F[random_centres(design.sw[sample], n_leaves, rs)]
    else:
        km = kmeans(F, design.sw[sample], n_leaves, rs, n_threads)
        centres = km.cluster_centers_
    labels = np.empty(n, dtype=np.intp)
    for rows in design.chunks():
        labels[rows] = nearest_centre(features(rows), centres)
    return labels


def start_rows(n_rows, n_free_params):
    """How many rows the start works on, for ``n_rows`` rows and a flat mixture with
    ``n_free_params`` free parameters (see the module's doc)."""
    wanted = max(START_MIN_ROWS, START_ROWS_PER_PARAM * n_free_params)
    return min(n_rows, START_MAX_ROWS, wanted)


def small_start(n_rows, n_free_params):
    """Whether ``"short_em"`` screens starts for finalists run to convergence
    (:func:`screened_runs`) on ``n_rows`` rows of a flat mixture with ``n_free_params``
    free parameters; False: the best of the short runs alone continues."""
    return n_rows * n_free_params <= SMALL_START_SIZE


def screened_runs(flat, design, from_partition, max_iter, tol):
    """Parameters of the best of the ``SCREEN_KINDS`` starts on a small flat mixture.

    Short runs (``SHORT_TOL``, at most ``SHORT_MAX_ITER`` iterations) from the partitions
    of ``SCREEN_KINDS``; the ``FINALISTS`` best of them continue to convergence
    (``max_iter``, ``tol`` but at least ``FULL_RUN_TOL``) and the best final objective
    wins.  ``from_partition(kind)`` gives the parameters of a start.
    """
    runs = []
    for run, kind in enumerate(SCREEN_KINDS):
        params = from_partition(kind)
        params, bounds, *_ = flat.run(params, design, SHORT_MAX_ITER, SHORT_TOL)
        runs.append((bounds[-1], run, params))
    # ties keep the earlier start (run): the choice does not depend on comparing parameters
    finalists = sorted(runs, key=lambda r: (-r[0], r[1]))[:FINALISTS]
    return best_final_run(flat, (params for *_, params in finalists), design, max_iter, max(tol, FULL_RUN_TOL))


def best_final_run(engine, starts, design, max_iter, tol):
    """The parameters at the end of ``engine``'s EM run (``max_iter``, ``tol``) from each of
    ``starts`` (an iterable, consumed one start per run) whose final objective is highest;
    the earliest on ties."""
    best, best_bound = None, -np.inf
    for params in starts:
        params, bounds, *_ = engine.run(params, design, max_iter, tol)
        if best is None or bounds[-1] > best_bound:
            best, best_bound = params, bounds[-1]
    return best


def _n_free_params(flat, design, info):
    """Free parameters of the flat mixture.  Experts that count theirs only once fitted
    (estimator experts) count as linear experts with a variance per output: a Ridge
    expert then starts on the same rows as the built-in linear one."""
    zero = flat.zero_params(design, info)
    try:
        return flat.n_free_params(zero)
    except ValueError:
        n_leaves, n_outputs = flat.tree.n_leaves, info.get("n_outputs", 1)
        return flat.gate.n_free_params(zero["gate"]) + n_leaves * n_outputs * (design.expert_X.shape[1] + 1)


#: the start of refits at another number of experts or on other rows (``bootstrap_lrt``,
#: ``MixtureOfExpertsIC``) when the model's ``init_params`` is an array
REFIT_START = "short_em"


def refit_start(estimator, what):
    """The ``init_params`` of refits at another size or on other rows: ``{"init_params":
    REFIT_START}`` with a UserWarning when ``estimator``'s is an array (initial
    responsibilities or labels: a start for its own rows and number of experts, which
    ``what`` changes); otherwise ``{}`` (a named start carries over)."""
    init = estimator.get_params().get("init_params")
    if init is None or isinstance(init, str):
        return {}
    warnings.warn(
        f"init_params is an array of initial responsibilities, a start for the training rows and "
        f"number of experts only; {what} refits with other numbers of experts or on other data, and "
        f"starts those fits from init_params={REFIT_START!r} instead.",
        UserWarning,
        stacklevel=3,
    )
    return {"init_params": REFIT_START}


def check_responsibilities(init, n_samples, n_leaves):
    """The user's initial responsibilities: a float array ``(n_samples, n_leaves)`` whose
    rows sum to 1, or a leaf per row ``(n_samples,)`` (intp); a ValueError, in words,
    for anything else.  ``init`` is not modified."""
    R = np.asarray(init)
    if R.ndim == 1:
        if R.dtype.kind not in "iu":
            raise ValueError(
                "init_params given as a 1-D array must hold integer leaf labels (one per "
                f"sample, in [0, {n_leaves})); got dtype {R.dtype}."
            )
        if R.shape[0] != n_samples:
            raise ValueError(
                f"init_params holds {R.shape[0]} labels; it should hold one per sample "
                f"(n_samples={n_samples})."
            )
        if R.size and (R.min() < 0 or R.max() >= n_leaves):
            raise ValueError(
                f"init_params labels must be in [0, {n_leaves}) (n_leaves={n_leaves}); got "
                f"values from {R.min()} to {R.max()}."
            )
        return R.astype(np.intp)
    if R.ndim != 2:
        raise ValueError(
            f"init_params must be a string, an array of shape (n_samples, n_leaves) of "
            f"responsibilities or a 1-D array of labels; got an array of {R.ndim} dimensions."
        )
    if R.shape != (n_samples, n_leaves):
        raise ValueError(
            f"init_params has shape {R.shape}; responsibilities should have shape "
            f"(n_samples, n_leaves) = ({n_samples}, {n_leaves})."
        )
    if R.dtype.kind not in "biuf":
        raise ValueError(f"init_params must hold numbers; got dtype {R.dtype}.")
    R = R.astype(np.float64)  # a copy: the user's array is not modified
    if not np.isfinite(R).all():
        raise ValueError("init_params contains NaN or infinity.")
    if (R < 0).any():
        raise ValueError("init_params responsibilities must be non-negative.")
    total = R.sum(axis=1, keepdims=True)
    if not (total > 0).all():
        rows = np.flatnonzero(total[:, 0] <= 0)
        raise ValueError(
            f"every row of init_params must have a positive sum; rows {rows[:5].tolist()} "
            "do not."
        )
    R /= total
    return R


def censored_start_design(design, flat, info):
    """The design a fit of censored or truncated rows (``design.censored``) starts on: its
    rows as exact and untruncated (the family's own exact M-steps), the censored rows left
    out while the exact rows number at least the flat mixture's free parameters, else every
    row at its stand-in value (see the module's doc)."""
    plain = design.plain()
    enough = design.n_exact >= _n_free_params(flat, plain, info)
    return design.plain(exact_only=True) if enough else plain


def initial_params(engine, flat, design, info, rs, init_params, max_iter, tol, gate_alpha, n_threads=1,
                   rows=None):
    """Parameters for ``engine`` to start EM from.

    ``flat`` is the engine of the flat mixture with one expert per leaf (the
    same as ``engine`` for a flat mixture); a deeper tree starts from that
    mixture, fitted by EM and arranged into the tree.  ``init_params`` given as
    responsibilities (:func:`check_responsibilities`, rows in the design's order)
    are the posteriors of ``engine``'s first M-step, on all the rows.  ``rows``
    (None: ``design``) has the rows the start draws from, as a design's
    ``n_positive`` and ``start_subset`` (the dask fit: all its blocks' rows, of which
    ``design`` holds a sample).
    """
    if not isinstance(init_params, str):
        return engine.fit_posteriors(init_params, design, engine.zero_params(design, info), INIT_STEPS)
    # rows of zero weight do not count in any sum: the start draws from the others
    # (grouped rows: whole groups)
    rows = design if rows is None else rows
    n_free = _n_free_params(flat, design, info)
    size = start_rows(rows.n_positive, n_free)
    design = rows.start_subset(rs, size)

    def from_partition(kind):
        labels = initial_labels(kind, flat, design, rs, n_threads)
        return flat.fit_posteriors(labels, design, flat.zero_params(design, info), INIT_STEPS)

    if init_params == "short_em" and engine.tree.depth == 1 and small_start(design.n_rows, n_free):
        params = screened_runs(flat, design, from_partition, max_iter, tol)
    elif init_params == "short_em":
        starts = (from_partition(("kmeans", "random")[run % 2]) for run in range(SHORT_RUNS))
        params = best_final_run(flat, starts, design, SHORT_MAX_ITER, SHORT_TOL)
    else:
        params = from_partition(init_params)
    tree = engine.tree
    if tree.depth == 1:
        return params
    params = flat.run(params, design, max_iter, tol)[0]
    leaf_post = flat.e_step(params, design)[0]
    # the gate's rows: the groups of grouped rows
    unit_post = design.unit_posteriors(leaf_post, tree.n_leaves)
    orders = leaf_arrangements(
        unit_post, design.gate_X, design.gate_sw, tree.depth, tree.branching, gate_alpha, TREE_ARRANGEMENTS
    )
    if len(orders) == 1:
        zero = engine.zero_params(design, info)
        return engine.fit_posteriors(leaf_post[:, orders[0]], design, zero, INIT_STEPS)
    # the most separable top split is not always the tree's: each candidate runs the
    # tree's EM on the start's rows and the best final objective wins
    starts = (engine.fit_posteriors(leaf_post[:, order], design, engine.zero_params(design, info), INIT_STEPS)
              for order in orders)
    return best_final_run(engine, starts, design, max_iter, tol)
