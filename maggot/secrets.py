"""What counts as a secret: environment names, file names, credentials in URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

REDACTED = "<redacted>"
SECRET_NAME_WORDS = (
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE",
    "CREDENTIAL",
    "AUTH",
)


def secret_name_pattern(extra_words: Iterable[str] = ()) -> re.Pattern[str]:
    """A case-insensitive pattern matching environment names that look secret."""
    words = [*SECRET_NAME_WORDS, *extra_words]
    return re.compile("|".join(re.escape(word) for word in words), re.IGNORECASE)


def redact_environ(
    environ: Mapping[str, str], extra_secret_words: Iterable[str] = ()
) -> dict[str, str]:
    """A copy of ``environ`` with values of secret-looking names replaced."""
    pattern = secret_name_pattern(extra_secret_words)
    return {name: REDACTED if pattern.search(name) else value for name, value in environ.items()}


_URL_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]+@")


def redact_url(url: str) -> str:
    """Drop a user/password part from a URL (``https://token@host/...``)."""
    return _URL_USERINFO.sub(r"\1", url)


SECRET_FILE_PATTERNS = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*credentials*",
    ".netrc",
    ".pypirc",
    ".git-credentials",
    "*.p12",
    "*.pfx",
)
# templates that are meant to be shared
TEMPLATE_NAMES = frozenset({".env.example", ".env.sample", ".env.template"})


def looks_secret(path: str, extra_patterns: Iterable[str] = ()) -> bool:
    """Whether a file's name looks like it holds credentials (``.env``, ``*.pem`` ...)."""
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    if name in TEMPLATE_NAMES:
        return False
    return any(fnmatchcase(name, pattern) for pattern in (*SECRET_FILE_PATTERNS, *extra_patterns))
