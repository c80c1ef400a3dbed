"""Hostile clients, overload and hard stops against real servers on loopback.

Every scenario starts ``python -m guessgame serve`` in a subprocess (both
backends), attacks it from 127.0.0.1 for a bounded count and time, and
checks what must hold: the server stays up and answers as the protocol
says, well-behaved clients playing alongside keep finishing games (their
NUMBER latency is reported), no game is lost in the store, and the
server's log never contains a traceback. It prints one row per scenario and
backend and exits 1 if anything did not hold::

    .venv/bin/python reliability/run.py                  # the short form (~1 min)
    .venv/bin/python reliability/run.py --size full      # the long form, by hand
    .venv/bin/python reliability/run.py --backend threads --only slowloris,soak

``tests/test_reliability.py`` runs the short form under pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import random
import re
import resource
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from guessgame.judge import Judge
from guessgame.server import FD_RESERVE

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BACKENDS = ("asyncio", "threads")
#: Seconds any single socket operation may take before it counts as a failure.
IO_TIMEOUT = 10.0

#: What one connection may make a server hold at most, in KB (docs/reliability.md,
#: "Memory bounds"): a game of --max-guesses 1000 guesses with the strategy's
#: memory of them (under 128 KB), a read of input and a turn of replies not
#: sent yet (under 64 KB), the connection's own objects (and, with threads, its
#: stack).
PER_CONNECTION_KB = 256
#: How much a server's RSS may grow while one connection floods it.
FLOOD_GROWTH_MB = 8.0
#: The good clients' NUMBER round trip, 99th percentile, next to a flood.
FLOOD_P99_MS = 50.0
FLOOD = Path(__file__).resolve().parent / "flood.py"
#: The store's queue bound (guessgame.store.writer.MAX_PENDING_BYTES), in MB.
STORE_QUEUE_MB = 64


# -- sizes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """How hard each scenario pushes. ``short`` runs in CI, ``full`` by hand."""

    name: str
    good_clients: int
    slowloris: int
    slowloris_delay: float
    pipeliners: int
    pipeline_lines: int
    half_closers: int
    huge_lines: int
    huge_line_bytes: int
    garbage: int
    garbage_bytes: int
    cycles: int
    max_connections: int
    over_max: int
    nofile: int
    over_nofile: int
    soak_seconds: float
    stop_load_seconds: float
    stop_clients: int
    flood_seconds: float
    full_games: int


SIZES = {
    "short": Size(
        name="short",
        good_clients=3,
        slowloris=20,
        slowloris_delay=0.05,
        pipeliners=3,
        pipeline_lines=5000,
        half_closers=40,
        huge_lines=3,
        huge_line_bytes=2 * 1024 * 1024,
        garbage=10,
        garbage_bytes=64 * 1024,
        cycles=1000,
        max_connections=60,
        over_max=40,
        nofile=128,
        over_nofile=200,
        soak_seconds=4.0,
        stop_load_seconds=1.5,
        stop_clients=8,
        flood_seconds=3.0,
        full_games=200,
    ),
    "full": Size(
        name="full",
        good_clients=6,
        slowloris=120,
        slowloris_delay=0.1,
        pipeliners=20,
        pipeline_lines=50_000,
        half_closers=500,
        huge_lines=20,
        huge_line_bytes=2 * 1024 * 1024,
        garbage=100,
        garbage_bytes=256 * 1024,
        cycles=10_000,
        max_connections=300,
        over_max=300,
        nofile=256,
        over_nofile=1000,
        soak_seconds=60.0,
        stop_load_seconds=5.0,
        stop_clients=40,
        flood_seconds=20.0,
        full_games=10_000,
    ),
}


# -- results ------------------------------------------------------------------------


@dataclass
class Row:
    """One scenario against one backend: what was tried and what held."""

    scenario: str
    backend: str
    tried: str
    seconds: float = 0.0
    held: bool = True
    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    latency: str = ""

    def check(self, ok: bool, what: str) -> bool:
        """Record one property; ``what`` says what held (or did not)."""
        if ok:
            self.checks.append(what)
        else:
            self.held = False
            self.failures.append(what)
        return ok


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table of the rows."""
    lines = [
        "| scenario | backend | tried | s | held | good clients: games, NUMBER p50/p99/max ms |",
        "|---|---|---|---:|---|---|",
    ]
    for r in rows:
        held = "yes" if r.held else "NO: " + "; ".join(r.failures)
        lines.append(
            f"| {r.scenario} | {r.backend} | {r.tried} | {r.seconds:.1f} | {held} | {r.latency} |"
        )
    return "\n".join(lines)


# -- the server under test ----------------------------------------------------------

_SERVING = re.compile(rb"serving on [^ ]+:(\d+)")


