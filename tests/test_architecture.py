"""The package's shape: which way imports point, and how large a module or a function may grow."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "governance"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80

#: The layers, bottom first. A module may import its own layer and the layers below, never above:
#: config -> data -> train -> audit/explain -> card -> gate -> registry, workflows and the CLI on top.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "_files", "_cancel", "privacy", "stats", "metrics"),
    ("_config_base",),
    ("policy",),
    ("_config_rules", "config"),
    ("ledger", "datasets"),
    ("data", "_screen"),
    ("scaffold",),
    ("_mitigations",),
    ("train",),
    ("audit", "explain"),
    ("plots",),
    ("card",),
    ("gate",),
    ("registry",),
    ("pipeline", "subjects"),
    ("monitor",),
    ("cli", "__main__"),
)
_LAYER = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def _modules() -> Iterator[tuple[Path, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts[0] if parts[0] != "__init__" else "__init__"


def _type_only(tree: ast.AST) -> set[int]:
    """Ids of the import nodes under ``if TYPE_CHECKING:``: names for annotations, no dependency at run time."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            out |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    return out


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    # A rendering of the gate's report (JUnit) or of a registry record names their types in its
    # annotations; that is allowed, a call or a value crossing upward is not.
    type_only = _type_only(tree)
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "governance" and len(parts) > 1:
                yield node.lineno, parts[1]


def test_every_top_level_module_has_a_layer() -> None:
    top = {top for _, top in _modules()} - {"__init__"}
    assert top - set(_LAYER) == set(), "add the new module to LAYERS"


def test_imports_point_down_the_layers() -> None:
    upward = []
    for path, top in _modules():
        if top == "__init__":  # the package's table of contents re-exports from every layer, lazily
            continue
        for line, target in _imported(ast.parse(path.read_text())):
            if target in _LAYER and _LAYER[target] > _LAYER[top]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports governance.{target}")
    assert upward == []


def test_no_module_is_longer_than_the_limit() -> None:
    long = {}
    for path, _ in _modules():
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            long[str(path.relative_to(ROOT))] = lines
    assert long == {}


def test_no_function_is_longer_than_the_limit() -> None:
    long = {}
    for path, _ in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert long == {}


_ISSUE = re.compile(r"issue\s*#?\d|\(#\d+\)", re.IGNORECASE)


def test_code_names_no_issue_numbers() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path, _ in _modules()
        for number, text in enumerate(path.read_text().splitlines(), 1)
        if _ISSUE.search(text)
    ]
    assert found == []
