"""Expert families, by task and by the name the estimators' ``expert`` parameter takes."""

from .estimator import EstimatorExperts, check_expert_estimators, check_incremental
from .gaussian import LinearGaussianExperts
from .multinomial import MultinomialExperts

#: task -> ``expert=`` name -> factory of the family from the estimator's parameters.
EXPERTS = {
    "regression": {
        "linear": lambda params: LinearGaussianExperts(params["alpha"], params["reg_variance"]),
    },
    "classification": {
        "linear": lambda params: MultinomialExperts(params["alpha"]),
    },
}


def make_experts(task, n_leaves, params):
    """The expert family for ``params["expert"]``: a registered name or estimators."""
    expert = params["expert"]
    if isinstance(expert, str):
        if expert not in EXPERTS[task]:
            raise ValueError(
                f"expert={expert!r} is not an expert family for {task}; choose one of "
                f"{sorted(EXPERTS[task])} or a scikit-learn estimator."
            )
        return EXPERTS[task][expert](params)
    templates = check_expert_estimators(expert, task, n_leaves)
    return EstimatorExperts(templates, task, params.get("reg_variance", 1e-6))
