"""What a run captures about its process: command, environment, packages, output."""

from __future__ import annotations

import atexit
import codecs
import errno
import os
import re
import shlex
import sys
import threading
import time
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from maggot.secrets import RedactedArgument

# "auto": file descriptors where the platform has them, else Python's streams
CAPTURE_MODES = ("auto", "fd", "sys", "none")


def process_argv() -> list[str]:
    """The command line that started this interpreter, as a list.

    ``sys.orig_argv`` keeps ``-m pkg.train`` and interpreter options, so the
    command replays as typed; before Python 3.10 the interpreter is prepended
    to ``sys.argv``.
    """
    orig_argv = getattr(sys, "orig_argv", None)
    if orig_argv:
        return list(orig_argv)
    return [sys.executable, *sys.argv]


def recorded_argv() -> tuple[list[str], list[RedactedArgument]]:
    """This process's command line as it is recorded: secret values redacted.

    Also says which arguments were redacted and, when one had the value of
    an environment variable, which, so a replay can restore it.
    """
    from maggot.secrets import redact_argv

    return redact_argv(process_argv(), os.environ)


def shell_command(argv: Iterable[str]) -> str:
    """``argv`` as one line a POSIX shell parses back into the same list."""
    return shlex.join(list(argv))


def installed_packages() -> list[str]:
    """``name==version`` for each distribution importable from ``sys.path``.

    Reads the ``*.dist-info``/``*.egg-info`` directory names only: opening every
    METADATA file costs tens of milliseconds at each run start. Each directory's
    names are kept while it is unchanged (an install or removal changes its
    modification time): a sweep's jobs, or a loop of runs, list site-packages once.
    """
    seen: dict[str, str] = {}
    settled = time.time_ns() - _SETTLED_NS
    for directory in dict.fromkeys(os.path.abspath(entry or ".") for entry in sys.path):
        for key, version in _distributions_in(directory, settled):
            seen.setdefault(key, version)
    return [f"{name}=={version}" if version else name for name, version in sorted(seen.items())]


def _distributions_in(directory: str, settled: int) -> tuple[tuple[str, str], ...]:
    """``(normalized name, version)`` of each distribution directory in ``directory``."""
    modified = _modified_ns(directory)
    if modified is None:
        return ()
    kept = _distributions_seen.get(directory)
    if kept is not None and kept[0] == modified:
        return kept[1]
    try:
        names = os.listdir(directory)
    except OSError:
        return ()
    found = []
    for name in names:
        if name.endswith(".dist-info"):
            stem = name[: -len(".dist-info")]
        elif name.endswith(".egg-info"):
            stem = name[: -len(".egg-info")]
        else:
            continue
        project, _, rest = stem.partition("-")
        version = rest.split("-", 1)[0]
        found.append((re.sub(r"[-_.]+", "-", project).lower(), version))
    distributions = tuple(found)
    # a directory changed within the file system's timestamp granularity may change
    # again without its time changing: such a listing is not kept. The others are,
    # even while the working directory (first on sys.path) keeps changing
    if modified < settled:
        _distributions_seen[directory] = (modified, distributions)
    return distributions


_SETTLED_NS = 2_000_000_000


# each sys.path directory's modification time, and the distributions found there
_distributions_seen: dict[str, tuple[int, tuple[tuple[str, str], ...]]] = {}


def _modified_ns(directory: str) -> int | None:
    try:
        return os.stat(directory).st_mtime_ns
    except OSError:
        return None


def describe_process() -> dict[str, Any]:
    """Host, user, interpreter and platform of this process."""
    try:
        user = _user_name()
    except (KeyError, ImportError, OSError):  # no passwd entry in some containers
        user = None
    uname = os.uname() if hasattr(os, "uname") else None
    return {
        "hostname": host_name(),
        "user": user,
        "pid": os.getpid(),
        "python": {
            "executable": sys.executable,
            "version": ".".join(map(str, sys.version_info[:3])),
            "implementation": sys.implementation.name,
        },
        "platform": (f"{uname.sysname}-{uname.release}-{uname.machine}" if uname else sys.platform),
    }


def _user_name() -> str:
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(variable):
            return os.environ[variable]
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def host_name() -> str:
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


