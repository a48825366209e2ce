from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MANIFEST = PROJECT_ROOT / ".pre-commit-hooks.yaml"

EXPECTED_SCRIPTS = {
    "maggot-no-run-dirs": "maggot_hooks.check_run_dirs:main",
    "maggot-experiments-ignored": "maggot_hooks.check_experiments_ignored:main",
    "maggot-no-secret-files": "maggot_hooks.check_secret_files:main",
}


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, Any]]:
    hooks = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(hooks, list) and all(isinstance(hook, dict) for hook in hooks)
    return hooks


def test_manifest_lists_every_hook(manifest: list[dict[str, Any]]) -> None:
    assert [hook.get("id") for hook in manifest] == list(EXPECTED_SCRIPTS)
    for hook in manifest:
        assert set(hook) >= {"id", "name", "description", "entry", "language"}, hook
        assert hook["language"] == "python"
        assert hook["entry"] == hook["id"]


def test_experiments_hook_runs_once_per_commit(manifest: list[dict[str, Any]]) -> None:
    by_id = {hook["id"]: hook for hook in manifest}
    assert by_id["maggot-experiments-ignored"]["pass_filenames"] is False
    assert by_id["maggot-experiments-ignored"]["always_run"] is True
    for hook_id in ("maggot-no-run-dirs", "maggot-no-secret-files"):
        assert by_id[hook_id].get("pass_filenames", True) is True


def test_entries_resolve_to_main_functions(manifest: list[dict[str, Any]]) -> None:
    for hook in manifest:
        module_name, _, attr = EXPECTED_SCRIPTS[hook["entry"]].partition(":")
        module = importlib.import_module(module_name)
        main = getattr(module, attr)
        assert callable(main)
        assert list(inspect.signature(main).parameters) == ["argv"]
        assert main.__doc__


def test_console_scripts_match_when_declared(manifest: list[dict[str, Any]]) -> None:
    if sys.version_info < (3, 11):
        pytest.skip("tomllib needs Python 3.11")
    import tomllib

    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    declared = scripts.get("project", {}).get("scripts", {})
    checked = 0
    for hook in manifest:
        if hook["entry"] in declared:
            assert declared[hook["entry"]] == EXPECTED_SCRIPTS[hook["entry"]]
            checked += 1
    if not checked:
        pytest.skip("hook console scripts are not declared in pyproject.toml yet")
