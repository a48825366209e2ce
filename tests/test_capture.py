"""Output capture in real processes: what the terminal showed is what the log holds."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toolkit import read_terminal

from maggot import capture

posix_only = pytest.mark.skipif(os.name != "posix", reason="file-descriptor capture is POSIX")


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


def test_installed_packages_follow_an_install_after_being_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "alpha-1.0.dist-info").mkdir(parents=True)
    # settled long ago: the listing is kept for the next run
    os.utime(site, ns=(0, 0))
    monkeypatch.setattr(sys, "path", [str(site)])
    assert capture.installed_packages() == ["alpha==1.0"]
    assert capture.installed_packages() == ["alpha==1.0"]
    # an install (or an upgrade: a new dist-info name) changes the directory
    os.rename(site / "alpha-1.0.dist-info", site / "alpha-2.0.dist-info")
    (site / "beta-0.1.dist-info").mkdir()
    assert capture.installed_packages() == ["alpha==2.0", "beta==0.1"]
    # another directory on the path is another listing
    other = tmp_path / "other"
    (other / "gamma-3.dist-info").mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [str(other)])
    assert capture.installed_packages() == ["gamma==3"]


def test_installed_packages_keep_a_settled_directory_while_another_keeps_changing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the working directory, first on sys.path, changes at every run of a sweep
    working = tmp_path / "work"
    working.mkdir()
    site = tmp_path / "site"
    (site / "alpha-1.0.dist-info").mkdir(parents=True)
    os.utime(site, ns=(0, 0))
    monkeypatch.setattr(sys, "path", [str(working), str(site)])
    assert capture.installed_packages() == ["alpha==1.0"]
    # a change that keeps the directory's time is not seen: the listing was kept...
    (site / "beta-0.1.dist-info").mkdir()
    os.utime(site, ns=(0, 0))
    (working / "notes.txt").write_text("changed\n")
    assert capture.installed_packages() == ["alpha==1.0"]
    # ...while the recently changed directory is listed again each time
    (working / "local-2.0.dist-info").mkdir()
    assert capture.installed_packages() == ["alpha==1.0", "local==2.0"]


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


def write_script(directory: Path, body: str) -> Path:
    script = directory / "train.py"
    script.write_text(textwrap.dedent(body))
    return script


def single_log(directory: Path) -> str:
    (log,) = (directory / "experiments").glob("*/.maggot/logs/*")
    return log.read_text()


def run(directory: Path, script: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=directory,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@posix_only
def test_logging_set_up_before_the_run_is_logged(tmp_path):
    script = write_script(
        tmp_path,
        """
        import logging
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        from maggot import Experiment
        with Experiment(config={"a": 1}):
            logging.getLogger("train").info("epoch 1")
            print("printed")
        """,
    )
    completed = run(tmp_path, script)
    assert completed.returncode == 0, completed.stderr
    assert "INFO epoch 1\n" in completed.stderr
    # two descriptors, two pumps: the lines' order across them is not fixed
    assert sorted(single_log(tmp_path).splitlines()) == ["INFO epoch 1", "printed"]


@posix_only
def test_loguru_default_sink_and_colour_codes_are_logged(tmp_path):
    pytest.importorskip("loguru")
    script = write_script(
        tmp_path,
        """
        import sys
        from loguru import logger
        logger.remove()
        logger.add(sys.stderr, format="<red>{message}</red>", colorize=True)
        from maggot import Experiment
        with Experiment(config={"a": 1}):
            logger.info("from loguru")
            print("\\x1b[31mred\\x1b[0m", flush=True)
        """,
    )
    completed = run(tmp_path, script)
    assert completed.returncode == 0, completed.stderr
    log = single_log(tmp_path)
    assert "\x1b[31mfrom loguru\x1b[0m\n" in log
    assert "\x1b[31mred\x1b[0m\n" in log


@posix_only
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_workers_are_logged(tmp_path, method):
    script = write_script(
        tmp_path,
        f"""
        import multiprocessing
        from maggot import Experiment

        def work(number):
            # one write: two processes' print() calls may interleave their two writes
            print(f"worker {{number}}\\n", end="", flush=True)
            return number

        if __name__ == "__main__":
            with Experiment(config={{"a": 1}}):
                with multiprocessing.get_context({method!r}).Pool(2) as pool:
                    print(pool.map(work, [1, 2]), flush=True)
        """,
    )
    completed = run(tmp_path, script)
    assert completed.returncode == 0, completed.stderr
    log = single_log(tmp_path)
    for line in ("worker 1", "worker 2", "[1, 2]"):
        assert line + "\n" in log


@posix_only
def test_joblib_workers_are_logged_and_idle_workers_do_not_hold_up_the_exit(tmp_path):
    pytest.importorskip("joblib")
    script = write_script(
        tmp_path,
        """
        from joblib import Parallel, delayed
        from maggot import Experiment

        def work(number):
            print(f"worker {number}\\n", end="", flush=True)
            return number

        if __name__ == "__main__":
            with Experiment(config={"a": 1}):
                Parallel(n_jobs=2)(delayed(work)(i) for i in range(3))
            # the loky workers stay alive and still hold the captured descriptors
            Parallel(n_jobs=2)(delayed(work)(i) for i in range(10, 12))
            print("done", flush=True)
        """,
    )
    completed = run(tmp_path, script)
    assert completed.returncode == 0, completed.stderr
    log = single_log(tmp_path)
    for number in range(3):
        assert f"worker {number}\n" in log
    for line in ("worker 10", "worker 11", "done"):
        assert line + "\n" in completed.stdout
    assert "done" not in log
    assert "Traceback" not in completed.stderr


@posix_only
def test_a_child_outliving_the_run_and_the_program_is_unharmed(tmp_path):
    """The child keeps the captured descriptors after the run and after its parent exits."""
    control = tmp_path / "control"
    os.mkfifo(control)
    child_status = tmp_path / "child-status"
    child = textwrap.dedent(
        f"""
        import sys
        with open({str(control)!r}) as control:
            control.read()
        print("child after the parent exited", flush=True)
        print("child error after the parent exited", file=sys.stderr, flush=True)
        with open({str(child_status)!r}, "w") as status:
            status.write("alive")
        """
    )
    script = write_script(
        tmp_path,
        f"""
        import subprocess, sys
        from maggot import Experiment
        with Experiment(config={{"a": 1}}, snapshot=False):
            print("in the run", flush=True)
            subprocess.Popen([sys.executable, "-c", {child!r}])
        with open("model.bin", "w") as model:
            model.write("weights")
            model.flush()
        print("parent exiting", flush=True)
        """,
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None and parent.stderr is not None
    seen = []
    for line in parent.stdout:
        seen.append(line)
        if line == "parent exiting\n":
            break
    assert parent.wait(timeout=60) == 0
    with open(control, "w") as release:
        release.write("go")
    rest = parent.stdout.read()
    errors = parent.stderr.read()
    assert seen == ["in the run\n", "parent exiting\n"]
    assert rest == "child after the parent exited\n"
    assert errors == "child error after the parent exited\n"
    assert child_status.read_text() == "alive"
    assert (tmp_path / "model.bin").read_text() == "weights"
    assert single_log(tmp_path) == "in the run\n"


@posix_only
def test_output_through_a_terminal_stays_a_terminal_for_children(tmp_path):
    script = write_script(
        tmp_path,
        """
        import subprocess, sys
        from maggot import Experiment
        with Experiment(config={"a": 1}):
            subprocess.run(
                [sys.executable, "-c", "import sys; print('child tty', sys.stdout.isatty())"],
                check=True,
            )
            print("line one\\nline two", flush=True)
        """,
    )
    primary, secondary = os.openpty()
    process = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, stdout=secondary, stderr=secondary
    )
    os.close(secondary)
    output = read_terminal(primary)
    assert process.wait(timeout=60) == 0, output
    assert b"child tty True" in output
    assert single_log(tmp_path) == "child tty True\nline one\nline two\n"


@posix_only
def test_sys_mode_logs_logging_handlers_holding_a_replaced_stream(tmp_path, capsys):
    import logging

    logger = logging.getLogger("maggot-test-sys-mode")
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        output = capture.OutputCapture(str(tmp_path / "log"), "sys")
        assert output.start() == "sys"
        logger.info("through the handler")
        output.stop()
        assert handler.stream is sys.stderr
    finally:
        logger.removeHandler(handler)
    assert (tmp_path / "log").read_text() == "through the handler\n"
    assert "through the handler" in capsys.readouterr().err


@posix_only
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failing_log_write_stops_logging_with_one_warning():
    warnings: list[str] = []
    log = capture.LineLog(open("/dev/full", "w"), warnings.append)
    log.write_line("lost\n")  # the disk is full: no exception reaches the program
    log.write_line("also lost\n")
    log.close()
    assert len(warnings) == 1
    assert warnings[0].startswith("maggot: warning: logging to /dev/full stopped ")


@posix_only
def test_stdout_and_stderr_to_one_place_keep_their_order_in_the_log(tmp_path):
    script = write_script(
        tmp_path,
        """
        import sys
        from maggot import Experiment
        with Experiment(config={"a": 1}, snapshot=False):
            for number in range(20):
                stream = sys.stdout if number % 2 else sys.stderr
                print(f"line {number}", file=stream, flush=True)
        """,
    )
    completed = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout
    expected = "".join(f"line {number}\n" for number in range(20))
    assert completed.stdout == expected
    assert single_log(tmp_path) == expected
