"""File-name patterns that mark a file as likely to hold secrets."""

from __future__ import annotations

from fnmatch import fnmatchcase

SECRET_PATTERNS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "id_ecdsa*",
    "id_dsa*",
    "*credentials*",
    ".netrc",
    "*.p12",
    "*.pfx",
    ".pypirc",
)

TEMPLATE_NAMES: frozenset[str] = frozenset({".env.example", ".env.sample", ".env.template"})


def looks_secret(path: str) -> bool:
    """Return True when the base name of ``path`` matches a secret-file pattern."""
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    if name in TEMPLATE_NAMES:
        return False
    return any(fnmatchcase(name, pattern) for pattern in SECRET_PATTERNS)
