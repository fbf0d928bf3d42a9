"""Expert families (:class:`ExpertComponent` and its registry), by task and by the name
the estimators' ``expert`` parameter takes."""

from . import _glm_distributions  # noqa: F401  (Poisson and Gamma distribution members)
from .base import ExpertComponent
from .estimator import EstimatorExperts
from .gaussian import LinearGaussianExperts
from .glm import GammaExperts, PoissonExperts
from .multinomial import MultinomialExperts
from .student_t import StudentTExperts
from .templates import check_expert_estimators, check_incremental
from .zero_inflated import ZeroInflatedExperts, ZeroInflatedPoisson, zero_inflated

#: task -> ``expert=`` name -> family class (each builds itself from the estimator's
#: parameters with :meth:`ExpertComponent.from_params`).
EXPERTS = {
    "regression": {
        cls.name: cls
        for cls in (
            LinearGaussianExperts, StudentTExperts, PoissonExperts, GammaExperts, ZeroInflatedPoisson,
        )
    },
    "classification": {cls.name: cls for cls in (MultinomialExperts,)},
}

__all__ = [
    "ExpertComponent", "EXPERTS", "ZeroInflatedExperts", "make_experts", "target_tags", "check_summable",
]


def _family(task, expert):
    """The registered family class that ``expert`` names, or None (estimators)."""
    return EXPERTS[task].get(expert) if isinstance(expert, str) else None


def target_tags(task, expert):
    """``(multi_output, positive_only)`` of the family ``expert`` names (defaults otherwise)."""
    family = _family(task, expert) or ExpertComponent
    return family.multi_output, family.positive_only


def make_experts(task, n_leaves, params):
    """The expert family for ``params["expert"]``: a registered name or estimators; with
    ``params["zero_inflation"]`` (regressors), the family with a point mass at 0 in every
    expert (:class:`ZeroInflatedExperts`)."""
    expert = params["expert"]
    if params.get("zero_inflation", False):
        if not isinstance(expert, str):
            raise ValueError(
                "zero_inflation=True needs an expert family by name (expert='linear', "
                "'student_t', 'poisson', 'gamma'); estimator experts have no point mass to add."
            )
        return zero_inflated(make_experts(task, n_leaves, {**params, "zero_inflation": False}), expert)
    if isinstance(expert, str):
        family = _family(task, expert)
        if family is None:
            raise ValueError(
                f"expert={expert!r} is not an expert family for {task}; choose one of "
                f"{sorted(EXPERTS[task])} or a scikit-learn estimator."
            )
        if params.get("l1_ratio", 0.0) > 0 and not family.supports_l1:
            supported = sorted(name for name, cls in EXPERTS[task].items() if cls.supports_l1)
            raise ValueError(
                f"l1_ratio > 0 (an elastic-net penalty) is implemented for expert="
                f"{' or '.join(map(repr, supported))} only, not for expert={expert!r}; use l1_ratio=0."
            )
        return family.from_params(params)
    templates = check_expert_estimators(expert, task, n_leaves)
    return EstimatorExperts(
        templates, task, params.get("reg_variance", 1e-6), params.get("random_state")
    )


def check_summable(task, expert, what):
    """A ValueError when the family named ``expert`` refits on all rows at once, so that
    ``what`` (online EM, a dask fit), which works from running or distributed sums, cannot
    serve it."""
    family = _family(task, expert)
    if family is not None and family.needs_all_rows:
        raise ValueError(
            f"expert={expert!r} refits its experts on all rows at every M-step (Newton "
            f"to convergence), so {what} cannot serve it; fit the data in memory."
        )
