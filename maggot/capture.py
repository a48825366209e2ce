"""What a run captures about its process: command, environment, packages, output."""

from __future__ import annotations

import codecs
import os
import re
import shlex
import sys
import threading
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from maggot.secrets import RedactedArgument

CAPTURE_MODES = ("sys", "fd", "none")


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
    METADATA file costs tens of milliseconds at each run start.
    """
    seen: dict[str, str] = {}
    for entry in sys.path:
        directory = entry or "."
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                stem = name[: -len(".dist-info")]
            elif name.endswith(".egg-info"):
                stem = name[: -len(".egg-info")]
            else:
                continue
            project, _, rest = stem.partition("-")
            version = rest.split("-", 1)[0]
            key = re.sub(r"[-_.]+", "-", project).lower()
            seen.setdefault(key, version)
    return [f"{name}=={version}" if version else name for name, version in sorted(seen.items())]


def describe_process() -> dict[str, Any]:
    """Host, user, interpreter and platform of this process."""
    try:
        user = _user_name()
    except (KeyError, ImportError, OSError):  # no passwd entry in some containers
        user = None
    uname = os.uname() if hasattr(os, "uname") else None
    return {
        "hostname": _host_name(),
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


def _host_name() -> str:
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


class LineLog:
    """Writes output to a log file a finished line at a time.

    A line redrawn with carriage returns (progress bars) is logged in its last
    state only, so the log reads like the terminal looked. A write that fails
    (disk full, file size limit) must not reach the program through its
    ``print()``: logging stops, ``on_failure`` is told once, the program goes on.
    """

    def __init__(self, file: IO[str], on_failure: Callable[[str], None] | None = None) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._on_failure = on_failure
        self.failed = False

    def write_line(self, line: str) -> None:
        with self._lock:
            if self.failed:
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
                f"maggot: warning: logging to {getattr(self._file, 'name', 'the log')} stopped "
                f"({reason}); the program goes on, its output no longer reaches the log\n"
            )

    def close(self) -> None:
        with self._lock:
            try:
                self._file.close()
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

    ``mode="sys"`` replaces sys.stdout/sys.stderr (Python-level output);
    ``mode="fd"`` redirects file descriptors 1 and 2 through pipes, so output of
    child processes and C extensions is logged too.
    """

    def __init__(self, logfile: str, mode: str = "sys") -> None:
        if mode not in CAPTURE_MODES:
            raise ValueError(f"capture mode {mode!r}: expected one of {', '.join(CAPTURE_MODES)}")
        self.logfile = logfile
        self.mode = mode
        self._log: LineLog | None = None
        self._assemblers: list[LineAssembler] = []
        self._saved_streams: tuple[Any, Any] | None = None
        self._saved_fds: list[tuple[int, int]] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.mode == "none":
            return
        try:
            file = open(self.logfile, "a", encoding="utf-8", errors="replace", newline="")
        except OSError as error:
            # no log is better than no run: the program goes on without one
            self._warn_terminal(
                f"maggot: warning: cannot log to {self.logfile} ({error.strerror or error}); "
                "the program goes on without a log\n"
            )
            return
        self._log = LineLog(file, self._warn_terminal)
        if self.mode == "sys":
            self._start_sys()
        else:
            self._start_fd()

    def _start_sys(self) -> None:
        assert self._log is not None
        self._saved_streams = (sys.stdout, sys.stderr)
        stdout_assembler, stderr_assembler = LineAssembler(self._log), LineAssembler(self._log)
        self._assemblers = [stdout_assembler, stderr_assembler]
        sys.stdout = TeeStream(sys.stdout, stdout_assembler)
        sys.stderr = TeeStream(sys.stderr, stderr_assembler)

    def _start_fd(self) -> None:
        assert self._log is not None
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for target_fd in (1, 2):
            saved_fd = os.dup(target_fd)
            read_fd, write_fd = os.pipe()
            os.dup2(write_fd, target_fd)
            os.close(write_fd)
            assembler = LineAssembler(self._log)
            thread = threading.Thread(
                target=_pump, args=(read_fd, saved_fd, assembler), daemon=True
            )
            thread.start()
            self._saved_fds.append((target_fd, saved_fd))
            self._assemblers.append(assembler)
            self._threads.append(thread)
        # a replaced sys.stdout/stderr (an IDE, a test runner) bypasses fds 1 and 2
        bypassing = [_fileno(stream) != fd for stream, fd in ((sys.stdout, 1), (sys.stderr, 2))]
        if any(bypassing):
            self._saved_streams = (sys.stdout, sys.stderr)
            if bypassing[0]:
                self._assemblers.append(LineAssembler(self._log))
                sys.stdout = TeeStream(sys.stdout, self._assemblers[-1])
            if bypassing[1]:
                self._assemblers.append(LineAssembler(self._log))
                sys.stderr = TeeStream(sys.stderr, self._assemblers[-1])

    def stop(self) -> None:
        if self._log is None:
            return
        if self._saved_streams is not None:
            sys.stdout, sys.stderr = self._saved_streams
            self._saved_streams = None
        if self._saved_fds:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            for target_fd, saved_fd in self._saved_fds:
                os.dup2(saved_fd, target_fd)
            # children still holding the pipe open must not block the exit forever
            for thread in self._threads:
                thread.join(timeout=5)
            for _, saved_fd in self._saved_fds:
                os.close(saved_fd)
            self._saved_fds = []
            self._threads = []
        for assembler in self._assemblers:
            assembler.finish()
        self._assemblers = []
        self._log.close()
        self._log = None

    def _warn_terminal(self, message: str) -> None:
        """Write to the terminal without passing through the capture (no loop, no deadlock)."""
        saved = dict(self._saved_fds)
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
        if self._log is not None:
            for assembler in self._assemblers:
                assembler.finish(end="\n")
            self._log.write_line(text)


def _fileno(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def _pump(read_fd: int, terminal_fd: int, assembler: LineAssembler) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            chunk = pipe.read(65536)
            if not chunk:
                break
            _write_all(terminal_fd, chunk)
            assembler.feed(decoder.decode(chunk))
    assembler.feed(decoder.decode(b"", final=True))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError:
            return
        view = view[written:]
