"""The layout's rules, read from the source (every import, those inside functions included):

- imports point one way: shells (cli, api, runs/, practice/) -> pipeline -> matchers/, aggregate,
  feedback -> answer, text, models. No circle, and nothing under the pipeline imports it;
- openai is imported by llm/client.py alone; nothing under matchers/ or llm/ imports a shell;
- no module over MAX_LINES lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "grader"
MAX_LINES = 450


def _name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """The grader modules `name` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import submodule` depends on the submodule, `from mod import name` on mod
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return out


def _reaches(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in GRAPH[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_no_import_circle():
    assert _cycles() == []


SHELLS = ("grader.cli", "grader.api", "grader.runs", "grader.practice")
BELOW_PIPELINE = ("grader.matchers", "grader.llm", "grader.aggregate", "grader.feedback", "grader.answer",
                  "grader.text", "grader.models", "grader.errors", "grader.settings")


@pytest.mark.parametrize("low", [m for m in MODULES if m.startswith(BELOW_PIPELINE)])
def test_nothing_under_the_pipeline_imports_it_or_a_shell(low):
    bad = sorted(m for m in _reaches(low) if m == "grader.pipeline" or m.startswith(SHELLS))
    assert bad == [], f"{low} reaches {bad}"


def test_only_the_client_imports_openai():
    importers = set()
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(m == "openai" or m.startswith("openai.") for m in mods):
                importers.add(name)
    assert importers == {"grader.llm.client"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    n = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{MODULES[name].relative_to(PKG.parent)} has {n} lines (limit {MAX_LINES}): split it"


def test_collecting_the_tests_imports_no_heavy_library():
    """pytest's collection imports every test module: a library only some tests use is imported by
    those tests (Ray, Playwright, FastAPI's test client and app, openai: ~3 s of collection)."""
    import subprocess
    import sys

    heavy = ("ray", "playwright.sync_api", "fastapi", "starlette.testclient", "grader.api.app", "openai")
    code = ("import sys, pytest; pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', sys.argv[1]]); "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    tests = Path(__file__).resolve().parent
    r = subprocess.run([sys.executable, "-c", code, str(tests)], capture_output=True, text=True, cwd=tests.parent)
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout[-2000:] + r.stderr[-2000:]
