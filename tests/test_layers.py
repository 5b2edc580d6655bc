"""`repairs` (the domain) imports nothing from `integrations` (the edges)."""

import ast
from pathlib import Path

REPAIRS = Path(__file__).resolve().parent.parent / "repairs"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_repairs_imports_nothing_from_integrations():
    offenders = {
        str(path.relative_to(REPAIRS.parent)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] == "integrations"
        )
        for path in REPAIRS.rglob("*.py")
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}
