"""Gate components, by the name the estimators' ``gate`` parameter takes."""

from .attention import AttentionGate
from .gaussian import GaussianGate
from .softmax import SoftmaxGate


def _attention(tree, params):
    if params.get("l1_ratio", 0.0) > 0:
        raise ValueError(
            "gate='attention' takes a ridge penalty only (gate_alpha); l1_ratio > 0 is "
            "implemented for gate='softmax'."
        )
    return AttentionGate(
        tree, params["gate_alpha"], params.get("balance_alpha", 0.0),
        params.get("specialization_alpha", 0.0),
    )


#: ``gate=`` name -> factory of the component from the tree and the estimator's parameters.
GATES = {
    "softmax": lambda tree, params: SoftmaxGate(
        tree, params["gate_alpha"], params.get("balance_alpha", 0.0),
        params.get("specialization_alpha", 0.0), params.get("l1_ratio", 0.0),
    ),
    "attention": _attention,
    "gaussian": lambda tree, params: GaussianGate(
        tree, params["covariance_type"], params["reg_covar"]
    ),
}


def make_gate(tree, params):
    """The gate component named by ``params["gate"]`` for ``tree``."""
    return GATES[params["gate"]](tree, params)
