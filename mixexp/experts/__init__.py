"""Expert families (:class:`ExpertComponent` and its registry), by task and by the name
the estimators' ``expert`` parameter takes."""

from .base import ExpertComponent
from .burr import BurrExperts
from .estimator import EstimatorExperts
from .family import ExpertFamily, ExpertFamilyWarning, UserFamilyExperts
from .gaussian import LinearGaussianExperts
from .glm import GammaExperts, PoissonExperts
from .inverse_gaussian import InverseGaussianExperts
from .lognormal import LogNormalExperts
from .multinomial import MultinomialExperts
from .multiresponse import MultiResponseExperts
from .negative_binomial import NegativeBinomialExperts
from .student_t import StudentTExperts
from .templates import check_expert_estimators, check_incremental  # noqa: F401 (for _partial_fit)
from .weibull import WeibullExperts
from .zero_inflated import ZeroInflatedExperts, ZeroInflatedPoisson, zero_inflated

#: task -> ``expert=`` name -> family class (each builds itself from the estimator's
#: parameters with :meth:`ExpertComponent.from_params`).
EXPERTS = {
    "regression": {
        cls.name: cls
        for cls in (
            LinearGaussianExperts, StudentTExperts, PoissonExperts, GammaExperts,
            ZeroInflatedPoisson, NegativeBinomialExperts, LogNormalExperts, WeibullExperts,
            InverseGaussianExperts, BurrExperts,
        )
    },
    "classification": {cls.name: cls for cls in (MultinomialExperts,)},
}

__all__ = [
    "ExpertFamily", "ExpertFamilyWarning", "ExpertComponent", "EXPERTS", "ZeroInflatedExperts",
    "MultiResponseExperts", "target_family",
    "make_experts", "target_tags", "check_summable", "check_incremental",
]


def _family(task, expert):
    """The registered family class that ``expert`` names, or None (estimators, a user's
    :class:`ExpertFamily`)."""
    return EXPERTS[task].get(expert) if isinstance(expert, str) else None


def target_family(task, expert):
    """The class of the family that ``expert`` names or is (a dict of response columns:
    :class:`MultiResponseExperts`), whose flags tell how ``y`` is validated; the base class
    (the defaults) otherwise."""
    if isinstance(expert, ExpertFamily):
        return UserFamilyExperts
    if isinstance(expert, dict):
        return MultiResponseExperts
    return _family(task, expert) or ExpertComponent


def target_tags(task, expert):
    """``(multi_output, positive_only)`` of the family ``expert`` names or is (a user's
    :class:`ExpertFamily`); defaults otherwise."""
    family = expert if isinstance(expert, ExpertFamily) else target_family(task, expert)
    return family.multi_output, family.positive_only


def _response_family(key, spec):
    """``(name, zero_inflation)`` of one column's family in ``expert={column: family}``: a
    registered name, or ``{"family": name, "zero_inflation": bool}``."""
    if isinstance(spec, str):
        return spec, False
    if isinstance(spec, dict) and isinstance(spec.get("family"), str) and set(spec) <= {"family", "zero_inflation"}:
        return spec["family"], bool(spec.get("zero_inflation", False))
    raise ValueError(
        f"expert={{column: family}}: the family of column {key!r} should be a registered name "
        f"(expert='poisson', 'gamma', ...) or {{'family': name, 'zero_inflation': bool}}, got {spec!r}."
    )


def _multi_response(task, n_leaves, params):
    """:class:`MultiResponseExperts` for ``params["expert"]``, a dict of response columns."""
    expert = params["expert"]
    if task != "regression":
        raise ValueError(
            f"expert={expert!r} (one family per response column) is for regressors; a classifier "
            "takes expert='linear' or scikit-learn classifiers."
        )
    if not expert:
        raise ValueError("expert={} names no response column; give {column: family, ...}.")
    if params.get("zero_inflation", False):
        raise ValueError(
            "zero_inflation=True with expert={column: family} is ambiguous: set it per column, "
            "e.g. expert={'claims': {'family': 'negative_binomial', 'zero_inflation': True}, "
            "'size': 'gamma'}."
        )
    columns = []
    for key, spec in expert.items():
        name, inflated = _response_family(key, spec)
        if _family(task, name) is None:
            raise ValueError(
                f"expert={{column: family}}: {name!r} (column {key!r}) is not a registered family; "
                f"choose one of {sorted(EXPERTS[task])}."
            )
        columns.append((key, make_experts(task, n_leaves, {**params, "expert": name, "zero_inflation": inflated})))
    return MultiResponseExperts(columns)


def make_experts(task, n_leaves, params):
    """The expert family for ``params["expert"]``: a registered name, a user's
    :class:`ExpertFamily` or estimators; with ``params["zero_inflation"]`` (regressors), the
    registered family with a point mass at 0 in every expert (:class:`ZeroInflatedExperts`)."""
    expert = params["expert"]
    if isinstance(expert, dict):
        return _multi_response(task, n_leaves, params)
    if params.get("zero_inflation", False):
        if not isinstance(expert, str):
            raise ValueError(
                f"zero_inflation=True needs an expert family by name (expert='linear', 'poisson', "
                f"'gamma', ...), not expert={expert!r}: estimator experts and an ExpertFamily "
                "have no point mass to add."
            )
        return zero_inflated(make_experts(task, n_leaves, {**params, "zero_inflation": False}), expert)
    if isinstance(expert, ExpertFamily):
        if task != "regression":
            raise ValueError(
                f"expert={expert!r} is an ExpertFamily, which models regression targets; a "
                "classifier takes expert='linear' or scikit-learn classifiers."
            )
        if params.get("l1_ratio", 0.0) > 0:
            raise ValueError(
                f"l1_ratio > 0 (an elastic-net penalty) is implemented for expert='linear' only, "
                f"not for expert={expert!r} (an ExpertFamily); use l1_ratio=0."
            )
        return UserFamilyExperts(expert, n_leaves)
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
    if isinstance(expert, dict):
        raise ValueError(
            f"expert={expert!r} (one family per response column) is fitted in memory only; "
            f"{what} cannot serve it yet."
        )
    if isinstance(expert, ExpertFamily):
        raise ValueError(
            f"expert={expert!r} (an ExpertFamily) takes all rows at every M-step "
            f"(m_step(X, y, weights, params)), so {what} cannot serve it; fit the data in memory."
        )
    family = _family(task, expert)
    if family is not None and family.needs_all_rows:
        raise ValueError(
            f"expert={expert!r} refits its experts on all rows at every M-step (Newton "
            f"to convergence), so {what} cannot serve it; fit the data in memory."
        )
