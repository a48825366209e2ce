"""Put on ``PYTHONPATH`` for a run's child processes and for replays: its
``sitecustomize`` starts what the environment asks for, recording the files they
open (``maggot.openlog``) and refusing writes to inputs linked from the checkout
(``maggot.inputguard``). Nothing here is imported as ``maggot.bootstrap`` in
normal use, except for ``DIRECTORY``."""

from __future__ import annotations

import os

# the directory that goes on PYTHONPATH
DIRECTORY = os.path.dirname(os.path.abspath(__file__))
