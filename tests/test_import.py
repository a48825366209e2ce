from __future__ import annotations

import json
from pathlib import Path

from toolkit import run_python

import maggot

HEAVY = ("click", "deepdiff", "tabulate", "git", "pandas", "numpy")


def test_import_maggot_stays_light(tmp_path):
    result = run_python(
        [
            "-c",
            "import sys, json, maggot\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_a_run_with_snapshot_does_not_load_gitpython(repo):
    (repo / "train.py").write_text(
        "import sys\nfrom maggot import Experiment\n"
        "with Experiment(config={'a': 1}) as exp:\n"
        "    exp.register_result('x', 1)\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = run_python(["train.py"], cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_0_2_module_paths_still_import(tmp_path):
    result = run_python(
        [
            "-c",
            "from maggot import Experiment, Config\n"
            "from maggot.experiment import Experiment as E\n"
            "from maggot.config import Config as C\n"
            "import maggot\n"
            "assert E is Experiment and C is Config\n"
            "print(maggot.DEFAULT_SEPARATOR, maggot.get_current_separator())\n",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["-", "-"]


def _module_imports() -> dict[str, set[str]]:
    """maggot's modules and the maggot modules each imports at module level."""
    import ast

    package = Path(maggot.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        imports: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("maggot"):
                if node.module == "maggot":
                    imports.update(f"maggot.{alias.name}" for alias in node.names)
                else:
                    imports.add(str(node.module))
            elif isinstance(node, ast.Import):
                imports.update(a.name for a in node.names if a.name.startswith("maggot"))
        graph[name] = imports
    return graph


def test_no_import_cycle_inside_the_package() -> None:
    graph = _module_imports()
    assert "maggot.config" in graph and "maggot.store" in graph["maggot.experiment"]
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycles.append(path[path.index(name) :] + [name])
            return
        for imported in sorted(graph.get(name, ())):
            if imported in graph:
                visit(imported, [*path, name])

    for name in sorted(graph):
        visit(name, [])
    assert cycles == []
