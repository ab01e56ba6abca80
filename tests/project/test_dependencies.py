"""The apps depend one way (DESIGN.md): library → generations → credits → teams.

Reads the source with ``ast`` (imports at the top of a module and inside functions alike), so an import that
goes the wrong way fails here before it tangles the apps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Where the imports are read → the modules it may not import (a name and everything below it).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "credits": ("generations", "library"),
    "teams": ("credits", "generations", "library"),
    "generations": ("library",),
    "library/filters.py": ("generations.forms",),
}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, wherever the import statement stands."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def violations(where: str, forbidden: tuple[str, ...]) -> list[str]:
    target = ROOT / where
    paths = [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))
    found = []
    for path in paths:
        for module in sorted(imported_modules(path)):
            if any(module == name or module.startswith(f"{name}.") for name in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


@pytest.mark.parametrize("where", FORBIDDEN)
def test_apps_import_only_the_apps_below_them(where):
    assert violations(where, FORBIDDEN[where]) == []


def test_the_walk_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from generations.models import Generation\n    import library.views\n")
    assert {"generations.models", "library.views"} <= imported_modules(module)
