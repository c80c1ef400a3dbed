"""A fleet on loopback for the integration tests (and the scaling benchmark):
HAProxy in front of ``guessgame serve`` processes that record into one
PostgreSQL database, and players that know which games the servers must have.

* :func:`haproxy_config` turns ``deploy/haproxy.cfg`` into a loopback config:
  the frontend on ``127.0.0.1:PORT``, the servers at their loopback ports,
  a lower ``maxconn``, and an admin socket in the test's directory to read
  the servers' states from.
* :class:`Haproxy` runs it in the foreground (``-db``) as a subprocess.
* :class:`ServeProcess` is one ``guessgame serve --proxy-protocol`` process.
* :class:`Fleet` starts the servers, then the balancer, and stops all of
  them (by their own PIDs) when the test is done.
* :class:`Player` plays games on one connection through the balancer,
  reconnecting when it is cut off, and remembers every game it started
  with the address of its own socket.

Everything listens on 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from absent import absent
from guessgame import Client, ClientError, Judge

__all__ = [
    "DEPLOY_CONFIG",
    "Fleet",
    "GameSeen",
    "Haproxy",
    "Player",
    "ServeProcess",
    "find_haproxy",
    "free_port",
    "haproxy_config",
    "have_prometheus",
    "metrics_text",
    "players",
    "require_haproxy",
    "wait_until",
]

ROOT = Path(__file__).resolve().parent.parent
#: The fleet example this suite runs, with loopback addresses.
DEPLOY_CONFIG = ROOT / "deploy" / "haproxy.cfg"
#: Seconds any single wait of these helpers may take.
TIMEOUT = 15.0
#: The balancer's connection limit here: HAProxy needs about two descriptors
#: per connection, and the example's 20000 is more than ``ulimit -n`` gives.
MAXCONN = 4096


def find_haproxy() -> str | None:
    """The haproxy binary (PATH, then /usr/sbin), or None."""
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)),
        None,
    )


def require_haproxy() -> str:
    """The haproxy binary; skips the test, saying why, without one."""
    binary = find_haproxy()
    if binary is None:
        absent("haproxy not found (install the 'haproxy' package to run the fleet tests)")
    return binary


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def haproxy_config(
    servers: Sequence[tuple[str, int]],
    port: int,
    admin_socket: Path,
    *,
    template: Path = DEPLOY_CONFIG,
    maxconn: int = MAXCONN,
) -> str:
    """``deploy/haproxy.cfg`` for loopback: its frontend bound to
    ``127.0.0.1:port``, its ``server`` lines replaced by ``servers``
    (``(host, port)``, named guess1, guess2, ...), ``maxconn`` lowered, and
    an admin socket added. Everything else (balance, checks, PROXY
    protocol, timeouts) is the example's, unchanged."""
    text = template.read_text()
    out: list[str] = []
    replaced_bind = replaced_maxconn = False
    server_indent: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped.startswith("maxconn ") and not replaced_maxconn:
            out.append(f"{indent}maxconn {maxconn}")
            out.append(f"{indent}stats socket {admin_socket} mode 600 level admin")
            replaced_maxconn = True
        elif stripped.startswith("bind "):
            out.append(f"{indent}bind 127.0.0.1:{port}")
            replaced_bind = True
        elif stripped.startswith("server "):
            if server_indent is None:
                server_indent = indent
                for i, (host, server_port) in enumerate(servers, 1):
                    out.append(f"{indent}server guess{i} {host}:{server_port}")
        else:
            out.append(line)
    if not (replaced_bind and replaced_maxconn and server_indent is not None):
        raise ValueError(f"{template} lacks a bind, maxconn or server line")
    return "\n".join(out) + "\n"


