"""maggot: reproducible experiment runs without boilerplate.

The public names load on first use (PEP 562), so ``import maggot`` stays cheap
for the command line, whose listing and show commands never start a run.
"""

from __future__ import annotations

import os

from maggot.version import __version__

# typing costs a few milliseconds to import: mypy reads this name as always true
TYPE_CHECKING = False
if TYPE_CHECKING:
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

# public name -> the module that defines it
_LAZY_NAMES = {
    "DEFAULT_SEPARATOR": "maggot.config",
    "Config": "maggot.config",
    "get_current_separator": "maggot.config",
    "use_custom_separator": "maggot.config",
    "use_default_separator": "maggot.config",
    "MaggotError": "maggot.errors",
    "Experiment": "maggot.experiment",
}

if not os.path.isdir("/proc/self"):
    # Without /proc, worker processes started later (multiprocessing, joblib) can't
    # read their launcher's command: leave it for them in the environment now.
    from maggot.origin import note_launch_command

    note_launch_command()


def __getattr__(name: str) -> Any:
    import importlib

    if name == "SEPARATOR":
        # maggot 0.2 kept the current separator in a module attribute
        return importlib.import_module("maggot.config").get_current_separator()
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'maggot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__} - {"TYPE_CHECKING", "os"})
