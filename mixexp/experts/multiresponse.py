"""Several responses, each with its own family, in one model: :class:`MultiResponseExperts`.

``expert={column: family, ...}`` with a 2-D ``y`` (a claim count and a claim size per
policy): the responses are conditionally independent given the expert, so each leaf's
log-density of a row is the sum over the columns of that column's family's
log-density, ``log p_k(y | x) = sum_j log p_kj(y_j | x)``, and the gate is shared.

The component holds one family per column (in y's column order) and answers the
contract by delegation: the target is the tuple of the columns' targets and the marks
of the missing entries; the E-step's log-densities are the columns' sums; the row sums,
the M-step, the penalty and the free parameters are the columns' side by side
(``{"0": ..., "1": ...}``), since the expected complete-data log-likelihood of the
experts splits over the columns.  Each column's M-step is its family's, so EM is
monotone when every family's is.

Missing responses
    NaN in a column of a continuous family marks a response that does not exist (no
    claim, no claim size): it contributes 0 to that row's log-density for that column
    and zero weight to that column's M-step (the family sees the column's weighted mean
    in its place, with weight 0).  A count is always observed (no claim is a count of
    0): NaN in a column of a discrete family is refused, as NaN in any single-family
    model is.

Exposure
    An ``exposure`` is the offset of the count columns (discrete families that take
    one) only; a size is per claim, not per unit of exposure.
"""

import numpy as np
from sklearn.utils.validation import check_array, check_consistent_length

from .._inference_parts import Labels
from .base import ExpertComponent

#: a leaf whose weight of a column's observed responses is below this fraction of the
#: column's keeps its parameters for that column (its fit would be singular)
MIN_COLUMN_FRACTION = 1e-8


