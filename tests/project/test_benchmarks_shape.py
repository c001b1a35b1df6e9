"""The benchmarks' shape: one package run from the repository root (``python -m benchmarks.NAME``),
whose modules import each other by their package names, never edit ``sys.path``, and import in one
direction only. The imports are read from the source (ast), not by importing anything."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
MODULES = {("benchmarks" if p.stem == "__init__" else f"benchmarks.{p.stem}"): p for p in BENCHMARKS.glob("*.py")}
STEMS = {name.rpartition(".")[2] for name in MODULES if name != "benchmarks"}


def imports_in(source: str, name: str) -> set[str]:
    """The benchmarks modules ``source`` imports, anywhere (TYPE_CHECKING and functions included);
    a sibling imported by its bare name (``from harness import x``, found only through the working
    folder) comes back as ``?harness``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "benchmarks" if node.level else ""
            target = ".".join(filter(None, [base, node.module]))
            subs = [f"{target}.{a.name}" for a in node.names]
            targets = [s for s in subs if s in MODULES] or [target]
        else:
            continue
        for target in targets:
            if target == "benchmarks" or target.startswith("benchmarks."):
                found.add(target)
            elif target.split(".")[0] in STEMS:
                found.add(f"?{target.split('.')[0]}")
    return found - {name}


GRAPH = {name: imports_in(path.read_text(), name) for name, path in MODULES.items()}


def test_the_walker_resolves_every_form() -> None:
    source = """
from typing import TYPE_CHECKING
from benchmarks.harness import write_summary
from benchmarks import scale_costs
from .landscapes import make_landscape
if TYPE_CHECKING:
    import benchmarks.bench_generate
def f():
    from gpu_measure import measure_all
"""
    assert imports_in(source, "benchmarks.gpu_check") == {
        "benchmarks.harness",
        "benchmarks.scale_costs",
        "benchmarks.landscapes",
        "benchmarks.bench_generate",
        "?gpu_measure",
    }


def test_modules_import_each_other_by_package_name() -> None:
    bare = sorted(
        f"{m} imports {dep[1:]} by its bare name" for m, deps in GRAPH.items() for dep in deps if dep[0] == "?"
    )
    assert bare == [], "import it as benchmarks.NAME: the benchmarks run from the repository root"


def uses_sys_path(node: ast.AST) -> bool:
    """``sys.path`` read or written, or ``from sys import path``."""
    if isinstance(node, ast.Attribute):
        return node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id == "sys"
    return isinstance(node, ast.ImportFrom) and node.module == "sys" and any(a.name == "path" for a in node.names)


def test_no_sys_path_edits() -> None:
    edits = [
        f"{name}:{node.lineno}"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if uses_sys_path(node)
    ]
    assert edits == [], "run the module with python -m from the repository root instead"


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        deps = {f"benchmarks.{d[1:]}" if d[0] == "?" else d for d in GRAPH[m]}  # bare names too
        for dep in sorted(deps & MODULES.keys()):
            if state.get(dep) == 1:
                pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(dep) :], dep]))
            if dep not in state:
                visit(dep, [*stack, dep])
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m, [m])
