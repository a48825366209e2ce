"""The command-line samples in docs/ match what the commands print today."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import maggot

DOCS = Path(__file__).resolve().parent.parent / "docs"
GENERATOR = DOCS / "generate_samples.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_samples", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = load_generator()


@pytest.fixture
def pages(tmp_path: Path) -> Path:
    """A copy of the docs pages to change."""
    copy = tmp_path / "docs"
    shutil.copytree(DOCS, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return copy


def test_docs_samples_match_what_the_commands_print() -> None:
    completed = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, (
        "the samples in docs/ drifted; run python docs/generate_samples.py\n"
        + completed.stdout
        + completed.stderr
    )


def test_every_sample_is_shown_in_a_page() -> None:
    assert generator.marker_problems(DOCS) == []


def test_a_drifted_sample_is_diffed_in_check_mode_and_rewritten_otherwise(
    pages: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_page = pages / "cli.md"
    original = cli_page.read_text()
    block = "$ maggot show-command experiments/0.0-0.05-10\n"
    start = original.index(block)
    shown = original[start : original.index("```", start)]
    outputs = {sample.name: f"$ maggot {sample.name}\n" for sample in generator.SAMPLES}
    outputs["show-command"] = shown

    drifted = generator.sync_pages(pages, outputs, check=True)
    assert cli_page in drifted
    assert cli_page.read_text() == original
    diff = capsys.readouterr().out
    assert "+$ maggot summarize\n" in diff
    assert f"-{block}" not in diff  # the sample that still matches is not in the diff

    generator.sync_pages(pages, outputs, check=False)
    rewritten = cli_page.read_text()
    assert "```console\n$ maggot summarize\n```\n<!-- end sample -->" in rewritten
    assert shown in rewritten
    assert generator.sync_pages(pages, outputs, check=True) == []


def test_a_marker_naming_no_sample_is_reported(pages: Path) -> None:
    extra = pages / "extra.md"
    extra.write_text("<!-- sample: no-such-command -->\n```console\n```\n<!-- end sample -->\n")
    assert generator.marker_problems(pages) == [
        f"{extra}: no sample named 'no-such-command' in generate_samples.py"
    ]


def test_a_sample_missing_from_every_page_is_reported(pages: Path) -> None:
    cli_page = pages / "cli.md"
    text = cli_page.read_text()
    cli_page.write_text(text.replace("<!-- sample: diff-stat -->", "<!-- no sample -->"))
    (problem,) = generator.marker_problems(pages)
    assert problem.endswith("(add markers): diff-stat")


API_PAGE = DOCS / "api.md"
ROOT = DOCS.parent


def render_signature(function: Any, skip_first: bool = False) -> str:
    """``(a, b=1, *, c=None)``: parameters as the API page writes them (no annotations)."""
    parameters = list(inspect.signature(function).parameters.values())[1 if skip_first else 0 :]
    parts = []
    for parameter in parameters:
        if parameter.kind is parameter.KEYWORD_ONLY and "*" not in parts:
            parts.append("*")
        text = parameter.name
        if parameter.default is not parameter.empty:
            default = parameter.default
            text += "=" + (json.dumps(default) if isinstance(default, str) else repr(default))
        parts.append(text)
    return f"({', '.join(parts)})"


def documented_headings() -> set[str]:
    """The code in each ``### `...` `` heading of the API page."""
    return {
        match.group(1)
        for match in re.finditer(r"(?m)^#{2,4} `([^`]+)`$", API_PAGE.read_text(encoding="utf-8"))
    }


def expected_headings() -> set[str]:
    """A heading per public name of ``maggot`` and per public member of its classes."""
    expected = set()
    for name in maggot.__all__:
        value = getattr(maggot, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            expected.add(name)
        elif inspect.isclass(value):
            expected.add(name + render_signature(value))
            instance = {"Experiment": "exp", "Config": "config"}[name]
            for member, attribute in vars(value).items():
                if member.startswith("_"):
                    continue
                if isinstance(attribute, property):
                    expected.add(f"{instance}.{member}")
                elif isinstance(attribute, (staticmethod, classmethod)):
                    expected.add(f"{name}.{member}{render_signature(getattr(value, member))}")
                elif callable(attribute):
                    expected.add(f"{instance}.{member}{render_signature(attribute, True)}")
        elif callable(value):
            expected.add(name + render_signature(value))
        else:
            expected.add(name)
    return expected


def test_every_public_name_is_documented_with_its_signature() -> None:
    missing = sorted(expected_headings() - documented_headings())
    assert missing == [], "add (or correct) these headings in docs/api.md:\n" + "\n".join(
        f"### `{heading}`" for heading in missing
    )


def test_the_api_page_documents_nothing_that_is_gone() -> None:
    # attributes set in __init__ and the `with` statement are documented without a signature
    extra = {"exp.config", "exp.experiments_dir", "with exp:"}
    stale = sorted(documented_headings() - expected_headings() - extra)
    assert stale == [], f"docs/api.md documents what maggot no longer has: {stale}"
    constructor = inspect.getsource(maggot.Experiment.__init__)
    assert "self.config = " in constructor and "self.experiments_dir = " in constructor


def linked_pages(markdown: Path) -> set[str]:
    """The docs/*.md files a page links to (by their name)."""
    text = markdown.read_text(encoding="utf-8")
    return {Path(target).name for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text)}


def test_every_guide_page_is_linked_from_the_index_and_the_readme() -> None:
    pages = {page.name for page in DOCS.glob("*.md")} - {"README.md"}
    assert pages - linked_pages(DOCS / "README.md") == set()
    readme_links = {
        Path(target).name
        for target in re.findall(r"\]\(docs/([^)#\s]+\.md)", (ROOT / "README.md").read_text())
    }
    assert pages - readme_links == set()


def test_every_command_has_a_sample() -> None:
    from maggot.cli import COMMANDS

    # `maggot ui` serves a page until stopped: the report's sample stands for it
    interactive = {"ui"}
    sampled = {sample.args[0] for sample in generator.SAMPLES}
    assert set(COMMANDS) - interactive - sampled == set()
