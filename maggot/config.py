"""Config: a nested, dot-accessible container, and the run identifier built from it."""

from __future__ import annotations

import enum
import json
import os
import re
import sys
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from maggot.errors import ConfigError

DEFAULT_SEPARATOR = "-"
MAX_NAME_BYTES = 200
# deeper configs are refused with a clear error rather than a RecursionError
MAX_CONFIG_DEPTH = 100
_HASH_CHARS = 12
_UNSAFE_IN_VALUE = re.compile(r'[\x00-\x1f\x7f/\\<>:"|?*]')
_UNSAFE_IN_SEPARATOR = re.compile(r"[\x00-\x1f\x7f/\\]")
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)


class Config:
    """A recursive structure like a JSON object whose fields are attributes.

    ``Config.from_dict({"model": {"C": 1.0}}).model.C == 1.0``
    """

    @classmethod
    def from_dict(cls, nested_dict: Mapping[str, Any]) -> Config:
        """Build a Config from a (nested) mapping; nested mappings become Configs."""
        if not isinstance(nested_dict, Mapping):
            raise ConfigError(f"expected a mapping, got {type(nested_dict).__name__}")
        container = cls()
        for name, value in nested_dict.items():
            container.__dict__[name] = cls.from_dict(value) if isinstance(value, Mapping) else value
        return container

    @classmethod
    def from_flat_dict(cls, flat_dict: Mapping[str, Any]) -> Config:
        """Build a Config from dotted keys: ``{"a.b": 1}`` gives ``config.a.b == 1``."""
        return cls.from_dict(unflatten(flat_dict))

    @classmethod
    def from_json(cls, filepath: str | os.PathLike[str]) -> Config:
        """Read a Config from a JSON file holding an object."""
        from maggot.errors import CorruptRunError
        from maggot.store import read_json

        try:
            data = read_json(filepath)
        except FileNotFoundError:
            raise ConfigError(f"{os.fspath(filepath)}: no such config file") from None
        except CorruptRunError as error:
            raise ConfigError(str(error)) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"{os.fspath(filepath)}: expected a JSON object, got {type(data).__name__}"
            )
        if nesting_depth(data) > MAX_CONFIG_DEPTH:
            raise ConfigError(
                f"{os.fspath(filepath)}: nested more than {MAX_CONFIG_DEPTH} levels deep"
            )
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain nested dict."""
        # Config.to_dict, not value.to_dict: a key named "to_dict" shadows the method
        return {
            name: Config.to_dict(value) if isinstance(value, Config) else value
            for name, value in self.__dict__.items()
        }

    def to_json(self, filepath: str | os.PathLike[str]) -> None:
        """Write the config to a JSON file (parent directories are created)."""
        from maggot.store import write_json_atomic

        dirname = os.path.dirname(os.fspath(filepath))
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        write_json_atomic(filepath, Config.to_dict(self))

    def as_flat_dict(self) -> OrderedDict[str, Any]:
        """Dotted names to values, sorted by name at every level."""
        return OrderedDict(_flatten_into({}, Config.to_dict(self)))

    @property
    def identifier(self) -> str:
        """The run name built from the values: ``5-1.0-0.01``.

        Keys whose last part starts with ``_`` are left out; the result is
        always a safe single directory name.
        """
        return make_identifier(Config.as_flat_dict(self), _separator)

    def __getitem__(self, dotted_name: str) -> Any:
        value: Any = self
        for part in dotted_name.split("."):
            if not isinstance(value, Config) or part not in value.__dict__:
                raise KeyError(dotted_name)
            value = value.__dict__[part]
        return value

    def __contains__(self, dotted_name: object) -> bool:
        if not isinstance(dotted_name, str):
            return False
        try:
            self[dotted_name]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    def __len__(self) -> int:
        return len(self.__dict__)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return Config.to_dict(self) == Config.to_dict(other)
        if isinstance(other, Mapping):
            return Config.to_dict(self) == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return json.dumps(Config.to_dict(self), indent=4, default=repr)


_PLAIN_VALUES = (str, int, float, bool, list, type(None))


def _flatten_into(
    flat: dict[str, Any], nested: Mapping[str, Any], prefix: str = ""
) -> dict[str, Any]:
    for name in sorted(nested):
        value = nested[name]
        full_name = prefix + name
        # the type test first: the Mapping ABC check is slow, and listings flatten 10,000 results
        if type(value) in _PLAIN_VALUES or not isinstance(value, Mapping):
            flat[full_name] = value
        elif value:
            _flatten_into(flat, value, full_name + ".")
    return flat


def flatten(nested: Mapping[str, Any]) -> dict[str, Any]:
    """Nested mapping to ``{"a.b": value}``, sorted by name at every level."""
    return _flatten_into({}, nested)


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` to ``{"a": {"b": 1}}``."""
    nested: dict[str, Any] = {}
    for dotted_name, value in flat.items():
        *parents, last = dotted_name.split(".")
        node = nested
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = value
    return nested


def value_to_string(value: Any, name: str) -> str:
    """One value's part of the identifier, as maggot 0.2 writes it."""
    last = name.rsplit(".", 1)[-1]
    if isinstance(value, list):
        return "x".join(map(str, value))
    if isinstance(value, bool):
        return last if value else "no_" + last
    return str(value)


