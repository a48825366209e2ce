"""maggot: reproducible experiment runs without boilerplate."""

from __future__ import annotations

__version__ = "0.3.0"

DEFAULT_SEPARATOR = "-"
SEPARATOR = DEFAULT_SEPARATOR


def use_custom_separator(separator: str) -> None:
    """Join identifier values with ``separator`` instead of ``-``."""
    from maggot.config import check_separator

    global SEPARATOR
    SEPARATOR = check_separator(separator)


def use_default_separator() -> None:
    """Go back to joining identifier values with ``-``."""
    global SEPARATOR
    SEPARATOR = DEFAULT_SEPARATOR


def get_current_separator() -> str:
    """The separator identifiers are joined with now."""
    return SEPARATOR


from maggot.config import Config  # noqa: E402
from maggot.errors import MaggotError  # noqa: E402
from maggot.experiment import Experiment  # noqa: E402
from maggot.launch import note_launch_command  # noqa: E402

# worker processes started later (multiprocessing, joblib) record this command, not theirs
note_launch_command()

__all__ = [
    "DEFAULT_SEPARATOR",
    "Config",
    "Experiment",
    "MaggotError",
    "get_current_separator",
    "use_custom_separator",
    "use_default_separator",
]