class Haproxy:
    """``haproxy -db -f CONFIG`` in the foreground, its output in a file."""

    def __init__(self, binary: str, config: Path, port: int, admin_socket: Path) -> None:
        self.port = port
        self.address = ("127.0.0.1", port)
        self.admin_socket = admin_socket
        self.log = config.with_suffix(".log")
        check = subprocess.run(
            [binary, "-c", "-f", str(config)], capture_output=True, text=True, timeout=TIMEOUT
        )
        if check.returncode != 0:
            raise AssertionError(f"haproxy refused {config}:\n{check.stdout}{check.stderr}")
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            [binary, "-db", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + TIMEOUT
        while not admin_socket.exists() or not _accepts(self.address):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"haproxy did not start: {self.log_text()}")
            time.sleep(0.02)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def command(self, line: str) -> str:
        """One command on the admin socket; its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.admin_socket))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_states(self) -> dict[str, str]:
        """The status of each server of the backend: ``UP``, ``DOWN``,
        ``UP 1/2`` (going down), ``DOWN 1/2`` (going up), ..."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        pxname, svname, status = (header.index(c) for c in ("pxname", "svname", "status"))
        states = {}
        for line in lines[1:]:
            cells = line.split(",")
            if (
                len(cells) > status
                and cells[pxname] == "guessgame_servers"
                and cells[svname] not in ("FRONTEND", "BACKEND")
            ):
                states[cells[svname]] = cells[status]
        return states

    def wait_states(self, wanted: dict[str, str], timeout: float = TIMEOUT) -> float:
        """Wait until every named server has its wanted status; the seconds it took."""
        start = time.monotonic()
        states: dict[str, str] = {}
        while time.monotonic() - start < timeout:
            states = self.server_states()
            if all(states.get(name) == status for name, status in wanted.items()):
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(f"servers never reached {wanted}: {states}")

    def stop(self) -> None:
        """Stop the balancer (SIGTERM, then SIGKILL) and wait for it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log_file.close()


def _accepts(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


_SERVING = re.compile(rb"serving on [^ ]+:(\d+)")


class ServeProcess:
    """``python -m guessgame serve`` on a free loopback port, recording into
    ``db``; by default with ``--proxy-protocol`` and metrics on another free
    port. Its log goes to a file (a pipe nobody reads would fill and stall a
    server that logs a line per game)."""

    def __init__(
        self,
        db: str,
        log: Path,
        backend: str,
        *args: str,
        proxy_protocol: bool = True,
        metrics: bool = True,
    ) -> None:
        self.backend = backend
        self.log = log
        self.metrics_port = free_port() if metrics else 0
        options = ["--proxy-protocol"] if proxy_protocol else []
        if metrics:
            options += ["--metrics-port", str(self.metrics_port)]
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "guessgame",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--backend",
                backend,
                "--db",
                db,
                *options,
                *args,
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            cwd=ROOT,
        )
        self.address = ("127.0.0.1", 0)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_serving(self) -> tuple[str, int]:
        """The address once the server says ``serving on``."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            match = _SERVING.search(self.log.read_bytes())
            if match:
                self.address = ("127.0.0.1", int(match.group(1)))
                return self.address
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"server did not start: {self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """The exit status (killed if it does not exit within ``timeout``)."""
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        self._log_file.close()

    def metrics(self) -> str:
        return metrics_text(self.metrics_port)


def metrics_text(port: int) -> str:
    """The body of ``http://127.0.0.1:port/metrics``."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return str(response.read().decode())