class Server:
    """``python -m guessgame serve`` in a subprocess, its log in a file.

    ``nofile`` lowers the subprocess's file-descriptor limit (``ulimit -n``).
    """

    def __init__(
        self,
        backend: str,
        workdir: Path,
        *args: str,
        port: int = 0,
        nofile: int | None = None,
        name: str = "server",
    ) -> None:
        self.backend = backend
        self.db = workdir / f"{name}.sqlite3"
        self.log_path = workdir / f"{name}.log"
        self.args = args
        self.nofile = nofile
        self._log = self.log_path.open("ab")
        self.proc = self._spawn(port)
        self.port = self._wait_for_port()
        self.address = (HOST, self.port)

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        nofile = self.nofile

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        argv = [sys.executable, "-m", "guessgame", "serve", "--host", HOST, "--port", str(port)]
        argv += ["--backend", self.backend, "--db", str(self.db), *self.args]
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            preexec_fn=limit,
            cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + 20
        start = self.log_path.stat().st_size
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as f:
                f.seek(start)
                match = _SERVING.search(f.read())
            if match:
                return int(match.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"server did not start: {self.log()[-2000:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_kb(self) -> int:
        """Resident set size, from /proc/PID/status."""
        text = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", text)
        return int(match.group(1)) if match else 0

    def fds(self) -> int:
        """Open file descriptors, from /proc/PID/fd."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def signal(self, signum: int) -> None:
        if self.alive():
            self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    def stop(self) -> int | None:
        """SIGTERM, the exit status (None if it hung and had to be killed)."""
        self.signal(signal.SIGTERM)
        rc = self.wait()
        self.kill()
        return rc


def check_log(row: Row, server: Server) -> None:
    text = server.log()
    row.check("Traceback" not in text, "no traceback in the server log")


def settle(server: Server, fds: int, timeout: float = 6.0) -> int:
    """Wait until the server's descriptors fall to ``fds`` (lingering
    connections close within a second or two); the count at the end."""
    deadline = time.monotonic() + timeout
    now = server.fds()
    while now > fds and time.monotonic() < deadline:
        time.sleep(0.1)
        now = server.fds()
    return now


# -- well-behaved clients -------------------------------------------------------------


class GoodClient:
    """Plays games on one connection in a loop, timing every NUMBER.

    Each game has its own lower bound, so that the store can be searched for
    it. After a win it sends ``CLEAR`` and ``NUMBER`` and waits for
    ``ERROR no-game``: from then on the game is over for sure, and must be
    in the store (``confirmed``). ``started`` holds every game the server
    answered a NUMBER of.
    """

    def __init__(self, address: tuple[str, int], index: int, pause: float = 0.002) -> None:
        self.address = address
        self.index = index
        self.pause = pause
        self.latencies: list[float] = []
        self.games = 0
        self.errors: list[str] = []
        self.started: set[int] = set()
        self.confirmed: dict[int, float] = {}
        self.stop_event = threading.Event()
        self.cut_off = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> GoodClient:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(IO_TIMEOUT * 2)

    def _run(self) -> None:
        rng = random.Random(self.index)
        try:
            sock = socket.create_connection(self.address, timeout=IO_TIMEOUT)
        except OSError as exc:
            self.errors.append(f"connect: {exc}")
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        try:
            game = 0
            while not self.stop_event.is_set():
                lower = self.index * 10**9 + game * 1000
                game += 1
                self._play(sock, reader, lower, lower + 999, rng.randint(lower, lower + 999))
                time.sleep(self.pause)
        except (OSError, EOFError) as exc:
            self.cut_off = True
            if not self.stop_event.is_set():
                self.errors.append(f"connection lost: {exc!r}")
        except AssertionError as exc:
            self.errors.append(str(exc))
        finally:
            reader.close()
            sock.close()

    def _play(
        self, sock: socket.socket, reader: object, lower: int, upper: int, secret: int
    ) -> None:
        judge = Judge(secret)
        sock.sendall(b"PARAMS %d %d\n" % (lower, upper))
        seen: set[int] = set()
        while not judge.found:
            t0 = time.perf_counter()
            sock.sendall(b"NUMBER\n")
            line = _readline(reader)
            self.latencies.append(time.perf_counter() - t0)
            guess = int(line)
            assert lower <= guess <= upper and guess not in seen, f"bad guess {line!r}"
            seen.add(guess)
            self.started.add(lower)
            sock.sendall(f"REPORT {judge.judge(guess).token()}\n".encode())
        sock.sendall(b"CLEAR\nNUMBER\n")
        line = _readline(reader)
        assert line.startswith(b"ERROR no-game"), f"unexpected {line!r}"
        self.confirmed[lower] = time.time()
        self.games += 1


def _readline(reader: object) -> bytes:
    line: bytes = reader.readline(4096)  # type: ignore[attr-defined]
    if not line.endswith(b"\n"):
        raise EOFError(f"connection closed ({line!r})")
    return line.rstrip(b"\r\n")


@contextlib.contextmanager
def good_clients(
    row: Row, address: tuple[str, int], count: int, p99_ms: float | None = None
) -> Iterator[list[GoodClient]]:
    """Well-behaved players for the duration of a block; their games and
    latency go into ``row``, and every one of them must have kept playing
    (with a NUMBER round trip's 99th percentile under ``p99_ms``, if given)."""
    clients = [GoodClient(address, i + 1).start() for i in range(count)]
    time.sleep(0.2)
    before = [c.games for c in clients]
    try:
        yield clients
    finally:
        time.sleep(0.2)
        for c in clients:
            c.stop()
        latencies = sorted(x for c in clients for x in c.latencies)
        games = sum(c.games for c in clients)
        row.latency = f"{games}, {_ms(latencies, 0.5)}/{_ms(latencies, 0.99)}/{_ms(latencies, 1)}"
        errors = [e for c in clients for e in c.errors]
        row.check(not errors, f"good clients: no errors {errors[:2]}")
        row.check(
            all(c.games > b for c, b in zip(clients, before, strict=True)),
            "good clients kept finishing games",
        )
        if p99_ms is not None and latencies:
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000
            row.check(p99 < p99_ms, f"good clients' NUMBER p99 {p99:.1f} ms (bound {p99_ms:g})")


def run_scenario(
    row: Row,
    server: Server,
    attack: Callable[[], None],
    players: int,
    p99_ms: float | None = None,
) -> None:
    """One scenario into its row, beside ``players`` good clients (none:
    alone): a scenario that raises fails its row, not the run; then the
    server must still be alive and its log clean."""
    started = time.monotonic()
    try:
        beside = (
            good_clients(row, server.address, players, p99_ms)
            if players
            else contextlib.nullcontext()
        )
        with beside:
            attack()
    except Exception as exc:  # a scenario that breaks is a failure, not a crash
        row.check(False, f"scenario raised {exc!r}")
    row.seconds = time.monotonic() - started
    row.check(server.alive(), "server alive")
    check_log(row, server)


def _ms(sorted_values: list[float], q: float) -> str:
    if not sorted_values:
        return "-"
    i = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return f"{sorted_values[i] * 1000:.1f}"


# -- hostile clients ------------------------------------------------------------------


def connect(address: tuple[str, int], timeout: float = IO_TIMEOUT) -> socket.socket:
    sock = socket.create_connection(address, timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_all(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything until EOF or a reset (or the timeout)."""
    data = b""
    try:
        while len(data) < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def slowloris(row: Row, address: tuple[str, int], size: Size, idle_timeout: float) -> None:
    """Byte-at-a-time senders of a real game, and senders that stall mid-line."""
    script = b"PARAMS 1 100\nNUMBER\n"
    players = [connect(address) for _ in range(size.slowloris)]
    stallers = [connect(address) for _ in range(size.slowloris)]
    for s in stallers:
        s.sendall(b"PARA")
    for i in range(len(script)):
        for s in players:
            s.sendall(script[i : i + 1])
        time.sleep(size.slowloris_delay)
    answered = 0
    for s in players:
        line = s.makefile("rb").readline()
        answered += line.rstrip().isdigit() and 1 <= int(line) <= 100
        s.close()
    row.check(answered == len(players), f"{answered}/{len(players)} byte-at-a-time games answered")
    deadline = time.monotonic() + idle_timeout + 5
    closed = 0
    for s in stallers:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        closed += read_all(s) == b""
        s.close()
    row.check(closed == len(stallers), f"{closed}/{len(stallers)} stalled senders closed when idle")


def pipeliners(row: Row, server: Server, size: Size) -> None:
    """Clients that send thousands of NUMBER lines and never read a reply."""
    rss_before = server.rss_kb()
    socks = []
    sent_lines = 0
    for _ in range(size.pipeliners):
        s = connect(server.address, timeout=1.0)
        s.sendall(b"PARAMS 1 1000000000\n")
        chunk = b"NUMBER\n" * 1000
        for _ in range(size.pipeline_lines // 1000):
            try:
                s.sendall(chunk)
            except TimeoutError:
                break  # the server stopped reading: the point of the exercise
            sent_lines += 1000
        socks.append(s)
    time.sleep(1.0)
    growth_mb = (server.rss_kb() - rss_before) / 1024
    row.tried = f"{size.pipeliners} clients x {size.pipeline_lines} NUMBER lines, never read"
    row.check(server.alive(), "server alive")
    # What each connection holds is bounded, however many lines it sends.
    bound = FLOOD_GROWTH_MB + size.pipeliners * PER_CONNECTION_KB / 1024
    row.check(
        growth_mb < bound,
        f"server RSS grew {growth_mb:.1f} MB for {sent_lines} lines (bound {bound:.0f} MB)",
    )
    for s in socks:
        reset(s)
    row.checks.append(f"{sent_lines} lines accepted before the server stopped reading")


def half_closers(row: Row, address: tuple[str, int], size: Size) -> None:
    """Half-close (FIN) or reset (RST) in the middle of a line."""
    replies = 0
    eofs = 0
    n = size.half_closers
    for i in range(n):
        s = connect(address)
        s.sendall(b"PARAMS 1 10\nNUMBER\nREPO")
        if i % 2:
            reset(s)
            continue
        s.shutdown(socket.SHUT_WR)
        data = read_all(s)
        replies += data[:-1].isdigit() and data.endswith(b"\n")
        eofs += 1
        s.close()
    half = (n + 1) // 2
    row.check(replies == half, f"{replies}/{half} half-closed clients got their reply and EOF")


def huge_lines(row: Row, address: tuple[str, int], size: Size) -> None:
    """Lines of megabytes: answered ``line-too-long`` and closed."""
    told = 0
    for _ in range(size.huge_lines):
        s = connect(address)
        try:
            s.sendall(b"PARAMS 1 " + b"7" * size.huge_line_bytes + b"\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        told += read_all(s).startswith(b"ERROR line-too-long")
        s.close()
    row.check(told == size.huge_lines, f"{told}/{size.huge_lines} told line-too-long and closed")


def garbage(row: Row, address: tuple[str, int], size: Size) -> None:
    """Random bytes: nothing but ERROR lines comes back."""
    rng = random.Random(61)
    only_errors = 0
    for _ in range(size.garbage):
        s = connect(address)
        blob = rng.randbytes(size.garbage_bytes)
        try:
            s.sendall(blob)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        lines = read_all(s).split(b"\n")
        only_errors += lines.pop() == b"" and all(x.startswith(b"ERROR ") for x in lines)
        s.close()
    row.check(only_errors == size.garbage, f"{only_errors}/{size.garbage} got only ERROR lines")


def cycles(row: Row, server: Server, size: Size) -> None:
    """Thousands of connects and disconnects: plain, mid-game, by reset."""
    fds = server.fds()
    failed = 0
    for i in range(size.cycles):
        try:
            s = connect(server.address)
            if i % 3 == 1:
                s.sendall(b"PARAMS 1 9\nNUMBER\n")
            if i % 3 == 2:
                reset(s)
            else:
                s.close()
        except OSError:
            failed += 1
    row.check(failed == 0, f"{size.cycles - failed}/{size.cycles} connects accepted")
    now = settle(server, fds)
    row.check(now <= fds, f"server descriptors back to {fds} (now {now})")


def over_max_connections(row: Row, server: Server, size: Size, held_by_others: int) -> None:
    """More connections than --max-connections: the rest hear ``busy``;
    once they leave, the server serves again."""
    total = size.max_connections + size.over_max
    socks = [connect(server.address) for _ in range(total)]
    served = busy = other = 0
    for s in socks:
        s.sendall(b"NUMBER\n")
    for s in socks:
        line = s.makefile("rb").readline()
        if line.startswith(b"ERROR no-game"):
            served += 1
        elif line.startswith(b"ERROR busy"):
            busy += 1
        else:
            other += 1
    room = size.max_connections - held_by_others
    row.check(other == 0, f"every connection served or told busy ({other} neither)")
    row.check(served <= room, f"{served} served (room for {room})")
    row.check(busy >= total - room, f"{busy} told busy")
    for s in socks:
        s.close()
    time.sleep(1.5)
    row.check(play_one(server.address), "a new client plays once load fell")


def play_one(address: tuple[str, int], secret: int = 42) -> bool:
    """One whole game on a fresh connection."""
    try:
        client = GoodClient(address, 999)
        with connect(address) as s, s.makefile("rb") as reader:
            client._play(s, reader, 1, 100, secret)
        return client.games == 1
    except (OSError, EOFError, AssertionError, ValueError):
        return False


# -- limits: what one client can make the server hold, and do to others ------------------


def floods(kind: str, port: int, seconds: float, count: int = 1) -> list[dict[str, int]]:
    """``count`` flooding clients of ``kind`` (reliability/flood.py), each in
    a process of its own, for ``seconds``; what each sent and read."""
    import json

    procs = [
        subprocess.Popen(
            [sys.executable, str(FLOOD), kind, str(port), str(seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"flood {kind} failed: {err.decode(errors='replace')[-300:]}")
        results.append(json.loads(out))
    return results


def _mb(total: int) -> str:
    return f"{total / 2**20:.0f} MB"


def one_game_flood(row: Row, server: Server, kind: str, size: Size) -> None:
    """One connection, one game, guesses asked for as fast as it reads them."""
    rss_before = server.rss_kb()
    (result,) = floods(kind, server.port, size.flood_seconds)
    growth = (server.rss_kb() - rss_before) / 1024
    row.check(server.alive(), "server alive")
    row.check(
        growth < FLOOD_GROWTH_MB,
        f"RSS {rss_before / 1024:.1f} -> {rss_before / 1024 + growth:.1f} MB"
        f" after {_mb(result['sent'])} of {kind} lines (bound +{FLOOD_GROWTH_MB:g} MB)",
    )


def full_games(row: Row, server: Server, count: int) -> None:
    """``count`` connections, each holding a game of 1000 guesses (the
    default --max-guesses), none reported: the most a game can hold."""
    rss_before = server.rss_kb()
    socks = []
    script = b"PARAMS 0 9223372036854775806\n" + b"NUMBER\n" * 1001
    refused = 0
    try:
        for _ in range(count):
            s = connect(server.address)
            s.sendall(script)
            lines = b""
            while lines.count(b"\n") < 1001:
                chunk = s.recv(1 << 16)
                if not chunk:
                    break
                lines += chunk
            refused += not lines.endswith(b"\n") or not lines.split(b"\n")[-2].startswith(
                b"ERROR too-many-guesses"
            )
            socks.append(s)
        time.sleep(0.5)
        growth_kb = server.rss_kb() - rss_before
        row.check(refused == 0, f"{count - refused}/{count} games held 1000 guesses, then refused")
        row.check(
            growth_kb < count * PER_CONNECTION_KB,
            f"RSS {rss_before / 1024:.1f} -> {(rss_before + growth_kb) / 1024:.1f} MB:"
            f" {growth_kb / count:.0f} KB a connection (bound {PER_CONNECTION_KB} KB)",
        )
    finally:
        for s in socks:
            s.close()


def flood_next_to_players(row: Row, server: Server, kind: str, size: Size) -> None:
    """Three flooding connections; the good clients' round trips are checked
    by the caller (good_clients with a p99 bound)."""
    rss_before = server.rss_kb()
    results = floods(kind, server.port, size.flood_seconds, count=3)
    growth = (server.rss_kb() - rss_before) / 1024
    sent = sum(r["sent"] for r in results)
    read = sum(r["read"] for r in results)
    row.checks.append(f"flooders sent {_mb(sent)}, read {_mb(read)}")
    row.check(server.alive(), "server alive")
    # Games that end as fast as these wait in the store's queue, bounded apart.
    bound = FLOOD_GROWTH_MB * 3 + (STORE_QUEUE_MB if kind == "valid" else 0)
    row.check(growth < bound, f"RSS grew {growth:.1f} MB (bound {bound:g} MB)")


def per_address(row: Row, server: Server, limit: int, proxied: bool) -> None:
    """More connections from one address than --max-per-address; with
    --proxy-protocol, the address of the header counts, not the balancer's."""

    def opened(source: str) -> socket.socket:
        s = connect(server.address)
        if proxied:
            s.sendall(f"PROXY TCP4 {source} 127.0.0.1 40000 {server.port}\r\n".encode())
        s.sendall(b"NUMBER\n")
        return s

    def verdicts(socks: list[socket.socket]) -> tuple[int, int]:
        served = busy = 0
        for s in socks:
            line = s.makefile("rb").readline()
            served += line.startswith(b"ERROR no-game")
            busy += line.startswith(b"ERROR busy")
        return served, busy

    one = [opened("198.51.100.7") for _ in range(limit + 3)]
    served, busy = verdicts(one)
    row.check(served == limit and busy == 3, f"one address: {served} served, {busy} busy")
    if proxied:
        # Through one balancer, other players are other addresses.
        others = [opened(f"198.51.100.{i}") for i in range(20, 20 + limit)]
        served, busy = verdicts(others)
        row.check(served == limit and busy == 0, f"other addresses: {served} served")
        for s in others:
            s.close()
    for s in one:
        s.close()
    time.sleep(1.5)  # the refused ones linger for a second
    again = [opened("198.51.100.7") for _ in range(limit)]
    served, _ = verdicts(again)
    row.check(served == limit, f"once they left: {served}/{limit} served again")
    for s in again:
        s.close()


def run_limits(backend: str, size: Size, workdir: Path) -> list[Row]:
    """No client can hurt the others: bounded memory (one game's guesses,
    --max-guesses; full games on many connections), fair turns (good clients'
    round trips next to floods of valid lines, garbage, and a burst never
    read) and the per-address limit, with and without the PROXY protocol."""
    # (scenario, what was tried, the attack, the good clients' p99 bound or
    # None, whether good clients play beside it)
    Scenario = tuple[str, str, Callable[[Row, Server], None], float | None, bool]
    limit = 4
    per_address_tried = f"{limit + 3} connections from one address, --max-per-address {limit}"
    servers: list[tuple[tuple[str, ...], list[Scenario]]] = []
    for strategy, kind in (("smart", "number"), ("random", "number-report")):
        servers.append(
            (
                ("--strategy", strategy),
                [
                    (
                        f"one game, {kind} flood",
                        f"1 connection, {size.flood_seconds:g} s, --strategy {strategy}",
                        lambda r, srv, kind=kind: one_game_flood(r, srv, kind, size),
                        None,
                        True,
                    ),
                    (
                        "full games",
                        f"{size.full_games} connections x 1000 unreported guesses,"
                        f" --strategy {strategy}",
                        lambda r, srv: full_games(r, srv, size.full_games),
                        None,
                        False,
                    ),
                ],
            )
        )
    servers.append(
        (
            (),
            [
                (
                    f"3 x {kind} flood",
                    f"3 connections, {size.flood_seconds:g} s: {tried}",
                    lambda r, srv, kind=kind: flood_next_to_players(r, srv, kind, size),
                    FLOOD_P99_MS,
                    True,
                )
                for kind, tried in (
                    ("valid", "valid lines of games, read by another thread"),
                    ("garbage", "two-byte lines that are not commands, replies read"),
                    ("burst", "100 MB of NUMBER lines, never read"),
                )
            ],
        )
    )
    for proxied in (False, True):
        servers.append(
            (
                ("--max-per-address", str(limit), *(("--proxy-protocol",) if proxied else ())),
                [
                    (
                        "--max-per-address" + (" (PROXY)" if proxied else ""),
                        per_address_tried + (", addresses from PROXY headers" if proxied else ""),
                        lambda r, srv, proxied=proxied: per_address(r, srv, limit, proxied),
                        None,
                        False,  # good clients would take slots of the address
                    )
                ],
            )
        )

    rows: list[Row] = []
    for i, (args, scenarios) in enumerate(servers):
        try:
            nofile = size.full_games + size.good_clients + FD_RESERVE + 64
            # A log and a database of its own: a traceback fails the rows of
            # the server that wrote it, not every later one.
            server = Server(backend, workdir, *args, nofile=nofile, name=f"limits-{backend}-{i}")
        except RuntimeError as exc:  # e.g. an option this server does not know
            for name, tried, *_ in scenarios:
                row = Row(name, backend, tried)
                row.check(False, str(exc).splitlines()[-1])
                rows.append(row)
            continue
        try:
            for name, tried, attack, p99_ms, players in scenarios:
                row = Row(name, backend, tried)
                clients = size.good_clients if players else 0
                run_scenario(row, server, functools.partial(attack, row, server), clients, p99_ms)
                rows.append(row)
        finally:
            rc = server.stop()
        rows[-1].check(rc == 0, f"SIGTERM afterwards: exit {rc}")
    return rows


# -- scenario groups -------------------------------------------------------------------


def run_hostile(backend: str, size: Size, workdir: Path) -> list[Row]:
    """One server (fd limit lowered, small --max-connections, short idle
    timeout), good clients playing, and every kind of hostile client in turn."""
    # Short, but longer than a byte-at-a-time line takes to arrive.
    idle = round(2.0 + 20 * size.slowloris_delay, 1)
    server = Server(
        backend,
        workdir,
        "--max-connections",
        str(size.max_connections),
        "--idle-timeout",
        str(idle),
        nofile=max(size.nofile, size.max_connections + FD_RESERVE),
        name=f"hostile-{backend}",
    )
    rows: list[Row] = []
    scenarios: list[tuple[str, str, Callable[[Row], None]]] = [
        (
            "slowloris",
            f"{size.slowloris} byte-at-a-time games ({size.slowloris_delay * 1000:.0f} ms/byte)"
            f" + {size.slowloris} stalled mid-line",
            lambda r: slowloris(r, server.address, size, idle),
        ),
        ("pipeline, never read", "", lambda r: pipeliners(r, server, size)),
        (
            "half-close / reset mid-line",
            f"{size.half_closers} clients, half FIN, half RST (SO_LINGER 0)",
            lambda r: half_closers(r, server.address, size),
        ),
        (
            "huge lines",
            f"{size.huge_lines} lines of {size.huge_line_bytes // 2**20} MB",
            lambda r: huge_lines(r, server.address, size),
        ),
        (
            "binary garbage",
            f"{size.garbage} clients x {size.garbage_bytes // 1024} KB random bytes",
            lambda r: garbage(r, server.address, size),
        ),
        (
            "connect/disconnect",
            f"{size.cycles} cycles (plain, mid-game, RST)",
            lambda r: cycles(r, server, size),
        ),
        (
            "over --max-connections",
            f"{size.max_connections + size.over_max} connections,"
            f" --max-connections {size.max_connections}",
            lambda r: over_max_connections(r, server, size, size.good_clients),
        ),
    ]
    try:
        for name, tried, attack in scenarios:
            row = Row(name, backend, tried)
            run_scenario(row, server, functools.partial(attack, row), size.good_clients)
            rows.append(row)
            if not server.alive():
                break
    finally:
        rc = server.stop()
    rows[-1].check(rc == 0, f"SIGTERM afterwards: exit {rc}")
    check_log(rows[-1], server)
    return rows


def run_nofile(backend: str, size: Size, workdir: Path) -> list[Row]:
    """More connections than the server has file descriptors (``ulimit -n``
    lowered): it refuses or makes them wait, never crashes, and serves the
    waiting ones once descriptors are free again."""
    row = Row(
        "over the fd limit",
        backend,
        f"{size.over_nofile} connections, ulimit -n {size.nofile}",
    )
    server = Server(backend, workdir, nofile=size.nofile, name=f"nofile-{backend}")
    started = time.monotonic()
    try:
        with good_clients(row, server.address, size.good_clients):
            socks = []
            for _ in range(size.over_nofile):
                try:
                    s = connect(server.address, timeout=3.0)
                    s.sendall(b"NUMBER\n")
                    socks.append(s)
                except OSError:
                    pass
            served, waiting = [], []
            busy = silent = 0
            readable: set[socket.socket] = set()
            deadline = time.monotonic() + 2.0
            while len(readable) < len(socks) and time.monotonic() < deadline:
                rest = [s for s in socks if s not in readable]
                ready, _, _ = select.select(rest, [], [], max(0.0, deadline - time.monotonic()))
                readable.update(ready)
            for s in socks:
                if s not in readable:
                    waiting.append(s)
                    continue
                try:
                    line = s.makefile("rb").readline()
                except OSError:
                    line = b""
                if line.startswith(b"ERROR no-game"):
                    served.append(s)
                    continue
                if line.startswith(b"ERROR busy"):
                    busy += 1
                else:
                    silent += 1
                s.close()
            row.check(server.alive(), "server alive at the limit")
            row.checks.append(f"{len(served)} served, {len(waiting)} waited, {busy} told busy")
            row.check(silent == 0, f"{silent} closed without a word")
            row.check(bool(served), "some connections served")
            for s in served:
                s.close()
            answered = 0
            for s in waiting:
                s.settimeout(IO_TIMEOUT)
                try:
                    line = s.makefile("rb").readline()
                except OSError:
                    line = b""
                answered += line.startswith((b"ERROR no-game", b"ERROR busy"))
                s.close()
            row.check(
                answered == len(waiting),
                f"{answered}/{len(waiting)} waiting ones served or told busy later",
            )
        time.sleep(1.0)
        row.check(play_one(server.address), "a new client plays once load fell")
    except Exception as exc:
        row.check(False, f"scenario raised {exc!r}")
    finally:
        row.check(server.alive(), "server alive")
        rc = server.stop()
    row.seconds = time.monotonic() - started
    row.check(rc == 0, f"SIGTERM afterwards: exit {rc}")
    check_log(row, server)
    return [row]


def mixed_round(server: Server, size: Size, rng: random.Random) -> None:
    """One of each kind of hostile client, small."""
    address = server.address
    s = connect(address)
    s.sendall(b"PARAMS 1 5\nNUM")
    reset(s)
    s = connect(address)
    s.sendall(b"PARAMS 1 10\nNUMBER\nREP")
    s.shutdown(socket.SHUT_WR)
    read_all(s)
    s.close()
    s = connect(address)
    with contextlib.suppress(OSError):
        s.sendall(rng.randbytes(8192))
    s.shutdown(socket.SHUT_WR)
    read_all(s)
    s.close()
    s = connect(address)
    with contextlib.suppress(OSError):
        s.sendall(b"X" * 200_000)
    read_all(s)
    s.close()
    s = connect(address, timeout=0.5)
    with contextlib.suppress(OSError):
        s.sendall(b"PARAMS 1 1000000\n" + b"NUMBER\n" * 20_000)
    reset(s)
    for _ in range(20):
        connect(address).close()


def run_soak(backend: str, size: Size, workdir: Path) -> list[Row]:
    """Mixed load for a bounded time: descriptors and memory must come back."""
    row = Row("soak", backend, f"mixed hostile load + good clients, {size.soak_seconds:g} s")
    server = Server(backend, workdir, name=f"soak-{backend}")
    rng = random.Random(7)
    started = time.monotonic()
    try:
        # Warm up until the working set is reached (imports, caches, the
        # store's statements, the allocator's arenas: RSS levels off within
        # a second or two), then take the baseline.
        with good_clients(Row("warm-up", backend, ""), server.address, size.good_clients):
            deadline = time.monotonic() + max(2.0, size.soak_seconds / 5)
            while time.monotonic() < deadline:
                mixed_round(server, size, rng)
        base_fds = settle(server, 0, timeout=3.0)
        base_rss = server.rss_kb()
        rounds = 0
        with good_clients(row, server.address, size.good_clients):
            deadline = time.monotonic() + size.soak_seconds
            while time.monotonic() < deadline:
                mixed_round(server, size, rng)
                rounds += 1
        fds = settle(server, base_fds)
        time.sleep(0.5)
        rss = server.rss_kb()
        growth = (rss - base_rss) / 1024
        row.tried += f" ({rounds} rounds of 6 hostile kinds)"
        row.check(fds <= base_fds, f"descriptors {base_fds} -> {fds}")
        row.check(
            growth <= max(8.0, base_rss / 1024 * 0.15),
            f"RSS {base_rss / 1024:.1f} -> {rss / 1024:.1f} MB",
        )
    except Exception as exc:
        row.check(False, f"scenario raised {exc!r}")
    finally:
        row.check(server.alive(), "server alive")
        rc = server.stop()
    row.seconds = time.monotonic() - started
    row.check(rc == 0, f"SIGTERM afterwards: exit {rc}")
    check_log(row, server)
    return [row]


def stored_lowers(db: Path) -> tuple[set[int], str]:
    """Lower bounds of the stored games, and the integrity check's verdict."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
        lowers = {int(x) for (x,) in conn.execute("SELECT lower FROM games")}
        return lowers, str(verdict)
    finally:
        conn.close()


def run_stops(backend: str, size: Size, workdir: Path) -> list[Row]:
    """SIGTERM and SIGKILL under load, and a restart on the same port at once."""
    rows = []
    for signum in (signal.SIGTERM, signal.SIGKILL):
        name = signal.Signals(signum).name
        row = Row(
            f"{name} under load",
            backend,
            f"{size.stop_clients} clients playing for {size.stop_load_seconds:g} s, then {name};"
            " restart on the same port",
        )
        started = time.monotonic()
        server = Server(backend, workdir, name=f"{name.lower()}-{backend}")
        try:
            clients = [
                GoodClient(server.address, i + 1, pause=0.0).start()
                for i in range(size.stop_clients)
            ]
            time.sleep(size.stop_load_seconds)
            killed_at = time.time()
            server.signal(signum)
            rc = server.wait()
            for c in clients:
                c.stop()
            server.kill()
            lowers, verdict = stored_lowers(server.db)
            games = sum(c.games for c in clients)
            row.check(verdict == "ok", f"database integrity {verdict}")
            if signum == signal.SIGTERM:
                row.check(rc == 0, f"exit status {rc}")
                started_games = set().union(*(c.started for c in clients))
                lost = started_games - lowers
                row.check(not lost, f"{len(started_games)} games started, {len(lost)} not stored")
            else:
                row.check(rc == -signal.SIGKILL, f"exit status {rc}")
                old = {
                    lower
                    for c in clients
                    for lower, at in c.confirmed.items()
                    if at < killed_at - 1.0
                }
                lost = old - lowers
                row.check(
                    not lost,
                    f"{len(old)} games over >1 s before the kill, {len(lost)} not stored",
                )
            row.latency = f"{games}, -"
            check_log(row, server)
            # The same port at once: nothing may hold it (TIME_WAIT included).
            again = Server(backend, workdir, port=server.port, name=f"{name.lower()}-{backend}")
            try:
                row.check(again.port == server.port, f"restarted on port {server.port} at once")
                row.check(play_one(again.address), "the restarted server plays")
            finally:
                rc2 = again.stop()
            row.check(rc2 == 0, f"restarted server: SIGTERM exit {rc2}")
            check_log(row, again)
        except Exception as exc:
            row.check(False, f"scenario raised {exc!r}")
        finally:
            server.kill()
        row.seconds = time.monotonic() - started
        rows.append(row)
    return rows


GROUPS: dict[str, Callable[[str, Size, Path], list[Row]]] = {
    "hostile": run_hostile,
    "limits": run_limits,
    "nofile": run_nofile,
    "soak": run_soak,
    "stops": run_stops,
}


def run(
    backends: Sequence[str],
    size: Size,
    groups: Sequence[str] = tuple(GROUPS),
    workdir: Path | None = None,
    progress: Callable[[Row], None] | None = None,
) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="guessgame-reliability-") as tmp:
        where = workdir or Path(tmp)
        for group in groups:
            for backend in backends:
                for row in GROUPS[group](backend, size, where):
                    rows.append(row)
                    if progress is not None:
                        progress(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="short")
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--only", help=f"comma-separated groups of {', '.join(GROUPS)}")
    parser.add_argument("--soak-seconds", type=float, help="override the soak's duration")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every check")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    if args.soak_seconds is not None:
        size = Size(**{**size.__dict__, "soak_seconds": args.soak_seconds})
    groups = args.only.split(",") if args.only else list(GROUPS)
    for g in groups:
        if g not in GROUPS:
            parser.error(f"unknown group {g!r}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(4 * size.over_nofile, size.full_games) + 1024
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))

    def progress(row: Row) -> None:
        mark = "ok  " if row.held else "FAIL"
        print(f"{mark} {row.scenario} [{row.backend}] {row.seconds:.1f} s", file=sys.stderr)
        if args.verbose or not row.held:
            for c in row.checks:
                print(f"       held: {c}", file=sys.stderr)
            for f in row.failures:
                print(f"       FAILED: {f}", file=sys.stderr)

    started = time.monotonic()
    rows = run(args.backend or BACKENDS, size, groups, progress=progress)
    print(format_table(rows))
    print(f"\n{sum(r.held for r in rows)}/{len(rows)} held; {time.monotonic() - started:.0f} s")
    return 0 if all(r.held for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
