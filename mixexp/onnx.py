"""Export of fitted mixtures to ONNX: :func:`to_onnx`.

The graph computes what ``predict`` computes, from the fitted state: each
linear component's products with the raw features, the internal
standardisation folded into its coefficients as ``predict`` folds it (or the
standardised features ``x / scale - mean / scale`` where ``predict`` does not
fold), the gate's relative logits and their softmax at every inner node
(a tree's leaf probabilities are the products along each leaf's path), the
routing of ``top_k``, the experts' outputs (regression: their means, clipped to
the ``clip_experts`` bounds, and variances; classification: their class
softmaxes), and the gate's mixture.  It is built with the ``onnx`` package's
helper API (the ``onnx`` extra: ``pip install "mixexp[onnx]"``).

Supported: a gate linear in the features (``gate="softmax"``, flat or a tree)
and an expert family that declares its export
(:meth:`mixexp.experts.ExpertComponent.export_parts`: ``expert="linear"``
regressors and classifiers, ``expert="student_t"``).  Anything else raises a
ValueError that names the part and what is supported.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._predict import fold_rows

__all__ = ["to_onnx"]

#: the opset used when ``target_opset`` is None (or the installed onnx's newest, if older)
DEFAULT_OPSET = 17
#: the oldest opset whose operators (ReduceSum, Unsqueeze and Pad with tensor inputs,
#: Softmax over one axis) the graph uses
MIN_OPSET = 13

SUPPORTED = (
    "gate='softmax' (flat or hierarchical) with expert='linear' (regressors and classifiers) "
    "or expert='student_t'"
)


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:  # the optional extra
        raise ImportError(
            "mixexp.onnx.to_onnx needs the onnx package: pip install \"mixexp[onnx]\" "
            "(onnx, and onnxruntime to run the graph)."
        ) from exc
    return onnx


class _Graph:
    """Nodes and constants of a graph under construction, with fresh names."""

    def __init__(self, onnx, dtype):
        self.onnx = onnx
        self.dtype = dtype
        self.nodes = []
        self.initializers = []
        self._count = 0

    def _name(self, stem):
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, value, dtype=None):
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self._name("c")
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, values):
        return self.const(np.asarray(values, dtype=np.int64), np.int64)

    def op(self, op_type, *inputs, n_outputs=1, **attributes):
        outputs = [self._name(op_type.lower()) for _ in range(n_outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), outputs, **attributes))
        return outputs[0] if n_outputs == 1 else outputs

    def affine(self, X, coords, rows):
        """``design @ rows.T`` for the component with coordinates ``coords``: as ``predict``
        computes it, one product of the raw ``X`` with the rows folded into the raw features
        (:class:`mixexp._predict.LinearMaps`), or, where ``predict`` does not fold them, the
        component's columns of ``X`` standardised (``x / scale - mean / scale``), then the
        rows' coefficients and their last column (the design's ones), as one Gemm."""
        folded = fold_rows(np.asarray(rows, dtype=np.float64), coords)
        if folded is not None:
            coef_t, intercept = folded
            return self.op("Gemm", X, self.const(coef_t), self.const(intercept))
        if coords.columns is not None:
            X = self.op("Gather", X, self.ints(coords.columns), axis=1)
        scaled = self.op("Div", X, self.const(coords.scale))
        Xs = self.op("Sub", scaled, self.const(coords.mean / coords.scale))
        rows = np.asarray(rows, dtype=np.float64)
        return self.op("Gemm", Xs, self.const(rows[:, :-1].T), self.const(rows[:, -1]))


def _leaf_probabilities(g, X, state):
    """The gate's probability of every leaf, ``(n, n_leaves)``: each inner node's softmax
    over ``[0, relative logits]``, multiplied along each leaf's path.  The logits are laid
    out node-major, ``(n, n_inner, branching)``, so that the softmaxes run along the last
    axis (onnxruntime's softmax along a middle axis was measured several times slower)."""
    from ._numerics.softmax import leaf_path_columns

    tree = state.tree
    b, n_inner = tree.branching, tree.n_inner
    rows = state.gate.linear_rows(state.params["gate"])  # child c + 1 of node j in row c * n_inner + j
    rows = np.asarray(rows).reshape(b - 1, n_inner, -1).transpose(1, 0, 2)
    # child 0's logit is 0: a row of zeros, in place of a Pad of the products
    rows = np.concatenate([np.zeros((n_inner, 1, rows.shape[2])), rows], axis=1).reshape(n_inner * b, -1)
    logits = g.op("Reshape", g.affine(X, state.coordinates("gate"), rows), g.ints([-1, n_inner, b]))
    # child c of node j in column j * b + c
    cond = g.op("Reshape", g.op("Softmax", logits, axis=2), g.ints([-1, n_inner * b]))
    if tree.depth == 1:
        return cond
    member_major = leaf_path_columns(tree)  # child c of node j in column c * n_inner + j
    paths = (member_major % n_inner) * b + member_major // n_inner
    leaf = g.op("Gather", cond, g.ints(paths[:, 0]), axis=1)
    for level in range(1, tree.depth):
        leaf = g.op("Mul", leaf, g.op("Gather", cond, g.ints(paths[:, level]), axis=1))
    return leaf


def _route(g, gates, top_k):
    """``top_k``'s routed gates: each row's ``top_k`` largest, renormalised (0 elsewhere)."""
    values, indices = g.op("TopK", gates, g.ints([top_k]), axis=1, n_outputs=2)
    kept = g.op("ScatterElements", g.op("Mul", gates, g.const(0.0)), indices, values, axis=1)
    return g.op("Div", kept, g.op("ReduceSum", kept, g.ints([1]), keepdims=1))


def _regression(g, X, state, parts, gates, bounds, routed):
    """The mixture's mean and standard deviation; the leaves' means laid out target-major,
    ``(n, n_targets, n_leaves)``, so that the mixtures sum along the last axis (onnxruntime's
    sum along a middle axis of length 1 was measured several times slower)."""
    variance = np.asarray(parts["variance"]).T  # (n_targets, n_leaves)
    n_targets, n_leaves = variance.shape
    rows = np.asarray(parts["rows"]).reshape(n_leaves, n_targets, -1).transpose(1, 0, 2)
    means = g.affine(X, state.coordinates("experts"), rows.reshape(n_targets * n_leaves, -1))
    means = g.op("Reshape", means, g.ints([-1, n_targets, n_leaves]))
    if bounds is not None:
        means = g.op("Max", g.op("Min", means, g.const(bounds[1].T)), g.const(bounds[0].T))
    weights = g.op("Unsqueeze", gates, g.ints([1]))  # (n, 1, n_leaves)
    mean = g.op("ReduceSum", g.op("Mul", weights, means), g.ints([2]), keepdims=1)
    # law of total variance, around the mixture mean, as predict(return_std=True)
    deviation = g.op("Sub", means, mean)
    total = g.op("Add", g.op("Mul", deviation, deviation), g.const(variance))
    weighted = g.op("Mul", weights, total)
    if routed:  # an expert off the route adds nothing, as predict's masked route (0, not 0 * inf)
        weighted = g.op("Where", g.op("Greater", weights, g.const(0.0)), weighted, g.const(0.0))
    std = g.op("Sqrt", g.op("ReduceSum", weighted, g.ints([2]), keepdims=0))
    shape = [-1] if state.info["ndim"] == 1 else [-1, n_targets]
    return [g.op("Reshape", mean, g.ints(shape)), g.op("Reshape", std, g.ints(shape))]


def _classification(g, X, state, parts, gates):
    coef = np.asarray(parts["coef"], dtype=np.float64)
    n_leaves, n_classes, _ = coef.shape
    logits = g.affine(X, state.coordinates("experts"), coef.reshape(n_leaves * n_classes, -1))
    proba = g.op("Softmax", g.op("Reshape", logits, g.ints([-1, n_leaves, n_classes])), axis=2)
    # the gates' mixture as a batch of (1, n_leaves) @ (n_leaves, n_classes) products: onnxruntime's
    # sum along the middle axis was measured slower
    mixed = g.op("MatMul", g.op("Unsqueeze", gates, g.ints([1])), proba)
    proba = g.op("Reshape", mixed, g.ints([-1, n_classes]))
    classes = np.asarray(state.info["classes"])
    if classes.dtype.kind in "US":
        classes = classes.astype(object)
    elif classes.dtype.kind in "iu":
        classes = classes.astype(np.int64)
    elif classes.dtype.kind not in "Ob":
        classes = classes.astype(np.float64)
    index = g.op("ArgMax", proba, axis=1, keepdims=0)
    label = g.op("Gather", g.const(classes, classes.dtype), index, axis=0)
    return [label, proba]


def to_onnx(model, X_sample, *, target_opset=None):
    """Export a fitted mixture of experts to an ONNX graph.

    The graph reproduces ``predict`` (regressors: also the standard deviation of
    ``predict(X, return_std=True)``; classifiers: ``predict_proba``) from the
    fitted state: the internal standardisation of X, each expert's mean clipped
    to its ``clip_experts`` bounds, and ``top_k`` routing as the model predicts
    with it.  Float64 graphs agree with mixexp to rounding; float32 graphs (for a
    float32 ``X_sample``) to about 1e-5 relative.

    Parameters
    ----------
    model : fitted MixtureOfExpertsRegressor, MixtureOfExpertsClassifier,
        HierarchicalMixtureOfExpertsRegressor or HierarchicalMixtureOfExpertsClassifier
        With ``gate="softmax"`` and ``expert="linear"`` (or ``"student_t"`` for a
        regressor).  Other gates and experts raise a ValueError.
    X_sample : array-like of shape (n_samples, n_features)
        A few rows of inputs, validated as ``predict`` validates X: their dtype
        (float32 or float64) is the graph's.
    target_opset : int, default=None
        The ONNX opset of the graph (at least 13); None: 17, or the installed
        onnx's newest if that is older.

    Returns
    -------
    onnx.ModelProto
        One input ``"X"`` of shape ``(None, n_features)``.  Regressors: outputs
        ``"variable"`` (the predictive mean, shaped as ``predict`` returns it) and
        ``"std"``; classifiers: ``"label"`` and ``"probabilities"`` (columns follow
        ``classes_``), as skl2onnx names them.

    Raises
    ------
    ValueError
        For a model the graph cannot express (naming the gate or expert and what
        is supported), or a ``target_opset`` below 13.
    ImportError
        Without the ``onnx`` package.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.onnx import to_onnx
    >>> X, y = make_moe_regression(n_samples=300, n_features=2, n_experts=2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    >>> graph = to_onnx(model, X[:5])
    >>> session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> mean, std = session.run(None, {"X": X})
    >>> bool(np.allclose(mean, model.predict(X), rtol=1e-10))
    True
    """
    onnx = _import_onnx()
    check_is_fitted(model)
    if target_opset is None:
        target_opset = min(DEFAULT_OPSET, onnx.defs.onnx_opset_version())
    is_int = isinstance(target_opset, (int, np.integer)) and not isinstance(target_opset, bool)
    if not is_int or target_opset < MIN_OPSET:
        raise ValueError(f"target_opset must be None or an int >= {MIN_OPSET}, got {target_opset!r}.")
    X, state = model._validated(X_sample)
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    params = model.get_params()
    if state.gate.linear_rows(state.params["gate"]) is None:
        raise ValueError(
            f"to_onnx cannot export gate={params['gate']!r}: its probabilities are not a softmax of "
            f"linear logits. Supported: {SUPPORTED}."
        )
    parts = state.experts.export_parts(state.params["experts"], state.info)
    if parts is None:
        raise ValueError(
            f"to_onnx cannot export expert={params['expert']!r}: the family declares no graph "
            f"(export_parts). Supported: {SUPPORTED}."
        )
    g = _Graph(onnx, dtype)
    if state.tree.n_leaves == 1:  # one expert: gates of ones, (n, 1)
        zeros = g.op("Mul", g.op("ReduceSum", "X", g.ints([1]), keepdims=1), g.const(0.0))
        gates = g.op("Add", zeros, g.const(1.0))
    else:
        gates = _leaf_probabilities(g, "X", state)
    top_k = model._top_k(state)
    routed = top_k is not None and top_k < state.tree.n_leaves
    if routed:
        gates = _route(g, gates, top_k)
    if parts["kind"] == "moments":
        outputs = _regression(g, "X", state, parts, gates, model._bounds(state), routed)
        names, types = ["variable", "std"], [dtype, dtype]
        shape = [None] if state.info["ndim"] == 1 else [None, parts["variance"].shape[1]]
        shapes = [shape, shape]
    else:
        outputs = _classification(g, "X", state, parts, gates)
        kind = np.asarray(state.info["classes"]).dtype.kind
        label_type = {"U": object, "S": object, "O": object, "i": np.int64, "u": np.int64, "b": np.bool_}.get(
            kind, np.float64
        )
        names, types = ["label", "probabilities"], [label_type, dtype]
        shapes = [[None], [None, len(state.info["classes"])]]
    for name, out in zip(names, outputs):
        g.nodes.append(onnx.helper.make_node("Identity", [out], [name]))
    helper = onnx.helper
    value_info = [
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(t)), shape)
        for name, t, shape in zip(names, types, shapes)
    ]
    x_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inputs = [helper.make_tensor_value_info("X", x_type, [None, X.shape[1]])]
    graph = helper.make_graph(g.nodes, type(model).__name__, inputs, value_info, g.initializers)
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", int(target_opset))], producer_name="mixexp",
    )
    onnx.checker.check_model(proto)
    return proto
