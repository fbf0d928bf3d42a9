"""What an estimator expert shows an attention gate: its own representation of x.

Krishnamurthy, Watkins & Gärtner (2023) build the gate's keys from each
expert's hidden layer.  For an estimator expert that is, in order:

- ``hidden_representation(X)`` if the estimator has it (the patch CNN);
- the last hidden layer of a scikit-learn ``MLPClassifier``/``MLPRegressor``;
- otherwise its prediction: centred log-probabilities (classifiers, over all
  classes of the mixture) or predicted values (regressors).

A ``Pipeline`` is followed through its transformers to its final step.
"""

import numpy as np
from sklearn.pipeline import Pipeline

_TINY = np.finfo(np.float64).tiny


def _mlp_hidden(mlp, X):
    """Activations of the last hidden layer of a fitted scikit-learn MLP."""
    # imported here: sklearn.neural_network brings model_selection and metrics, 80 ms
    # of ``import mixexp`` for the MLP experts only
    from sklearn.neural_network._base import ACTIVATIONS

    act = ACTIVATIONS[mlp.activation]
    H = np.asarray(X, dtype=np.float64)
    for W, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1]):
        H = H @ W + b
        act(H)  # in place
    return H


def estimator_representation(est, X, task, n_classes=None):
    """``(n, r)``: the representation of the rows ``X`` by the fitted estimator ``est``."""
    if isinstance(est, Pipeline):
        for _, step in est.steps[:-1]:
            if step not in (None, "passthrough"):
                X = step.transform(X)
        est = est.steps[-1][1]
    if hasattr(est, "hidden_representation"):
        return np.asarray(est.hidden_representation(X), dtype=np.float64)
    if hasattr(est, "coefs_") and hasattr(est, "activation") and len(est.coefs_) > 1:
        return _mlp_hidden(est, X)
    if task == "classification":
        proba = np.zeros((X.shape[0], n_classes))
        proba[:, est.classes_.astype(np.int64)] = est.predict_proba(X)
        logp = np.log(np.maximum(proba, _TINY))
        return logp - logp.mean(axis=1, keepdims=True)
    return np.asarray(est.predict(X), dtype=np.float64).reshape(X.shape[0], -1)
