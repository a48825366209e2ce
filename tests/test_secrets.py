from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maggot.secrets import REDACTED, looks_secret, redact_environ, redact_url


def test_secret_looking_environment_names_are_redacted_case_insensitively() -> None:
    environ = {"HOME": "/h", "my_api_key": "k", "GITHUB_TOKEN": "t", "DB_PASSWORD": "p"}
    assert redact_environ(environ) == {
        "HOME": "/h",
        "my_api_key": REDACTED,
        "GITHUB_TOKEN": REDACTED,
        "DB_PASSWORD": REDACTED,
    }
    assert redact_environ({"WANDB_ENTITY": "e"}, ["wandb"]) == {"WANDB_ENTITY": REDACTED}


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
