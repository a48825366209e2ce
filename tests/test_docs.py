"""The command-line samples in docs/ match what the commands print today."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

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
