"""The layout's rules, read from the source: dependencies point one way, Hydra only in pipelines, no
argparse under src/, no oversized modules, every package says what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "kdnas"
#: lower layers first; a module may import its own package and the layers below, never a sibling or a layer above
LAYERS = (("errors",), ("utils",), ("models", "data"), ("distill", "latency", "compress"), ("nas", "evaluate", "deploy"),
          ("pipelines",))
MAX_LINES = 400


def layer(package: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if package in names)


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


def imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in the file (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def package_of(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0].removesuffix(".py") if rel else ""


def is_entry_point(path: Path) -> bool:
    """A ``__main__.py`` (``python -m kdnas.<package>``) is an entry point, like train.py or search.py: it may
    import pipelines. Nothing else under src/ may, and nothing may import a ``__main__``."""
    return path.name == "__main__.py"


@pytest.mark.parametrize("path", [p for p in modules() if package_of(p) != "__init__" and not is_entry_point(p)],
                         ids=lambda p: str(p.relative_to(SRC)))
def test_no_import_from_a_lower_layer_to_a_higher_one(path: Path) -> None:
    package = package_of(path)
    own = layer(package)
    wrong = sorted(m for m in imports(path) if m.startswith("kdnas.") and m.split(".")[1] != package
                   and layer(m.split(".")[1]) >= own)
    assert not wrong, f"{path.relative_to(SRC)} (layer {own}) imports {wrong}: a sibling or a higher layer"


def test_entry_points_import_pipelines_only() -> None:
    """The exemption is narrow: an entry point imports kdnas.pipelines and nothing imports an entry point."""
    for path in modules():
        found = {m for m in imports(path) if m.startswith("kdnas.")}
        assert not {m for m in found if m.endswith(".__main__")}, path
        if is_entry_point(path):
            assert found and all(m.startswith("kdnas.pipelines.") for m in found), path


def test_hydra_only_in_pipelines_and_no_argparse() -> None:
    for path in modules():
        names = {m.split(".")[0] for m in imports(path)}
        if package_of(path) != "pipelines":
            assert not names & {"hydra", "omegaconf"}, path
        assert "argparse" not in names, path


def test_no_oversized_module() -> None:
    big = {str(p.relative_to(SRC)): n for p in modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big


def test_every_package_says_what_it_is_for() -> None:
    for init in SRC.rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        doc = ast.get_docstring(tree)
        assert doc and len(doc.split()) >= 8, f"{init.relative_to(SRC)}: a docstring saying what it is for"
