"""Gate components, by the name the estimators' ``gate`` parameter takes."""

from .attention import AttentionGate
from .gaussian import GaussianGate
from .softmax import SoftmaxGate

#: ``gate=`` name -> factory of the component from the tree and the estimator's parameters.
GATES = {
    "softmax": lambda tree, params: SoftmaxGate(
        tree, params["gate_alpha"], params.get("balance_alpha", 0.0),
        params.get("specialization_alpha", 0.0),
    ),
    "attention": lambda tree, params: AttentionGate(
        tree, params["gate_alpha"], params.get("balance_alpha", 0.0),
        params.get("specialization_alpha", 0.0),
    ),
    "gaussian": lambda tree, params: GaussianGate(
        tree, params["covariance_type"], params["reg_covar"]
    ),
}


def make_gate(tree, params):
    """The gate component named by ``params["gate"]`` for ``tree``."""
    return GATES[params["gate"]](tree, params)