class LineLog:
    """Writes output to a log file a finished line at a time.

    A line redrawn with carriage returns (progress bars) is logged in its last
    state only, so the log reads like the terminal looked. The file stays open
    while any holder (the run, a pump still serving a child process) needs it.
    A write that fails (disk full, file size limit) must not reach the program
    through its ``print()``: logging stops, ``on_failure`` is told once, the
    program goes on.
    """

    def __init__(self, file: IO[str], on_failure: Callable[[str], None] | None = None) -> None:
        self._file: IO[str] | None = file
        self._name = str(getattr(file, "name", "the log"))
        self._lock = threading.Lock()
        self._holders = 1
        self._on_failure = on_failure
        self.failed = False

    def write_line(self, line: str) -> None:
        with self._lock:
            if self.failed or self._file is None:
                return
            try:
                self._file.write(line)
                self._file.flush()
            except (OSError, ValueError) as error:
                self._fail(error)

    def _fail(self, error: BaseException) -> None:
        self.failed = True
        if self._on_failure is not None:
            reason = getattr(error, "strerror", None) or str(error)
            self._on_failure(
                f"maggot: warning: logging to {self._name} stopped "
                f"({reason}); the program goes on, its output no longer reaches the log\n"
            )

    def hold(self) -> None:
        with self._lock:
            self._holders += 1

    def close(self) -> None:
        """Release one holder; the file closes when the last one lets go."""
        with self._lock:
            self._holders -= 1
            if self._holders > 0 or self._file is None:
                return
            file, self._file = self._file, None
            try:
                file.close()
            except (OSError, ValueError) as error:
                if not self.failed:
                    self._fail(error)


_LINE_BREAKS = re.compile(r"(\r\n|\r|\n)")


class LineAssembler:
    """Per-stream state for LineLog: the line being written and a pending ``\\r``."""

    def __init__(self, log: LineLog) -> None:
        self._log = log
        self._line = ""
        self._after_carriage_return = False
        self._lock = threading.Lock()

    def feed(self, text: str) -> None:
        with self._lock:
            for piece in _LINE_BREAKS.split(text):
                if piece in ("\n", "\r\n"):
                    self._log.write_line(self._line + "\n")
                    self._line = ""
                    self._after_carriage_return = False
                elif piece == "\r":
                    self._after_carriage_return = True
                elif piece:
                    if self._after_carriage_return:
                        self._line = ""
                        self._after_carriage_return = False
                    self._line += piece

    def finish(self, end: str = "") -> None:
        """Write out a line still being written, ended with ``end``."""
        with self._lock:
            if self._line:
                self._log.write_line(self._line + end)
            self._line = ""


