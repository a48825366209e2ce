from __future__ import annotations

import shlex
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from maggot import capture


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=8)))
def test_the_command_line_is_one_line_a_shell_splits_back(argv: list[str]) -> None:
    line = capture.shell_command(argv)
    assert shlex.split(line) == argv


def test_the_process_is_described_with_its_interpreter() -> None:
    described = capture.describe_process()
    assert described["python"]["executable"] == sys.executable
    assert set(described) >= {"hostname", "user", "pid", "python", "platform"}


def test_installed_packages_are_name_version_lines() -> None:
    packages = capture.installed_packages()
    assert any(line.startswith("click==") for line in packages)
    names = [line.split("==")[0] for line in packages]
    assert names == sorted(names) and len(set(names)) == len(names)


def test_sys_capture_logs_lines_as_printed_and_restores_the_streams(tmp_path: Path) -> None:
    log = tmp_path / "log"
    before = sys.stdout
    output = capture.OutputCapture(str(log), "sys")
    output.start()
    print("one")
    print("progress 1\rprogress 2")
    output.stop()
    assert sys.stdout is before
    assert log.read_text() == "one\nprogress 2\n"
