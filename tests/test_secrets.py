from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toolkit import commit_all, git, run_maggot, run_python

from maggot import secrets
from maggot.secrets import (
    REDACTED,
    looks_secret,
    redact_argv,
    redact_environ,
    redact_url,
    redact_value,
    secret_content_reason,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
RANDOM_TOKEN = "Zq8xN3vR7pL2mK9wT4yB6cF1hJ5gD0sA"


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("postgres://trainer:hunter2pw@db.internal:5432/runs", "hunter2pw"),
        ("http://proxyuser:proxypass9@proxy.corp:3128", "proxypass9"),
        ("https://__token__:pypi-AgEIcHlwaS5vcmc@upload.pypi.org/legacy/", "pypi-AgEIcHlwaS5vcmc"),
        ("host=db port=5432 user=me password=s3cr3tpass dbname=x", "s3cr3tpass"),
        ("Server=tcp:x;Database=y;User ID=z;Password=AzurePw42;Encrypt=true", "AzurePw42"),
        ("AccountName=acct;AccountKey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==;", "Zm9vYmFyYmF6cXV4"),
        ("https://example.com/hook?token=webhooktoken77&x=1", "webhooktoken77"),
        ("https://hooks.slack.com/services/T0123/B0456/abcdefSECRETxyz", "abcdefSECRETxyz"),
        ('{"user": "me", "password": "jsonpass11"}', "jsonpass11"),
        ("Authorization: Bearer bearertoken123456", "bearertoken123456"),
        (JWT, "SflKxwRJSMeKKF2QT4fw"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghij"),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz123456", "sk-proj-abcdefghij"),
        ("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("npm_abcdefghijklmnopqrstuvwxyz0123456789", "npm_abcdefghij"),
        ("sk_live_51HxYzAbCdEfGhIjKlMnOp", "sk_live_51HxYz"),
        (RANDOM_TOKEN, RANDOM_TOKEN),
        (f"innocent prefix {RANDOM_TOKEN} suffix", RANDOM_TOKEN),
    ],
)
def test_credentials_are_redacted_by_their_shape(value: str, secret: str) -> None:
    redacted = redact_value(value)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "value",
    [
        "/usr/local/lib/python3.11/site-packages:/home/me/project",
        "xterm-256color",
        "en_US.UTF-8",
        "rs=0:di=01;34:ln=01;36:mh=00",
        "unix:path=/run/user/1000/bus",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "checkpoints/ResNet50_ImageNet1k_V2_weights.pt",
        "my_experiment_name_v2_Final_123",
        "author=Ada Lovelace",
        "--max-tokens=512",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ],
)
def test_ordinary_values_are_kept(value: str) -> None:
    assert redact_value(value) == value


@given(
    prefix=st.text(alphabet="abc XYZ/:;=_-.", max_size=30),
    suffix=st.text(alphabet="abc XYZ/:;=_-.", max_size=30),
    password=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=20),
)
def test_planted_url_password_never_survives(prefix: str, suffix: str, password: str) -> None:
    value = f"{prefix} postgres://user:{password}@host/db {suffix}"
    assert f":{password}@" not in redact_value(value)


@given(st.text(max_size=80))
def test_redaction_is_stable(value: str) -> None:
    once = redact_value(value, strict=True)
    assert redact_value(once, strict=True) == once


def test_environment_redacts_by_name_and_by_value() -> None:
    environ = {
        "DATABASE_URL": "postgres://u:dbpass123@h/db",
        "HF_TOKEN": "anything",
        "MY_SETTING": RANDOM_TOKEN,
        "INVOCATION_ID": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "WANDB": "0123456789abcdef0123456789abcdef01234567",  # a 40-digit key
        "LOWER": "k3j9x0q7m2n8v5b1c4z6l0p9w8e7r6t5",
        "HOME": "/home/me",
    }
    redacted = redact_environ(environ)
    assert redacted["HF_TOKEN"] == REDACTED
    assert redacted["DATABASE_URL"] == f"postgres://{REDACTED}@h/db"
    assert redacted["MY_SETTING"] == REDACTED
    assert redacted["INVOCATION_ID"] == REDACTED
    assert redacted["WANDB"] == REDACTED
    assert redacted["LOWER"] == REDACTED
    assert redacted["HOME"] == "/home/me"


