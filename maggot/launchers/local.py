"""The local launcher: a pool of ``-j`` jobs on this machine."""

from __future__ import annotations

import concurrent.futures
import signal
from collections.abc import Callable, Sequence
from typing import NamedTuple

from maggot import launch, signals, sweep

# how often a waiting sweep redraws its progress
PROGRESS_INTERVAL_SECONDS = 0.5
# signals that stop a whole sweep when they reach its process
_STOPPING_SIGNALS = frozenset((signal.SIGINT, signal.SIGTERM, signal.SIGHUP))


class PoolOutcome(NamedTuple):
    """What the pool did."""

    finished: list[int]
    interrupted: bool
    # SIGTERM or SIGHUP stopped the sweep: raised again once the jobs are recorded
    terminated: signals.Terminated | None = None


def run_local(
    record: sweep.SweepRecord,
    indices: Sequence[int],
    parallel: int,
    on_progress: Callable[[int | None], None],
) -> PoolOutcome:
    """Run the jobs ``indices`` of a sweep, ``parallel`` at a time, in this process's threads.

    Each job is a ``maggot run`` of its command (recorded the same way, run as
    a child process). ``on_progress(index)`` is called when a job finishes and
    ``on_progress(None)`` periodically. Ctrl-C stops launching, passes the
    interrupt on to running commands and waits for them to record their status;
    SIGTERM and SIGHUP are passed on at once and returned in ``terminated``.
    """
    controls = launch.new_controls()
    finished: list[int] = []
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel))
    futures = {
        executor.submit(_run_unless_stopped, record, index, controls): index for index in indices
    }
    pending = set(futures)
    interrupted = False
    terminated: signals.Terminated | None = None
    try:
        with signals.terminations_raise():
            _follow(futures, pending, finished, on_progress)
    except KeyboardInterrupt:
        interrupted = True
        with controls.lock:
            controls.received.append(signal.SIGINT)
        _stop(controls, set(futures))
    except signals.Terminated as error:
        # a timeout, a cancelled CI job or a closed session: stop every command now
        interrupted, terminated = True, error
        with controls.lock:
            controls.received.append(error.signal_number)
        controls.stop.set()
        for future in futures:
            future.cancel()
        _signal_all(controls, error.signal_number)
        concurrent.futures.wait(futures)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return PoolOutcome(finished, interrupted, terminated)


def _follow(
    futures: dict[concurrent.futures.Future[int | None], int],
    pending: set[concurrent.futures.Future[int | None]],
    finished: list[int],
    on_progress: Callable[[int | None], None],
) -> None:
    while pending:
        done, pending = concurrent.futures.wait(
            pending, timeout=PROGRESS_INTERVAL_SECONDS, return_when="FIRST_COMPLETED"
        )
        for future in done:
            future.result()
            finished.append(futures[future])
            on_progress(futures[future])
        if not done:
            on_progress(None)


def _run_unless_stopped(
    record: sweep.SweepRecord, index: int, controls: launch.Controls
) -> int | None:
    if controls.stop.is_set():
        return None  # interrupted before it started: it stays pending for --resume
    exit_code = sweep.run_job(record.sweep_dir, index, controls, record)
    if launch.shell_exit_code(exit_code) - 128 in _STOPPING_SIGNALS:
        # The signal that ended the command may have been sent to the whole process
        # group. The kernel can hand the sweep's copy to this thread, and then the main
        # thread only acts on it when its progress wait times out: give it that long
        # before this thread takes the next job, or a job would start after a stop.
        controls.stop.wait(2 * PROGRESS_INTERVAL_SECONDS)
    return exit_code


def _stop(controls: launch.Controls, pending: set[concurrent.futures.Future[int | None]]) -> None:
    """Stop launching; interrupt running commands that the terminal's Ctrl-C did not reach."""
    controls.stop.set()
    for future in pending:
        future.cancel()
    running = {future for future in pending if not future.cancelled()}
    _, still_running = concurrent.futures.wait(running, timeout=launch.SIGINT_GRACE_SECONDS)
    if still_running:
        _signal_all(controls, signal.SIGINT)
    try:
        concurrent.futures.wait(still_running)
    except KeyboardInterrupt:
        # a second Ctrl-C: stop the commands now
        _signal_all(controls, signal.SIGTERM)
        concurrent.futures.wait(still_running)


def _signal_all(controls: launch.Controls, signum: int) -> None:
    with controls.lock:
        processes = list(controls.processes)
    for process in processes:
        if process.poll() is None:
            try:
                process.send_signal(signum)
            except OSError:
                pass
