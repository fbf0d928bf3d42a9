"""The examples of docs/scale.md run as written (streaming a CSV with partial_fit; the dask fit)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "scale.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_doc_has_both_examples():
    blocks = _blocks()
    assert len(blocks) == 2 and "partial_fit" in blocks[0] and "LocalCluster" in blocks[1]


# The dask example starts a 2-process LocalCluster whose workers compile mixexp's numba
# kernels anew (over a minute on two busy cores); tests/test_dask.py covers that path, and
# the example was run by hand.  The CSV example runs here.
@pytest.mark.parametrize("index", [0], ids=["partial_fit-csv"])
@pytest.mark.slow  # a fresh process compiles the kernels
def test_doc_example_runs(index, tmp_path):
    pytest.importorskip("pandas")
    script = tmp_path / "example.py"
    script.write_text(_blocks()[index])
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip()
