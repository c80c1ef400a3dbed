"""The writer process: where a store builds and inserts its rows.

Building a game's row (its id, its guesses as text) and binding it to an
INSERT is Python work, some 10 µs a game; on the writer thread of the
server's own process it holds the GIL, which the event loop then waits
for. :class:`ProcessSink` hands each batch instead, its records packed
into plain values by :meth:`~.writer.BatchWriter.record`
(:func:`~.rows.pack_record`), through a pipe to a process of its own,
which builds the rows, inserts them with an :class:`~.writer.Engine`, and
answers how it went. Everything else stays
in the server: the bounded queue, retries and give-up, counting, logging
(the process forwards its log lines).

The process lives as long as the writer thread that started it, at a low
CPU priority (:data:`WRITER_NICE`). It ignores SIGINT and SIGTERM (a
Ctrl-C or a service manager signals the whole process group; the server
decides when the store closes) and ends when its input closes. On Linux
it is killed with its parent (the kernel's parent-death signal), so a
server killed with SIGKILL loses what it had not committed, exactly as an
in-process writer would, and nothing is written to the database after the
server is gone.

Frames, both ways: a 4-byte little-endian length, then a :mod:`marshal`
payload (both ends are the same Python). To the process: the engine's
spec first, then ``("batch", seed, packed)`` for every attempt at a batch
(a retry sends the same frame again: the process keeps nothing between
attempts). From it: ``("ready",)`` or ``("error", message)`` once the
engine opened, ``("log", level, message)`` at any time, and ``("ok",
counters)`` or ``("failed", retryable, line, detail, counters)`` for
every ``batch``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import marshal
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import StoreError
from .rows import PackedRecord
from .writer import BatchFailed, Engine, EngineSpec, Sink, attempt_insert, build_rows

__all__ = ["ProcessSink", "child_main", "engine_from_spec"]

log = logging.getLogger("guessgame.store")

#: Seconds the process gets to finish and exit once its input closed.
EXIT_TIMEOUT = 10.0
#: The process's niceness: recording is background work. On a machine whose
#: cores the event loop and its clients keep busy, the writer's bursts (a
#: batch every few tenths of a second) preempting them cost far more than
#: their CPU time (a 12 ms burst of CPU every 0.1 s beside `serve --no-db`
#: under `bench -c 64` took it from about 110,000 to 55,000-65,000 round
#: trips/s, at nice 19 to 78,000-92,000). Niced, it runs on what the server leaves; when that is
#: too little, the bounded queue drops and counts games, as when the disk
#: is slow.
WRITER_NICE = 19

_HEADER = struct.Struct("<I")

# The process imports only the store's modules: guessgame's own __init__
# loads the servers, the clients and asyncio (0.1 s and 10 MB that a
# writer never uses), so the package is stood in by an empty module with
# the same __path__. -S: no site initialisation, sys.path comes from here.
_BOOT = """\
import json, sys, types
paths, package = json.loads(sys.argv[1])
sys.path[:] = paths
stub = types.ModuleType("guessgame")
stub.__path__ = [package]
sys.modules["guessgame"] = stub
from guessgame.store.process import child_main
sys.exit(child_main())
"""


def engine_from_spec(spec: EngineSpec) -> Engine:
    """Open the engine ``spec`` names (:class:`StoreError` if it cannot)."""
    kind, options = spec
    if kind == "sqlite":
        from .sqlite import SqliteEngine

        return SqliteEngine(**options)
    if kind == "postgres":
        from .postgres import PostgresEngine

        return PostgresEngine(**options)
    raise ValueError(f"unknown engine {kind!r}")


# -- frames ---------------------------------------------------------------------


def frame(message: Any) -> bytes:
    """``message`` as a frame; ValueError if :mod:`marshal` cannot encode it."""
    payload = marshal.dumps(message)
    return _HEADER.pack(len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_frame(fd: int, message: Any) -> None:
    write_all(fd, frame(message))


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> Any:
    """The next message, or None at the end of the input."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    payload = _read_exactly(fd, size)
    if payload is None:
        return None
    return marshal.loads(payload)


# -- the server's side ----------------------------------------------------------