def test_command_line_secret_options_are_redacted_and_located() -> None:
    argv = [
        "python", "train.py", "--api-key", "key-from-env", "--password=pw1234",
        "db.password=hydrapw", "--lr", "0.1", "--author", "me", "--url", "https://u:p4ss@h/x",
    ]  # fmt: skip
    redacted, found = redact_argv(argv, {"MY_KEY": "key-from-env"})
    assert redacted == [
        "python", "train.py", "--api-key", REDACTED, f"--password={REDACTED}",
        f"db.password={REDACTED}", "--lr", "0.1", "--author", "me", "--url",
        f"https://{REDACTED}@h/x",
    ]  # fmt: skip
    assert [(item.position, item.prefix, item.environment) for item in found] == [
        (3, "", "MY_KEY"),
        (4, "--password=", None),
        (5, "db.password=", None),
        (11, "", None),
    ]


@pytest.mark.parametrize(
    "path",
    [".envrc", "prod.env", "secrets.yaml", "gcp-service-account.json", ".pgpass", "kubeconfig",
     "home/.kube/config", "main.tfvars", ".npmrc", "deploy/secrets/db.txt"],
)  # fmt: skip
def test_secret_file_names(path: str) -> None:
    assert looks_secret(path)


def test_secret_file_content() -> None:
    key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    account = b'{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nx"}'
    assert secret_content_reason(key) == "holds a private key"
    assert secret_content_reason(account) is not None
    assert secret_content_reason(b"[default]\naws_secret_access_key = abc\n") is not None
    assert secret_content_reason(b"print('hello')\n") is None


TRAIN = textwrap.dedent(
    """
    import argparse
    from maggot import Experiment

    parser = argparse.ArgumentParser()
    parser.add_argument("--api-key")
    parser.add_argument("--password")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--db-pwd")
    args = parser.parse_args()
    with Experiment(config={"lr": args.lr}) as exp:
        exp.register_result("key_length", len(args.api_key) + len(args.password))
        exp.register_result("key_ok", args.api_key == "sk-live-0123456789abcdefghij")
    """
)
PLANTED = [
    "innocent-looking-pw",
    "dbpass4242",
    "proxypw7777",
    "sk-live-0123456789abcdefghij",
    "cmdline-pw-31337",
    "remotepw5150",
    "envrc-secret-99",
    "PRIVATE KEY-----\nMIIE",
    "tracked-secret-edit-42",
    RANDOM_TOKEN,
]