def _column_key(key, names):
    """The position of the column ``key`` (an index, or a name of ``names``)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not 0 <= key < len(names):
            raise ValueError(
                f"expert names column {key} of y, which has {len(names)} columns (0 to {len(names) - 1})."
            )
        return int(key)
    if isinstance(key, str):
        labels = [str(name) for name in names]
        if key not in labels:
            known = [name for name in labels if not name.isdigit()]
            raise ValueError(
                f"expert names column {key!r}, which y does not have; "
                + (f"y's columns are {known}." if known else "column names need y as a pandas DataFrame.")
            )
        return labels.index(key)
    raise ValueError(f"expert's keys are y's columns, an index or a name; got {key!r}.")


class MultiResponseExperts(ExpertComponent):
    """One family per response column, conditionally independent given the expert (see
    the module's doc).

    Parameters
    ----------
    columns : list of (key, ExpertComponent)
        The ``expert=`` dict's items: a column of y (index or name) and the family that
        models it, each a regression family of one target.

    Its parameters are ``{"0": ..., "1": ...}``, each column's family's in y's column
    order; its fitted attributes ``expert_coef_`` and ``expert_intercept_`` of all
    columns, ``(n_experts, n_responses, n_features)`` and ``(n_experts, n_responses)``
    (each column's own link: the mean, or the log mean, or the location of log y),
    and ``response_attributes_``, one dict of its family's fitted attributes per column.
    """

    closed_form = False
    multi_output = True
    validates_target = True

    def __init__(self, columns):
        self.columns = list(columns)
        families = [family for _, family in self.columns]
        self.exact = all(f.exact for f in families)
        self.needs_all_rows = any(f.needs_all_rows for f in families)
        self.uses_exposure = any(f.uses_exposure and f.discrete for f in families)
        self.supports_inference = all(f.supports_inference for f in families)
        self.gives_variances = all(f.gives_variances for f in families)
        self.name = {key: family.name for key, family in self.columns}

    @classmethod
    def from_params(cls, params):
        raise NotImplementedError("MultiResponseExperts is built by make_experts from expert={column: family}")

    # -- targets ------------------------------------------------------------
    def _order(self, names):
        """Which family (its index in ``columns``) models each of y's columns ``names``; a ValueError, in words, when
        the dict's keys are not y's columns, each once."""
        positions = [_column_key(key, names) for key, _ in self.columns]
        if sorted(positions) != list(range(len(names))):
            missing = [str(names[j]) for j in range(len(names)) if j not in positions]
            twice = sorted({str(names[j]) for j in positions if positions.count(j) > 1})
            raise ValueError(
                "expert={column: family} needs one family for every column of y, each once; "
                + (f"columns without a family: {missing}. " if missing else "")
                + (f"columns named twice: {twice}." if twice else "")
            )
        return [positions.index(j) for j in range(len(names))]

    def _matrix(self, y, n_samples=None):
        """``y`` as a float ``(n, m)`` array (NaN kept) and its column names."""
        names = None if getattr(y, "columns", None) is None else [str(c) for c in y.columns]
        if np.ndim(y) != 2:
            raise ValueError(
                f"expert={{column: family}} models several responses: y should be 2-D (one column "
                f"per response), got an array of shape {np.shape(y)}."
            )
        Y = check_array(y, dtype=np.float64, ensure_all_finite="allow-nan", input_name="y")
        if n_samples is not None:
            check_consistent_length(Y, np.empty(n_samples))
        return Y, names or [str(j) for j in range(Y.shape[1])]

    def _observed(self, Y, families):
        """The mask of observed entries; a ValueError for NaN in a count column."""
        observed = ~np.isnan(Y)
        for j, family in enumerate(families):
            if family.discrete and not observed[:, j].all():
                raise ValueError(
                    f"y's column {j} (expert={family.name!r}, counts) contains NaN: a count is "
                    "always observed (no event is a count of 0); only the columns of continuous "
                    "families may be NaN (a size where there was no claim)."
                )
        return observed

    def prepare_target(self, y, sw):
        Y, names = self._matrix(y)
        order = self._order(names)
        families = [self.columns[c][1] for c in order]
        observed = self._observed(Y, families)
        targets, infos, fills = [], [], []
        for j, family in enumerate(families):
            w = np.where(observed[:, j], sw, 0.0)
            if not w.sum() > 0:
                raise ValueError(f"y's column {names[j]!r} has no observed value (with positive weight).")
            fill = float(np.average(np.where(observed[:, j], Y[:, j], 0.0), weights=w))
            target, info = family.prepare_target(np.where(observed[:, j], Y[:, j], fill), w)
            targets.append(target)
            infos.append(info)
            fills.append(fill)
        info = {
            "ndim": 2, "n_outputs": len(families), "names": names, "fills": fills, "columns": infos,
            "order": order,
        }
        self._bind(info)
        return (tuple(targets), self._marks(observed, info)), info

    def _marks(self, observed, info):
        """NaN where a response is observed; where it is missing, minus its family's
        ``loglik_shift`` (its log-density, 0 in the units of y, in the family's units)."""
        shifts = [f.loglik_shift(i) for f, i in zip(self._bound, info["columns"])]
        return np.where(observed, np.nan, -np.asarray(shifts, dtype=np.float64))

    def check_target(self, y, n_samples, info):
        Y, names = self._matrix(y, n_samples)
        if Y.shape[1] != info["n_outputs"]:
            raise ValueError(
                f"y has {Y.shape[1]} columns; this model was fitted on {info['n_outputs']} responses "
                f"{info['names']}."
            )
        if getattr(y, "columns", None) is not None and names != info["names"]:
            raise ValueError(f"y's columns {names} are not those the model was fitted on, {info['names']}.")
        self._bind(info)
        families = self._bound
        observed = self._observed(Y, families)
        targets = tuple(
            family.check_target(np.where(observed[:, j], Y[:, j], info["fills"][j]), n_samples, info["columns"][j])
            for j, family in enumerate(families)
        )
        return targets, self._marks(observed, info)

    def offset_target(self, target, log_exposure):
        """The log-exposure as the offset of the count columns (see the module's doc)."""
        targets, marks = target
        # the families are those of the fitted order: the target's columns
        new = tuple(
            f.offset_target(t, log_exposure) if f.uses_exposure and f.discrete else t
            for f, t in zip(self._bound, targets)
        )
        return new, marks

    def kmeans_features(self, target):
        targets, marks = target
        observed = np.isnan(marks)
        parts = []
        for j, (family, t) in enumerate(zip(self._bound, targets)):
            F = np.asarray(family.kmeans_features(t), dtype=np.float64).reshape(observed.shape[0], -1)
            parts.append(np.where(observed[:, j : j + 1], F, 0.0))
        return np.hstack(parts)

    def loglik_shift(self, info):
        self._bind(info)
        return float(sum(f.loglik_shift(i) for f, i in zip(self._bound, info["columns"])))

    # -- the component --------------------------------------------------------
    def _bind(self, info):
        """Keep the families in the order of y's columns (the target's columns)."""
        self._bound = [self.columns[c][1] for c in info["order"]]

    def init_params(self, n_leaves, n_params, info):
        self._bind(info)
        return {j: f.init_params(n_leaves, n_params, i) for (j, f), i in zip(self._keyed(), info["columns"])}

    def check_input(self, Xa):
        for _, family in self.columns:
            family.check_input(Xa)

    def set_coordinates(self, coords):
        for _, family in self.columns:
            family.set_coordinates(coords)

    def leaf_params(self, params, leaves):
        return {j: f.leaf_params(params[j], leaves) for j, f in self._keyed()}

    def _keyed(self):
        return [(str(j), f) for j, f in enumerate(self._bound)]

    def scores(self, Xa, target, params):
        """The sum of the observed columns' log-densities; a missing entry adds minus its
        family's ``loglik_shift`` (0 in the units of y)."""
        targets, marks = target
        total, ctxs = 0.0, []
        for (j, family), t, mark in zip(self._keyed(), targets, marks.T):
            logdens, ctx = family.scores(Xa, t, params[j])
            with np.errstate(invalid="ignore"):
                total = total + np.where(np.isnan(mark)[:, None], logdens, mark[:, None])
            ctxs.append(ctx)
        return total, ctxs

    def stats(self, Xa, target, W, params, ctx, **kwargs):
        targets, marks = target
        out = {}
        for (j, family), t, mark, c in zip(self._keyed(), targets, marks.T, ctx):
            Wj = W * np.isnan(mark)[:, None]
            out[j] = {"family": family.stats(Xa, t, Wj, params[j], c), "mass": Wj.sum(axis=0)}
        return out

    def update(self, S, params, active, safe=False):
        """Every column's M-step; a leaf whose rows hold (almost) none of a column's
        responses (a leaf of policies without claims has no sizes) keeps that column's
        parameters."""
        new, extrapolated = {}, False
        for j, family in self._keyed():
            mass = S[j]["mass"]
            fitted = active & (mass > MIN_COLUMN_FRACTION * mass.sum())
            new[j], extra = family.update(S[j]["family"], params[j], fitted, safe)
            extrapolated |= bool(extra)
        return new, extrapolated

    def penalty(self, params):
        return float(sum(f.penalty(params[j]) for j, f in self._keyed()))

    def n_free_params(self, params):
        return int(sum(f.n_free_params(params[j]) for j, f in self._keyed()))

    # -- fitted attributes and predictions --------------------------------------
    def attributes(self, params, coords, info):
        per_column = [f.attributes(params[j], coords, i) for (j, f), i in zip(self._keyed(), info["columns"])]
        out = {"response_attributes_": per_column}
        coefs = [a.get("expert_coef_") for a in per_column]
        intercepts = [a.get("expert_intercept_") for a in per_column]
        if all(c is not None for c in coefs) and all(b is not None for b in intercepts):
            out["expert_coef_"] = np.concatenate([np.asarray(c).reshape(c.shape[0], -1, c.shape[-1]) for c in coefs], 1)
            out["expert_intercept_"] = np.concatenate([np.asarray(b).reshape(b.shape[0], -1) for b in intercepts], 1)
        return out

    def _row_arrays(self, family, row_arrays):
        """The exposure's offset for the count columns only."""
        return row_arrays if family.uses_exposure and family.discrete else {}

    def moments(self, Xa, params, info, **row_arrays):
        """Each leaf's mean and variance of every column, ``(n, n_leaves, n_responses)``."""
        parts = [
            f.moments(Xa, params[j], i, **self._row_arrays(f, row_arrays))
            for (j, f), i in zip(self._keyed(), info["columns"])
        ]
        return np.concatenate([m for m, _ in parts], axis=2), np.concatenate([v for _, v in parts], axis=2)

    def sample(self, Xa, params, info, leaf, rs, **row_arrays):
        """Draws ``(n, n_draws, n_responses)``: every column from the same leaf of a draw."""
        return np.concatenate([
            f.sample(Xa, params[j], i, leaf, rs, **self._row_arrays(f, row_arrays))
            for (j, f), i in zip(self._keyed(), info["columns"])
        ], axis=2)

    # -- inference: each leaf's vector is the columns' vectors side by side ------------
    def check_inference(self):
        for key, family in self.columns:
            if not family.supports_inference:
                raise ValueError(
                    f"summary() and parameter_inference() cannot give standard errors for the "
                    f"response {key!r} (expert={family.name!r}): its family declares no inference vector."
                )

    def _widths(self, params):
        return [f.inference_vector(params[j]).shape[1] for j, f in self._keyed()]

    def inference_vector(self, params):
        return np.concatenate([f.inference_vector(params[j]) for j, f in self._keyed()], axis=1)

    def from_inference_vector(self, theta, params):
        theta = np.asarray(theta)
        edges = np.cumsum([0] + self._widths(params))
        return {
            j: f.from_inference_vector(theta[:, edges[c] : edges[c + 1]], params[j])
            for c, (j, f) in enumerate(self._keyed())
        }

    def inference_fixed(self, params):
        return np.concatenate([f.inference_fixed(params[j]) for j, f in self._keyed()], axis=1)

    def inference_labels(self, params, coords, info, feature_names):
        """Each column's labels, its parameters prefixed by the column's name, leaf-major."""
        labels, widths = [], self._widths(params)
        for (j, f), i, name in zip(self._keyed(), info["columns"], info["names"]):
            part = f.inference_labels(params[j], coords, i, feature_names)
            part.parameter = [f"{name}: {p}" for p in part.parameter]
            labels.append(part)
        joined = Labels.concat(labels)
        n_leaves = params["0"][next(iter(params["0"]))].shape[0]
        # entry e of column c's leaf k sits at starts[c] + k * widths[c] + e in ``joined``
        starts = np.cumsum([0] + [n_leaves * w for w in widths])
        order = np.array([
            starts[c] + k * w + e for k in range(n_leaves) for c, w in enumerate(widths) for e in range(w)
        ], dtype=np.intp)
        return Labels(
            [joined.component[i] for i in order], [joined.parameter[i] for i in order],
            joined.M[np.ix_(order, order)], joined.offset[order], joined.coefficient[order],
        )
