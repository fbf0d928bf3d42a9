"""docs/contract.md is the base classes' declarations, as docs/tools/contract_page.py writes them."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "tools" / "contract_page.py"


@pytest.mark.skipif(not SCRIPT.exists(), reason="run from a source checkout (docs/ is not installed)")
def test_contract_page_is_generated_from_the_base_classes():
    spec = importlib.util.spec_from_file_location("contract_page", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "contract.md").read_text() == module.page(), (
        "docs/contract.md is stale: python docs/tools/contract_page.py > docs/contract.md"
    )


@pytest.mark.skipif(not SCRIPT.exists(), reason="run from a source checkout (docs/ is not installed)")
def test_every_flag_is_documented_with_its_default():
    spec = importlib.util.spec_from_file_location("contract_page", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for cls, _, _ in module.SECTIONS:
        documented = {name: default for name, default, _ in module.flags(cls)}
        declared = {
            name: value for name, value in vars(cls).items()
            if not name.startswith("_") and name != "name"
            and not callable(value) and not isinstance(value, (classmethod, staticmethod))
        }
        assert set(documented) == set(declared), cls.__name__
        for name, value in declared.items():
            assert documented[name] == repr(value), (cls.__name__, name)
