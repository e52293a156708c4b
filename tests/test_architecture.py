"""The arrows of docs/ARCHITECTURE.md, read from the source: who may import whom."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[1]


def _modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        yield ".".join(path.relative_to(ROOT).with_suffix("").parts), path


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _reaching(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {imported}"
        for module, path in _modules(package)
        for imported in sorted(_imports(path))
        if imported.split(".")[0] in forbidden or imported.startswith(forbidden)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("adapters", ("service", "bench", "tests")),
        ("service", ("bench", "tests")),
        ("service/cli", ("adapters",)),
        ("service/client", ("adapters",)),
        ("service/jobs/kinds", ("adapters",)),
    ],
)
def test_the_arrows_point_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    offending = _reaching(package, forbidden)
    if package == "service":  # the one door to bench/: `fanout bench` runs a program by name
        assert "importlib" in _imports(ROOT / "service" / "cli" / "bench.py")
    assert offending == []


def test_no_private_module_at_the_top_of_service() -> None:
    top = sorted(path.name for path in (ROOT / "service").glob("_*.py"))
    assert top == ["__init__.py", "__main__.py"]


def test_a_long_module_says_why_it_is_long() -> None:
    """Past ~300 lines a module is split, or its docstring gives the reason for its length."""
    unexplained = []
    for module, path in _modules("service"):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 320:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "longer than" not in doc and "long because" not in doc:
                unexplained.append(f"{module}: {text.count(chr(10))} lines")
    assert unexplained == []
