"""A command's parameters: read them from its argv, change them, fill templates with them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from maggot.errors import MaggotError

# interpreter options that take a value (``python -X dev train.py``)
_PYTHON_OPTIONS_WITH_VALUE = ("-X", "-W", "--check-hash-based-pycs")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class ParameterError(MaggotError):
    """A parameter, template or value list that cannot be used."""


class Parameter(NamedTuple):
    """One parameter of a command line and where it sits in the argv."""

    key: str
    value: Any
    # index of the argument holding the value (for ``--lr 0.1``, that of ``0.1``);
    # for a bare ``--flag``, that of the flag
    position: int
    form: str  # "separate" (--lr 0.1), "joined" (--lr=0.1), "assignment" (lr=0.1), "flag"


def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"1e-4"`` -> 0.0001; anything else stays text."""
    if _NUMBER.match(text):
        number = float(text)
        if re.match(r"^[+-]?\d+$", text):
            return int(text)
        return number
    return text


def normalize_key(name: str) -> str:
    """``--learning-rate`` and ``learning_rate`` name the same key (argparse's convention)."""
    return name.lstrip("-").replace("-", "_")


_PYTHON_NAME = r"^python[0-9.]*(\.exe)?$"
# programs that start another program as several processes: the parameters are that program's
LAUNCHERS = ("mpirun", "mpiexec", "srun", "torchrun", "accelerate", "deepspeed")


def _launched_program_length(command: Sequence[str]) -> int:
    """``program_length`` of ``mpirun -n 2 python train.py``: up to the launched script."""
    for start in range(1, len(command)):
        argument = command[start]
        if argument == "-m" and start + 1 < len(command):
            return start + 2  # torchrun -m pkg.train
        if argument.endswith(".py"):
            return start + 1
        if re.match(_PYTHON_NAME, os.path.basename(argument)):
            return start + program_length(command[start:])
    return 1


def program_length(command: Sequence[str]) -> int:
    """How many leading arguments name the program rather than its parameters.

    ``python -u train.py --lr 1`` -> 3 (interpreter, its options, the script);
    ``python -m pkg.train`` -> 3; ``./train.sh --lr 1`` -> 1; a launcher's own
    options are part of the program: ``srun -n 2 python train.py`` -> 5.
    """
    if not command:
        return 0
    if os.path.basename(command[0]) in LAUNCHERS:
        return _launched_program_length(command)
    if not re.match(_PYTHON_NAME, os.path.basename(command[0])):
        return 1
    index = 1
    while index < len(command):
        argument = command[index]
        if argument in _PYTHON_OPTIONS_WITH_VALUE or argument == "-m":
            index += 2
            if argument == "-m":
                return min(index, len(command))
            continue
        if argument.startswith("-c"):
            return min(index + 2, len(command))
        if argument.startswith("-") and argument != "-":
            index += 1
            continue
        return index + 1
    return index


def script_of(command: Sequence[str], cwd: str) -> str | None:
    """The script file a command runs (``train.py`` of ``python train.py``), if any."""
    length = program_length(command)
    if length == 0:
        return None
    candidate = command[length - 1]
    if length > 1 and command[length - 2] in ("-m", "-c"):
        return None
    return candidate if os.path.isfile(os.path.join(cwd, candidate)) else None


def parse_parameters(command: Sequence[str]) -> list[Parameter]:
    """The parameters of ``command`` in the order given.

    ``--lr 0.1``, ``--lr=0.1``, ``-x 3``, ``key=value``; a bare ``--flag`` is
    ``True``; numbers become numbers. Other positional arguments are not
    parameters. A repeated key keeps its last value.
    """
    found: list[Parameter] = []
    arguments = list(command)
    index = program_length(arguments)
    while index < len(arguments):
        argument = arguments[index]
        if argument == "--":
            index += 1
            continue
        if argument.startswith("-") and not _NUMBER.match(argument) and len(argument) > 1:
            name, equals, value = argument.partition("=")
            key = normalize_key(name)
            if not key or not _KEY.match(key):
                index += 1
                continue
            if equals:
                found.append(Parameter(key, parse_value(value), index, "joined"))
                index += 1
                continue
            following = arguments[index + 1] if index + 1 < len(arguments) else None
            if following is not None and (
                not following.startswith("-") or _NUMBER.match(following)
            ):
                found.append(Parameter(key, parse_value(following), index + 1, "separate"))
                index += 2
                continue
            found.append(Parameter(key, True, index, "flag"))
            index += 1
            continue
        name, equals, value = argument.partition("=")
        if equals and _KEY.match(name):
            found.append(Parameter(normalize_key(name), parse_value(value), index, "assignment"))
        index += 1
    return found


def parameters_config(command: Sequence[str]) -> dict[str, Any]:
    """The command's parameters as a config: key -> value, the last one wins."""
    return {parameter.key: parameter.value for parameter in parse_parameters(command)}


def set_parameters(command: Sequence[str], changes: Mapping[str, str]) -> list[str]:
    """``command`` with the values of some parameters replaced where they appear.

    A bare ``--flag`` takes ``true``/``false`` (false removes it). Raises
    ParameterError naming the keys the command takes when one is unknown.
    """
    parameters = parse_parameters(command)
    known = {parameter.key: parameter for parameter in parameters}
    unknown = [key for key in changes if normalize_key(key) not in known]
    if unknown:
        raise ParameterError(
            f"the command takes no parameter {', '.join(unknown)}; it takes: "
            + (", ".join(known) or "none")
        )
    result: list[str | None] = list(command)
    for key, text in changes.items():
        for parameter in parameters:
            if parameter.key != normalize_key(key):
                continue
            original = command[parameter.position]
            if parameter.form == "separate":
                result[parameter.position] = text
            elif parameter.form in ("joined", "assignment"):
                result[parameter.position] = original.partition("=")[0] + "=" + text
            elif text.lower() in ("false", "0", "no", "off"):
                result[parameter.position] = None
            elif text.lower() not in ("true", "1", "yes", "on"):
                raise ParameterError(f"{original} is a flag: set it to true or false, not {text!r}")
    return [argument for argument in result if argument is not None]


def format_value(value: Any) -> str:
    """A value as it goes into a command or a name: ``0.01``, ``3``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def placeholders(template: str) -> list[str]:
    """The ``{key}`` names a template uses (``{{``/``}}`` are literal braces)."""
    return [match.group(1) for match in _PLACEHOLDER.finditer(template) if match.group(1)]


def render(template: str, values: Mapping[str, Any], what: str = "template") -> str:
    """Fill ``{key}`` placeholders from ``values``; an unknown one raises ParameterError."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in ("{{", "}}"):
            return text[0]
        key = match.group(1)
        if key not in values:
            raise ParameterError(
                f"{what} {template!r}: unknown placeholder {{{key}}}; known: "
                + (", ".join(values) or "none")
            )
        return format_value(values[key])

    return _PLACEHOLDER.sub(replace, template)


def render_command(template: Sequence[str], values: Mapping[str, Any]) -> list[str]:
    """Each argument of a command template filled from ``values``."""
    return [render(argument, values, "command argument") for argument in template]


def used_placeholders(template: Iterable[str]) -> set[str]:
    """Every placeholder a command template uses."""
    return {name for argument in template for name in placeholders(argument)}
