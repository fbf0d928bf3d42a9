"""mixexp: mixtures of experts and hierarchical mixtures of experts trained by EM."""

from ._engine import FrozenExpertWarning
from .experts import ExpertFamilyWarning
from .classification import HierarchicalMixtureOfExpertsClassifier, MixtureOfExpertsClassifier
from .regression import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor
from .selection import MixtureOfExpertsIC

__version__ = "0.1.0"

__all__ = [
    "MixtureOfExpertsRegressor",
    "MixtureOfExpertsClassifier",
    "HierarchicalMixtureOfExpertsRegressor",
    "HierarchicalMixtureOfExpertsClassifier",
    "MixtureOfExpertsIC",
    "FrozenExpertWarning",
    "ExpertFamilyWarning",
]
