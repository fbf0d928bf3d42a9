"""The four estimators' parameter documentation: complete, and identical where the
parameter means the same thing in every class.

A parameter is documented once per class (numpydoc); the texts of the parameters
in ``SAME_IN_ALL`` must be the same in all four classes, those of ``SAME_IN_TASK``
the same in the flat and the tree estimator of a task, those of ``SAME_IN_REGRESSORS``
(regressors only) the same in both regressors, and ``OWN_TEXT`` lists the
parameters whose wording legitimately depends on the class (flat or tree, regression
or classification).  A new parameter must be put in one of the four.
"""

import ast
import inspect
import re

import pytest

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)

ESTIMATORS = {
    "regression": (MixtureOfExpertsRegressor, HierarchicalMixtureOfExpertsRegressor),
    "classification": (MixtureOfExpertsClassifier, HierarchicalMixtureOfExpertsClassifier),
}
ALL = [cls for pair in ESTIMATORS.values() for cls in pair]

SAME_IN_ALL = {
    "covariance_type", "expert_features", "l1_ratio", "learning_decay", "learning_offset",
    "algorithm", "max_iter", "n_init", "random_state", "reg_covar", "tol", "top_k", "verbose",
    "verbose_interval",
}
SAME_IN_TASK = {"gate_features", "warm_start"}
# parameters of the regressors only, read the same in both
SAME_IN_REGRESSORS = {"zero_inflation", "shared_features", "tied_variance"}
# flat or tree (one gate or every inner node's), regression or classification
OWN_TEXT = {
    "n_experts", "depth", "branching", "gate", "expert", "alpha", "gate_alpha", "init_params",
    "balance_alpha", "specialization_alpha", "reg_variance",
    "clip_experts",  # regressors only
}


def parameter_docs(cls):
    """``{name: its whole entry}`` of the Parameters section of ``cls``'s docstring."""
    section = cls.__doc__.split("Parameters\n    ----------\n")[1]
    section = re.split(r"\n    [A-Z][a-z]+\n    -+\n", section)[0]
    docs, name = {}, None
    for line in section.split("\n"):
        match = re.match(r"    (\w+) : ", line)
        if match:
            name = match.group(1)
            docs[name] = []
        if name is not None:
            docs[name].append(line)
    return {name: "\n".join(lines).rstrip() for name, lines in docs.items()}


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_parameter_is_documented_once_and_classified(cls):
    docs = parameter_docs(cls)
    signature = set(inspect.signature(cls).parameters)
    assert set(docs) == signature
    unclassified = signature - SAME_IN_ALL - SAME_IN_TASK - SAME_IN_REGRESSORS - OWN_TEXT
    assert not unclassified, f"classify {sorted(unclassified)} in tests/test_estimator_docs.py"


@pytest.mark.parametrize("name", sorted(SAME_IN_ALL))
def test_shared_parameters_read_the_same_in_every_estimator(name):
    texts = {cls.__name__: parameter_docs(cls)[name] for cls in ALL}
    assert len(set(texts.values())) == 1, texts


@pytest.mark.parametrize("task", sorted(ESTIMATORS))
@pytest.mark.parametrize("name", sorted(SAME_IN_TASK))
def test_task_parameters_read_the_same_flat_and_tree(task, name):
    flat, tree = ESTIMATORS[task]
    assert parameter_docs(flat)[name] == parameter_docs(tree)[name]


@pytest.mark.parametrize("name", sorted(SAME_IN_REGRESSORS))
def test_regressor_parameters_read_the_same_flat_and_tree(name):
    flat, tree = ESTIMATORS["regression"]
    assert parameter_docs(flat)[name] == parameter_docs(tree)[name]
    assert all(name not in parameter_docs(cls) for cls in ESTIMATORS["classification"])


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_documented_defaults_match_the_signature(cls):
    """``name : ..., default=value`` states the default ``__init__`` has."""
    docs = parameter_docs(cls)
    for name, param in inspect.signature(cls).parameters.items():
        match = re.search(r"default=([^\n]+)$", docs[name].split("\n")[0])
        assert match, f"{cls.__name__}.{name}: no default in {docs[name].splitlines()[0]!r}"
        assert ast.literal_eval(match.group(1).strip()) == param.default, (cls.__name__, name)