class ProcessSink(Sink):
    """Commits batches through a writer process (see the module's text).

    Opening starts the process and waits until it opened its engine;
    :class:`StoreError` if it could not. Every attempt sends the whole batch
    (the same frame, so the same seed and the same ids) and waits for the
    answer. A process that dies, or answers what is not a frame, is killed
    and started again for the next attempt.
    """

    def __init__(self, spec: EngineSpec) -> None:
        self._spec = spec
        #: The engine's counts: those of processes that ended, summed, and
        #: the running one's as of its last answer.
        self._ended: dict[str, int] = {}
        self._counters: dict[str, int] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        #: The batch in hand, as the frame every attempt sends.
        self._frame: bytes | None = None
        self._open()

    def _open(self) -> None:
        package = str(Path(__file__).resolve().parents[1])
        argv = [sys.executable, "-S", "-c", _BOOT, json.dumps([sys.path, package])]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            raise StoreError(f"cannot start the store's writer process: {exc}") from None
        self._proc = proc
        # The spec travels through the pipe: a URL's password must not show
        # in the process list.
        reply = self._ask(frame((self._spec[0], self._spec[1], os.getpid())))
        if reply is None or reply[0] != "ready":
            status = self._stop(kill=True)
            if reply is None:
                raise StoreError(f"the store's writer process exited ({status})")
            raise StoreError(str(reply[1]))

    def _ask(self, request: bytes) -> Any:
        """Send ``request``, return the process's answer (its log lines
        logged on the way); None if the process is gone or answered what is
        not a frame."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            write_all(proc.stdin.fileno(), request)
            while True:
                message = read_frame(proc.stdout.fileno())
                if message is None or message[0] != "log":
                    return message
                log.log(message[1], "%s", message[2])
        except (OSError, ValueError, EOFError, TypeError, IndexError):
            return None

    def send(self, packed: list[PackedRecord], seed: bytes) -> None:
        self._frame = None
        try:
            self._frame = frame(("batch", seed, packed))
        except ValueError as exc:  # a value marshal cannot carry: a malformed record
            raise BatchFailed(False, f"a record that cannot be stored: {exc}", repr(exc)) from None

    def attempt(self) -> None:
        request = self._frame
        assert request is not None, "no batch in hand"
        if self._proc is None:
            try:
                self._open()
            except StoreError as exc:
                raise BatchFailed(True, str(exc), str(exc)) from None
        reply = self._ask(request)
        if reply is None:
            status = self._stop(kill=True)
            line = f"the store's writer process exited ({status}); starting another"
            log.error("%s", line)
            raise BatchFailed(True, line, line)
        if reply[0] == "ok":
            self._counters = reply[1]
            self._frame = None
            return
        _, retryable, line, detail, self._counters = reply
        if not retryable:
            self._frame = None
        raise BatchFailed(retryable, line, detail)

    def drop(self) -> None:
        self._frame = None

    def close(self) -> None:
        self._stop(kill=False)

    def _stop(self, *, kill: bool) -> str:
        """End the process (closing its input lets it release and exit), and
        say how it ended."""
        proc = self._proc
        if proc is None:
            return "not running"
        self._proc = None
        for name, count in self._counters.items():
            self._ended[name] = self._ended.get(name, 0) + count
        self._counters = {}
        if kill:
            proc.kill()
        else:
            assert proc.stdin is not None
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.warning("the store's writer process did not exit; killing it")
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        code = proc.returncode
        return f"killed by signal {-code}" if code < 0 else f"status {code}"

    def counters(self) -> dict[str, int]:
        totals = dict(self._ended)
        for name, count in self._counters.items():
            totals[name] = totals.get(name, 0) + count
        return totals

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None or proc.returncode is not None else proc.pid


# -- the writer process -------------------------------------------------------


class _Forward(logging.Handler):
    """Sends log records to the server, which logs them as its own."""

    def __init__(self, fd: int) -> None:
        super().__init__(logging.INFO)
        self.fd = fd

    def emit(self, record: logging.LogRecord) -> None:
        # The server gone, nobody is left to log for.
        with contextlib.suppress(OSError):
            write_frame(self.fd, ("log", record.levelno, record.getMessage()))


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when the thread that started it ends."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before the request
        os._exit(0)


def child_main() -> int:
    """The writer process's loop (see the module's text)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Frames go out on a descriptor of their own, and standard output
    # becomes standard error: nothing printed, even by C code, can break a
    # frame on the pipe.
    inp, out = sys.stdin.fileno(), os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), 1)
    sys.stdout = sys.stderr
    spec = read_frame(inp)
    if spec is None:
        return 0
    kind, options, parent = spec
    _die_with_parent(parent)
    # Where niceness cannot be set, the writer competes as an equal.
    with contextlib.suppress(AttributeError, OSError):
        os.nice(WRITER_NICE)
    store_log = logging.getLogger("guessgame")
    store_log.addHandler(_Forward(out))
    store_log.setLevel(logging.INFO)
    store_log.propagate = False
    try:
        engine = engine_from_spec((kind, options))
    except StoreError as exc:
        write_frame(out, ("error", str(exc)))
        return 1
    except Exception as exc:
        write_frame(out, ("error", f"cannot open the store: {exc!r}"))
        return 1
    write_frame(out, ("ready",))
    try:
        _serve(engine, inp, out)
    except OSError:
        return 0  # the server is gone
    finally:
        engine.release()
    return 0


def _serve(engine: Engine, inp: int, out: int) -> None:
    while (message := read_frame(inp)) is not None:
        _, seed, packed = message  # ("batch", seed, packed): nothing else is sent
        try:
            attempt_insert(engine, build_rows(packed, seed))
        except BatchFailed as failure:
            reply: tuple[Any, ...] = (
                "failed",
                failure.retryable,
                failure.line,
                failure.detail,
                engine.counters(),
            )
        else:
            reply = ("ok", engine.counters())
        write_frame(out, reply)
