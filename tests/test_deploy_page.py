"""docs/deploy.md's ``python`` blocks run as written (skops, onnx and onnxruntime: the test extra)."""

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"


@pytest.mark.skipif(not PAGE.exists(), reason="run from a source checkout (docs/ is not installed)")
def test_deploy_page_python_blocks_run(tmp_path, monkeypatch):
    pytest.importorskip("skops.io")
    pytest.importorskip("onnxruntime")
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)  # the blocks write model files
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), {"__name__": "deploy_page"})
