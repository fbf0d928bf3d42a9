"""Execute every notebook in notebooks/ top to bottom, and check the committed copies.

Needs the ``test`` extra (nbclient, nbformat, ipykernel, matplotlib).  The kernel is
this interpreter (a kernel spec written to a temporary ``JUPYTER_PATH``), so the
notebooks run against the same mixexp as the tests.

Re-execute and save the notebooks with their outputs (before committing them)::

    python tests/test_notebooks.py            # all
    python tests/test_notebooks.py notebooks/01_quickstart_mcycle.ipynb
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "mixexp-tests"


def _kernel_env(folder):
    """Environment for a kernel that is this interpreter and imports this checkout's mixexp."""
    spec = Path(folder) / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (mixexp tests)",
        "language": "python",
    }))
    return {
        "JUPYTER_PATH": os.pathsep.join(filter(None, [str(folder),
                                                      os.environ.get("JUPYTER_PATH")])),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        # one numba thread: predictable run times on shared CI machines
        "NUMBA_NUM_THREADS": "1",
    }


def execute(path, timeout=600):
    """Run the notebook at ``path`` in a fresh kernel; return (executed notebook, seconds)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        env = _kernel_env(folder)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            start = time.perf_counter()
            NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                           resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
            seconds = time.perf_counter() - start
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    return nb, seconds


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
@pytest.mark.slow  # a fresh kernel per notebook, and fits
def test_notebook_executes(path):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    nb, _ = execute(path)  # raises CellExecutionError, with the cell and traceback, on failure
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code)
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in code for o in c.outputs), "no figure was drawn"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_has_its_outputs(path):
    """The committed notebook was executed top to bottom, so it reads well on a code host."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "re-run: python tests/test_notebooks.py"
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"])


if __name__ == "__main__":
    import nbformat

    for target in [Path(p).resolve() for p in sys.argv[1:]] or NOTEBOOKS:
        executed, seconds = execute(target)
        nbformat.write(executed, target)
        print(f"{target.relative_to(ROOT)}: executed in {seconds:.1f} s")
