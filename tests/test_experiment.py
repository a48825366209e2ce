from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from toolkit import run_python

from maggot import Config, Experiment
from maggot.errors import ConfigError, CorruptRunError, MaggotError, NotARunError

CONFIG = {"model": {"C": 1.0, "gamma": 0.01}, "crossval": {"n_folds": 5, "_random_seed": 42}}


def meta(run_dir: str | Path, *parts: str) -> Path:
    return Path(run_dir, ".maggot", *parts)


def read_json(path: Path):
    return json.loads(path.read_text())


@pytest.fixture
def experiments(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "experiments"


def test_run_directory_holds_the_v1_files(experiments):
    with Experiment(config=CONFIG, experiments_dir=experiments) as exp:
        print("epoch 1 loss 0.5")
        exp.register_result("accuracy", 0.93)
    run_dir = experiments / "5-1.0-0.01"
    assert exp.experiment_dir == str(run_dir)
    for name in ("run.json", "config.json", "command", "environ", "packages.txt", "results.json"):
        assert meta(run_dir, name).is_file(), name
    assert read_json(meta(run_dir, "config.json")) == CONFIG
    run = read_json(meta(run_dir, "run.json"))
    assert run["format_version"] == 1
    assert run["status"] == "completed"
    assert run["duration_seconds"] >= 0 and run["ended_at"].endswith("Z")
    assert run["python"]["version"].count(".") == 2
    assert isinstance(run["argv"], list) and run["hostname"]
    assert read_json(meta(run_dir, "results.json")) == {"accuracy": 0.93}
    assert "pytest==" in meta(run_dir, "packages.txt").read_text()


def test_json_files_are_sorted_indented_with_trailing_newline(experiments):
    exp = Experiment(config={"b": 1, "a": 2}, experiments_dir=experiments)
    text = meta(exp.experiment_dir, "config.json").read_text()
    assert text == '{\n  "a": 2,\n  "b": 1\n}\n'


def test_log_has_stdout_and_stderr_exactly_as_printed(experiments):
    with Experiment(config=CONFIG, experiments_dir=experiments) as exp:
        print("to stdout")
        print("to stderr", file=sys.stderr)
    print("after the run")
    assert Path(exp.logfile).read_text() == "to stdout\nto stderr\n"


def test_carriage_return_progress_keeps_last_state(experiments):
    with Experiment(config=CONFIG, experiments_dir=experiments) as exp:
        for percent in range(0, 101, 10):
            sys.stderr.write(f"\rtraining {percent:3d}%")
        sys.stderr.write("\n")
        sys.stdout.write("windows line\r\n")
    assert Path(exp.logfile).read_text() == "training 100%\nwindows line\n"


def test_exception_is_logged_recorded_and_propagates(experiments):
    with pytest.raises(ZeroDivisionError):
        with Experiment(config=CONFIG, experiments_dir=experiments) as exp:
            print("before the crash")
            1 / 0
    log = Path(exp.logfile).read_text()
    assert log.startswith("before the crash\n")
    assert "Traceback" in log and "ZeroDivisionError" in log
    run = read_json(meta(exp.experiment_dir, "run.json"))
    assert run["status"] == "failed"
    assert run["exit"] == {"type": "ZeroDivisionError", "message": "division by zero"}


def test_keyboard_interrupt_is_recorded_as_interrupted(experiments):
    with pytest.raises(KeyboardInterrupt):
        with Experiment(config=CONFIG, experiments_dir=experiments) as exp:
            raise KeyboardInterrupt
    assert read_json(meta(exp.experiment_dir, "run.json"))["status"] == "interrupted"


def test_sigint_in_a_real_process_is_recorded_as_interrupted(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            from maggot import Experiment
            with Experiment(config={"a": 1}) as exp:
                print("started", flush=True)
                time.sleep(30)
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "started"
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    run = read_json(meta(tmp_path / "experiments" / "1", "run.json"))
    assert run["status"] == "interrupted"
    [log] = (tmp_path / "experiments" / "1" / ".maggot" / "logs").iterdir()
    assert log.read_text().startswith("started\nTraceback")


def test_a_line_cut_short_by_a_crash_ends_before_the_traceback(experiments):
    with pytest.raises(RuntimeError):
        with Experiment(config=CONFIG, experiments_dir=experiments) as exp:
            print("half a line", end="")
            raise RuntimeError("boom")
    assert Path(exp.logfile).read_text().startswith("half a line\nTraceback")


def test_uncaught_error_without_with_block_marks_run_failed(tmp_path):
    (tmp_path / "train.py").write_text(
        "from maggot import Experiment\n"
        "exp = Experiment(config={'a': 1})\n"
        "raise RuntimeError('boom')\n"
    )
    result = run_python(["train.py"], cwd=tmp_path)
    assert result.returncode == 1
    run = read_json(meta(tmp_path / "experiments" / "1", "run.json"))
    assert run["status"] == "failed" and run["exit"]["message"] == "boom"


def test_normal_exit_without_with_block_marks_run_completed(tmp_path):
    (tmp_path / "train.py").write_text(
        "from maggot import Experiment\nExperiment(config={'a': 1})\n"
    )
    assert run_python(["train.py"], cwd=tmp_path).returncode == 0
    assert read_json(meta(tmp_path / "experiments" / "1", "run.json"))["status"] == "completed"


def test_fd_capture_logs_child_processes(experiments):
    with Experiment(config=CONFIG, experiments_dir=experiments, capture_output="fd") as exp:
        print("from python", flush=True)
        subprocess.run(["sh", "-c", "echo from a child; echo child error >&2"], check=True)
        os.write(1, b"raw fd write\n")
    log = Path(exp.logfile).read_text()
    for line in ("from python", "from a child", "child error", "raw fd write"):
        assert line + "\n" in log


def test_command_is_shell_quoted_and_replays_module_runs(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text(
        "import sys\nfrom maggot import Experiment\nExperiment(config={'name': sys.argv[1]})\n"
    )
    assert run_python(["-m", "pkg.train", "two words"], cwd=tmp_path).returncode == 0
    run_dir = tmp_path / "experiments" / "two words"
    command = meta(run_dir, "command").read_text().strip()
    assert shlex.split(command)[1:] == ["-m", "pkg.train", "two words"]
    assert read_json(meta(run_dir, "run.json"))["command_argv"][1:] == [
        "-m",
        "pkg.train",
        "two words",
    ]


def test_environ_redacts_secret_looking_names(experiments, monkeypatch):
    monkeypatch.setenv("MY_API_KEY", "sk-123")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-456")
    monkeypatch.setenv("db_password", "hunter2")
    monkeypatch.setenv("CUSTOM_THING", "keep-me")
    monkeypatch.setenv("PLAIN", "visible")
    exp = Experiment(config=CONFIG, experiments_dir=experiments, secret_env_words=("CUSTOM",))
    text = meta(exp.experiment_dir, "environ").read_text()
    environ = json.loads(text)
    assert environ["PLAIN"] == "visible"
    for name in ("MY_API_KEY", "GITHUB_TOKEN", "db_password", "CUSTOM_THING"):
        assert environ[name] == "<redacted>"
    for secret in ("sk-123", "ghp-456", "hunter2", "keep-me"):
        assert secret not in text


def test_exit_mode_refuses_an_existing_run(experiments):
    Experiment(config=CONFIG, experiments_dir=experiments)
    with pytest.raises(SystemExit, match="already exists"):
        Experiment(config=CONFIG, experiments_dir=experiments, if_exists_mode="exit")


def test_prompt_mode_without_a_terminal_behaves_like_exit(tmp_path):
    script = "from maggot import Experiment\nExperiment(config={'a': 1})\nprint('claimed')\n"
    (tmp_path / "train.py").write_text(script)
    assert run_python(["train.py"], cwd=tmp_path).returncode == 0
    second = run_python(["train.py"], cwd=tmp_path, input="delete\n")
    assert second.returncode == 1
    assert "already exists" in second.stderr and "claimed" not in second.stdout
    assert meta(tmp_path / "experiments" / "1", "config.json").exists()


def test_delete_mode_replaces_the_run(experiments):
    first = Experiment(config=CONFIG, experiments_dir=experiments)
    first.register_result("accuracy", 0.5)
    Path(first.experiment_dir, "model.pkl").write_text("old")
    second = Experiment(config=CONFIG, experiments_dir=experiments, if_exists_mode="delete")
    assert second.experiment_dir == first.experiment_dir
    assert not Path(second.experiment_dir, "model.pkl").exists()
    assert second.results.to_dict() == {}


def test_delete_mode_refuses_a_directory_that_is_not_a_run(experiments):
    target = experiments / "5-1.0-0.01"
    target.mkdir(parents=True)
    (target / "precious.txt").write_text("keep")
    with pytest.raises(MaggotError, match="not a maggot run"):
        Experiment(config=CONFIG, experiments_dir=experiments, if_exists_mode="delete")
    assert (target / "precious.txt").read_text() == "keep"


def test_continue_mode_resumes_into_the_run(experiments):
    first = Experiment(config=CONFIG, experiments_dir=experiments)
    first.register_result("epoch1", 1)
    second = Experiment(config=CONFIG, experiments_dir=experiments, if_exists_mode="continue")
    second.register_result("epoch2", 2)
    assert second.experiment_dir == first.experiment_dir
    assert second.results.to_dict() == {"epoch1": 1, "epoch2": 2}


def test_increment_mode_picks_the_next_free_name(experiments):
    names = [
        os.path.basename(
            Experiment(
                config=CONFIG, experiments_dir=experiments, if_exists_mode="increment"
            ).experiment_dir
        )
        for _ in range(3)
    ]
    assert names == ["5-1.0-0.01", "5-1.0-0.01_1", "5-1.0-0.01_2"]


def test_eight_processes_starting_at_once_get_eight_directories(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            from maggot import Experiment
            print("ready", flush=True)
            sys.stdin.read()  # the barrier: stdin closes once all eight are ready
            exp = Experiment(config={"lr": 0.1}, if_exists_mode="increment", snapshot=False)
            exp.register_result("pid", os.getpid())
            print(exp.experiment_dir)
            """
        )
    )
    processes = [
        subprocess.Popen(
            [sys.executable, str(script)],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    # however slowly each starts, none claims a directory before all are waiting
    for process in processes:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
    outputs = [process.stdout.read().strip() for process in processes if process.stdout]
    assert all(process.wait(timeout=60) == 0 for process in processes)
    assert len(set(outputs)) == 8
    pids = {read_json(meta(tmp_path / path, "results.json"))["pid"] for path in outputs}
    assert len(pids) == 8


def test_register_result_from_many_processes_loses_nothing(tmp_path):
    exp = Experiment(config={"a": 1}, experiments_dir=tmp_path / "experiments", snapshot=False)
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from maggot import Experiment
            exp = Experiment(resume_from={str(exp.experiment_dir)!r})
            for step in range(20):
                exp.register_result(f"worker{{sys.argv[1]}}.step{{step}}", step)
            """
        )
    )
    processes = [
        subprocess.Popen([sys.executable, str(script), str(n)], cwd=tmp_path) for n in range(4)
    ]
    assert all(process.wait(timeout=60) == 0 for process in processes)
    results = exp.results.to_dict()
    assert sorted(results) == ["worker0", "worker1", "worker2", "worker3"]
    assert all(len(steps) == 20 for steps in results.values())


def test_register_result_nests_dots_and_converts_numpy(experiments):
    numpy = pytest.importorskip("numpy")
    exp = Experiment(config=CONFIG, experiments_dir=experiments)
    exp.register_result("fold1.accuracy", numpy.float64(0.97))
    exp.register_result("fold1.loss", 0.03)
    exp.register_result("overall", 0.98)
    assert read_json(meta(exp.experiment_dir, "results.json")) == {
        "fold1": {"accuracy": 0.97, "loss": 0.03},
        "overall": 0.98,
    }


def test_register_result_refuses_to_overwrite_a_corrupt_results_file(experiments):
    exp = Experiment(config=CONFIG, experiments_dir=experiments)
    meta(exp.experiment_dir, "results.json").write_text("{broken")
    with pytest.raises(CorruptRunError, match="results.json"):
        exp.register_result("accuracy", 1.0)
    assert meta(exp.experiment_dir, "results.json").read_text() == "{broken"


def test_register_directory_and_resume(experiments):
    exp = Experiment(config=CONFIG, experiments_dir=experiments)
    path = exp.register_directory("checkpoints")
    exp.register_directory("checkpoints")
    exp.register_result("accuracy", 0.9)
    assert os.path.isdir(path) and exp.directories.checkpoints == path
    resumed = Experiment(resume_from=exp.experiment_dir)
    assert resumed.config.to_dict() == CONFIG
    assert resumed.results.accuracy == 0.9
    assert resumed.directories.checkpoints == path
    assert meta(exp.experiment_dir, "directories").read_text() == "checkpoints\n"
    by_name = Experiment(resume_from="5-1.0-0.01", experiments_dir=experiments)
    assert by_name.experiment_dir == exp.experiment_dir


def test_register_directory_refuses_paths_outside_the_run(experiments):
    exp = Experiment(config=CONFIG, experiments_dir=experiments)
    with pytest.raises(MaggotError, match="inside the run"):
        exp.register_directory("../elsewhere")


def test_bad_if_exists_mode_fails_before_creating_anything(experiments):
    with pytest.raises(MaggotError, match="'overwrite'"):
        Experiment(config=CONFIG, experiments_dir=experiments, if_exists_mode="overwrite")
    assert not experiments.exists()


def test_unstorable_config_fails_before_creating_anything(experiments):
    with pytest.raises(ConfigError, match="'model.fn'"):
        Experiment(config={"model": {"fn": object()}}, experiments_dir=experiments)
    assert not experiments.exists()


def test_empty_config_gives_a_clear_error(experiments):
    with pytest.raises(ConfigError, match="empty run name"):
        Experiment(config={"_seed": 1}, experiments_dir=experiments)
    assert not experiments.exists()
    exp = Experiment(config={"_seed": 1}, experiments_dir=experiments, experiment_name="baseline")
    assert exp.experiment_dir.endswith("baseline")


@pytest.mark.parametrize("name", ["../escape", "a/b", ".", "..", "x" * 300])
def test_unsafe_experiment_name_is_refused(experiments, name):
    with pytest.raises(MaggotError, match="experiment_name"):
        Experiment(config=CONFIG, experiments_dir=experiments, experiment_name=name)


def test_resume_from_a_non_run_names_it(tmp_path):
    with pytest.raises(NotARunError, match="nowhere"):
        Experiment(resume_from=str(tmp_path / "nowhere"))


def test_config_and_resume_from_are_exclusive(tmp_path):
    with pytest.raises(MaggotError):
        Experiment()
    with pytest.raises(MaggotError):
        Experiment(config={"a": 1}, resume_from=str(tmp_path))


def test_add_date_prefixes_utc_date(experiments):
    exp = Experiment(config=CONFIG, experiments_dir=experiments, add_date=True)
    assert (
        os.path.basename(exp.experiment_dir)
        == time.strftime("%Y-%m-%d-", time.gmtime()) + "5-1.0-0.01"
    )


def test_reads_a_run_written_by_maggot_0_2(tmp_path):
    run_dir = tmp_path / "experiments" / "10-0.01"
    meta(run_dir).mkdir(parents=True)
    meta(run_dir, "config.json").write_text(json.dumps({"C": 10, "gamma": 0.01}, indent=4))
    meta(run_dir, "results.json").write_text(json.dumps({"accuracy": 0.9}))
    meta(run_dir, "registered_directories").write_text("temp\n")
    meta(run_dir, "commit_hash").write_text("a" * 40)
    exp = Experiment(resume_from=str(run_dir))
    assert exp.config.C == 10 and exp.results.accuracy == 0.9
    assert exp.directories.temp == str(run_dir / "temp")
    with exp:
        print("more training")
    assert not meta(run_dir, "run.json").exists()


def test_config_given_as_config_object_is_kept(experiments):
    exp = Experiment(config=Config.from_dict(CONFIG), experiments_dir=experiments)
    assert exp.config.crossval._random_seed == 42


def test_snapshot_can_be_turned_off_by_argument_or_environment(repo, monkeypatch):
    monkeypatch.chdir(repo)
    exp = Experiment(config={"a": 1}, snapshot=False)
    head = read_json(meta(exp.experiment_dir, "git", "head.json"))
    assert head["snapshot"] is False and head["reason"] == "snapshot turned off"
    assert head["commit"] == meta(exp.experiment_dir, "commit_hash").read_text()
    monkeypatch.setenv("MAGGOT_SNAPSHOT", "0")
    second = Experiment(config={"a": 2})
    assert read_json(meta(second.experiment_dir, "git", "head.json"))["snapshot"] is False
    assert not meta(second.experiment_dir, "git", "diff.patch").exists()


def test_imports_from_the_original_checkout_are_flagged(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "helpers.py").write_text("VALUE = 1\n")
    (tmp_path / "train.py").write_text(
        "import helpers\nfrom maggot import Experiment\n"
        "with Experiment(config={'a': 1}):\n    pass\n"
    )
    env = {"PYTHONPATH": str(checkout), "MAGGOT_ORIGINAL_ROOT": str(checkout)}
    assert run_python(["train.py"], cwd=tmp_path, env=env).returncode == 0
    run = read_json(meta(tmp_path / "experiments" / "1", "run.json"))
    assert run["imports_outside_snapshot"] == [f"helpers ({checkout / 'helpers.py'})"]


def test_bytecode_caches_are_not_snapshotted(repo, monkeypatch):
    monkeypatch.chdir(repo)
    (repo / "__pycache__").mkdir()
    (repo / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\x00pyc")
    (repo / "model.py").write_text("x = 1\n")
    exp = Experiment(config={"a": 1})
    head = read_json(meta(exp.experiment_dir, "git", "head.json"))
    assert head["untracked"] == ["model.py"]
    assert head["skipped"] == [
        {"path": "__pycache__/model.cpython-311.pyc", "reason": "derived file (bytecode)"}
    ]


def test_non_utf8_arguments_and_environment_are_recorded_exactly(tmp_path):
    (tmp_path / "train.py").write_text(
        "from maggot import Experiment\nExperiment(config={'a': 1})\n"
    )
    env = {**os.environ, "ODD_VALUE": os.fsdecode(b"caf\xe9")}
    env.pop("MAGGOT_RUN_DIR", None)
    completed = subprocess.run(
        [sys.executable, "train.py", os.fsdecode(b"data-\xff.csv")], cwd=tmp_path, env=env
    )
    assert completed.returncode == 0
    run_dir = tmp_path / "experiments" / "1"
    run = read_json(meta(run_dir, "run.json"))
    assert os.fsencode(run["argv"][1]) == b"data-\xff.csv"
    assert os.fsencode(read_json(meta(run_dir, "environ"))["ODD_VALUE"]) == b"caf\xe9"
    assert meta(run_dir, "command").read_bytes().rstrip().endswith(b"'data-\xff.csv'")


def test_continue_keeps_the_first_start_as_the_record(repo, monkeypatch):
    monkeypatch.chdir(repo)
    first = Experiment(config={"a": 1, "_seed": 1})
    recorded = {
        name: meta(first.experiment_dir, name).read_bytes()
        for name in ("config.json", "command", "environ", "git/head.json")
    }
    (repo / "later.py").write_text("x = 1\n")
    second = Experiment(config={"a": 1, "_seed": 2}, if_exists_mode="continue")
    assert second.experiment_dir == first.experiment_dir
    for name, content in recorded.items():
        assert meta(second.experiment_dir, name).read_bytes() == content, name
    run = read_json(meta(second.experiment_dir, "run.json"))
    assert [entry["kind"] for entry in run["entries"]] == ["start", "continue"]
    assert run["status"] == "running"


def test_without_with_output_and_a_crash_are_logged_and_recorded(tmp_path):
    (tmp_path / "train.py").write_text(
        "import sys\n"
        "from maggot import Experiment\n"
        "exp = Experiment(config={'a': 1}, snapshot=False)\n"
        "print('epoch 1')\n"
        "print('warning line', file=sys.stderr)\n"
        "print(exp.logfile)\n"
        "raise RuntimeError('boom')\n"
    )
    result = run_python(["train.py"], cwd=tmp_path)
    assert result.returncode == 1 and "epoch 1" in result.stdout
    assert "RuntimeError: boom" in result.stderr  # still shown on the terminal
    logfile = Path(tmp_path, result.stdout.splitlines()[-1])
    log = logfile.read_text()
    # stdout and stderr are two pipes here: the order across them is not fixed
    assert "epoch 1\n" in log and "warning line\n" in log
    assert "Traceback (most recent call last)" in log and log.count("RuntimeError: boom") == 1
    run = read_json(meta(tmp_path / "experiments" / "1", "run.json"))
    assert run["status"] == "failed" and run["capture_output"] == "auto"
    assert run["entries"][0]["capture_output"] == "fd"  # what "auto" turned out to be
    assert run["exit"] == {"type": "RuntimeError", "message": "boom"}


def test_the_status_is_right_as_soon_as_an_uncaught_crash_is_reported(tmp_path):
    # a later excepthook (an error reporter) sees the run already marked failed
    (tmp_path / "train.py").write_text(
        "import json, sys\n"
        "from maggot import Experiment\n"
        "exp = Experiment(config={'a': 1}, snapshot=False)\n"
        "ours = sys.excepthook\n"
        "def reporter(*args):\n"
        "    ours(*args)\n"
        "    run = json.load(open(exp.experiment_dir + '/.maggot/run.json'))\n"
        "    print('status at crash:', run['status'])\n"
        "sys.excepthook = reporter\n"
        "raise ValueError('bad')\n"
    )
    result = run_python(["train.py"], cwd=tmp_path)
    assert "status at crash: failed" in result.stdout


def test_a_with_block_after_creation_writes_one_log(experiments):
    exp = Experiment(config=CONFIG, experiments_dir=experiments, snapshot=False)
    print("before with")
    with exp:
        print("inside")
    assert Path(exp.logfile).read_text() == "before with\ninside\n"
    assert len(list(meta(exp.experiment_dir, "logs").iterdir())) == 1
    assert read_json(meta(exp.experiment_dir, "run.json"))["status"] == "completed"


def test_outside_a_repository_one_warning_line_says_there_is_no_snapshot(tmp_path):
    (tmp_path / "train.py").write_text(
        "from maggot import Experiment\n"
        "for value in (1, 2, 3):\n"
        "    with Experiment(config={'a': value}):\n"
        "        pass\n"
    )
    result = run_python(["train.py"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "maggot: warning: experiments/1: no git snapshot recorded (not inside a git repository)"
    ]


def test_no_warning_when_the_snapshot_is_turned_off_or_taken(tmp_path, repo):
    script = "from maggot import Experiment\nExperiment(config={'a': 1}, snapshot=False)\n"
    (tmp_path / "off.py").write_text(script)
    assert run_python(["off.py"], cwd=tmp_path).stderr == ""
    (repo / "on.py").write_text(script.replace(", snapshot=False", ""))
    assert run_python(["on.py"], cwd=repo).stderr == ""


@pytest.mark.parametrize(
    "answers, chosen",
    [(["inc"], "increment"), (["c"], "continue"), (["xyz", "e"], "exit"), ([""], "exit")],
)
def test_the_prompt_takes_unambiguous_abbreviations(monkeypatch, capsys, answers, chosen):
    from maggot import experiment

    replies = iter(answers)
    monkeypatch.setattr("builtins.input", lambda prompt: next(replies))
    assert experiment._ask_if_exists("experiments/1") == chosen
    assert ("Please answer one of" in capsys.readouterr().out) == (len(answers) > 1)


def test_runs_made_in_a_loop_without_with_each_log_their_own_output(tmp_path):
    (tmp_path / "sweep.py").write_text(
        "import json\n"
        "from maggot import Experiment\n"
        "for lr in (1, 2, 3):\n"
        "    exp = Experiment(config={'lr': lr}, snapshot=False)\n"
        "    print('training', lr)\n"
    )
    result = run_python(["sweep.py"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for lr in (1, 2, 3):
        run_dir = tmp_path / "experiments" / str(lr)
        [log] = meta(run_dir, "logs").iterdir()
        assert log.read_text() == f"training {lr}\n"
        assert read_json(meta(run_dir, "run.json"))["status"] == "completed"


def test_a_script_outside_the_repository_is_warned_about(repo: Path, tmp_path: Path) -> None:
    script = "from maggot import Experiment\nwith Experiment(config={'a': 1}) as exp:\n    pass\n"
    elsewhere = tmp_path / "elsewhere" / "train.py"
    elsewhere.parent.mkdir()
    elsewhere.write_text(script)
    (repo / "train.py").write_text(script.replace("'a': 1", "'a': 2"))
    outside = run_python([str(elsewhere)], cwd=repo)
    assert outside.returncode == 0, outside.stderr
    assert f"{elsewhere} is not in the repository {repo}: the snapshot does not hold" in (
        outside.stderr
    )
    inside = run_python(["train.py"], cwd=repo)
    assert inside.returncode == 0, inside.stderr
    assert "is not in the repository" not in inside.stderr
