"""Sweeps: expansion, the frozen code state, job states, failures, Ctrl-C and --resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from toolkit import commit_all, git, run_maggot

from maggot import store, sweep
from maggot.cli import main
from maggot.params import ParameterError

TRAIN = textwrap.dedent(
    """
    import argparse, os, signal, sys
    VERSION = "committed"
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int)
    parser.add_argument("--y", default="a")
    parser.add_argument("--ready")
    parser.add_argument("--go")
    parser.add_argument("--pause", action="store_true")
    parser.add_argument("--fail-unless")
    args = parser.parse_args()
    if args.ready:
        with open(args.ready, "w") as fifo:
            fifo.write("ready\\n")
    if args.go:
        with open(args.go) as fifo:
            fifo.read()
    if args.pause:
        signal.pause()
    print(f"score={args.x * 10} version={VERSION}")
    if args.fail_unless and not os.path.exists(args.fail_unless):
        sys.exit(4)
    """
)
PATTERN = r"(?P<name>score)=(?P<value>\d+)"


@pytest.fixture
def project(repo: Path) -> Path:
    (repo / "train.py").write_text(TRAIN)
    commit_all(repo, "train")
    return repo


def sweep_ids(repo: Path) -> list[str]:
    return sweep.list_sweeps(str(repo / "experiments"))


def load(repo: Path) -> sweep.SweepRecord:
    (sweep_id,) = sweep_ids(repo)
    return sweep.load_sweep(sweep.find_sweep(sweep_id, str(repo / "experiments")))


def states(repo: Path) -> list[str]:
    return [state.state for state in sweep.job_states(load(repo))]


def results(run_dir: str) -> dict:
    return json.loads(Path(store.meta_path(run_dir, store.RESULTS_FILE)).read_text())


def test_sweep_runs_every_combination_from_the_state_at_sweep_start(project):
    # an uncommitted edit made before the sweep is part of its code state
    (project / "train.py").write_text(TRAIN.replace('"committed"', '"edited"'))
    result = run_maggot(
        "sweep", "-p", "x=1,2", "-p", "y=a,b", "-j", "2", "--metric-pattern", PATTERN,
        "--", sys.executable, "train.py", "--x", "{x}", "--y", "{y}", cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = load(project)
    job_states = sweep.job_states(record)
    assert [state.state for state in job_states] == ["completed"] * 4
    assert [state.values for state in job_states] == [
        {"x": 1, "y": "a"}, {"x": 1, "y": "b"}, {"x": 2, "y": "a"}, {"x": 2, "y": "b"},
    ]  # fmt: skip
    for state in job_states:
        run_dir = Path(state.run_dir)
        assert run_dir.parent == project / "experiments"
        assert results(state.run_dir) == {"score": state.values["x"] * 10}
        info = json.loads((run_dir / ".maggot" / "run.json").read_text())
        assert info["sweep"] == {"id": record.sweep_id, "job": state.job}
        head = json.loads((run_dir / ".maggot" / "git" / "head.json").read_text())
        # the user's code state, not the frozen tree's own
        assert head["repo_root"] == str(project)
        assert head["is_dirty"] is True
        assert head["script"] == "train.py"
        assert b'+VERSION = "edited"' in (run_dir / ".maggot" / "git" / "diff.patch").read_bytes()
        assert "version=edited" in "".join(
            path.read_text() for path in (run_dir / ".maggot" / "logs").iterdir()
        )
    # the sweep ran from a tree of its own: the checkout is untouched
    assert (project / "train.py").read_text() == TRAIN.replace('"committed"', '"edited"')
    assert record.job_cwd == os.path.join(record.sweep_dir, "code")
    # every job completed: the frozen tree is removed, the snapshot kept
    assert not os.path.exists(record.job_cwd)
    assert (Path(record.sweep_dir) / ".maggot" / "git" / "head.json").exists()
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_edits_made_while_jobs_wait_never_leak_in(project, tmp_path):
    go = tmp_path / "go"
    os.mkfifo(f"{go}1")
    os.mkfifo(f"{go}2")
    process = subprocess.Popen(
        [sys.executable, "-m", "maggot", "sweep", "-p", "x=1,2", "-j", "1", "--name", "x{x}",
         "--", sys.executable, "train.py", "--x", "{x}", "--go", f"{go}{{x}}"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # opening the fifo pairs with job 0 waiting on it: job 0 runs, job 1 waits
    with open(f"{go}1", "w") as gate:
        (project / "train.py").write_text(TRAIN.replace('"committed"', '"later edit"'))
        gate.write("go\n")
    with open(f"{go}2", "w") as gate:
        gate.write("go\n")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    for state in sweep.job_states(load(project)):
        log = "".join(p.read_text() for p in Path(state.run_dir, ".maggot", "logs").iterdir())
        assert "version=committed" in log


def test_a_failing_job_never_stops_the_others_and_resume_relaunches_it(project, tmp_path):
    flag = tmp_path / "flag"
    result = run_maggot(
        "sweep", "-p", "x=1,2,3", "--metric-pattern", PATTERN, "--",
        sys.executable, "train.py", "--x", "{x}", "--fail-unless", f"{flag}{{x}}", cwd=project,
    )  # fmt: skip
    (flag.parent / "flag1").write_text("")
    (flag.parent / "flag3").write_text("")
    assert result.returncode == 1
    # every job ran and failed (no flag yet); each is listed
    assert states(project) == ["failed"] * 3
    assert result.stdout.count("failed") >= 3
    (flag.parent / "flag2").write_text("")
    record = load(project)
    # failed jobs keep the frozen tree for --resume; removed by hand, it is rebuilt
    assert os.path.isdir(record.code_dir)
    sweep.remove_code_tree(record)
    status = run_maggot("sweep", "status", record.sweep_id, cwd=project)
    assert status.returncode == 0
    assert "3 failed" in status.stdout
    resumed = run_maggot("sweep", "--resume", record.sweep_id, cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert f"rebuilt {record.code_dir}" in resumed.stderr
    assert states(project) == ["completed"] * 3
    # a resumed job continues its own run: no new run directories
    assert len(store.find_run_dirs(project / "experiments")) == 3
    again = run_maggot("sweep", "--resume", record.sweep_id, cwd=project)
    assert "every job completed" in again.stdout


def test_one_job_failing_keeps_the_exit_code_1_and_lists_it(project, tmp_path):
    (tmp_path / "flag1").write_text("")
    result = run_maggot(
        "sweep", "-p", "x=1,2", "--", sys.executable, "train.py", "--x", "{x}",
        "--fail-unless", f"{tmp_path / 'flag'}{{x}}", cwd=project,
    )  # fmt: skip
    assert result.returncode == 1
    assert states(project) == ["completed", "failed"]
    assert "job 1 failed" in result.stdout
    assert "exit code 4" in result.stdout


def start_waiting_sweep(project: Path, tmp_path: Path) -> subprocess.Popen[str]:
    """A sweep of three jobs, one at a time, once its first command waits for a signal."""
    ready = tmp_path / "ready"
    os.mkfifo(ready)
    process = subprocess.Popen(
        [sys.executable, "-m", "maggot", "sweep", "-p", "x=1,2,3", "-j", "1", "--",
         sys.executable, "train.py", "--x", "{x}", "--ready", str(ready), "--pause"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    with open(ready) as fifo:
        assert fifo.read() == "ready\n"
    return process


def test_ctrl_c_stops_launching_and_leaves_every_status_true(project, tmp_path):
    process = start_waiting_sweep(project, tmp_path)
    os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode == 130
    assert states(project) == ["interrupted", "pending", "pending"]
    (interrupted_run,) = store.find_run_dirs(project / "experiments")
    info = json.loads(Path(store.meta_path(interrupted_run, store.RUN_FILE)).read_text())
    assert info["status"] == "interrupted"


@pytest.mark.parametrize("group", [True, False], ids=["to-the-group", "to-the-sweep-only"])
def test_sigterm_reaches_every_running_job_and_the_runs_say_terminated(project, tmp_path, group):
    process = start_waiting_sweep(project, tmp_path)
    if group:
        os.killpg(process.pid, signal.SIGTERM)
    else:
        os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "terminated by SIGTERM" in stderr
    assert states(project) == ["terminated", "pending", "pending"]
    (terminated_run,) = store.find_run_dirs(project / "experiments")
    info = json.loads(Path(store.meta_path(terminated_run, store.RUN_FILE)).read_text())
    assert info["status"] == "terminated"
    assert info["exit"]["type"] == "SIGTERM"


def test_summarize_lists_one_sweep(project):
    for values in ("x=1,2", "x=3"):
        result = run_maggot(
            "sweep", "-p", values, "--metric-pattern", PATTERN, "--",
            sys.executable, "train.py", "--x", "{x}", cwd=project,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    # both sweeps may start in the same second: their ids then sort either way
    records = [
        sweep.load_sweep(sweep.find_sweep(sweep_id, str(project / "experiments")))
        for sweep_id in sweep_ids(project)
    ]
    [first] = [record.sweep_id for record in records if len(record.spec.jobs) == 2]
    summary = run_maggot(
        "summarize", "experiments", "--sweep", first, "--format", "json", cwd=project
    )
    assert summary.returncode == 0, summary.stderr
    assert sorted(row["score"] for row in json.loads(summary.stdout)) == [10, 20]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "x=1", "--", "true", "{x}", "{z}"], "the command uses {z}, which no -p gives"),
        (["-p", "x=1", "-p", "y=2", "--", "true", "{x}"], "-p y: the command never uses {y}"),
        (["-p", "x=", "--", "true", "{x}"], "-p x: empty value"),
        (["-p", "x=1,,2", "--", "true", "{x}"], "-p x: empty value"),
        (["-p", "x=1:2:log", "--", "true", "{x}"], "malformed range"),
        (["-p", "x=a:b:lin:3", "--", "true", "{x}"], "malformed range"),
        (["-p", "x=0:1:log:3", "--", "true", "{x}"], "above 0"),
        (["-p", "x=@nofile.txt", "--", "true", "{x}"], "nofile.txt"),
        (["-p", "x", "--", "true", "{x}"], "expected KEY=VALUES"),
        (["--zip", "-p", "x=1,2", "-p", "y=1", "--", "true", "{x}", "{y}"], "differ in length"),
        (["--random", "5", "-p", "x=1,2", "--", "true", "{x}"], "only 2 combinations"),
        (["-p", "x=0:1000:lin:1001", "--", "true", "--x", "{x}"], "more than 1000"),
        (["-p", "x=1", "--", "no-such-program-xyz", "{x}"], "command not found"),
        (["--", "true"], "give at least one -p"),
        (["-p", "x=1", "--detach", "--", "true", "{x}"], "--detach works with --launcher slurm"),
        (["--zip", "--random", "1", "-p", "x=1", "--", "true", "{x}"], "cannot be used together"),
        (["--seed", "3", "-p", "x=1", "--", "true", "{x}"], "--seed goes with --random"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(project, args, message):
    result = invoke("sweep", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (project / "experiments").exists()


def test_slurm_without_sbatch_is_a_usage_error(project, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = invoke("sweep", "--launcher", "slurm", "-p", "x=1", "--", sys.executable, "{x}")
    assert result.exit_code == 2
    assert "sbatch not found" in result.stderr
    assert not (project / "experiments").exists()


def test_dry_run_prints_the_jobs_and_creates_nothing(project):
    result = invoke("sweep", "--dry-run", "--zip", "-p", "x=1,2", "-p", "y=a,b", "--",
                    "true", "--x", "{x}", "--y={y}")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "0: true --x 1 --y=a" in result.stdout
    assert "1: true --x 2 --y=b" in result.stdout
    assert not (project / "experiments").exists()


def test_dry_run_never_shows_a_secret_of_the_command(project):
    token = "sk-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4"
    result = invoke("sweep", "--dry-run", "-p", "x=1,2", "--",
                    "true", "--x", "{x}", "--token", token)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert token not in result.output
    assert "0: true --x 1 --token '<redacted>'" in result.stdout


def test_ranges_and_value_files(tmp_path):
    assert sweep.parse_parameter("lr=1e-4:1e-1:log:4").values == (0.0001, 0.001, 0.01, 0.1)
    assert sweep.parse_parameter("n=0:10:lin:3").values == (0, 5, 10)
    assert sweep.parse_parameter("n=0:1:3").values == (0.0, 0.5, 1.0)
    assert sweep.parse_parameter("n=5:9:lin:1").values == (5,)
    (tmp_path / "values.txt").write_text("a\n\n2\n0.5\n")
    assert sweep.parse_parameter("v=@values.txt", str(tmp_path)).values == ("a", 2, 0.5)
    with pytest.raises(ParameterError, match="malformed range"):
        sweep.parse_parameter("n=1:2:cubic:3")


def test_random_draws_repeat_with_the_same_seed():
    parameters = [sweep.SweepParameter("x", tuple(range(10))), sweep.SweepParameter("y", (1, 2))]
    first = sweep.expand(parameters, "random", 5, seed=3)
    assert first == sweep.expand(parameters, "random", 5, seed=3)
    assert len({(job["x"], job["y"]) for job in first}) == 5
    grid = sweep.expand(parameters, "grid", None, None)
    assert len(grid) == 20
    assert grid[:2] == [{"x": 0, "y": 1}, {"x": 0, "y": 2}]


def test_sweep_status_all_lists_sweeps(project):
    result = run_maggot("sweep", "-p", "x=1", "--", sys.executable, "train.py", "--x", "{x}",
                        cwd=project)  # fmt: skip
    assert result.returncode == 0, result.stderr
    listing = run_maggot("sweep", "status", "--all", "--format", "json", cwd=project)
    (row,) = json.loads(listing.stdout)
    assert row["jobs"] == 1
    assert row["completed"] == 1
    missing = run_maggot("sweep", "status", "nope", cwd=project)
    assert missing.returncode == 1
    assert "no sweep nope" in missing.stderr
    both = run_maggot("sweep", "status", "--all", "nope", cwd=project)
    assert both.returncode == 2


def test_sweep_status_without_id_picks_the_newest_and_says_so(project):
    runner = CliRunner()
    for x in ("1", "2"):
        # back to back, well within one second
        result = runner.invoke(
            main, ["sweep", "-p", f"x={x}", "--", sys.executable, "train.py", "--x", "{x}"],
            catch_exceptions=False,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    first, second = sweep_ids(project)
    status = run_maggot("sweep", "status", "--format", "json", cwd=project)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["id"] == second
    assert f"sweep {second}, the newest of 2" in status.stderr
    assert sweep.load_sweep(sweep.find_sweep(second, "experiments")).spec.jobs == ({"x": 2},)


def test_sweep_ids_sort_in_the_order_sweeps_started(tmp_path):
    experiments = str(tmp_path / "experiments")
    claimed = [sweep._claim_sweep_dir(experiments)[0] for _ in range(20)]
    assert len(set(claimed)) == 20
    # one started in a later second than the clock now says (the clock was set back)
    ahead = "29991231-235959-999999-0000"
    os.mkdir(os.path.join(sweep.sweeps_root(experiments), ahead))
    claimed += [ahead, sweep._claim_sweep_dir(experiments)[0]]
    for sweep_id in claimed:
        Path(sweep.sweeps_root(experiments), sweep_id, sweep.SWEEP_FILE).write_text("{}")
    # an id of the first format (seconds and a random suffix) sorts by its second
    legacy = "20000101-000000-ffff"
    os.mkdir(os.path.join(sweep.sweeps_root(experiments), legacy))
    Path(sweep.sweeps_root(experiments), legacy, sweep.SWEEP_FILE).write_text("{}")
    assert sweep.list_sweeps(experiments) == [legacy, *claimed]
    assert sweep.newest_sweep(experiments) == claimed[-1]
    with pytest.raises(sweep.SweepError, match="no sweeps under"):
        sweep.newest_sweep(str(tmp_path / "none"))


SECRET_SCRIPT = textwrap.dedent(
    """
    import hashlib, os, sys
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    # the token itself is in no variable: the sweep must give it back from its own memory
    ok = hashlib.sha256(args["--token"].encode()).hexdigest() == os.environ["TOKEN_SHA256"]
    ok = ok and args["--password"] == os.environ["DB_PW"]
    print(f"score={int(args['--x']) * 10} secret_ok={int(ok)}")
    if not os.path.exists(args["--flag"] + args["--x"]):
        sys.exit(4)
    """
)
TOKEN = "sk-" + "a1B2c3D4e5F6g7H8i9J0k1L2"


def test_sweep_record_redacts_secrets_and_jobs_and_resume_get_them(project, tmp_path):
    (project / "uses_secret.py").write_text(SECRET_SCRIPT)
    commit_all(project, "secret script")
    flag = tmp_path / "flag"
    (tmp_path / "flag1").write_text("")
    env = {"TOKEN_SHA256": hashlib.sha256(TOKEN.encode()).hexdigest(), "DB_PW": "hunter2hunter2"}
    result = run_maggot(
        "sweep", "-p", "x=1,2", "--metric-pattern", r"(?P<name>\w+)=(?P<value>\d+)", "--",
        sys.executable, "uses_secret.py", "--token", TOKEN, "--password", "hunter2hunter2",
        "--flag", str(flag), "--x", "{x}", cwd=project, env=env,
    )  # fmt: skip
    assert result.returncode == 1  # job 1 fails until its flag exists
    record = load(project)
    text = Path(record.sweep_dir, sweep.SWEEP_FILE).read_text()
    assert TOKEN not in text and "hunter2" not in text
    data = json.loads(text)
    assert data["command"][2:6] == ["--token", "<redacted>", "--password", "<redacted>"]
    positions = {item["position"]: item["environment"] for item in data["redacted_arguments"]}
    assert positions == {3: None, 5: "DB_PW"}
    done = sweep.job_states(record)[0]
    assert results(done.run_dir) == {"score": 10, "secret_ok": 1}
    # --resume without the literal token: refused, nothing launched
    (tmp_path / "flag2").write_text("")
    refused = run_maggot("sweep", "--resume", record.sweep_id, cwd=project, env=env)
    assert refused.returncode == 1
    assert "set MAGGOT_ARG_3" in refused.stderr and "Traceback" not in refused.stderr
    assert states(project) == ["completed", "failed"]
    resumed = run_maggot(
        "sweep", "--resume", record.sweep_id, cwd=project, env={**env, "MAGGOT_ARG_3": TOKEN}
    )
    assert resumed.returncode == 0, resumed.stderr
    assert results(sweep.job_states(load(project))[1].run_dir) == {"score": 20, "secret_ok": 1}
    for run_dir in store.find_run_dirs(project / "experiments"):
        for path in Path(run_dir, ".maggot").rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path
    assert sweep.redact_template(["--api-key", "{key}", "--token", TOKEN])[0] == [
        "--api-key", "{key}", "--token", "<redacted>",
    ]  # fmt: skip


@given(
    st.integers(-1000, 1000),
    st.integers(-1000, 1000),
    st.integers(1, 50),
    st.sampled_from(["lin", "log"]),
)
def test_ranges_have_n_values_from_start_to_stop(start, stop, count, scale):
    if scale == "log" and (start <= 0 or stop <= 0):
        with pytest.raises(ParameterError, match="above 0"):
            sweep.parse_parameter(f"k={start}:{stop}:{scale}:{count}")
        return
    values = sweep.parse_parameter(f"k={start}:{stop}:{scale}:{count}").values
    assert len(values) == count
    assert values[0] == pytest.approx(start)
    if count > 1:
        assert values[-1] == pytest.approx(stop)
    ordered = sorted(values)
    assert list(values) in (ordered, ordered[::-1])


def test_a_sweep_job_reproduces_like_any_run(project):
    (project / "train.py").write_text(TRAIN.replace('"committed"', '"dirty"'))
    result = run_maggot(
        "sweep", "-p", "x=4", "--name", "job{x}", "--metric-pattern", PATTERN, "--",
        sys.executable, "train.py", "--x", "{x}", cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    replay = run_maggot("reproduce", "--yes", "experiments/job4", cwd=project)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "reproduced: all 1 results match" in replay.stdout


def test_gc_removes_the_code_tree_of_a_finished_sweep_and_leaves_a_live_one(project, tmp_path):
    result = run_maggot(
        "sweep", "-p", "x=1,2", "--", sys.executable, "train.py", "--x", "{x}",
        "--fail-unless", f"{tmp_path / 'never'}{{x}}", cwd=project,
    )  # fmt: skip
    assert result.returncode == 1
    record = load(project)
    assert os.path.isdir(record.code_dir)
    # a job that is still starting (its process is this one) keeps the tree
    sweep.write_job_file(record.sweep_dir, 1, run_dir=None, error=None,
                         hostname=socket.gethostname(), pid=os.getpid())  # fmt: skip
    live = run_maggot("gc", "--dry-run", cwd=project)
    assert record.code_dir not in live.stdout
    sweep.write_job_file(record.sweep_dir, 1, error="failed")
    collected = run_maggot("gc", cwd=project)
    assert collected.returncode == 0, collected.stderr
    assert f"removing sweep code tree {record.code_dir}" in collected.stdout
    assert not os.path.exists(record.code_dir)
    assert record.code_dir not in git(project, "worktree", "list")


def test_jobs_that_run_at_once_may_not_share_a_results_file(project):
    result = run_maggot(
        "sweep", "-j", "2", "-p", "x=1,2", "--results", "res.json", "--",
        sys.executable, "-c", "print({x})", cwd=project,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--results res.json: jobs that run at once would read each other's" in result.stderr
    assert "--results 'res-{x}.json'" in result.stderr
    assert not (project / "experiments").exists()


def test_each_job_reads_its_own_results_file_named_after_its_values(project):
    write = "import json, sys; json.dump({'double': 2 * {x}}, open('res-{x}.json', 'w'))"
    result = run_maggot(
        "sweep", "-j", "2", "-p", "x=1,2,3", "--results", "res-{x}.json", "--",
        sys.executable, "-c", write, cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for x in (1, 2, 3):
        meta = project / "experiments" / str(x) / ".maggot"
        assert json.loads((meta / "results.json").read_text()) == {"double": 2 * x}


def test_a_results_file_the_job_did_not_write_is_not_read(project):
    # the first job writes it; the second leaves the first job's file as it was
    write = "import json; json.dump({'x': {x}}, open('res.json', 'w')) if {x} == 1 else None"
    result = run_maggot(
        "sweep", "-j", "1", "-p", "x=1,2", "--results", "res.json", "--",
        sys.executable, "-c", write, cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    meta = project / "experiments"
    assert json.loads((meta / "1" / ".maggot" / "results.json").read_text()) == {"x": 1}
    assert not (meta / "2" / ".maggot" / "results.json").exists()


def test_results_file_placeholders_must_be_swept(project):
    result = run_maggot(
        "sweep", "-p", "x=1,2", "--results", "res-{y}.json", "--",
        sys.executable, "-c", "print({x})", cwd=project,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--results res-{y}.json: uses {y}, which no -p gives" in result.stderr


def test_a_run_renamed_without_its_job_file_is_still_the_jobs_run(project):
    # as an older maggot mv (or a rename by hand) left it: the job file names the old path
    result = run_maggot(
        "sweep", "-p", "x=1,2", "--metric-pattern", PATTERN, "--",
        sys.executable, "train.py", "--x", "{x}", cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    first, second = (state.run_dir for state in sweep.job_states(load(project)))
    renamed = os.path.join(os.path.dirname(first), "best")
    os.rename(first, renamed)
    info = json.loads(Path(store.meta_path(renamed, store.RUN_FILE)).read_text())
    store.write_json_atomic(store.meta_path(renamed, store.RUN_FILE), info | {"name": "best"})
    found = sweep.job_states(load(project))
    assert [(state.state, state.run_dir) for state in found] == [
        ("completed", renamed),
        ("completed", second),
    ]
    resumed = run_maggot("sweep", "--resume", load(project).sweep_id, cwd=project)
    assert "every job completed" in resumed.stdout
    assert sorted(store.find_run_dirs(project / "experiments")) == sorted([renamed, second])
