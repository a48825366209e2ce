"""Loaded at start-up by the Python child processes of a run and by replays (this
directory is on their ``PYTHONPATH``): record the files they open for the run's
inputs.json (``MAGGOT_INPUTS_DIR``), and refuse writes to the inputs a replay
linked from the checkout (``MAGGOT_PROTECTED_INPUTS``).

Light on purpose (it runs in every Python child of a run): ``maggot.openlog``
and ``maggot.inputguard`` are loaded from their files with the standard
library's loader alone, without importing maggot (nor importlib.util or
typing). Then this directory leaves ``sys.path`` again, and a ``sitecustomize``
of the user's own, further along the path, is loaded as it would have been.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import PathFinder, SourceFileLoader
from types import ModuleType

# importlib.abc would import importlib.resources: for annotations only
TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.abc import Loader


def _load(name: str, path: str, loader: Loader) -> ModuleType:
    """Run a module's file as module ``name`` (registered in sys.modules first)."""
    module = ModuleType(name)
    module.__file__ = path
    module.__loader__ = loader
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def _start() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    directory = os.environ.get("MAGGOT_INPUTS_DIR")
    if directory and os.path.isdir(directory):
        openlog = sys.modules.get("maggot.openlog")
        if openlog is None:
            path = os.path.join(os.path.dirname(here), "openlog.py")
            # `from maggot import openlog` later finds this same module
            openlog = _load("maggot.openlog", path, SourceFileLoader("maggot.openlog", path))
        openlog.start_child(directory)
    if os.environ.get("MAGGOT_PROTECTED_INPUTS"):
        try:
            guard = sys.modules.get("maggot.inputguard")
            if guard is None:
                path = os.path.join(os.path.dirname(here), "inputguard.py")
                guard = _load(
                    "maggot.inputguard", path, SourceFileLoader("maggot.inputguard", path)
                )
            guard.install_from_environment()
        except Exception as error:  # noqa: BLE001 - the program runs, unprotected, and is told
            sys.stderr.write(
                "maggot: warning: inputs linked from the checkout are not write-protected: "
                f"{error}\n"
            )
    spec = PathFinder.find_spec("sitecustomize", sys.path)
    if (
        spec is not None
        and spec.origin
        and spec.loader is not None
        and os.path.dirname(os.path.abspath(spec.origin)) != here
    ):
        _load("sitecustomize", spec.origin, spec.loader)


try:
    _start()
except Exception as error:  # noqa: BLE001 - never stop the user's program from starting
    sys.stderr.write(f"maggot: warning: input tracking not started: {error}\n")
