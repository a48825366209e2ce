from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MANIFEST = PROJECT_ROOT / ".pre-commit-hooks.yaml"

EXPECTED_SCRIPTS = {
    "maggot-no-run-dirs": "maggot_hooks.check_run_dirs:main",
    "maggot-experiments-ignored": "maggot_hooks.check_experiments_ignored:main",
    "maggot-no-secret-files": "maggot_hooks.check_secret_files:main",
}

ITEM = re.compile(r"^- (?P<key>[a-z_]+): (?P<value>.+)$")
FIELD = re.compile(r"^  (?P<key>[a-z_]+): (?P<value>.+)$")


def parse_manifest(text: str) -> list[dict[str, str]]:
    hooks: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = ITEM.match(line)
        field = FIELD.match(line)
        if item:
            hooks.append({item["key"]: item["value"]})
        elif field and hooks:
            assert field["key"] not in hooks[-1], f"line {number}: duplicate {field['key']}"
            hooks[-1][field["key"]] = field["value"]
        else:
            pytest.fail(f"line {number} is not a simple hook field: {line!r}")
    return hooks


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, str]]:
    return parse_manifest(MANIFEST.read_text())


def test_manifest_lists_every_hook(manifest: list[dict[str, str]]) -> None:
    assert [hook.get("id") for hook in manifest] == list(EXPECTED_SCRIPTS)
    for hook in manifest:
        assert set(hook) >= {"id", "name", "description", "entry", "language"}, hook
        assert hook["language"] == "python"
        assert hook["entry"] == hook["id"]


def test_experiments_hook_runs_once_per_commit(manifest: list[dict[str, str]]) -> None:
    by_id = {hook["id"]: hook for hook in manifest}
    assert by_id["maggot-experiments-ignored"]["pass_filenames"] == "false"
    assert by_id["maggot-experiments-ignored"]["always_run"] == "true"
    for hook_id in ("maggot-no-run-dirs", "maggot-no-secret-files"):
        assert by_id[hook_id].get("pass_filenames", "true") == "true"


def test_entries_resolve_to_main_functions(manifest: list[dict[str, str]]) -> None:
    for hook in manifest:
        module_name, _, attr = EXPECTED_SCRIPTS[hook["entry"]].partition(":")
        module = importlib.import_module(module_name)
        main = getattr(module, attr)
        assert callable(main)
        assert list(inspect.signature(main).parameters) == ["argv"]
        assert main.__doc__


def test_console_scripts_match_when_declared(manifest: list[dict[str, str]]) -> None:
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


def test_parser_rejects_nested_structures() -> None:
    with pytest.raises(pytest.fail.Exception):
        parse_manifest("- id: x\n  args:\n    - --flag\n")
