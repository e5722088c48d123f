"""Imports point down, always, also inside functions:
cli -> sweep -> experiment -> runs -> config -> training/models/datasets -> nn -> leaves."""

import ast
from pathlib import Path

import nnctl

PACKAGE = Path(nnctl.__file__).parent

# The rank of every top-level module or package of nnctl: a module may import only modules
# of a lower rank, or modules inside its own package.
RANKS = {
    "errors": 0, "status": 0, "machine": 0, "atomic": 0, "signals": 0, "console": 0,
    "__init__": 0, "registry": 1, "safeyaml": 1,
    "nn": 2,
    "models": 3, "datasets": 3, "viz": 3,
    "training": 4,
    "config": 5,
    "configdoc": 6, "runs": 6, "diagnostics": 6,
    "export": 7, "experiment": 7,
    "report": 8, "sweep": 8,
    "cli": 9,
    "__main__": 10,
}  # fmt: skip


def _top(module_path):
    parts = module_path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imports(path):
    """Every nnctl module name imported anywhere in the file (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "nnctl":
                yield from (alias.name for alias in node.names)
            elif node.module.startswith("nnctl."):
                yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nnctl."):
                    yield alias.name.split(".")[1]


def test_every_module_has_a_rank():
    tops = {_top(p) for p in PACKAGE.rglob("*.py")}
    assert tops <= set(RANKS), f"give these a rank: {sorted(tops - set(RANKS))}"


def test_imports_point_only_down():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        top = _top(path)
        for target in _imports(path):
            if target == "__version__":
                target = "__init__"
            if target != top and RANKS[target] >= RANKS[top]:
                upward.append(f"{path.relative_to(PACKAGE)} imports nnctl.{target}")
    assert not upward, "\n".join(upward)


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from nnctl.sweep import run_sweep\n")
    assert list(_imports(module)) == ["sweep"]
