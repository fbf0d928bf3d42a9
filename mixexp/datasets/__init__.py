"""Datasets for mixtures of experts: synthetic generators and bundled real data.

Generators draw from a known (hierarchical) mixture of experts and can return
the true parameters; loaders return small real benchmark datasets shipped with
the package (see ``data/README.md`` for their provenance).
"""

from ._families import make_moe_family, make_npreg
from ._gaussian_gate import make_gaussian_gated_regression
from ._generators import make_hme_regression, make_moe_classification, make_moe_regression
from ._patches import make_cluster_patches
from ._loaders import (
    list_datasets,
    load_concrete,
    load_dataset,
    load_kin8nm,
    load_mcycle,
    load_peterson_barney,
    load_vowel,
)

__all__ = [
    "make_moe_regression",
    "make_moe_classification",
    "make_hme_regression",
    "make_gaussian_gated_regression",
    "make_moe_family",
    "make_npreg",
    "make_cluster_patches",
    "list_datasets",
    "load_dataset",
    "load_mcycle",
    "load_concrete",
    "load_kin8nm",
    "load_peterson_barney",
    "load_vowel",
]
