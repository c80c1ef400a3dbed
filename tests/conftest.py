"""Shared fixtures: servers on loopback for both backends, raw line sockets,
and server subprocesses.

``server`` is a factory parametrized over the backends: every test that uses
it runs once against the asyncio server and once against the threaded one::

    def test_something(server):
        srv = server(strategy="random", max_connections=3)
        with LineSocket(srv.address) as s:
            ...
        srv.wait_for_records(1)
"""

from __future__ import annotations

import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from guessgame.records import GameRecord
from guessgame.server import Backend, ServerConfig, ServerHub
from guessgame.server_asyncio import AsyncioServer
from guessgame.server_threads import ThreadedServer

BACKENDS = [b.value for b in Backend]

#: Seconds any single socket operation of a test may take before it fails.
IO_TIMEOUT = 5.0

ROOT = Path(__file__).resolve().parent.parent


# -- the in-memory store --------------------------------------------------


class MemoryStore:
    """A store that keeps every finished game in a list (thread-safe)."""

    def __init__(self) -> None:
        self.records: list[GameRecord] = []
        self.closed = False
        self._cond = threading.Condition()

    def record(self, record: GameRecord) -> None:
        with self._cond:
            self.records.append(record)
            self._cond.notify_all()

    def close(self) -> None:
        self.closed = True

    def wait_for(self, count: int, timeout: float = IO_TIMEOUT) -> list[GameRecord]:
        """The records once there are at least ``count``; fails after ``timeout``."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.records) >= count, timeout)
            assert ok, f"expected {count} game records, got {len(self.records)}: {self.records}"
            return list(self.records)


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# -- in-process servers ----------------------------------------------------


@dataclass
class RunningServer:
    """A server serving from a background thread."""

    config: ServerConfig
    hub: ServerHub
    backend: AsyncioServer | ThreadedServer
    store: MemoryStore
    thread: threading.Thread
    address: tuple[str, int]
    logs: _LogCapture = field(default_factory=_LogCapture)

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def records(self) -> list[GameRecord]:
        """The finished games so far (the live list)."""
        return self.store.records

    def wait_for_records(self, count: int, timeout: float = IO_TIMEOUT) -> list[GameRecord]:
        return self.store.wait_for(count, timeout)

    def __iter__(self) -> Iterator[Any]:
        """``address, records = server(...)``."""
        return iter((self.address, self.records))

    def stop(self, timeout: float = 15.0) -> None:
        self.backend.request_stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "server did not stop"

    def log_lines(self) -> list[str]:
        return [r.getMessage() for r in self.logs.records]


def start_server(backend: str | Backend, **overrides: Any) -> RunningServer:
    """Start a server on 127.0.0.1, any free port, in a daemon thread.

    ``overrides`` are :class:`ServerConfig` fields (strategy, max_connections,
    idle_timeout, grace, verbose, lang, ...); ``transcript`` goes to the hub.
    """
    transcript = overrides.pop("transcript", None)
    overrides.setdefault("grace", 1.0)
    config = ServerConfig(host="127.0.0.1", port=0, backend=Backend(backend), **overrides)
    store = MemoryStore()
    hub = ServerHub(config, store, transcript=transcript)
    impl: AsyncioServer | ThreadedServer = (
        ThreadedServer(hub) if config.backend is Backend.THREADS else AsyncioServer(hub)
    )
    logs = _LogCapture()
    for name in ("guessgame", "asyncio"):
        logging.getLogger(name).addHandler(logs)
    bound: queue.Queue[tuple[str, int] | BaseException] = queue.Queue()

    def serve() -> None:
        try:
            impl.run(bound.put, handle_signals=False)
        except BaseException as exc:
            bound.put(exc)

    thread = threading.Thread(target=serve, name=f"test-server-{config.backend.value}")
    thread.daemon = True
    thread.start()
    got = bound.get(timeout=10)
    if isinstance(got, BaseException):
        raise got
    return RunningServer(config, hub, impl, store, thread, got, logs)


def _release(srv: RunningServer) -> None:
    try:
        srv.stop()
    finally:
        for name in ("guessgame", "asyncio"):
            logging.getLogger(name).removeHandler(srv.logs)
    # Nothing a client does may put a traceback in the server's log.
    for record in srv.logs.records:
        assert record.exc_info is None, f"traceback logged: {record.getMessage()}"
        assert "Traceback" not in record.getMessage()


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[Callable[..., RunningServer]]:
    """A factory of servers of one backend; stops every one it started."""
    started: list[RunningServer] = []

    def factory(**overrides: Any) -> RunningServer:
        srv = start_server(request.param, **overrides)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        _release(srv)


# -- raw line sockets ------------------------------------------------------


class LineSocket:
    """A raw TCP connection that speaks in lines, every operation with a timeout."""

    def __init__(self, address: tuple[str, int], timeout: float = IO_TIMEOUT) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.settimeout(timeout)
        self._buf = b""

    def __enter__(self) -> LineSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def sendline(self, line: str) -> None:
        self.send(line + "\n")

    def recvline(self) -> str:
        """One line without its terminator; fails on EOF or timeout."""
        line = self.recvline_bytes()
        if line is None:
            raise ConnectionError("server closed the connection")
        return line.decode()

    def recvline_bytes(self) -> bytes | None:
        """One line (without ``\\n``), or None at EOF."""
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def ask(self, line: str) -> str:
        """Send a line, return the reply line."""
        self.sendline(line)
        return self.recvline()

    def read_until_closed(self) -> bytes:
        """Everything the server still sends until it closes (a reset counts as closed)."""
        data, self._buf = self._buf, b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk

    def is_closed_by_server(self) -> bool:
        """True if the server closed (EOF or reset) with nothing more to say."""
        return self.read_until_closed() == b""


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- server subprocesses ---------------------------------------------------

_SERVING = re.compile(r"serving on (\S+):(\d+)")


class ServerProcess:
    """``python -m guessgame serve ...`` in a subprocess, stderr watched by a thread."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "guessgame", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        self.stderr_lines: queue.Queue[str] = queue.Queue()
        self.stdout_lines: queue.Queue[str] = queue.Queue()
        self.stderr_all: list[str] = []
        self.stdout_all: list[str] = []
        self._readers = [
            threading.Thread(
                target=self._pump, args=(self.proc.stderr, self.stderr_lines, self.stderr_all)
            ),
            threading.Thread(
                target=self._pump, args=(self.proc.stdout, self.stdout_lines, self.stdout_all)
            ),
        ]
        for t in self._readers:
            t.daemon = True
            t.start()
        self.address = self._wait_serving()

    @staticmethod
    def _pump(stream: Any, lines: queue.Queue[str], keep: list[str]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            keep.append(line)
            lines.put(line)

    def _wait_serving(self, timeout: float = 15.0) -> tuple[str, int]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.stderr_lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                self.kill()
                raise AssertionError(f"server did not start: {self.stderr_all}") from None
            match = _SERVING.search(line)
            if match:
                return match.group(1), int(match.group(2))

    def wait_stdout(self, pattern: str, timeout: float = IO_TIMEOUT) -> str:
        """The next stdout line that contains ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.stdout_lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                raise AssertionError(f"no {pattern!r} on stdout: {self.stdout_all}") from None
            if pattern in line:
                return line

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 15.0) -> int:
        rc = self.proc.wait(timeout)
        for t in self._readers:
            t.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def spawn_server() -> Iterator[Callable[..., ServerProcess]]:
    """A factory of server subprocesses; kills any still running at teardown."""
    procs: list[ServerProcess] = []

    def factory(*args: str) -> ServerProcess:
        p = ServerProcess(*args)
        procs.append(p)
        return p

    yield factory
    for p in procs:
        p.kill()