class TeeStream:
    """Stands in for sys.stdout/sys.stderr: writes through and feeds the log."""

    def __init__(self, original: Any, assembler: LineAssembler) -> None:
        self._original = original
        self._assembler = assembler

    def write(self, text: str) -> int:
        # the log first: an interrupt between the two must not lose the logged copy
        self._assembler.feed(text)
        written = self._original.write(text)
        return int(written) if written is not None else len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class OutputCapture:
    """Copies stdout and stderr to a log file while they still reach the terminal.

    ``mode="fd"`` redirects file descriptors 1 and 2 through pipes (pseudo
    terminals when they were terminals, so colours and progress bars look
    the same), which logs child processes, C extensions and logging handlers
    holding the original ``sys.stderr``. ``mode="sys"`` replaces
    sys.stdout/sys.stderr only. ``mode="auto"`` is ``fd`` where file
    descriptors can be redirected, else ``sys``.
    """

    def __init__(self, logfile: str, mode: str = "auto") -> None:
        if mode not in CAPTURE_MODES:
            raise ValueError(f"capture mode {mode!r}: expected one of {', '.join(CAPTURE_MODES)}")
        self.logfile = logfile
        self.mode = mode
        self._log: LineLog | None = None
        self._assemblers: list[LineAssembler] = []
        self._saved_streams: tuple[Any, Any] | None = None
        # (target fd, saved terminal fd, identity of the pipe end put on the target,
        # whether a pump owns the saved fd)
        self._saved_fds: list[tuple[int, int, tuple[int, int], bool]] = []
        self._pumps: list[_Pump] = []
        self._swapped_handlers: list[tuple[Any, Any]] = []

    def start(self) -> str:
        """Start capturing; returns the mode in effect (``auto`` resolved)."""
        if self.mode == "none":
            return self.mode
        try:
            file = open(self.logfile, "a", encoding="utf-8", errors="replace", newline="")
        except OSError as error:
            # no log is better than no run: the program goes on without one
            self._warn_terminal(
                f"maggot: warning: cannot log to {self.logfile} ({error.strerror or error}); "
                "the program goes on without a log\n"
            )
            self.mode = "none"
            return self.mode
        self._log = LineLog(file, self._warn_terminal)
        if self.mode in ("auto", "fd") and _can_redirect_fds():
            try:
                self._start_fd()
            except OSError:
                self._restore_fds()
                self.mode = "sys"
            else:
                self.mode = "fd"
        else:
            self.mode = "sys"
        self._tee_streams(bypassing_only=self.mode == "fd")
        return self.mode

    def _start_fd(self) -> None:
        assert self._log is not None
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        # one channel when both go to the same place (a terminal): their order is kept
        groups = [(1, 2)] if _identity(1) == _identity(2) else [(1,), (2,)]
        for group in groups:
            read_fd, write_fd = _open_channel(group[0])
            saved: list[int] = []
            try:
                channel = _identity(write_fd)
                for target_fd in group:
                    saved.append(os.dup(target_fd))
                for target_fd in group:
                    os.dup2(write_fd, target_fd)
            except OSError:
                for fd in (read_fd, *saved):
                    _close(fd)
                raise
            finally:
                os.close(write_fd)
            for target_fd, saved_fd in zip(group, saved):
                # the pump owns the first saved descriptor and closes it itself
                self._saved_fds.append((target_fd, saved_fd, channel, saved_fd == saved[0]))
            self._log.hold()
            pump = _Pump(read_fd, saved[0], LineAssembler(self._log), self._log)
            self._pumps.append(pump)
            pump.start()

    def _restore_fds(self) -> None:
        """Put the terminal back on fds 1 and 2 and wait for what was written before."""
        for target_fd, saved_fd, channel, pump_owned in self._saved_fds:
            # a test runner or the program may have put something else there since
            if _identity(target_fd) == channel:
                os.dup2(saved_fd, target_fd)
            if not pump_owned:
                _close(saved_fd)
        for pump in self._pumps:
            pump.drain()
        self._saved_fds = []
        self._pumps = []

    def _tee_streams(self, bypassing_only: bool) -> None:
        """Wrap sys.stdout/sys.stderr (in fd mode only those not writing to fds 1 and 2).

        Under an IDE, a notebook or a test runner the streams are replaced
        objects that bypass the file descriptors; logging handlers made before
        the run hold the same objects, so they are pointed at the tee too.
        """
        assert self._log is not None
        originals = (sys.stdout, sys.stderr)
        wrapped = []
        for stream, fd in zip(originals, (1, 2)):
            if stream is None or (bypassing_only and _fileno(stream) == fd):
                wrapped.append(stream)
                continue
            assembler = LineAssembler(self._log)
            self._assemblers.append(assembler)
            wrapped.append(TeeStream(stream, assembler))
        if wrapped[0] is originals[0] and wrapped[1] is originals[1]:
            return
        self._saved_streams = originals
        sys.stdout, sys.stderr = wrapped
        replacements = {
            id(original): tee for original, tee in zip(originals, wrapped) if tee is not original
        }
        for handler in _stream_handlers():
            tee = replacements.get(id(handler.stream))
            if tee is None:
                continue
            original = handler.stream
            try:
                handler.stream = tee
            except AttributeError:  # a handler whose stream is a read-only property
                continue
            self._swapped_handlers.append((handler, original))

    def stop(self) -> None:
        """Stop capturing: everything written so far is in the log when this returns.

        Child processes that still hold the descriptors (idle worker pools, a
        server started in the run) are not waited for: their later output
        keeps reaching the terminal, and the log while this process lives.
        """
        if self._log is None:
            return
        for handler, stream in self._swapped_handlers:
            if isinstance(handler.stream, TeeStream):
                handler.stream = stream
        self._swapped_handlers = []
        if self._saved_streams is not None:
            sys.stdout, sys.stderr = self._saved_streams
            self._saved_streams = None
        if self._saved_fds:
            for stream in (sys.stdout, sys.stderr):
                _flush(stream)
            self._restore_fds()
        for assembler in self._assemblers:
            assembler.finish()
        self._assemblers = []
        self._log.close()
        self._log = None

    def _warn_terminal(self, message: str) -> None:
        """Write to the terminal without passing through the capture (no loop, no deadlock)."""
        saved = {target: saved_fd for target, saved_fd, *_ in self._saved_fds}
        try:
            if 2 in saved:
                _write_all(saved[2], message.encode("utf-8", errors="replace"))
            else:
                stream = self._saved_streams[1] if self._saved_streams else sys.stderr
                if stream is not None:
                    stream.write(message)
                    stream.flush()
        except (OSError, ValueError):
            pass

    def log_text(self, text: str) -> None:
        """Append text to the log only (not the terminal), e.g. a traceback already shown."""
        if self._log is None:
            return
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        for pump in self._pumps:
            pump.drain(keep_going=True)
        for assembler in self._assemblers:
            assembler.finish(end="\n")
        self._log.write_line(text)


