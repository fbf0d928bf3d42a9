"""Cold start (issue 30, item 9): what ``import mixexp`` loads and what a first fit compiles.

Each check runs in a fresh interpreter: the modules and numba specialisations of this
test process are whatever the tests before it left.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("matplotlib", "pandas", "dask", "distributed")
# imported where used (the first fit's start, an MLP or Ridge expert, a grid), not by ``import mixexp``
LAZY = ("sklearn.cluster", "sklearn.linear_model", "sklearn.model_selection", "sklearn.neural_network")

BLOCK_AND_IMPORT = r"""
import importlib.abc, json, sys, traceback
heavy = set(sys.argv[1:])
asked = []
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in heavy:
            frames = [f.filename for f in traceback.extract_stack() if "importlib" not in f.filename]
            asked.append([name, frames[-2]])  # the module whose import statement asked
            raise ImportError(f"{name} is blocked")
        return None
sys.meta_path.insert(0, Block())
import mixexp
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in heavy)
sklearn = sorted(m for m in sys.modules if m.startswith("sklearn."))
print(json.dumps({"asked": asked, "loaded": loaded, "sklearn": sklearn}))
"""


def _run(code, *args):
    res = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_import_mixexp_neither_needs_nor_asks_for_matplotlib_pandas_or_dask():
    """``import mixexp`` works with those packages blocked, and no mixexp module asks for
    them (scikit-learn itself tries pandas, optionally: that attempt is its own)."""
    out = _run(BLOCK_AND_IMPORT, *HEAVY)
    assert out["loaded"] == []
    from_mixexp = [(name, where) for name, where in out["asked"] if "mixexp" in Path(where).parts]
    assert from_mixexp == []
    assert [m for m in out["sklearn"] if m.startswith(LAZY)] == []


def test_the_import_check_sees_a_mixexp_module_asking_for_dask():
    """The check above can fail: ``mixexp.dask`` asks for dask when imported."""
    also_dask = "import mixexp\ntry:\n    import mixexp.dask\nexcept ImportError:\n    pass\n"
    code = BLOCK_AND_IMPORT.replace("import mixexp\n", also_dask)
    out = _run(code, *HEAVY)
    assert any("mixexp" in Path(where).parts and name.startswith("dask") for name, where in out["asked"])


ONE_SPECIALISATION = r"""
import json, sys, warnings
import numpy as np
import pandas as pd
from numba.core.registry import CPUDispatcher
from mixexp import (HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsClassifier,
                    MixtureOfExpertsRegressor)
from mixexp.datasets import make_moe_regression
warnings.simplefilter("ignore")
X, y = make_moe_regression(600, 3, 2, random_state=0)
labels = (y > np.median(y)).astype(np.int32)
for Xk in (X, X.astype(np.float32), np.asfortranarray(X), pd.DataFrame(X), X[::-1, ::2]):
    model = MixtureOfExpertsRegressor(2, max_iter=5, n_init=1, random_state=0).fit(Xk, y)
    model.predict(Xk)
MixtureOfExpertsClassifier(2, max_iter=5, n_init=1, random_state=0).fit(X.astype(np.float32), labels)
hme = HierarchicalMixtureOfExpertsRegressor(2, 2, max_iter=5, n_init=1, random_state=0).fit(X, y)
hme.predict_node_gates(np.asfortranarray(X))
hme.summary(X, y)
print(json.dumps({name + "." + k: len(v.signatures) for name, mod in list(sys.modules.items())
                  if name.startswith("mixexp") and mod is not None for k, v in vars(mod).items()
                  if isinstance(v, CPUDispatcher) and v.py_func.__module__ == name and v.signatures}))
"""


@pytest.mark.slow
def test_every_kernel_is_compiled_once_whatever_the_input_dtype_and_layout():
    """float32, Fortran-order, DataFrame and strided inputs, a node's gates and a summary
    (which both run the exact E-step kernel) leave one specialisation per kernel."""
    counts = _run(ONE_SPECIALISATION)
    assert "mixexp._design._standardize_rows" in counts
    assert "mixexp._numerics.estep.tree_posteriors" in counts
    assert {name: c for name, c in counts.items() if c != 1} == {}
