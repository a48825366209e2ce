"""SIGTERM and SIGHUP as an exception, so runs and replays record them and clean up.

A timeout, a cancelled CI job, a closed ssh session or Slurm stop a process
with SIGTERM or SIGHUP, whose default action ends it on the spot: no
``finally``, no record. While maggot's handlers are installed, the first of
these signals raises ``Terminated`` in the main thread instead (like Ctrl-C
raises KeyboardInterrupt), which ends the program with exit code 128 + the
signal number once the run is recorded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

TERMINATION_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Terminated(SystemExit):
    """The process was asked to stop by SIGTERM or SIGHUP.

    A SystemExit, so ``except Exception`` in user code does not swallow it and
    an uncaught one ends the process quietly with code 128 + the signal number.
    """

    def __init__(self, signal_number: int) -> None:
        super().__init__(128 + signal_number)
        self.signal_number = signal_number

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name


_lock = threading.Lock()
_installed: dict[int, Any] = {}  # signal -> the handler it had before
_users = 0
_owner_pid: int | None = None
_received: Terminated | None = None


def received() -> Terminated | None:
    """The termination this process received while the handlers were installed, if any."""
    return _received


def _handle(signal_number: int, frame: FrameType | None) -> None:
    global _received
    if os.getpid() != _owner_pid:
        # a forked child keeps the default behaviour: it was not the one recording
        signal.signal(signal_number, signal.SIG_DFL)
        os.kill(os.getpid(), signal_number)
        return
    if _received is not None:
        return  # already stopping: a second signal must not cut the recording short
    _received = Terminated(signal_number)
    raise _received


# the mask of the forking thread, while a fork is under way (see _block_for_fork)
_mask_before_fork: set[int | signal.Signals] | None = None


def _block_for_fork() -> None:
    """Before ``os.fork()`` in the recording process: hold SIGTERM/SIGHUP back.

    A forked child inherits ``_handle``, a Python-level handler, and CPython
    discards the signals that reach a child before it has finished setting
    itself up after the fork (they were meant for the parent). A SIGTERM sent
    right after the fork, as ``multiprocessing.Pool.terminate()`` does to a
    worker not yet scheduled, was lost that way and the worker lived on, its
    pool waiting for it forever. Blocked, the signal stays pending in the child
    until its default action is back (``_reset_in_child``).
    """
    global _mask_before_fork
    if _installed and hasattr(signal, "pthread_sigmask"):
        _mask_before_fork = signal.pthread_sigmask(signal.SIG_BLOCK, TERMINATION_SIGNALS)


def _unblock_after_fork() -> None:
    global _mask_before_fork
    if _mask_before_fork is not None:
        mask, _mask_before_fork = _mask_before_fork, None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _reset_in_child() -> None:
    """A forked child was not the one recording: default actions, then the signals let through."""
    global _lock, _users, _owner_pid, _received
    _lock = threading.Lock()  # another thread of the parent may have held it at the fork
    for signal_number in _installed:
        try:
            if signal.getsignal(signal_number) is _handle:
                signal.signal(signal_number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # _handle still ends the child the default way
    _installed.clear()
    _users, _owner_pid, _received = 0, None, None
    _unblock_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_block_for_fork,
        after_in_parent=_unblock_after_fork,
        after_in_child=_reset_in_child,
    )


def install() -> None:
    """Turn SIGTERM/SIGHUP into ``Terminated``; pair every call with ``uninstall``.

    Only in the main thread, and only for signals still at their default
    action: a handler of the program's own, or an ignored SIGHUP (``nohup``),
    stays as it is.
    """
    global _users, _owner_pid
    if threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        _users += 1
        if _users > 1:
            return
        _owner_pid = os.getpid()
        for signal_number in TERMINATION_SIGNALS:
            if signal.getsignal(signal_number) is signal.SIG_DFL:
                _installed[signal_number] = signal.SIG_DFL
                signal.signal(signal_number, _handle)


def uninstall() -> None:
    """Undo one ``install``; the last one puts the default actions back."""
    global _users
    if threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users:
            return
        for signal_number, previous in _installed.items():
            if signal.getsignal(signal_number) is _handle:
                signal.signal(signal_number, previous)
        _installed.clear()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGTERM/SIGHUP back while a record is written, so it is never cut in half.

    A signal arriving meanwhile is delivered when the block ends.
    """
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = mask(signal.SIG_BLOCK, TERMINATION_SIGNALS)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def terminations_raise() -> Iterator[None]:
    """``install`` for the duration of a ``with`` block."""
    install()
    try:
        yield
    finally:
        uninstall()
