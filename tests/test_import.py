from __future__ import annotations

import json

from gitrepo import run_python

HEAVY = ("click", "deepdiff", "tabulate", "git", "pandas", "numpy")


def test_import_maggot_stays_light(tmp_path):
    result = run_python(
        [
            "-c",
            "import sys, json, maggot\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_a_run_with_snapshot_does_not_load_gitpython(repo):
    (repo / "train.py").write_text(
        "import sys\nfrom maggot import Experiment\n"
        "with Experiment(config={'a': 1}) as exp:\n"
        "    exp.register_result('x', 1)\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = run_python(["train.py"], cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_0_2_module_paths_still_import(tmp_path):
    result = run_python(
        [
            "-c",
            "from maggot import Experiment, Config\n"
            "from maggot.experiment import Experiment as E\n"
            "from maggot.config import Config as C\n"
            "import maggot\n"
            "assert E is Experiment and C is Config\n"
            "print(maggot.DEFAULT_SEPARATOR, maggot.get_current_separator())\n",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["-", "-"]
