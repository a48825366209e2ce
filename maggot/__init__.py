"""maggot: reproducible experiment runs without boilerplate."""

from __future__ import annotations

from typing import Any

from maggot.config import (
    DEFAULT_SEPARATOR,
    Config,
    get_current_separator,
    use_custom_separator,
    use_default_separator,
)
from maggot.errors import MaggotError
from maggot.experiment import Experiment
from maggot.origin import note_launch_command
from maggot.version import __version__

# worker processes started later (multiprocessing, joblib) record this command, not theirs
note_launch_command()

__all__ = [
    "DEFAULT_SEPARATOR",
    "Config",
    "Experiment",
    "MaggotError",
    "__version__",
    "get_current_separator",
    "use_custom_separator",
    "use_default_separator",
]


def __getattr__(name: str) -> Any:
    # maggot 0.2 kept the current separator in a module attribute
    if name == "SEPARATOR":
        return get_current_separator()
    raise AttributeError(f"module 'maggot' has no attribute {name!r}")
