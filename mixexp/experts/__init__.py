"""Expert families, by task and by the name the estimators' ``expert`` parameter takes."""

from .estimator import EstimatorExperts
from .gaussian import LinearGaussianExperts
from .glm import GammaExperts, PoissonExperts
from .multinomial import MultinomialExperts
from .student_t import StudentTExperts
from .templates import check_expert_estimators, check_incremental  # noqa: F401 (for _partial_fit)
from .zip import ZeroInflatedPoissonExperts

#: task -> ``expert=`` name -> factory of the family from the estimator's parameters.
EXPERTS = {
    "regression": {
        "linear": lambda params: LinearGaussianExperts(
            params["alpha"], params["reg_variance"], params.get("l1_ratio", 0.0)
        ),
        "student_t": lambda params: StudentTExperts(params["alpha"], params["reg_variance"]),
        "poisson": lambda params: PoissonExperts(params["alpha"]),
        "gamma": lambda params: GammaExperts(params["alpha"], params["reg_variance"]),
        "zip": lambda params: ZeroInflatedPoissonExperts(params["alpha"]),
    },
    "classification": {
        "linear": lambda params: MultinomialExperts(params["alpha"], params.get("l1_ratio", 0.0)),
    },
}

# the families whose targets are restricted (scikit-learn's target tags)
_RESTRICTED = {"poisson": PoissonExperts, "gamma": GammaExperts, "zip": ZeroInflatedPoissonExperts}


def target_tags(task, expert):
    """``(multi_output, positive_only)`` of the family ``expert`` names (defaults otherwise)."""
    family = _RESTRICTED.get(expert) if task == "regression" and isinstance(expert, str) else None
    if family is None:
        return True, False
    return family.multi_output, family.positive_only


def make_experts(task, n_leaves, params):
    """The expert family for ``params["expert"]``: a registered name or estimators."""
    expert = params["expert"]
    if isinstance(expert, str):
        if expert not in EXPERTS[task]:
            raise ValueError(
                f"expert={expert!r} is not an expert family for {task}; choose one of "
                f"{sorted(EXPERTS[task])} or a scikit-learn estimator."
            )
        if params.get("l1_ratio", 0.0) > 0 and expert != "linear":
            raise ValueError(
                f"l1_ratio > 0 (an elastic-net penalty) is implemented for expert='linear' "
                f"only, not for expert={expert!r}; use l1_ratio=0."
            )
        return EXPERTS[task][expert](params)
    templates = check_expert_estimators(expert, task, n_leaves)
    return EstimatorExperts(
        templates, task, params.get("reg_variance", 1e-6), params.get("random_state")
    )


def check_summable(task, expert, what):
    """A ValueError when the family named ``expert`` refits on all rows at once, so that
    ``what`` (online EM, a dask fit), which works from running or distributed sums, cannot
    serve it."""
    if isinstance(expert, str) and expert in EXPERTS[task]:
        family = EXPERTS[task][expert]({"alpha": 0.0, "reg_variance": 1.0, "l1_ratio": 0.0})
        if getattr(family, "needs_all_rows", False):
            raise ValueError(
                f"expert={expert!r} refits its experts on all rows at every M-step (Newton "
                f"to convergence), so {what} cannot serve it; fit the data in memory."
            )
