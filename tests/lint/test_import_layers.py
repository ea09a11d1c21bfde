"""Import-layer contracts (issue 12): the package's folders are its architecture, and these tests keep it so.

- ``test_import_linter_contracts_are_kept`` runs ``lint-imports`` over ``[tool.importlinter]`` in
  pyproject.toml: the layers (interfaces > app > execute | diagnose > plan | ansible > desired >
  areas > state > events > core), interfaces reaching plan/execute/ansible only through app/,
  diagnose never reaching the executor or the queue's writes, areas that never import each
  other, no import cycle between siblings.
- The rest are checked here by walking the imports with ``ast`` (every ``import``, also inside
  functions and ``if TYPE_CHECKING:``, and the packages an import runs): the collection's plugins
  are not part of the package, so import-linter cannot state their rule; the diagnose rule is
  checked both ways (it was written here before ``steward.diagnose`` existed, issue 15).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SRC = ROOT / "src"

# diagnose reads and explains; it never runs or writes an action, not even through another module
DIAGNOSE = "steward.diagnose"
DIAGNOSE_MAY_NOT_REACH = ("steward.execute", "steward.state.actions")
# The collection's plugins are interfaces too (issue 12 item 3): they call app/, like the CLI
PLUGINS = ("plugins/action", "plugins/callback", "plugins/modules", "extensions")
PLUGINS_MAY_NOT_IMPORT = ("steward.interfaces", "steward.execute", "steward.plan", "steward.ansible")


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_statements(path: Path, module: str) -> list[tuple[int, str, set[str]]]:
    """(line, the module an import statement names, the submodules it may name) for each import of a file.

    Relative imports are resolved; ``from pkg import x`` may import the module ``pkg.x``.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str, set[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, set()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base, {f"{base}.{alias.name}" for alias in node.names}))
    return sorted(found, key=lambda statement: statement[0])


def imported(path: Path, module: str) -> set[str]:
    """Every module a file may import, with the packages that import runs (their ``__init__``)."""
    names: set[str] = set()
    for _, base, submodules in import_statements(path, module):
        for name in (base, *submodules):
            parts = name.split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return names


def import_graph(src: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports, for every module under src/."""
    files = {module_name(path, src): path for path in src.rglob("*.py")}
    return {name: imported(path, name) & files.keys() for name, path in files.items()}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def forbidden_chains(graph: dict[str, set[str]], source: str, forbidden: tuple[str, ...]) -> list[str]:
    """Each import chain (direct or through other modules) from `source`'s modules to a forbidden one."""
    chains = []
    starts = sorted(name for name in graph if within(name, source))
    came_from: dict[str, str | None] = {name: None for name in starts}
    todo = deque(starts)
    while todo:
        name = todo.popleft()
        if any(within(name, f) for f in forbidden):
            chain = [name]
            while (previous := came_from[chain[-1]]) is not None:
                chain.append(previous)
            chains.append(" -> ".join(reversed(chain)))
            continue
        for target in sorted(graph.get(name, ())):
            if target not in came_from:
                came_from[target] = name
                todo.append(target)
    return chains


def test_import_linter_contracts_are_kept() -> None:
    """The layer contracts of pyproject.toml [tool.importlinter]; the output names each broken import."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache", "--no-logo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-12000:] + proc.stderr[-4000:]


def test_diagnose_reaches_neither_execute_nor_the_action_queue() -> None:
    if not (SRC / "steward" / "diagnose").exists():
        pytest.skip("steward.diagnose does not exist yet (issue 15): the rule applies as soon as it does")
    assert forbidden_chains(import_graph(SRC), DIAGNOSE, DIAGNOSE_MAY_NOT_REACH) == []


def test_the_diagnose_rule_finds_an_indirect_import(tmp_path: Path) -> None:
    """The rule is not vacuous: a diagnose module reaching the queue through app/ is caught."""
    files = {
        "steward/__init__.py": "",
        "steward/diagnose/__init__.py": "",
        "steward/diagnose/explain.py": "from steward.app import status\nfrom ..core import model\n",
        "steward/app/__init__.py": "",
        "steward/app/status.py": "def f():\n    from steward.state import actions\n",
        "steward/core/__init__.py": "",
        "steward/core/model.py": "",
        "steward/state/__init__.py": "",
        "steward/state/actions.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    chains = forbidden_chains(import_graph(tmp_path), DIAGNOSE, DIAGNOSE_MAY_NOT_REACH)
    assert chains == ["steward.diagnose.explain -> steward.app.status -> steward.state.actions"]


def direct_imports_of(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    """`line: module` for each import statement of a file that names a forbidden module."""
    found: list[str] = []
    for line, base, submodules in import_statements(path, path.stem):
        names = [base] if any(within(base, f) for f in forbidden) else sorted(submodules)
        found.extend(f"{line}: {name}" for name in names if any(within(name, f) for f in forbidden))
    return found


@pytest.mark.parametrize("folder", PLUGINS)
def test_plugins_call_the_package_through_app(folder: str) -> None:
    """The plan action, the callback, ...: no direct import of plan/, execute/, ansible/ or interfaces/."""
    direct = [
        f"{path.relative_to(ROOT)}:{found}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for found in direct_imports_of(path, PLUGINS_MAY_NOT_IMPORT)
    ]
    assert direct == []