def test_planted_secrets_never_reach_the_run_directory(repo: Path) -> None:
    (repo / "train.py").write_text(TRAIN)
    (repo / "config").mkdir()
    (repo / "config" / "secrets.yaml").write_text("db: placeholder\n")
    commit_all(repo, "train")
    git(repo, "remote", "add", "origin", "https://me:remotepw5150@git.example.com/p.git")
    (repo / "config" / "secrets.yaml").write_text("db: tracked-secret-edit-42\n")
    (repo / ".envrc").write_text("export TOKEN=envrc-secret-99\n")
    (repo / "sa.json").write_text(
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE"}'
    )
    (repo / "notes.txt").write_text("kept\n")
    env = {
        "DATABASE_URL": "postgres://trainer:dbpass4242@db/x",
        "HTTPS_PROXY": "http://me:proxypw7777@proxy:3128",
        "INNOCENT_NAME": RANDOM_TOKEN,
        "MY_KEY": "sk-live-0123456789abcdefghij",
        "DB_SETTING": "innocent-looking-pw",  # a secret only the command line gives away
    }
    argv = ["train.py", "--api-key", "sk-live-0123456789abcdefghij"]
    argv += ["--password=cmdline-pw-31337", "--lr", "0.1", "--db-pwd", "innocent-looking-pw"]
    result = run_python(argv, cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    run_dir = repo / "experiments" / "0.1"
    for path in run_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in PLANTED:
                assert secret.encode() not in content, (path, secret)
    head = json.loads((run_dir / ".maggot" / "git" / "head.json").read_text())
    skipped = {item["path"]: item["reason"] for item in head["skipped"]}
    assert "left out of the patch" in skipped["config/secrets.yaml"]
    assert skipped[".envrc"] == "secret-looking name"
    assert skipped["sa.json"].startswith("secret-looking content")
    assert head["untracked"] == ["notes.txt"]

    # the replay gets the redacted values back from the environment, or says what to set
    plan = run_maggot("reproduce", "experiments/0.1", "--dry-run", cwd=repo, env={"MY_KEY": "x"})
    assert plan.returncode == 0, plan.stderr
    assert "--api-key '<redacted>' '--password=<redacted>'" in plan.stdout
    assert (
        "the value of --api-key was redacted when recorded: the replay takes it from "
        "$MAGGOT_ARG_3 or $MY_KEY" in plan.stderr
    )
    assert (
        "the value of --password was redacted when recorded: set MAGGOT_ARG_4 to its "
        "value" in plan.stderr
    )
    refused = run_maggot("reproduce", "experiments/0.1", "--yes", cwd=repo)
    assert refused.returncode == 1
    assert "cannot replay: redacted when recorded and not supplied: " in refused.stderr
    assert "the value of --password (set MAGGOT_ARG_4)" in refused.stderr
    replayed = run_maggot(
        "reproduce", "experiments/0.1", "--yes", cwd=repo,
        env={"MY_KEY": "sk-live-0123456789abcdefghij", "MAGGOT_ARG_4": "cmdline-pw-31337",
             "DB_SETTING": "innocent-looking-pw"},
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "reproduced: all 2 results match" in replayed.stdout
    for path in (repo / "experiments" / "0.1.repro-1").rglob("*"):
        if path.is_file():
            assert b"cmdline-pw-31337" not in path.read_bytes()


def test_hook_refuses_a_private_key_under_an_innocent_name(tmp_path: Path) -> None:
    key = tmp_path / "notes.txt"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\nabc\n")
    completed = subprocess.run(
        [sys.executable, "-m", "maggot_hooks.check_secret_files", os.fspath(key)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert "holds a private key" in completed.stdout


def test_secret_looking_environment_names_are_redacted_case_insensitively() -> None:
    environ = {"HOME": "/h", "my_api_key": "k", "GITHUB_TOKEN": "t", "DB_PASSWORD": "p"}
    assert redact_environ(environ) == {
        "HOME": "/h",
        "my_api_key": REDACTED,
        "GITHUB_TOKEN": REDACTED,
        "DB_PASSWORD": REDACTED,
    }
    assert redact_environ({"WANDB_ENTITY": "e"}, ["wandb"]) == {"WANDB_ENTITY": REDACTED}


def test_redacting_the_same_environment_again_gives_the_same_and_follows_changes() -> None:
    environ = {"HOME": "/h", "GITHUB_TOKEN": "t", "PLAIN": "p"}
    first = redact_environ(environ)
    first["HOME"] = "changed by the caller"
    # a sweep's jobs redact one environment many times: each gets its own, equal, copy
    assert redact_environ(environ) == {"HOME": "/h", "GITHUB_TOKEN": REDACTED, "PLAIN": "p"}
    assert redact_environ(environ, secret_names=["PLAIN"])["PLAIN"] == REDACTED
    assert redact_environ(environ, ["home"])["HOME"] == REDACTED
    assert redact_environ({**environ, "HOME": "/other"})["HOME"] == "/other"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://user:secret@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://token@host/r", "https://host/r"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("ssh://git@host/r", "ssh://host/r"),
    ],
)
def test_credentials_in_remote_urls_are_dropped(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@given(st.text(alphabet="abc:/@.", max_size=30))
def test_a_redacted_url_never_keeps_a_password(url: str) -> None:
    redacted = redact_url("https://user:pw@" + url.lstrip("/@:"))
    assert "user:pw" not in redacted


@pytest.mark.parametrize(
    "path, secret",
    [
        (".env", True),
        ("config/.env.production", True),
        ("keys/server.PEM", True),
        ("home/id_rsa.pub", True),
        ("aws_credentials.json", True),
        (".env.example", False),
        ("environment.py", False),
        ("notes/keyboard.txt", False),
    ],
)
def test_secret_looking_file_names(path: str, secret: bool) -> None:
    assert looks_secret(path) is secret


# texts and patterns over a small alphabet, so that fragments often match
_GLOB_TEXT = st.text(alphabet="ab./*", max_size=12).map(lambda text: text.replace("*", ""))


@given(text=_GLOB_TEXT, pattern=st.text(alphabet="ab./*", max_size=8))
def test_star_match_is_fnmatchcase_for_star_patterns(text: str, pattern: str) -> None:
    from fnmatch import fnmatchcase

    assert secrets.star_match(text, pattern) == fnmatchcase(text, pattern)


@pytest.mark.parametrize("pattern", [*secrets.SECRET_FILE_PATTERNS, "*/*.ssh/*", "a?c", "[ab]x"])
def test_star_match_agrees_with_fnmatchcase_on_the_secret_patterns(pattern: str) -> None:
    from fnmatch import fnmatchcase

    names = [
        ".env", ".env.local", "prod.env", "id_rsa.pub", "my-credentials.txt", "x.pem.bak",
        "secret", "secrets.yaml", "gcp-service-account-1.json", "kubeconfig", "abc", "bx",
        "/home/u/.ssh/id", "/home/u/ssh/id", "main.tfvars.json", "plain.txt", "",
    ]  # fmt: skip
    for name in names:
        assert secrets.star_match(name, pattern) == fnmatchcase(name, pattern), name
