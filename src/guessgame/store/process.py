"""The writer process: where a store builds and inserts its rows.

Building a game's row (its id, its guesses as text) and binding it to an
INSERT is Python work, some 10 µs a game; on the writer thread of the
server's own process it holds the GIL, which the event loop then waits
for. :class:`ProcessSink` hands each batch instead, packed into plain
values (:func:`~.rows.pack_records`, about 1 µs a game), through a pipe
to a process of its own, which builds the rows, inserts them with an
:class:`~.writer.Engine`, and answers how it went. Everything else stays
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
spec first, then ``("batch", seed, packed)``, ``("again",)`` (retry the
batch in hand) and ``("drop",)``. From it: ``("ready",)`` or
``("error", message)`` once the engine opened, ``("log", level, message)``
at any time, and ``("ok", counters)`` or ``("failed", retryable, line,
detail, counters)`` for every ``batch`` and ``again``.
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
from .writer import BatchFailed, Engine, EngineSpec, Row, Sink, attempt_insert, build_rows

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


def write_frame(fd: int, message: Any) -> None:
    payload = marshal.dumps(message)
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


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
    :class:`StoreError` if it could not. A process that dies is started
    again for the next attempt, and the batch in hand is sent again, with
    the same seed and so the same ids.
    """

    def __init__(self, spec: EngineSpec) -> None:
        self._spec = spec
        self._counters: dict[str, int] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._batch: tuple[bytes, list[PackedRecord]] | None = None
        self._shipped = False
        self._open()

    def _open(self) -> None:
        package = str(Path(__file__).resolve().parents[1])
        argv = [sys.executable, "-S", "-c", _BOOT, json.dumps([sys.path, package])]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            raise StoreError(f"cannot start the store's writer process: {exc}") from None
        self._proc = proc
        try:
            # The spec travels through the pipe: a URL's password must not
            # show in the process list.
            write_frame(self._stdin, (self._spec[0], self._spec[1], os.getpid()))
            reply = self._reply()
        except OSError:
            reply = None
        if reply is None or reply[0] != "ready":
            self._stop(kill=True)
            if reply is None:
                raise StoreError(f"the store's writer process exited ({self._status()})")
            raise StoreError(str(reply[1]))

    @property
    def _stdin(self) -> int:
        assert self._proc is not None and self._proc.stdin is not None
        return self._proc.stdin.fileno()

    def _reply(self) -> Any:
        """The process's answer, its log lines logged on the way; None if it
        is gone."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while True:
            message = read_frame(fd)
            if message is None or message[0] != "log":
                return message
            log.log(message[1], "%s", message[2])

    def _status(self) -> str:
        code = self._proc.poll() if self._proc is not None else None
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"status {code}"

    def send(self, packed: list[PackedRecord], seed: bytes) -> None:
        self._batch = (seed, packed)
        self._shipped = False

    def attempt(self) -> None:
        assert self._batch is not None, "no batch in hand"
        if self._proc is None:
            try:
                self._open()
            except StoreError as exc:
                raise BatchFailed(True, str(exc), str(exc)) from None
        try:
            if self._shipped:
                write_frame(self._stdin, ("again",))
            else:
                seed, packed = self._batch
                write_frame(self._stdin, ("batch", seed, packed))
                self._shipped = True
            reply = self._reply()
        except OSError:
            reply = None
        if reply is None:
            self._stop(kill=True)
            line = f"the store's writer process exited ({self._status()}); starting another"
            log.error("%s", line)
            self._proc = None
            raise BatchFailed(True, line, line)
        if reply[0] == "ok":
            self._counters = reply[1]
            self._batch = None
            return
        _, retryable, line, detail, self._counters = reply
        if not retryable:
            self._batch = None
        raise BatchFailed(retryable, line, detail)

    def drop(self) -> None:
        if self._batch is not None and self._shipped and self._proc is not None:
            # A process gone holds nothing any more: nothing to tell it.
            with contextlib.suppress(OSError):
                write_frame(self._stdin, ("drop",))
        self._batch = None

    def close(self) -> None:
        self._stop(kill=False)

    def _stop(self, *, kill: bool) -> None:
        proc = self._proc
        if proc is None:
            return
        if kill:
            proc.kill()
        else:
            assert proc.stdin is not None
            try:
                proc.stdin.close()  # the end of its input: it releases and exits
            except OSError:
                pass
        try:
            proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.warning("the store's writer process did not exit; killing it")
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()

    def counters(self) -> dict[str, int]:
        return self._counters

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
    inp, out = sys.stdin.fileno(), sys.stdout.fileno()
    sys.stdout = sys.stderr  # nothing but frames on the pipe
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
    rows: list[Row] | None = None
    while (message := read_frame(inp)) is not None:
        kind = message[0]
        if kind == "drop":
            rows = None
            continue
        try:
            if kind == "batch":
                rows = None
                rows = build_rows(message[2], message[1])
            if rows is None:
                raise BatchFailed(False, "no batch in hand", "no batch in hand")
            attempt_insert(engine, rows)
        except BatchFailed as failure:
            if not failure.retryable:
                rows = None
            reply: tuple[Any, ...] = (
                "failed",
                failure.retryable,
                failure.line,
                failure.detail,
                engine.counters(),
            )
        else:
            rows = None
            reply = ("ok", engine.counters())
        write_frame(out, reply)