def have_prometheus() -> bool:
    """Whether prometheus_client (the ``metrics`` extra) is installed."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Fleet:
    """Servers of the given backends behind one HAProxy, all recording into
    ``db``. Use as a context manager: the exit stops every process it
    started, whatever state the test left them in."""

    db: str
    directory: Path
    backends: Sequence[str] = ("asyncio", "asyncio", "threads")
    serve_args: Sequence[str] = ("--grace", "1")
    #: Serve /metrics from every server, as deploy/compose.yaml does (when
    #: the metrics extra is installed; the metrics test skips without it).
    metrics: bool = field(default_factory=have_prometheus)
    servers: list[ServeProcess] = field(default_factory=list)
    haproxy: Haproxy | None = None

    def __enter__(self) -> Fleet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        binary = require_haproxy()
        # Started together, the servers import and migrate while each other starts.
        for i, backend in enumerate(self.backends, 1):
            log = self.directory / f"guess{i}.log"
            self.servers.append(
                ServeProcess(self.db, log, backend, *self.serve_args, metrics=self.metrics)
            )
        addresses = [server.wait_serving() for server in self.servers]
        port = free_port()
        admin = self.directory / "haproxy.sock"
        config = self.directory / "haproxy.cfg"
        config.write_text(haproxy_config(addresses, port, admin))
        self.haproxy = Haproxy(binary, config, port, admin)
        # The first checks must pass before the balancer counts on a server.
        self.haproxy.wait_states({name: "UP" for name in self.names})

    @property
    def names(self) -> list[str]:
        return [f"guess{i}" for i in range(1, len(self.servers) + 1)]

    @property
    def address(self) -> tuple[str, int]:
        assert self.haproxy is not None
        return self.haproxy.address

    def stop(self) -> None:
        """SIGTERM every server still running (then SIGKILL), and the balancer."""
        for server in self.servers:
            server.signal(signal.SIGTERM)
        for server in self.servers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait()
        if self.haproxy is not None:
            self.haproxy.stop()

    def logs(self) -> str:
        parts = [f"--- {s.log.name}\n{s.log_text()}" for s in self.servers]
        if self.haproxy is not None:
            parts.append(f"--- haproxy\n{self.haproxy.log_text()}")
        return "\n".join(parts)


# -- players ---------------------------------------------------------------------


@dataclass
class GameSeen:
    """One game as its player saw it."""

    #: The player's own address for it (its socket's getsockname()).
    peer: str
    #: Guesses the server made in it so far.
    guesses: int = 0
    #: When the player knew the server had ended it as won (CLEAR answered).
    confirmed_at: float | None = None


@dataclass
class Player:
    """Plays games through ``address`` on one connection at a time, until
    stopped, ``games`` were played, or ``deadline`` passed.

    Every game has a ``lower`` bound of its own (``index * 10**9 + 100 * n``)
    so that the test finds it in the database. After a win the player sends
    ``CLEAR`` and ``NUMBER`` and waits for ``ERROR no-game``: the proof that
    the server ended the game. When the connection is cut (a server stopped
    or died) it reconnects through the balancer, with a short backoff.
    """

    address: tuple[str, int]
    index: int
    games: int | None = None
    #: lower bound -> the game, for games the server surely started (it
    #: answered a NUMBER of the game).
    started: dict[int, GameSeen] = field(default_factory=dict)
    #: lower bounds of every game whose PARAMS line was sent.
    sent: set[int] = field(default_factory=set)
    #: Connections cut under the player, and connection attempts refused.
    drops: int = 0
    failed_connects: int = 0
    #: monotonic time of each connection that played at least one game.
    sessions: list[float] = field(default_factory=list)
    #: (monotonic time, what) of each connection cut under the player.
    cuts: list[tuple[float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> Player:
        self.thread = threading.Thread(target=self._run, name=f"player-{self.index}", daemon=True)
        self.thread.start()
        return self

    def join(self, timeout: float = TIMEOUT * 2) -> None:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"player {self.index} did not finish"

    @property
    def confirmed(self) -> dict[int, GameSeen]:
        return {k: g for k, g in self.started.items() if g.confirmed_at is not None}

    def _done(self, played: int) -> bool:
        return self.stop.is_set() or (self.games is not None and played >= self.games)

    def _run(self) -> None:
        rng = random.Random(self.index)
        played = 0
        backoff = 0.02
        while not self._done(played):
            try:
                client = Client.connect(*self.address, timeout=TIMEOUT)
            except OSError:
                self.failed_connects += 1
                time.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
                continue
            try:
                host, port = client.sock.getsockname()[:2]
                peer = f"{host}:{port}"
                first = True
                while not self._done(played):
                    lower = self.index * 10**9 + played * 100
                    played += 1
                    self._play(client, peer, lower, lower + 9, rng.randint(lower, lower + 9))
                    if first:
                        self.sessions.append(time.monotonic())
                        first = False
                        backoff = 0.02
            except (ClientError, OSError) as exc:
                # Cut off (a server stopped or died; or, before the balancer
                # noticed, the connection went to a server that is gone).
                self.drops += 1
                self.cuts.append((time.monotonic(), repr(exc)))
                if not isinstance(exc, ClientError | ConnectionError):
                    self.errors.append(repr(exc))
                time.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
            except AssertionError as exc:
                self.errors.append(str(exc))
                return
            finally:
                client.close()

    def _play(self, client: Client, peer: str, lower: int, upper: int, secret: int) -> None:
        judge = Judge(secret)
        self.sent.add(lower)
        client.send(b"PARAMS %d %d\n" % (lower, upper))
        game: GameSeen | None = None
        while not judge.found:
            guess = client.number()
            assert lower <= guess <= upper, f"guess {guess} outside {lower}..{upper}"
            if game is None:
                game = self.started[lower] = GameSeen(peer)
            game.guesses += 1
            client.report(judge.judge(guess))
        client.send(b"CLEAR\nNUMBER\n")
        reply = client.receive()
        assert reply.startswith(b"ERROR no-game"), reply
        assert game is not None
        game.confirmed_at = time.time()


@contextlib.contextmanager
def players(
    address: tuple[str, int], count: int, first: int = 1, games: int | None = None
) -> Iterator[list[Player]]:
    """``count`` players started on ``address`` (``first``, ``first + 1``, ...).
    On exit, players without a number of ``games`` are stopped; all are joined."""
    started = [Player(address, first + i, games=games).start() for i in range(count)]
    try:
        yield started
    finally:
        if games is None:
            for player in started:
                player.stop.set()
        for player in started:
            player.join()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``predicate`` until true; the seconds it took. Fails after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start
