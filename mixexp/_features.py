"""Which input columns the gate and the experts see (``gate_features``, ``expert_features``)."""

import numbers

import numpy as np


def resolve_columns(spec, n_features, feature_names, name):
    """Column indices selected by ``spec``, or None for all columns.

    Parameters
    ----------
    spec : None, array-like of int, array-like of bool, or array-like of str
        ``None``: every column.  Integers: column indices (negative ones count
        from the end).  Booleans: a mask of length ``n_features``.  Strings:
        names among ``feature_names`` (a DataFrame's columns).
    n_features : int
    feature_names : ndarray of str or None
        ``feature_names_in_`` of the fit.
    name : str
        The parameter's name, for error messages.

    Returns
    -------
    columns : ndarray of int (sorted, unique), or None
    """
    if spec is None:
        return None
    if isinstance(spec, (str, bytes, numbers.Number)) or not hasattr(spec, "__len__"):
        raise TypeError(
            f"{name} must be None or a list of column indices, a boolean mask or column "
            f"names, got {spec!r}."
        )
    values = np.asarray(list(spec))
    if values.size == 0:
        return np.empty(0, dtype=np.intp)
    if values.dtype.kind == "b":
        if values.shape != (n_features,):
            raise ValueError(
                f"{name} as a boolean mask must have one entry per feature ({n_features}), "
                f"got {values.shape[0]}."
            )
        return np.flatnonzero(values)
    if values.dtype.kind in "USO":
        if feature_names is None:
            raise ValueError(
                f"{name} names columns ({list(values)!r}) but X has no column names; pass "
                "a DataFrame or column indices."
            )
        names = list(feature_names)
        missing = [str(v) for v in values if v not in names]
        if missing:
            raise ValueError(f"{name}: columns {missing!r} are not in X's columns {names!r}.")
        return np.unique([names.index(v) for v in values]).astype(np.intp)
    if values.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, booleans or column names, got {values.dtype}.")
    if np.any(values >= n_features) or np.any(values < -n_features):
        raise ValueError(f"{name}: column indices {values.tolist()} out of range for {n_features} features.")
    return np.unique(values % n_features).astype(np.intp)


def shared_positions(spec, n_features, feature_names, expert_columns):
    """The positions in the experts' design of the columns ``spec`` (``shared_features``) selects:
    indices into the experts' columns (``expert_columns``, None for all); a ValueError for a
    column the experts do not see."""
    columns = resolve_columns(spec, n_features, feature_names, "shared_features")
    if columns is None:
        return np.empty(0, dtype=np.intp)
    if expert_columns is None:
        return columns
    unseen = np.setdiff1d(columns, expert_columns)
    if unseen.size:
        shown = [str(feature_names[c]) for c in unseen] if feature_names is not None else unseen.tolist()
        raise ValueError(
            f"shared_features: columns {shown} are not among the experts' inputs (expert_features="
            f"{expert_columns.tolist()}); a shared coefficient needs a column every expert sees."
        )
    return np.searchsorted(expert_columns, columns).astype(np.intp)
