"""What counts as a secret: by name (environment, options, files) and by the shape of a value.

One set of rules for every file maggot writes (environ, command, run.json,
head.json, the snapshot) and for the ``maggot-no-secret-files`` hook.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

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


# --- values -----------------------------------------------------------------

_URL_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]+@")
_EMBEDDED_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"<>]+@")
# key=value / key: value pairs in DSNs, connection strings, query strings, headers
# (the key ends with the secret word: ``author=`` or ``tokens=`` are not secrets)
_SECRET_KEY = (
    r"[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|accountkey|sharedaccesskey|private[_-]?key|credentials?|auth|signature|sig)"
)
_KEY_VALUE = re.compile(
    rf"(?i)(?<![A-Za-z0-9])({_SECRET_KEY})([\"']?\s*[=:]\s*[\"']?)"
    rf"(?!{re.escape(REDACTED)})([^\s;&,'\"]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+([A-Za-z0-9._~+/=-]{8,})")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# prefixes of well-known credentials: GitHub, GitLab, Slack, OpenAI, Hugging Face, AWS,
# Google, npm, PyPI, Stripe, SendGrid, DigitalOcean
_KNOWN_TOKEN = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{30,}"
    r"|pypi-[A-Za-z0-9_-]{40,}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|do[opr]_v1_[a-f0-9]{40,})"
    r"|(?<=hooks\.slack\.com/services/)[^\s'\"]+"
    r"|(?<=/api/webhooks/)[^\s'\"]+"
)
_TOKEN_CANDIDATE = re.compile(r"[A-Za-z0-9+_=-]{24,}")
_HEX_CANDIDATE = re.compile(r"\b[0-9a-fA-F]{32,}\b")
_MIN_TOKEN_ENTROPY = 3.5  # bits per character; English words and identifiers stay below
# share of neighbouring characters that switch between lower, upper and digit:
# random tokens switch at about every other character, names like ResNet50_v2 rarely
_MIN_CLASS_SWITCHES = 0.35
_WORD = re.compile(r"[A-Z]?[a-z]{3,}")


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for character in text:
        counts[character] = counts.get(character, 0) + 1
    length = len(text)
    return -sum(count / length * math.log2(count / length) for count in counts.values())


def _character_class(character: str) -> int:
    return 0 if character.islower() else 1 if character.isupper() else 2


def _looks_like_token(candidate: str, strict: bool = False) -> bool:
    """Random-looking: long, mixed case and digits, high entropy, no word structure.

    ``strict`` also takes 32+ characters of one case mixed with digits.
    """
    core = candidate.strip("=-_")
    kinds = (
        any(character.isdigit() for character in core)
        + any(character.islower() for character in core)
        + any(character.isupper() for character in core)
    )
    if not (len(core) >= 24 and kinds == 3 or strict and len(core) >= 32 and kinds == 2):
        return False
    segments = re.split(r"[_=-]", core)
    if len(segments) > 1 and any(_WORD.fullmatch(segment) for segment in segments):
        return False  # made of words: ResNet50_ImageNet1k_V2_weights
    classes = [_character_class(character) for character in core if character.isalnum()]
    switches = sum(first != second for first, second in zip(classes, classes[1:]))
    return (
        switches >= _MIN_CLASS_SWITCHES * (len(classes) - 1)
        and _entropy(core) >= _MIN_TOKEN_ENTROPY
    )


def redact_value(value: str, *, strict: bool = False) -> str:
    """``value`` with credentials recognised by their shape replaced by ``<redacted>``.

    URL user info (``postgres://user:pw@host``), secret ``key=value`` pairs
    (``password=...``, ``AccountKey=...``, ``?token=...``), bearer tokens,
    JWTs, well-known token prefixes (``ghp_``, ``sk-``, ``AKIA`` ...) and
    random-looking tokens. ``strict`` (for the environment, which no replay
    needs) also takes long hexadecimal strings, git hashes included, and long
    one-case tokens with digits.
    """
    if len(value) < 8:
        return value
    value = _EMBEDDED_USERINFO.sub(lambda match: f"{match.group(1)}{REDACTED}@", value)
    value = _KEY_VALUE.sub(lambda match: f"{match.group(1)}{match.group(2)}{REDACTED}", value)
    value = _BEARER.sub(lambda match: f"{match.group(1)} {REDACTED}", value)
    value = _JWT.sub(REDACTED, value)
    value = _KNOWN_TOKEN.sub(REDACTED, value)
    value = _TOKEN_CANDIDATE.sub(
        lambda match: REDACTED if _looks_like_token(match.group(0), strict) else match.group(0),
        value,
    )
    if strict:
        value = _HEX_CANDIDATE.sub(REDACTED, value)
    return value


def redact_environ(
    environ: Mapping[str, str],
    extra_secret_words: Iterable[str] = (),
    secret_names: Iterable[str] = (),
) -> dict[str, str]:
    """A copy of ``environ`` with secrets replaced: by name, and by value shape.

    ``secret_names`` are variables known to hold a secret whatever their name
    (one passed on the command line as ``--password "$DB_PW"``).
    """
    global _environ_redacted
    words, known = tuple(extra_secret_words), frozenset(secret_names)
    key = (tuple(environ.items()), words, known)
    if _environ_redacted is not None and _environ_redacted[0] == key:
        # the same environment again (a sweep's jobs, a loop of runs): its values are
        # not matched against every secret shape again
        return dict(_environ_redacted[1])
    pattern = secret_name_pattern(words)
    redacted = {
        name: REDACTED
        if name in known or pattern.search(name)
        else redact_value(value, strict=True)
        for name, value in environ.items()
    }
    _environ_redacted = (key, dict(redacted))
    return redacted


# the last environment redact_environ was given, and what it returned
_environ_redacted: tuple[Any, dict[str, str]] | None = None


def redact_url(url: str) -> str:
    """Drop a user/password part from a URL (``https://token@host/...``) and secret values."""
    return redact_value(_URL_USERINFO.sub(r"\1", url))


# --- command lines ----------------------------------------------------------

_SECRET_OPTION = re.compile(
    r"(?:^|[-_.])(?:password|passwd|pwd|secret|token|api-?key|apikey|access-?key"
    r"|secret-?key|private-?key|credentials?|auth|auth-?token)$"
)


# the variables that give a redacted argument's value back (MAGGOT_ARG_3)
SUPPLY_PREFIX = "MAGGOT_ARG_"


class RedactedArgument(NamedTuple):
    """An argument of a recorded command whose value was replaced by ``<redacted>``.

    ``prefix`` is the part kept (``--api-key=``, ``db.password=`` or nothing);
    ``environment`` names the variable that held the same value when the run
    started, so a replay can take it from there.
    """

    position: int
    prefix: str
    label: str
    environment: str | None

    @property
    def supply_variable(self) -> str:
        """The variable a user sets to give the value to a replay."""
        return f"{SUPPLY_PREFIX}{self.position}"


def _secret_option_name(name: str) -> bool:
    normalized = name.lstrip("-").lower().replace("_", "-")
    return bool(normalized) and _SECRET_OPTION.search(normalized) is not None


def redact_argv(
    argv: Sequence[str], environ: Mapping[str, str] | None = None
) -> tuple[list[str], list[RedactedArgument]]:
    """``argv`` with secret values replaced, and where each one was.

    Values of options named like secrets (``--api-key X``, ``--password=X``,
    ``db.password=X``) and values shaped like credentials are replaced.
    """
    environ = environ or {}
    redacted: list[str] = []
    found: list[RedactedArgument] = []
    value_follows: str | None = None
    for index, argument in enumerate(argv):
        prefix, value, label = "", argument, f"argument {index}"
        if index and argv[index - 1].startswith("-"):
            label = f"the value of {argv[index - 1]}"
        if value_follows is not None:
            label, value_follows = f"the value of {value_follows}", None
            new_value = REDACTED
        else:
            name, equals, rest = argument.partition("=")
            if argument.startswith("-") and not equals and _secret_option_name(argument):
                value_follows = argument
                redacted.append(argument)
                continue
            if equals and _secret_option_name(name.rsplit(".", 1)[-1]) and " " not in name:
                prefix, value, label = name + "=", rest, f"the value of {name}"
                new_value = REDACTED
            else:
                new_value = redact_value(argument)
        if new_value == value:
            redacted.append(argument)
            continue
        source = next((key for key, held in environ.items() if held == value and value), None)
        redacted.append(prefix + new_value)
        found.append(RedactedArgument(index, prefix, label, source))
    return redacted, found


def restore_argument(command: list[str], item: RedactedArgument, value: str) -> None:
    """Put a redacted argument's value back into ``command`` (in place)."""
    command[item.position] = item.prefix + value


# --- files ------------------------------------------------------------------

SECRET_FILE_PATTERNS = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.ppk",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*credentials*",
    "secret",
    "secrets",
    "secret.*",
    "secrets.*",
    "*.secret",
    "*.secrets",
    "*service-account*.json",
    "*service_account*.json",
    "*serviceaccount*.json",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".pypirc",
    ".npmrc",
    ".yarnrc.yml",
    ".git-credentials",
    ".htpasswd",
    ".boto",
    ".s3cfg",
    ".dockercfg",
    "kubeconfig",
    "*.kubeconfig",
    "*.tfvars",
    "*.tfvars.json",
    "*.tfstate",
    "*.tfstate.backup",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
)
# secret files known by their place rather than their name
SECRET_PATH_PATTERNS = (
    "*.kube/config",
    "*.docker/config.json",
    "*.aws/config",
    "*.ssh/*",
    "*.gnupg/*",
    "*secrets/*",
)
# templates that are meant to be shared
TEMPLATE_NAMES = frozenset(
    {
        ".env.example",
        ".env.sample",
        ".env.template",
        ".env.dist",
        "example.env",
        "sample.env",
        "template.env",
    }
)


def looks_secret(path: str, extra_patterns: Iterable[str] = ()) -> bool:
    """Whether a file's name or place says it holds credentials (``.env``, ``*.pem`` ...)."""
    normalized = path.replace("\\", "/").rstrip("/").lower()
    name = normalized.rsplit("/", 1)[-1]
    if name in TEMPLATE_NAMES:
        return False
    if any(star_match(name, pattern) for pattern in SECRET_FILE_PATTERNS):
        return True
    if any(fnmatchcase(name, pattern) for pattern in extra_patterns):
        return True
    return any(star_match("/" + normalized, "*/" + pattern) for pattern in SECRET_PATH_PATTERNS)


def star_match(text: str, pattern: str) -> bool:
    """``fnmatchcase(text, pattern)`` for a pattern whose only wildcard is ``*``.

    Without a regular expression: fnmatch compiles one per pattern, and the
    fifty patterns above cost every run start about 15 ms the first time.
    """
    if "?" in pattern or "[" in pattern:
        return fnmatchcase(text, pattern)
    first, *middle_and_last = pattern.split("*")
    if not middle_and_last:
        return text == pattern
    *middle, last = middle_and_last
    if len(text) < len(first) + len(last) or not text.startswith(first):
        return False
    if not text.endswith(last):
        return False
    # each fragment at its leftmost place leaves the most room for the next
    position, end = len(first), len(text) - len(last)
    for fragment in middle:
        found = text.find(fragment, position, end)
        if found < 0:
            return False
        position = found + len(fragment)
    return True


_SECRET_CONTENT = re.compile(
    rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    rb"|\"private_key\"\s*:\s*\"-----BEGIN"
    rb"|(?i:aws_secret_access_key)\s*="
)


def secret_content_reason(content: bytes) -> str | None:
    """Why a file's content looks like credentials (a private key, a service account), or None."""
    match = _SECRET_CONTENT.search(content)
    if match is None:
        return None
    if match.group(0).startswith(b"-----"):
        return "holds a private key"
    return "holds credentials"
