"""Loaded at start-up by the Python child processes of a run (this directory is on
their ``PYTHONPATH``): record the files they open for the run's inputs.json.

Light on purpose: ``maggot.openlog`` is loaded from its file with the standard
library alone, without importing maggot. Then this directory leaves
``sys.path`` again, and a ``sitecustomize`` of the user's own, further along the
path, is loaded as it would have been.
"""

from __future__ import annotations

import os
import sys


def _start() -> None:
    directory = os.environ.get("MAGGOT_INPUTS_DIR")
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    if directory and os.path.isdir(directory):
        import importlib.util

        openlog = sys.modules.get("maggot.openlog")
        if openlog is None:
            path = os.path.join(os.path.dirname(here), "openlog.py")
            spec = importlib.util.spec_from_file_location("maggot.openlog", path)
            if spec is not None and spec.loader is not None:
                openlog = importlib.util.module_from_spec(spec)
                # `from maggot import openlog` later finds this same module
                sys.modules["maggot.openlog"] = openlog
                spec.loader.exec_module(openlog)
        if openlog is not None:
            openlog.start_child(directory)
    _load_users_sitecustomize(here)


def _load_users_sitecustomize(here: str) -> None:
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
    if spec is None or spec.origin is None or os.path.dirname(spec.origin) == here:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    if spec.loader is not None:
        spec.loader.exec_module(module)


try:
    _start()
except Exception as error:  # noqa: BLE001 - never stop the user's program from starting
    sys.stderr.write(f"maggot: warning: input tracking not started: {error}\n")