def _identity(fd: int) -> tuple[int, int]:
    try:
        info = os.fstat(fd)
    except OSError:
        return (-1, -1)
    return (info.st_dev, info.st_ino)


def _can_redirect_fds() -> bool:
    if os.name != "posix":
        return False
    try:
        os.fstat(1)
        os.fstat(2)
    except OSError:  # no stdout/stderr at all (a daemon, pythonw)
        return False
    return True


def _open_channel(target_fd: int) -> tuple[int, int]:
    """A (read, write) pair for ``target_fd``: a pseudo terminal if it is a terminal.

    Programs look at their output to decide on colours, progress bars and
    buffering; a pipe would change what they print on the user's terminal.
    """
    if os.isatty(target_fd) and hasattr(os, "openpty"):
        try:
            read_fd, write_fd = os.openpty()
        except OSError:
            return os.pipe()
        _mirror_terminal(target_fd, write_fd)
        return read_fd, write_fd
    return os.pipe()


def _mirror_terminal(terminal_fd: int, pty_fd: int) -> None:
    """Give the pseudo terminal the real one's size; output passes unchanged (no ``\\r\\n``)."""
    import termios

    try:
        attributes = termios.tcgetattr(pty_fd)
        attributes[1] &= ~termios.OPOST
        termios.tcsetattr(pty_fd, termios.TCSANOW, attributes)
        if hasattr(termios, "TIOCGWINSZ"):
            import fcntl

            size = fcntl.ioctl(terminal_fd, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(pty_fd, termios.TIOCSWINSZ, size)
    except (OSError, termios.error):
        pass


def _stream_handlers() -> list[Any]:
    # only when the program uses logging: importing it here would cost every run
    logging = sys.modules.get("logging")
    if logging is None:
        return []
    handlers: list[Any] = []
    for logger in [logging.root, *logging.Logger.manager.loggerDict.values()]:
        handlers.extend(getattr(logger, "handlers", []))
    # the last-resort handler reads sys.stderr at each message, so it follows the tee anyway
    return [
        handler
        for handler in dict.fromkeys(handlers)
        if type(handler) is logging.StreamHandler
        or (
            isinstance(handler, logging.StreamHandler)
            and not isinstance(handler, logging.FileHandler)
            and handler is not logging.lastResort
        )
    ]


def _flush(stream: Any) -> None:
    try:
        stream.flush()
    except (AttributeError, OSError, ValueError):
        pass


def _fileno(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


_DRAIN = b"d"
_HAND_OVER = b"h"


class _Pump:
    """Copies one captured descriptor to the terminal and the log, in a thread.

    The thread owns its descriptors and closes them itself at end of input,
    so nothing ever writes to a descriptor number that was closed and reused.
    """

    def __init__(self, read_fd: int, terminal_fd: int, assembler: LineAssembler, log: LineLog):
        self.read_fd = read_fd
        self.terminal_fd = terminal_fd
        self._assembler = assembler
        self._log = log
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._wake_read, self._wake_write = os.pipe()
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._drain_requests = 0
        self._drains_done = 0
        self._ended = False
        # the capture restores the terminal from terminal_fd: it stays open until then
        self._released = False
        self._handed_over = threading.Event()
        # a forked child shares the wake pipe but not the thread: it must leave both alone
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="maggot-output", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def drain(self, keep_going: bool = False) -> None:
        """Wait until everything written before this call is copied.

        Without ``keep_going`` this is the end of the run: a pump that still
        has writers (children) is left running and handed to a relay process
        when this process exits.
        """
        if os.getpid() != self._pid:
            return
        with self._lock:
            if self._ended:
                if not keep_going:
                    self._release_terminal()
                return
            self._drain_requests += 1
            wanted = self._drain_requests
        _write_all(self._wake_write, _DRAIN)
        with self._lock:
            while self._drains_done < wanted and not self._ended and self._thread.is_alive():
                self._drained.wait(timeout=1.0)
            if keep_going:
                return
            if self._ended:
                self._release_terminal()
            else:
                self._released = True
                _outliving_pumps.add(self)
                _register_hand_over()

    def _release_terminal(self) -> None:
        """With the lock held, after the pump ended: the capture is done with terminal_fd."""
        if not self._released:
            self._released = True
            _close(self.terminal_fd)

    def _run(self) -> None:
        import select

        poller = select.poll()
        poller.register(self.read_fd, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        try:
            while True:
                ready = {fd for fd, _ in poller.poll()}
                if self._wake_read in ready:
                    request = os.read(self._wake_read, 1)
                    if request == _HAND_OVER:
                        self._handed_over.set()
                        return
                    ended = self._copy_available()
                    with self._lock:
                        self._drains_done += 1
                        self._drained.notify_all()
                    if ended:
                        break
                elif self.read_fd in ready and not self._copy_once():
                    break
        except Exception as error:  # never a traceback from this thread over the user's output
            self._log.write_line(f"maggot: output capture stopped: {error!r}\n")
        self._end()

    def _copy_available(self) -> bool:
        """Copy what is waiting right now; True at end of input."""
        import select

        check = select.poll()
        check.register(self.read_fd, select.POLLIN)
        while check.poll(0):
            if not self._copy_once():
                return True
        return False

    def _copy_once(self) -> bool:
        try:
            chunk = os.read(self.read_fd, 65536)
        except OSError as error:
            # a pseudo terminal reports EIO once every writer has closed it
            if error.errno != errno.EIO:
                raise
            chunk = b""
        if not chunk:
            return False
        _write_all(self.terminal_fd, chunk)
        self._assembler.feed(self._decoder.decode(chunk))
        return True

    def _end(self) -> None:
        self._assembler.feed(self._decoder.decode(b"", final=True))
        self._assembler.finish()
        with self._lock:
            self._ended = True
            self._drained.notify_all()
            for fd in (self.read_fd, self._wake_read, self._wake_write):
                _close(fd)
            if self._released:
                _close(self.terminal_fd)
        _outliving_pumps.discard(self)
        self._log.close()

    def hand_over(self) -> None:
        """At exit, with children still writing: a small process copies to the terminal."""
        if os.getpid() != self._pid:
            return
        with self._lock:
            if self._ended:
                return
            _write_all(self._wake_write, _HAND_OVER)
        if not self._handed_over.wait(timeout=5):
            return
        import subprocess

        try:
            subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _RELAY],
                stdin=self.read_fd,
                stdout=self.terminal_fd,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C meant for the program must not stop the copy
            )
        except OSError:
            pass
        self._assembler.finish()
        self._log.close()


# the relay keeps reading even when the terminal is gone: a child must never get SIGPIPE
_RELAY = """
import os
terminal = True
while True:
    try:
        data = os.read(0, 65536)
    except OSError:
        break
    if not data:
        break
    view = memoryview(data)
    while terminal and view:
        try:
            view = view[os.write(1, view):]
        except OSError:
            terminal = False
"""

_outliving_pumps: set[_Pump] = set()
_hand_over_registered = False


def _register_hand_over() -> None:
    global _hand_over_registered
    if not _hand_over_registered:
        _hand_over_registered = True
        atexit.register(_hand_over_all)


def _hand_over_all() -> None:
    for pump in list(_outliving_pumps):
        pump.hand_over()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return
        view = view[written:]