def make_identifier(flat: Mapping[str, Any], separator: str) -> str:
    """Join the descriptive values of a flat config into a safe directory name."""
    parts = [
        _UNSAFE_IN_VALUE.sub("_", value_to_string(value, name))
        for name, value in flat.items()
        if not name.rsplit(".", 1)[-1].startswith("_")
    ]
    return safe_directory_name(separator.join(parts))


def safe_directory_name(name: str) -> str:
    """Make ``name`` usable as one directory on Linux, macOS and Windows.

    Path separators and control characters become ``_``; Windows' reserved
    names and trailing dots/spaces are escaped; names over 200 bytes are cut
    and end with a hash of the whole name so distinct names stay distinct.
    """
    safe = _UNSAFE_IN_SEPARATOR.sub("_", name)
    if safe in ("", ".", ".."):
        return safe.replace(".", "_")
    if safe[-1] in ". ":
        safe = safe[:-1] + "_"
    if safe.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
        safe = "_" + safe
    encoded = safe.encode("utf-8")
    if len(encoded) > MAX_NAME_BYTES:
        import hashlib

        digest = hashlib.sha256(name.encode("utf-8", errors="surrogatepass")).hexdigest()[
            :_HASH_CHARS
        ]
        head = encoded[: MAX_NAME_BYTES - _HASH_CHARS - 1].decode("utf-8", errors="ignore")
        safe = f"{head}~{digest}"
    return safe


_separator = DEFAULT_SEPARATOR


def use_custom_separator(separator: str) -> None:
    """Join identifier values with ``separator`` instead of ``-``."""
    global _separator
    _separator = check_separator(separator)


def use_default_separator() -> None:
    """Go back to joining identifier values with ``-``."""
    global _separator
    _separator = DEFAULT_SEPARATOR


def get_current_separator() -> str:
    """The separator identifiers are joined with now."""
    return _separator


def check_separator(separator: str) -> str:
    """Reject separators that would split or escape the run directory."""
    if not isinstance(separator, str) or not separator or _UNSAFE_IN_SEPARATOR.search(separator):
        raise ConfigError(
            f"separator {separator!r} is not allowed: it must be a non-empty string "
            "without '/', '\\' or control characters"
        )
    return separator


def to_json_value(value: Any, key: str = "") -> Any:
    """Convert ``value`` to something JSON holds, or raise ConfigError naming ``key``.

    numpy scalars and arrays, paths, tuples, sets, enums and dates are converted;
    anything else JSON can't hold is rejected.
    """
    if isinstance(value, enum.Enum):
        return to_json_value(value.value, key)
    if value is None or isinstance(value, (bool, int, float, str)):
        return _plain_scalar(value)
    if isinstance(value, Config):
        value = Config.to_dict(value)
    if isinstance(value, Mapping):
        converted: dict[str, Any] = {}
        for name, item in value.items():
            child_key = f"{key}.{name}" if key else str(name)
            if not isinstance(name, str):
                raise ConfigError(
                    f"config key {child_key!r}: keys must be strings, got {type(name).__name__}"
                )
            converted[name] = to_json_value(item, child_key)
        return converted
    if type(value).__module__.split(".", 1)[0] == "omegaconf":
        from maggot.experiment import omegaconf_to_container

        return to_json_value(omegaconf_to_container(value), key)
    if isinstance(value, (list, tuple)) or (
        isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))
    ):
        return [to_json_value(item, f"{key}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [to_json_value(item, f"{key}[]") for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    # a date can only be given once the datetime module is loaded; don't load it here
    datetime_module = sys.modules.get("datetime")
    if datetime_module is not None and isinstance(
        value, (datetime_module.date, datetime_module.time)
    ):
        return value.isoformat()
    if type(value).__module__.split(".", 1)[0] == "numpy" and hasattr(value, "tolist"):
        return to_json_value(value.tolist(), key)
    raise ConfigError(
        f"config key {key!r}: a value of type {type(value).__name__} cannot be stored as JSON"
        if key
        else f"a value of type {type(value).__name__} cannot be stored as JSON"
    )


def nesting_depth(value: Any) -> int:
    """How many mappings and lists deep ``value`` goes, counted without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple, Config)):
            children = item.__dict__.values() if isinstance(item, Config) else item
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


CONFIG_METHOD_NAMES = frozenset(
    name for name in dir(Config) if not name.startswith("_") and name != "identifier"
)


def check_config_keys(data: Mapping[str, Any], prefix: str = "") -> None:
    """Refuse keys that would hide Config's methods (``config.to_dict`` must stay callable)."""
    for name, value in data.items():
        if name in CONFIG_METHOD_NAMES:
            raise ConfigError(
                f"config key {prefix + name!r} has the name of the Config method {name}(): "
                "rename it"
            )
        if isinstance(value, Mapping):
            check_config_keys(value, f"{prefix}{name}.")


def _plain_scalar(value: Any) -> Any:
    """Subclasses of the JSON scalars (numpy.float64 is a float) as the plain type."""
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return plain(value)
    return value
