"""The numerics of mixexp, filed by role: plain functions on arrays.

``softmax``
    The group softmax: its exact kernel (``log_softmax_groups``), the fit's
    fast variant (``log_softmax_groups_rows``) and prediction's (``group_softmax``
    of relative logits, ``path_softmax_rows``).
``estep``
    The E-step through a tree: its exact kernel (``tree_posteriors``), the fast
    variant (``tree_posteriors_rows``), a Gaussian gate's leaf probabilities.
``densities``
    The leaves' log-densities (Gaussian, multinomial exact and fast) and the
    Gaussian gate's squared whitened norms.
``linalg``
    Weighted Grams, products of the design, PSD solves.
``bound``
    The M-step of every softmax: Böhning's bound step with learned step
    lengths, and the gradient rows it takes (exact and fast).
``prox``
    Elastic-net M-steps: coordinate descent, proximal steps on the bound.
``mixing``
    A prediction's mixtures of the leaves' outputs.
``shapes``
    The one-Newton-step M-step of the Weibull and negative binomial experts: their
    weighted per-row derivatives and line-search sums, fused (numpy gives the exps).

The numba kernels are serial and release the GIL: a pass over the data runs
them on chunks of rows on several threads (:mod:`mixexp._parallel`).  Each
checks the shapes it is handed before it touches memory, so parameters and
data that disagree raise ``ValueError`` instead of reading or writing outside
an array.  Each exact kernel sits beside its fast variant, which gives its
numbers with numpy's vectorised exp (tests/test_kernels.py, tests/test_mixing.py)
and hands it the rows with infinite terms.  The estimators and components are
the layer above; nothing here knows them.
"""
