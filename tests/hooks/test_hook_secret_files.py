from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from maggot.secrets import looks_secret
from maggot_hooks.check_secret_files import main

if TYPE_CHECKING:
    from conftest import Repo

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "app/.env",
        ".env.local",
        "deploy/.env.production",
        "certs/server.pem",
        "tls.key",
        "SERVER.KEY",
        "id_rsa",
        "home/.ssh/id_rsa.pub",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_dsa",
        "aws_credentials",
        "config/gcp-credentials.json",
        "Credentials.json",
        ".netrc",
        "store.p12",
        "store.pfx",
        ".pypirc",
        "conf\\.env",
        ".envrc",
        "prod.env",
        "secrets.yaml",
        "config/secrets.json",
        "my-project-service-account.json",
        ".pgpass",
        "kubeconfig",
        "home/.kube/config",
        "infra/prod.tfvars",
        ".npmrc",
        "home/.docker/config.json",
        "deploy/secrets/db.txt",
    ],
)
def test_secret_names(path: str) -> None:
    assert looks_secret(path)


@pytest.mark.parametrize(
    "path",
    [
        ".env.example",
        "app/.env.sample",
        ".env.template",
        ".ENV.EXAMPLE",
        "environment.yml",
        "env/config.json",
        "keys.py",
        "monkey.txt",
        "pem/readme.md",
        ".env/readme.md",
        "src/id.py",
        "netrc.md",
        "train.py",
    ],
)
def test_ordinary_names(path: str) -> None:
    assert not looks_secret(path)


def test_staged_secrets_fail(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    hook_repo.write(".env", "TOKEN=abc\n")
    hook_repo.write(".env.example", "TOKEN=\n")
    hook_repo.write("certs/server.pem")
    hook_repo.write("train.py")

    assert main(hook_repo.stage_all()) == 1
    assert capsys.readouterr().out.splitlines() == [
        ".env: file name looks like a secret; unstage it and add it to .gitignore",
        "certs/server.pem: file name looks like a secret; unstage it and add it to .gitignore",
    ]


def test_clean_commit_passes(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    hook_repo.write(".env.example", "TOKEN=\n")
    hook_repo.write("src/keys.py")
    hook_repo.write("README.md")

    assert main(hook_repo.stage_all()) == 0
    assert capsys.readouterr().out == ""


def test_no_filenames_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out == ""


def test_runs_as_module(hook_repo: Repo) -> None:
    hook_repo.write("deploy/id_ed25519")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "maggot_hooks.check_secret_files", *hook_repo.stage_all()],
        cwd=hook_repo.root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("deploy/id_ed25519: file name looks like a secret")
