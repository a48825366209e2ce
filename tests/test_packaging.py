"""What ``pip install .`` puts in place: every package of the source tree, named as installed."""

from __future__ import annotations

import shutil
from pathlib import Path

from toolkit import run_python

ROOT = Path(__file__).resolve().parent.parent
# where each source folder's packages install
INSTALLED_AS = {"maggot": "maggot", "hooks": "maggot_hooks"}


def source_modules() -> set[str]:
    """Installed paths of the source tree's Python files (``maggot_hooks/x.py`` for hooks/)."""
    return {
        "/".join((INSTALLED_AS[folder], *path.relative_to(ROOT / folder).parts))
        for folder in INSTALLED_AS
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_a_regular_install_builds_every_package_of_the_tree(tmp_path: Path) -> None:
    # build_py is the step of a regular (not editable) install that gathers the
    # packages; run on a copy so the checkout gets no build/ or egg-info
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in INSTALLED_AS:
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    # a subpackage nobody listed anywhere: found all the same
    (source / "maggot" / "newpart").mkdir()
    (source / "maggot" / "newpart" / "__init__.py").write_text('"""A new subpackage."""\n')
    built = tmp_path / "built"

    completed = run_python(["setup.py", "-q", "build_py", "-d", str(built)], cwd=source)
    assert completed.returncode == 0, completed.stderr

    installed = {path.relative_to(built).as_posix() for path in built.rglob("*.py")}
    assert installed == source_modules() | {"maggot/newpart/__init__.py"}
    # no top-level "hooks" package to shadow a user's own module of that name
    assert sorted(path.name for path in built.iterdir()) == ["maggot", "maggot_hooks"]


def test_the_installed_hooks_import_as_maggot_hooks_only(tmp_path: Path) -> None:
    # outside the checkout, so only what the install provides is importable
    code = (
        "import importlib.util, maggot_hooks.check_run_dirs, maggot.cli\n"
        "print(importlib.util.find_spec('hooks'))"
    )
    completed = run_python(["-c", code], cwd=tmp_path, env={"PYTHONPATH": ""})
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "None\n"
