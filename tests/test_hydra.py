"""Hydra with real hydra-core and hydra-joblib-launcher, in real processes."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from toolkit import commit_all, run_maggot, run_python

from maggot import Experiment
from maggot.errors import ConfigError, MaggotError

omegaconf = pytest.importorskip("omegaconf")
pytest.importorskip("hydra")

CONFIG_YAML = textwrap.dedent(
    """
    lr: 0.1
    layers: [64, 32]
    data: ${hydra:runtime.cwd}/data
    hydra:
      job:
        chdir: true
    """
)

# the task creates its own Experiment from the Hydra config
OWN_EXPERIMENT = textwrap.dedent(
    """
    import hydra
    from maggot import Experiment

    @hydra.main(version_base=None, config_path="conf", config_name="config")
    def main(cfg):
        with Experiment(config=cfg, if_exists_mode="increment") as exp:
            print("lr", cfg.lr)
            exp.register_result("loss", round(1 - cfg.lr, 6))

    if __name__ == "__main__":
        main()
    """
)

# zero-change task: the callback in the YAML records it
UNCHANGED_TASK = textwrap.dedent(
    """
    import hydra

    @hydra.main(version_base=None, config_path="conf", config_name="config")
    def main(cfg):
        print("lr", cfg.lr)
        return {"loss": round(1 - cfg.lr, 6), "curve": [0.5, 0.25]}

    if __name__ == "__main__":
        main()
    """
)
# under the hydra: node of CONFIG_YAML
CALLBACK_YAML = "  callbacks:\n    maggot:\n      _target_: maggot.hydra.MaggotCallback\n"


def hydra_project(repo: Path, script: str, callback: bool = False) -> Path:
    (repo / "conf").mkdir()
    yaml = CONFIG_YAML + (CALLBACK_YAML if callback else "")
    (repo / "conf" / "config.yaml").write_text(yaml)
    (repo / "train.py").write_text(script)
    (repo / ".gitignore").write_text("experiments/\noutputs/\nmultirun/\n")
    commit_all(repo, "hydra project")
    return repo


def run_info(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / ".maggot" / "run.json").read_text())


def test_omegaconf_configs_are_stored_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = omegaconf.OmegaConf.create(
        {"model": {"layers": [64, 32], "width": "${model.layers[0]}"}, "tags": ["a", "b"]}
    )
    exp = Experiment(config=config, snapshot=False)
    stored = json.loads(Path(exp.experiment_dir, ".maggot", "config.json").read_text())
    assert stored == {"model": {"layers": [64, 32], "width": 64}, "tags": ["a", "b"]}


class ReadOnlyMapping(Mapping[str, Any]):
    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class Layers(Sequence[int]):
    def __getitem__(self, index: Any) -> Any:
        return [64, 32][index]

    def __len__(self) -> int:
        return 2


def test_any_mapping_and_sequence_are_accepted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = Experiment(config=ReadOnlyMapping({"layers": Layers()}), snapshot=False)
    assert exp.config.layers == [64, 32]
    assert Path(exp.experiment_dir).name == "64x32"


def test_an_unresolvable_omegaconf_config_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="cannot be resolved"):
        Experiment(config=omegaconf.OmegaConf.create({"a": "${missing}"}), snapshot=False)


def test_omegaconf_is_not_imported_for_plain_configs(tmp_path):
    code = (
        "import sys\nfrom maggot import Experiment\n"
        "Experiment(config={'a': [1, 2]}, snapshot=False)\n"
        "print('omegaconf' in sys.modules)\n"
    )
    completed = run_python(["-c", code], cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "False\n"


def test_a_hydra_run_after_chdir_is_named_from_overrides_and_reproduces(repo):
    hydra_project(repo, OWN_EXPERIMENT)
    completed = run_python(["train.py", "lr=0.25"], cwd=repo)
    assert completed.returncode == 0, completed.stderr
    outputs = list((repo / "outputs").rglob("experiments/*"))
    assert [path.name for path in outputs] == ["lr=0.25"]
    run_dir = outputs[0]
    info = run_info(run_dir)
    assert info["cwd"] == "." and info["cwd_absolute"] == str(repo)
    assert info["hydra"]["overrides"] == ["lr=0.25"] and not info["hydra"]["multirun"]
    config = json.loads((run_dir / ".maggot" / "config.json").read_text())
    assert config == {"lr": 0.25, "layers": [64, 32], "data": f"{repo}/data"}
    replay = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "reproduced: all 1 results match" in replay.stdout


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_the_callback_records_every_sweep_job_and_one_replays_alone(repo, launcher):
    if launcher == "joblib":
        pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    hydra_project(repo, UNCHANGED_TASK, callback=True)
    arguments = ["train.py", "-m", "lr=0.1,0.2,0.3", f"hydra/launcher={launcher}"]
    completed = run_python(arguments, cwd=repo)
    assert completed.returncode == 0, completed.stderr
    runs = sorted(path.name for path in (repo / "experiments").iterdir())
    assert runs == ["lr=0.1", "lr=0.2", "lr=0.3"]
    run_dir = repo / "experiments" / "lr=0.2"
    info = run_info(run_dir)
    assert info["command_argv"] == [sys.executable, "train.py", f"hydra/launcher={launcher}",
                                    "lr=0.2"]  # fmt: skip
    assert info["status"] == "completed" and info["hydra"]["multirun"]
    assert "lr 0.2\n" in next((run_dir / ".maggot" / "logs").iterdir()).read_text()
    results = json.loads((run_dir / ".maggot" / "results.json").read_text())
    assert results == {"loss": 0.8, "curve": [0.5, 0.25]}
    replay = run_maggot("reproduce", "experiments/lr=0.2", "--yes", cwd=repo)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "reproduced: all 2 results match" in replay.stdout
    # one job replayed, not the sweep
    after = sorted(path.name for path in (repo / "experiments").iterdir())
    assert after == sorted([*runs, "lr=0.2.repro-1"])


def test_the_callback_records_a_failed_job(repo):
    hydra_project(
        repo,
        UNCHANGED_TASK.replace('print("lr", cfg.lr)', 'raise ValueError("diverged")'),
        callback=True,
    )
    completed = run_python(["train.py", "lr=0.5"], cwd=repo)
    assert completed.returncode != 0
    info = run_info(repo / "experiments" / "lr=0.5")
    assert info["status"] == "failed"
    assert info["exit"] == {"type": "ValueError", "message": "diverged"}


def test_names_can_come_from_the_config_instead(repo):
    hydra_project(
        repo,
        OWN_EXPERIMENT.replace('if_exists_mode="increment"', 'name_from="config"').replace(
            "config=cfg", "config={'lr': cfg.lr}"
        ),
    )
    completed = run_python(["train.py", "lr=0.5"], cwd=repo)
    assert completed.returncode == 0, completed.stderr
    assert [path.name for path in (repo / "outputs").rglob("experiments/*")] == ["0.5"]


def test_name_from_is_checked_before_anything_is_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MaggotError, match="name_from 'bogus'"):
        Experiment(config={"a": 1}, name_from="bogus")
    with pytest.raises(MaggotError, match="needs a running Hydra job"):
        Experiment(config={"a": 1}, name_from="overrides")
    assert not (tmp_path / "experiments").exists()
