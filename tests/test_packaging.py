"""What a non-editable install ships: every package folder and the report's files.

An editable install imports from the checkout and hides a package folder or a
data file left out of pyproject.toml; a wheel would silently lack it.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

import pytest

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = pytest.importorskip("tomli")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def setuptools_table() -> Any:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    return pyproject["tool"]["setuptools"]


def package_folder(name: str, package_dir: dict[str, str]) -> Path:
    """Where setuptools looks for package ``name`` (``a.b`` under a's mapped folder)."""
    top, *rest = name.split(".")
    return PROJECT_ROOT / package_dir.get(top, top) / Path(*rest)


def test_every_package_folder_is_listed(setuptools_table: Any) -> None:
    package_dir: dict[str, str] = setuptools_table["package-dir"]
    listed = {package_folder(name, package_dir) for name in setuptools_table["packages"]}
    on_disk = {
        init.parent
        for top in package_dir.values()
        for init in (PROJECT_ROOT / top).rglob("__init__.py")
    }
    assert on_disk, "no package folders found"
    assert sorted(map(str, on_disk - listed)) == []
    assert sorted(map(str, listed - on_disk)) == []


def test_every_data_file_in_a_package_is_package_data(setuptools_table: Any) -> None:
    package_dir: dict[str, str] = setuptools_table["package-dir"]
    package_data: dict[str, list[str]] = setuptools_table.get("package-data", {})
    unshipped = []
    for name in setuptools_table["packages"]:
        folder = package_folder(name, package_dir)
        patterns = package_data.get(name, [])
        for directory, subdirectories, files in os.walk(folder):
            # subpackages are checked on their own, caches are not shipped
            subdirectories[:] = [
                sub
                for sub in subdirectories
                if sub != "__pycache__" and not (Path(directory, sub) / "__init__.py").exists()
            ]
            for file in files:
                relative = Path(directory, file).relative_to(folder).as_posix()
                if file.endswith((".py", ".pyc")):
                    continue
                if not any(fnmatch.fnmatch(relative, pattern) for pattern in patterns):
                    unshipped.append(f"{name}: {relative}")
    assert unshipped == []


def test_the_report_assets_and_the_plotting_license_are_package_data(
    setuptools_table: Any,
) -> None:
    patterns = setuptools_table["package-data"]["maggot"]
    for asset in ("report.html", "report.js", "uPlot.iife.min.js", "uPlot.LICENSE"):
        assert (PROJECT_ROOT / "maggot" / "assets" / asset).is_file()
        assert any(fnmatch.fnmatch(f"assets/{asset}", pattern) for pattern in patterns)
