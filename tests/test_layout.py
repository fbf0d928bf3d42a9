"""The contract is declared, not probed: outside the components and their registries, no
code asks a component what it has (``hasattr``/``getattr``) or tests its name.

Read from the source with :mod:`ast`, so the check covers every module of the package
(the gates and expert families themselves, where such knowledge belongs, excepted).
"""

import ast
from pathlib import Path

import pytest

from mixexp.experts import EXPERTS
from mixexp.gates import GATES

PACKAGE = Path(__file__).resolve().parents[1] / "mixexp"
# components may know themselves; the simulators of mixexp.datasets draw each family's data
# by its name, and mixexp.compare names its own models ("linear" is its linear baseline)
OWN = ("gates", "experts", "datasets", "compare")
NAMES = set(GATES) | {name for task in EXPERTS.values() for name in task}
COMPONENT_WORDS = ("gate", "experts", "expert", "family")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] not in OWN:
            yield path


def _mentions_component(node):
    text = ast.unparse(node)
    return any(part in COMPONENT_WORDS for part in text.replace("(", ".").split("."))


def _violations(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in ("hasattr", "getattr") and node.args
            and _mentions_component(node.args[0])
        ):
            yield node.lineno, f"{node.func.id} on a component: {ast.unparse(node)}"
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            sides = [node.left, *node.comparators]
            named = [s for s in sides if isinstance(s, ast.Constant) and s.value in NAMES]
            if named and any(_mentions_component(s) or "name" in ast.unparse(s) for s in sides if s not in named):
                yield node.lineno, f"a component's name tested: {ast.unparse(node)}"


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_probes_and_no_component_names_outside_the_components(path):
    assert not list(_violations(path))


def test_the_check_finds_a_probe_and_a_name_test(tmp_path):
    """The check itself can fail: it sees both kinds of violation in a module written to have them."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(state, self):\n"
        "    if hasattr(state.gate, 'leaf_probabilities'):\n"
        "        return 1\n"
        "    return self.gate == 'gaussian'\n"
    )
    assert [line for line, _ in _violations(bad)] == [2, 4]
