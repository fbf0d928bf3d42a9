"""What ``fit`` learned, and what a continued fit (``warm_start``) must keep of it.

:class:`FittedMixture` is the fitted state, in internal coordinates: the
tree, components and parameters that prediction uses, never the
estimator's current parameters.  Its :meth:`~FittedMixture.public_attributes`
are the estimator's fitted attributes in the units of the data.
:func:`check_warm_start` and :func:`check_warm_target` refuse, in words, a
continued fit that the fitted state cannot serve.  :class:`FitSources` says
what a fit on some rows takes from all the rows (the dask fit, online EM's first batch).
"""

from dataclasses import dataclass

import numpy as np

from ._design import Coordinates, Design
from ._groups import GroupedDesign
from ._engine import EMEngine
from ._tree import Tree
from .experts.censored import CensoredExperts


def expert_kind(expert, zero_inflation=False):
    """What warm_start must keep: a family name (``"zero-inflated <name>"`` with
    ``zero_inflation``), or the estimators' types."""
    if isinstance(expert, str):
        return f"zero-inflated {expert}" if zero_inflation else expert
    if isinstance(expert, dict):  # one family per response column
        return {key: expert_kind(spec) if isinstance(spec, str) else dict(spec) for key, spec in expert.items()}
    items = expert if isinstance(expert, (list, tuple)) else [expert]
    return tuple(type(e).__name__ for e in items)


@dataclass
class FitSources:
    """What a fit on some rows takes from all the rows (the dask fit: from its blocks;
    online EM's first batch: the classes given to ``partial_fit``).

    location : callable () -> (x_mean, x_scale), or None: from the rows fitted.
    info : callable (expert family) -> target information (classes; target
        mean and scale), or None: from the rows fitted.
    run : callable (engine, state) -> (engine, design) that EM runs on, or
        None: the rows fitted.
    start : callable (state) -> the rows the start draws its rows from (a design's
        ``n_positive`` and ``start_subset``), or None: the rows fitted.
    target_range : callable (state, target_range) -> the range of the targets that
        prediction clips to, ``target_range(state, design)`` taken over all the rows, or
        None: over the rows fitted.
    """

    location: object = None
    info: object = None
    run: object = None
    start: object = None
    target_range: object = None


@dataclass
class FittedMixture:
    """What ``fit`` learned, in internal coordinates: all that prediction uses."""

    tree: Tree
    gate: object
    experts: object
    params: dict
    x_mean: np.ndarray
    x_scale: np.ndarray
    info: dict  # the expert family's target information (scales, classes)
    gate_name: str
    expert_kind: object
    gate_columns: object = None  # feature indices the gate sees (None: all)
    expert_columns: object = None
    dense: bool = True  # fitted on dense X (centred): predictions densify sparse X
    # regressors: the range of the training targets of each leaf's rows, internal units,
    # (2, n_leaves + 1, n_targets): low, high; NaN for a leaf that owns no row; the last
    # entry is the range of all rows (mixexp._regressor.target_range)
    target_range: object = None
    # fitted with NaN in X (mixexp._missing): prediction marginalises NaN
    takes_missing: bool = False

    def engine(self, run=None, censored=False):
        """The EM engine of the fitted components; with ``censored``, for rows that carry
        censoring or truncation (:class:`~mixexp.experts.censored.CensoredExperts`)."""
        return EMEngine(self.tree, self.gate, self.fit_experts(censored), run)

    def fit_experts(self, censored=False):
        """The expert component that EM and the E-step use: the family's, or with ``censored``
        the family's on censored and truncated rows."""
        return CensoredExperts(self.experts, self.info) if censored else self.experts

    def design(self, Xa, target, sw, starts=None):
        """The internal design of rows; with ``starts`` (rows sorted by group, the first row
        of every group), of grouped rows (:class:`~mixexp._groups.GroupedDesign`)."""
        if starts is not None:
            return GroupedDesign(
                Xa, target, sw, starts, gate_columns=self.gate_columns, expert_columns=self.expert_columns
            )
        return Design(Xa, target, sw, gate_columns=self.gate_columns, expert_columns=self.expert_columns)

    def coordinates(self, part):
        columns = self.gate_columns if part == "gate" else self.expert_columns
        return Coordinates(self.x_mean, self.x_scale, columns)

    def loglik_shift(self):
        """What turns the internal objective into the units of the data (gate and experts)."""
        return self.experts.loglik_shift(self.info) + self.gate.loglik_shift(self.coordinates("gate"))

    def public_attributes(self, flat_estimator):
        """Fitted attributes in the units of the data; a ValueError if any overflows.

        ``flat_estimator``: whether the estimator is a flat mixture (a tree of
        depth 1 names its gate's attributes as a tree does).
        """
        flat = self.tree.depth == 1 and flat_estimator
        with np.errstate(over="ignore"):  # an overflow is reported below, in words
            attributes = {
                "x_mean_": self.x_mean,
                "x_scale_": self.x_scale,
                **self.gate.attributes(self.params["gate"], self.coordinates("gate"), flat),
                **self.experts.attributes(self.params["experts"], self.coordinates("experts"), self.info),
            }
        for name, value in attributes.items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise ValueError(
                    f"The fitted {name} is not finite in the units of the data: X or y "
                    "spans more than float64 can represent through this model (e.g. a noise "
                    "variance above 1e308). Rescale X or y and fit again."
                )
        return attributes


