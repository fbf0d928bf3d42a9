"""Gate components (:class:`Gate` and its registry), by the name the estimators'
``gate`` parameter takes."""

from .attention import AttentionGate
from .base import Gate
from .gaussian import GaussianGate
from .softmax import SoftmaxGate

#: ``gate=`` name -> gate class (each builds itself from the estimator's parameters
#: with :meth:`Gate.from_params`).
GATES = {cls.name: cls for cls in (SoftmaxGate, AttentionGate, GaussianGate)}

__all__ = ["Gate", "GATES", "make_gate", "SoftmaxGate", "GaussianGate", "AttentionGate"]


def make_gate(tree, params):
    """The gate component named by ``params["gate"]`` for ``tree``; a ValueError, in words,
    for parameters it cannot take."""
    cls = GATES[params["gate"]]
    cls.check_params(params)
    return cls.from_params(tree, params)
