"""Standard errors of a fitted mixture: observed information, sandwich, summary table.

The observed information is minus the Hessian of the observed-data
log-likelihood ``l(theta) = sum_i w_i log p(y_i | x_i)`` (with a gate that models
x, ``log p(x_i, y_i)``: the likelihood EM maximised) at the fitted parameters,
computed row by row with Louis's (1982) identity: with ``z`` the latent leaf and
``s_iz``, ``H_iz`` the score and Hessian of the complete-data term
``log p(y_i, z | x_i)``,

    d2 log p(y_i | x_i) = E[H_iz | x_i, y_i] + Cov[s_iz | x_i, y_i].

The complete-data term of leaf ``l`` is the sum of the gate's log terms ``g_ie``
on the edges ``e`` of the leaf's path and the leaf's log-density ``f_il``; the
gate's parameters touch only the ``g``, leaf ``l``'s expert parameters only
``f_il``.  So each component answers for its own share, through the members
its base class declares (:class:`mixexp.gates.Gate`,
:class:`mixexp.experts.ExpertComponent`), and this module tests no component
by name:

- ``inference_vector`` / ``from_inference_vector``: the free parameters in an
  identified parameterisation, in internal coordinates (standardised features
  and targets): every softmax relative to its first row, whose coefficients are
  fixed at 0 as flexmix does; log variances, log dispersions, logits, ...;
- ``inference_edge_scores`` and ``inference_hessian`` (gates: per edge, the
  Hessian weighted by the posteriors of the nodes the edges lead to),
  ``inference_scores`` and ``inference_hessian`` (experts: per leaf, the
  Hessian weighted by the leaves' posteriors): analytic where they are cheap
  (softmax gate, Gaussian, multinomial, Poisson and Gamma experts), by default
  central differences of the component's own ``scores`` (the Gaussian gate,
  Student-t and zero-inflated Poisson experts, and any new component that
  declares only its vector);
- ``inference_fixed``: entries held at their values (a sparse fit's zeros, a
  parameter on the boundary of its space), which get no standard error;
- ``inference_labels``: names, and the linear map to raw units.

The covariance (the inverse information, or the sandwich ``I^-1 B I^-1`` with
``B = sum_i w_i g_i g_i^T`` of the row scores ``g_i``) is then mapped to the
units of the raw data by the delta method, through the components' linear maps.
A component that cannot do this honestly refuses (``check_inference``): the
attention gate, whose log terms depend on the experts' parameters, and
scikit-learn estimators as experts.

The estimates are those of the fit, penalised or not; the information is the
log-likelihood's alone.  In a sparse fit (``l1_ratio > 0``) the coefficients
the penalty set to 0 are held there (Khalili & Chen 2007's oracle
standard errors for the selected ones): they get no standard error.
"""

from ._bootstrap import BootstrapLRTResult, BootstrapResult, bootstrap, bootstrap_lrt
from ._information import (
    COV_TYPES,
    Layout,
    ParameterInference,
    observed_information,
    parameter_inference,
    raw_units,
    summary_table,
)
from ._wald import WaldTestResult, wald_test

__all__ = [
    "COV_TYPES",
    "BootstrapLRTResult",
    "BootstrapResult",
    "Layout",
    "ParameterInference",
    "WaldTestResult",
    "bootstrap",
    "bootstrap_lrt",
    "observed_information",
    "parameter_inference",
    "raw_units",
    "summary_table",
    "wald_test",
]
