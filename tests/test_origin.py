from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from toolkit import commit_all, run_maggot, run_python

from maggot import origin, replay
from maggot.errors import ReproduceError

LOKY = ["/usr/bin/python3", "-m", "joblib.externals.loky.backend.popen_loky_posix",
        "--process-name", "LokyProcess-1", "--pipe", "15"]  # fmt: skip
SPAWN = ["/usr/bin/python3", "-B", "-c",
         "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=7)",
         "--multiprocessing-fork"]  # fmt: skip
FORKSERVER = ["/usr/bin/python3", "-B", "-c",
              "from multiprocessing.forkserver import main; main(8, 9, ['__main__'])"]  # fmt: skip


@pytest.mark.parametrize("argv", [LOKY, SPAWN, FORKSERVER])
def test_worker_bootstraps_are_recognised(argv):
    assert origin.is_bootstrap(argv)


@pytest.mark.parametrize(
    "argv",
    [["python", "train.py", "--pipe", "15"], ["python", "-m", "pkg.train"], ["python", "-c", "1"]],
)
def test_programs_are_not_bootstraps(argv):
    assert not origin.is_bootstrap(argv)


@pytest.mark.parametrize("argv", [LOKY, SPAWN])
def test_reproduce_refuses_a_bootstrap_command(argv):
    with pytest.raises(ReproduceError, match="starts a worker process"):
        replay.replay_command(argv, "python", "experiments/run")


@pytest.mark.parametrize(
    ("argv", "overrides", "expected"),
    [
        (
            ["py", "train.py", "-m", "lr=0.1,0.2", "seed=1"],
            ["lr=0.2", "seed=1"],
            ["py", "train.py", "lr=0.2", "seed=1"],
        ),
        (
            [
                "py",
                "-X",
                "dev",
                "train.py",
                "--multirun",
                "hydra/launcher=joblib",
                "hydra.job.chdir=True",
                "hydra.mode=MULTIRUN",
                "hydra.sweep.dir=out",
                "+x=a,b",
            ],
            ["+x=b"],
            [
                "py",
                "-X",
                "dev",
                "train.py",
                "hydra/launcher=joblib",
                "hydra.job.chdir=True",
                "+x=b",
            ],
        ),  # fmt: skip
        (
            ["py", "-m", "pkg.train", "--config-name", "big", "-m", "model=a,b"],
            ["model=a"],
            ["py", "-m", "pkg.train", "--config-name", "big", "model=a"],
        ),
    ],
)
def test_a_sweep_job_replays_alone_with_its_overrides(argv, overrides, expected):
    assert origin.hydra_job_command(argv, overrides) == expected


PARALLEL = textwrap.dedent(
    """
    import sys
    from joblib import Parallel, delayed
    from maggot import Experiment

    def job(c):
        with Experiment(config={"c": c}) as exp:
            exp.register_result("score", c * 2)
            exp.register_result("inputs", sys.argv[1:])

    if __name__ == "__main__":
        Parallel(n_jobs=2)(delayed(job)(c) for c in (1, 2))
    """
)


def test_runs_created_in_joblib_workers_record_and_replay_the_launching_command(repo):
    pytest.importorskip("joblib")
    (repo / "train.py").write_text(PARALLEL)
    commit_all(repo, "parallel")
    completed = run_python(["train.py", "--flag"], cwd=repo)
    assert completed.returncode == 0, completed.stderr
    info = json.loads((repo / "experiments" / "2" / ".maggot" / "run.json").read_text())
    assert info["command_argv"][1:] == ["train.py", "--flag"]
    assert origin.is_bootstrap(info["process_argv"])
    head = json.loads((repo / "experiments" / "2" / ".maggot" / "git" / "head.json").read_text())
    assert head["script"] == "train.py"
    command = (repo / "experiments" / "2" / ".maggot" / "command").read_text()
    assert "loky" not in command and command.rstrip().endswith("train.py --flag")
    # the replay runs the whole loop; only the job with the recorded config records into it
    replay = run_maggot("reproduce", "experiments/2", "--yes", cwd=repo)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "reproduced: all 2 results match" in replay.stdout
    replayed = json.loads(
        (repo / "experiments" / "2.repro-1" / ".maggot" / "config.json").read_text()
    )
    assert replayed == {"c": 2}


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="reads /proc")
def test_a_spawned_worker_without_maggot_in_its_parent_finds_the_command_upstream(tmp_path):
    (tmp_path / "job.py").write_text(
        textwrap.dedent(
            """
            def job(c):
                from maggot import Experiment
                with Experiment(config={"c": c}):
                    pass
            """
        )
    )
    (tmp_path / "main.py").write_text(
        textwrap.dedent(
            """
            import multiprocessing, sys
            from job import job
            if __name__ == "__main__":
                assert "maggot" not in sys.modules
                with multiprocessing.get_context("spawn").Pool(1) as pool:
                    pool.map(job, [3])
            """
        )
    )
    completed = run_python(["main.py", "arg"], cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    info = json.loads(Path(tmp_path, "experiments", "3", ".maggot", "run.json").read_text())
    assert info["command_argv"][1:] == ["main.py", "arg"]


def _main_at(monkeypatch: pytest.MonkeyPatch, main_file: str) -> None:
    main = type(sys)("__main__")
    main.__file__ = main_file
    monkeypatch.setitem(sys.modules, "__main__", main)


@pytest.mark.parametrize(
    ("typed", "cwd", "start"),
    [
        ("train.py", "/proj/sub", "/proj"),  # os.chdir("sub")
        ("./src/train.py", "/proj/src", "/proj"),  # os.chdir(os.path.dirname(__file__))
        ("src//train.py", "/elsewhere", "/proj"),
        ("train.py", "/proj", "/proj"),  # never moved
        ("../proj/train.py", "/proj/sub", "/proj/sub"),  # which directory it was is unknown
    ],
)
def test_the_start_directory_is_where_the_typed_script_is(monkeypatch, typed, cwd, start):
    _main_at(monkeypatch, "/proj/src/train.py" if "src" in typed else "/proj/train.py")
    assert origin.start_directory(["python", "-u", typed, "--lr", "1"], cwd) == start


def test_an_absolute_script_or_inline_code_keeps_the_directory(monkeypatch):
    _main_at(monkeypatch, "/proj/train.py")
    assert origin.start_directory(["python", "/proj/train.py"], "/proj/sub") == "/proj/sub"
    assert origin.start_directory(["python", "-c", "pass"], "/proj/sub") == "/proj/sub"


def test_a_module_run_starts_where_python_put_it_on_the_path(monkeypatch):
    _main_at(monkeypatch, "/proj/pkg/train.py")
    monkeypatch.setattr(sys, "path", ["/proj", "/usr/lib/python3"])
    assert origin.start_directory(["python", "-m", "pkg.train"], "/proj/pkg") == "/proj"
    # a path put first by the program itself is not where the module came from
    monkeypatch.setattr(sys, "path", ["/opt/plugins", "/proj"])
    assert origin.start_directory(["python", "-m", "pkg.train"], "/proj/pkg") == "/proj/pkg"
