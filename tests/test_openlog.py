"""Inputs of a run's child processes: Python children leave lists, the run merges them."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from toolkit import commit_all, run_maggot, run_python

from maggot import inputs, openlog, store

PARENT = textwrap.dedent(
    """
    import multiprocessing, subprocess, sys

    def work(path):
        with open(path) as file:
            file.read()

    if __name__ == "__main__":
        data = sys.argv[1]
        with open(f"{data}/parent.txt") as file:
            file.read()
        # a Python child that knows nothing of maggot, several at once
        children = [
            subprocess.Popen([sys.executable, "child.py", f"{data}/child{n}.txt"])
            for n in range(4)
        ]
        assert all(child.wait() == 0 for child in children)
        # a program that is not Python: cannot be followed
        subprocess.run(["cat", f"{data}/not_python.txt"], check=True, stdout=subprocess.DEVNULL)
        for method in ("fork", "spawn"):
            worker = multiprocessing.get_context(method).Process(
                target=work, args=(f"{data}/{method}.txt",)
            )
            worker.start()
            worker.join()
            assert worker.exitcode == 0
        with open(f"{data}/written.txt", "w") as file:
            file.write("out")
    """
)
CHILD = "import sys\nwith open(sys.argv[1]) as file:\n    file.read()\n"
API = textwrap.dedent(
    """
    import os, runpy, sys
    from maggot import Experiment
    with Experiment(config={"a": 1}) as exp:
        sys.argv = ["parent.py", sys.argv[1]]
        runpy.run_path("parent.py", run_name="__main__")
    # the run's variables for its children are gone once it ended
    print(os.environ.get("MAGGOT_INPUTS_DIR"), os.environ.get("PYTHONPATH"))
    """
)
NAMES = [*(f"child{n}.txt" for n in range(4)), "parent.txt", "fork.txt", "spawn.txt"]


@pytest.fixture
def project(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    (repo / "parent.py").write_text(PARENT)
    (repo / "child.py").write_text(CHILD)
    (repo / "api.py").write_text(API)
    commit_all(repo, "scripts")
    data = tmp_path / "data"
    data.mkdir()
    for name in [*NAMES, "not_python.txt"]:
        (data / name).write_text(name)
    return repo, data


def recorded(run_dir: Path) -> dict[str, str]:
    record = json.loads((run_dir / ".maggot" / "inputs.json").read_text())
    return {Path(item["path"]).name: item["mode"] for item in record["files"]}


def test_maggot_run_records_what_its_python_processes_open(project):
    repo, data = project
    result = run_maggot(
        "run", "--name", "tracked", "--", sys.executable, "parent.py", str(data), cwd=repo
    )
    assert result.returncode == 0, result.stderr
    run_dir = repo / "experiments" / "tracked"
    files = recorded(run_dir)
    assert {name: files.get(name) for name in NAMES} == dict.fromkeys(NAMES, "read")
    assert files["written.txt"] == "write"
    assert "not_python.txt" not in files  # cat is no Python process
    # the children's lists were taken into inputs.json
    assert not (run_dir / ".maggot" / store.OPENED_DIR).exists()


def test_an_experiment_records_what_its_children_open_and_puts_its_environment_back(project):
    repo, data = project
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = run_python(["api.py", str(data)], cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None"]
    (run_dir,) = (repo / "experiments").iterdir()
    files = recorded(run_dir)
    assert {name: files.get(name) for name in NAMES} == dict.fromkeys(NAMES, "read")


def test_no_track_inputs_leaves_the_children_alone(project):
    repo, data = project
    result = run_maggot(
        "run", "--no-track-inputs", "--name", "off", "--", sys.executable, "parent.py", str(data),
        cwd=repo,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not (repo / "experiments" / "off" / ".maggot" / "inputs.json").exists()


def test_a_users_own_sitecustomize_still_loads(project, tmp_path):
    repo, data = project
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import os\nos.environ['OWN_SITE'] = 'loaded'\n")
    (repo / "site_check.py").write_text(
        "import os, sys\nprint(os.environ.get('OWN_SITE'))\nopen(sys.argv[1]).read()\n"
    )
    result = run_maggot(
        "run", "--name", "site", "--", sys.executable, "site_check.py", str(data / "parent.txt"),
        cwd=repo, env={"PYTHONPATH": str(own)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "loaded" in result.stdout
    assert "parent.txt" in recorded(repo / "experiments" / "site")


def test_child_lists_round_trip_and_ignore_what_is_not_a_list(tmp_path):
    directory = tmp_path / "opened"
    directory.mkdir()
    (directory / "1-ab.opened").write_bytes(b"r\0/data/a\0w\0/data/b\nwith newline\0")
    (directory / ".tmp-2-cd").write_bytes(b"r\0/data/unfinished\0")
    (directory / "3-ef.opened").write_bytes(b"x\0/data/bad kind\0r\0")
    assert openlog.read_child_lists(str(directory)) == [
        ("/data/a", False), ("/data/b\nwith newline", True),
    ]  # fmt: skip


def test_inputs_of_several_entries_are_merged(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".maggot").mkdir(parents=True)
    data = tmp_path / "data.txt"
    data.write_text("x")
    other = tmp_path / "other.txt"
    other.write_text("y")
    for opened in ((data, "r"), (data, "w"), (other, "r")):
        tracker = inputs.InputTracker(None, [str(run_dir)])
        tracker.start()
        with open(opened[0], opened[1]) as file:
            file.write("z") if opened[1] == "w" else file.read()
        inputs.write_merged_inputs(str(run_dir), tracker.stop())
    record = inputs.load_inputs(str(run_dir))
    assert record is not None
    assert {Path(item.path).name: item.mode for item in record.files} == {
        "data.txt": "read+write", "other.txt": "read",
    }  # fmt: skip


def test_a_child_that_opens_nothing_but_its_script_leaves_no_list(tmp_path):
    directory = tmp_path / "opened"
    directory.mkdir()
    (tmp_path / "quiet.py").write_text("print('hello')\n")
    (tmp_path / "reads.py").write_text("open('quiet.py').read()\n")
    bootstrap = str(Path(openlog.__file__).parent / "bootstrap")
    env = {"PYTHONPATH": bootstrap, "MAGGOT_INPUTS_DIR": str(directory)}
    quiet = run_python(["quiet.py"], cwd=tmp_path, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert list(directory.iterdir()) == []
    reads = run_python(["reads.py"], cwd=tmp_path, env=env)
    assert reads.returncode == 0, reads.stderr
    assert openlog.read_child_lists(str(directory)) == [(str(tmp_path / "quiet.py"), False)]