def check_warm_start(estimator, fitted, tree, X, old_n_features, gate_columns, expert_columns):
    """Refuse, in words, a warm start whose structure or columns differ from ``fitted``."""
    changes = []
    for part, new, old in [
        ("gate_features", gate_columns, fitted.gate_columns),
        ("expert_features", expert_columns, fitted.expert_columns),
    ]:
        if (new is None) != (old is None) or (new is not None and not np.array_equal(new, old)):
            changes.append(f"{part} selects other columns than in the fitted model")
    if old_n_features != X.shape[1]:
        changes.append(f"X has {X.shape[1]} features where the fitted model has {old_n_features}")
    if tree != fitted.tree:
        if estimator._is_flat:
            changes.append(f"n_experts is {estimator.n_experts}, the fitted model has {fitted.tree.n_leaves}")
        else:
            changes.append(
                f"depth, branching are {estimator.depth}, {estimator.branching}, the fitted model has "
                f"{fitted.tree.depth}, {fitted.tree.branching}"
            )
    if estimator.gate != fitted.gate_name:
        changes.append(f"gate is {estimator.gate!r}, the fitted model has {fitted.gate_name!r}")
    if expert_kind(estimator.expert, getattr(estimator, "zero_inflation", False)) != fitted.expert_kind:
        changes.append(
            f"expert is {expert_kind(estimator.expert, getattr(estimator, 'zero_inflation', False))!r}, "
            f"the fitted model's experts {fitted.expert_kind!r}"
        )
    if changes:
        raise ValueError(
            "warm_start=True cannot continue the fitted model: "
            + "; ".join(changes)
            + ". Refit with warm_start=False."
        )


def check_warm_target(fitted, info):
    """Refuse, in words, a warm start whose targets (classes, outputs) differ from ``fitted``."""
    old, new = fitted.info, info
    if "classes" in old and not np.array_equal(old["classes"], new["classes"]):
        raise ValueError(
            f"warm_start=True cannot continue the fitted model: y has classes "
            f"{new['classes']!r}, the fitted model {old['classes']!r}. Refit with warm_start=False."
        )
    if old["n_outputs"] != new["n_outputs"]:
        raise ValueError(
            f"warm_start=True cannot continue the fitted model: y has {new['n_outputs']} "
            f"targets, the fitted model {old['n_outputs']}. Refit with warm_start=False."
        )
