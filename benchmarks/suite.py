"""The benchmark suite: every server side by side under ``guessgame bench``.

Starts each selected server as a subprocess on a free loopback port, then,
for every repetition and connection count, runs ``guessgame bench --json``
against each server in turn, so that the servers share whatever the machine
is doing at the time. Reports medians over the repetitions, the ratio of
round trips per second to a baseline (the seed's asyncio server when it is
available, the median of each repetition's ratio), the server's CPU per
round trip and its peak resident memory during the run. A server is its
process and every process under it (a store's writer process, workers):
its CPU is utime + stime from ``/proc/PID/stat`` of each, every thread
included, around the run, connection setup included; its memory the sum
of their ``VmRSS`` (``/proc/PID/status``), sampled during the run.

    python benchmarks/suite.py --markdown
    python benchmarks/suite.py --servers ours,minimal-uvloop --connections 64 \\
        --duration 3 --reps 1 --json-out results.json --plot results.png

Linux only (``/proc``). At 10,000 connections only ``--playing-at-10000``
(default 100) of them play; the rest are held open and idle.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proctree import cpu_seconds, own_cpu, rss_mib

ROOT = Path(__file__).resolve().parents[1]
#: The seed's runnable servers, when this checkout sits beside them.
PEERS = ROOT.parent / "shared" / "peers"
MINIMAL = Path(__file__).resolve().parent / "minimal_server.py"

#: Seconds a server gets to accept its first connection.
START_TIMEOUT = 20.0
#: Seconds between samples of a server's memory during a run.
RSS_INTERVAL = 0.2

Argv = Callable[[int, Path], list[str]]


def _ours(*extra: str, db: bool = True) -> Argv:
    def argv(port: int, tmp: Path) -> list[str]:
        store = ["--db", str(tmp / f"games-{port}.db")] if db else []
        return [sys.executable, "-m", "guessgame", "serve", "--port", str(port), *store, *extra]

    return argv


def _minimal(loop: str) -> Argv:
    def argv(port: int, tmp: Path) -> list[str]:
        return [sys.executable, str(MINIMAL), "--port", str(port), "--loop", loop]

    return argv


def _seed(name: str) -> Argv:
    def argv(port: int, tmp: Path) -> list[str]:
        return [sys.executable, str(PEERS / name), "server", "127.0.0.1", str(port)]

    return argv


#: Every server the suite knows: name -> (description, command line).
SERVERS: dict[str, tuple[str, Argv]] = {
    "seed-async": ("the seed's asyncio server", _seed("seed_async.py")),
    "seed-threaded": ("the seed's threaded server", _seed("seed_threaded.py")),
    "ours": ("guessgame serve, defaults (uvloop, SQLite store)", _ours()),
    "ours-loop-asyncio": ("guessgame serve --loop asyncio", _ours("--loop", "asyncio")),
    "ours-no-db": ("guessgame serve --no-db", _ours("--no-db", db=False)),
    "ours-threads": ("guessgame serve --backend threads", _ours("--backend", "threads")),
    "minimal-uvloop": ("benchmarks/minimal_server.py on uvloop", _minimal("uvloop")),
    "minimal-asyncio": ("benchmarks/minimal_server.py on asyncio", _minimal("asyncio")),
}


#: The minimal server each server's CPU per round trip is compared with:
#: the one on the same event loop, plain asyncio for those named here,
#: uvloop for the others (the threaded servers included, which run none).
CPU_BASELINE = {
    "ours-loop-asyncio": "minimal-asyncio",
    "minimal-asyncio": "minimal-asyncio",
    "seed-async": "minimal-asyncio",
}


def available_servers() -> list[str]:
    """The servers that can run here (the seed's only beside the checkout)."""
    return [n for n in SERVERS if not n.startswith("seed-") or PEERS.is_dir()]


# -- /proc -----------------------------------------------------------------------


class PeakRss:
    """Samples, in a thread, the VmRSS of a process and of the processes
    under it, summed; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            rss = rss_mib(self.pid)
            if rss is not None and (self.peak is None or rss > self.peak):
                self.peak = rss
            if self._stop.wait(RSS_INTERVAL):
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        rss = rss_mib(self.pid)  # once more, at the very end of the run
        if rss is not None and (self.peak is None or rss > self.peak):
            self.peak = rss


# -- servers ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningServer:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


def start_server(name: str, tmp: Path) -> RunningServer:
    port = free_port()
    log = tmp / f"{name}.log"
    argv = SERVERS[name][1](port, tmp)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    )
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env
        )
    server = RunningServer(name, port, proc, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}: {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return server
        except OSError:
            if time.monotonic() > deadline:
                stop_server(server)
                raise RuntimeError(f"{name} did not listen on port {port}") from None
            time.sleep(0.05)


def stop_server(server: RunningServer) -> None:
    proc = server.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running(names: Sequence[str], tmp: Path) -> Iterator[dict[str, RunningServer]]:
    servers: dict[str, RunningServer] = {}
    try:
        for name in names:
            servers[name] = start_server(name, tmp)
        yield servers
    finally:
        for server in servers.values():
            stop_server(server)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


# -- one measurement ------------------------------------------------------------------


@dataclass
class Run:
    server: str
    connections: int
    rep: int
    bench: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    server_cpu_us_per_round_trip: float | None = None
    #: The part of it spent in the processes under the server's own.
    children_cpu_us_per_round_trip: float | None = None
    server_rss_mib: float | None = None


def bench_once(server: RunningServer, connections: int, rep: int, opts: argparse.Namespace) -> Run:
    run = Run(server.name, connections, rep)
    argv = [
        sys.executable,
        "-m",
        "guessgame",
        "bench",
        "--port",
        str(server.port),
        "--connections",
        str(connections),
        "--duration",
        str(opts.duration),
        "--procs",
        str(min(opts.bench_procs, connections)),
        "--json",
    ]
    if connections >= 10_000:
        argv += ["--playing", str(min(opts.playing_at_10000, connections))]
    if server.proc.poll() is not None:
        run.failure = f"server exited with {server.proc.returncode}: {_tail(server.log)}"
        return run
    pid = server.proc.pid
    cpu0 = cpu_seconds(pid)
    own0 = own_cpu(pid, reaped=False)
    budget = opts.duration + 120 + connections / 100
    with PeakRss(pid) as rss:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=budget)
        except subprocess.TimeoutExpired:
            run.failure = f"bench did not finish in {budget:.0f} s"
            return run
    run.server_rss_mib = None if rss.peak is None else round(rss.peak, 1)
    cpu = cpu_seconds(pid) - cpu0 if server.proc.poll() is None else None
    own = own_cpu(pid, reaped=False) - own0
    if done.returncode not in (0, 1) or not done.stdout.strip():
        run.failure = (done.stderr.strip() or f"bench exited with {done.returncode}")[-300:]
        return run
    run.bench = json.loads(done.stdout)
    rts = run.bench.get("round_trips") or 0
    if cpu is not None and rts:
        run.server_cpu_us_per_round_trip = round(cpu / rts * 1e6, 2)
        run.children_cpu_us_per_round_trip = round((cpu - own) / rts * 1e6, 2)
    return run


# -- summary ---------------------------------------------------------------------------

COLUMNS = [
    ("server", "server"),
    ("connections", "conns"),
    ("round_trips_per_s", "round trips/s"),
    ("ratio", "× baseline"),
    ("games_per_s", "games/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("errors", "errors"),
    ("server_cpu_us_per_round_trip", "server CPU µs/rt"),
    ("cpu_ratio", "CPU × minimal"),
    ("server_rss_mib", "server RSS MiB"),
    ("client_cpu_us_per_round_trip", "bench CPU µs/rt"),
]


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: list[Run], baseline: str) -> list[dict[str, Any]]:
    """One row per server and connection count: medians over the repetitions."""
    rows: list[dict[str, Any]] = []
    keys: list[tuple[str, int]] = []
    for run in runs:
        if (run.server, run.connections) not in keys:
            keys.append((run.server, run.connections))
    for server, conns in keys:
        mine = [r for r in runs if r.server == server and r.connections == conns]
        ok = [r for r in mine if r.failure is None]
        lat = [r.bench.get("number_latency_ms", {}) for r in ok]
        rows.append(
            {
                "server": server,
                "connections": conns,
                "reps": len(ok),
                "failures": [r.failure for r in mine if r.failure is not None],
                "round_trips_per_s": _median([r.bench["round_trips_per_s"] for r in ok]),
                "games_per_s": _median([r.bench["games_per_s"] for r in ok]),
                "p50_ms": _median([x.get("p50") for x in lat]),
                "p99_ms": _median([x.get("p99") for x in lat]),
                "errors": sum(r.bench.get("errors", 0) for r in ok),
                "server_cpu_us_per_round_trip": _median(
                    [r.server_cpu_us_per_round_trip for r in ok]
                ),
                "children_cpu_us_per_round_trip": _median(
                    [r.children_cpu_us_per_round_trip for r in ok]
                ),
                "server_rss_mib": max((r.server_rss_mib or 0 for r in ok), default=None),
                "client_cpu_us_per_round_trip": _median(
                    [r.bench.get("client_cpu_us_per_round_trip") for r in ok]
                ),
            }
        )
    done = {(r.server, r.connections, r.rep): r for r in runs if r.failure is None}

    def per_rep_ratio(row: dict[str, Any], other: str, value: Callable[[Run], Any]) -> Any:
        """The median over the repetitions of the row's value over another
        server's in the same repetition (a run beside it, on the same load)."""
        ratios = []
        for (server, conns, rep), run in done.items():
            if server != row["server"] or conns != row["connections"]:
                continue
            them = done.get((other, conns, rep))
            if them is not None and value(run) and value(them):
                ratios.append(value(run) / value(them))
        median = _median(ratios)
        return None if median is None else round(median, 2)

    names = {r.server for r in runs}
    for row in rows:
        row["ratio"] = per_rep_ratio(row, baseline, lambda r: r.bench["round_trips_per_s"])
        cpu_base = CPU_BASELINE.get(row["server"], "minimal-uvloop")
        row["cpu_ratio"] = (
            per_rep_ratio(row, cpu_base, lambda r: r.server_cpu_us_per_round_trip)
            if cpu_base in names
            else None
        )
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    return str(value)


def format_table(rows: list[dict[str, Any]], markdown: bool) -> str:
    head = [title for _, title in COLUMNS]
    body = [[_cell(row[key]) for key, _ in COLUMNS] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
    else:
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
        lines += [
            "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) for cells in body
        ]
    for row in rows:
        for failure in row["failures"]:
            lines.append(f"{row['server']} @ {row['connections']}: FAILED: {failure}")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = list(dict.fromkeys(r["server"] for r in rows))
    counts = sorted({r["connections"] for r in rows})
    width = 0.8 / max(1, len(servers))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(counts) * max(1, len(servers)) / 3), 4.5))
    for i, server in enumerate(servers):
        rate = {
            r["connections"]: r["round_trips_per_s"] or 0 for r in rows if r["server"] == server
        }
        xs = [j + i * width for j in range(len(counts))]
        ax.bar(xs, [rate.get(c, 0) for c in counts], width, label=server)
    ax.set_xticks([j + width * (len(servers) - 1) / 2 for j in range(len(counts))])
    ax.set_xticklabels([f"{c:,} conns" for c in counts])
    ax.set_ylabel("round trips / s (median)")
    ax.set_title("guessgame bench: NUMBER round trips per second")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- main -------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"connection counts must be at least 1: {text!r}")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--servers",
        default=",".join(available_servers()),
        help=f"comma-separated subset of: {', '.join(SERVERS)}",
    )
    p.add_argument("--connections", type=_int_list, default=[1, 64, 1000, 10_000])
    p.add_argument("--duration", type=float, default=5.0, help="seconds of load per run")
    p.add_argument("--reps", type=int, default=3, help="repetitions; medians are reported")
    p.add_argument("--bench-procs", type=int, default=1, help="bench --procs")
    p.add_argument("--playing-at-10000", type=int, default=100, help="bench --playing at 10,000+")
    p.add_argument("--baseline", default="seed-async", help="server the ratios compare with")
    p.add_argument("--json-out", type=Path, help="write every run and the summary here")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--plot", type=Path, help="draw round trips/s to this PNG (matplotlib)")
    args = p.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in args.servers if s not in SERVERS]
    if unknown:
        p.error(f"unknown servers: {', '.join(unknown)} (known: {', '.join(SERVERS)})")
    missing = [s for s in args.servers if s.startswith("seed-") and not PEERS.is_dir()]
    if missing:
        p.error(f"{', '.join(missing)}: the seed's servers are not at {PEERS}")
    if args.reps < 1 or not args.duration > 0 or args.bench_procs < 1:
        p.error("--reps and --bench-procs must be at least 1, --duration positive")
    if args.baseline not in args.servers:
        args.baseline = args.servers[0]
    return args


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    limit = raise_nofile()  # the servers and bench inherit it
    for conns in args.connections:
        if conns + 100 > limit:
            print(
                f"warning: {conns} connections need more than the open-file limit "
                f"{limit} (ulimit -n) allows one process",
                file=sys.stderr,
            )
    runs: list[Run] = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="guessgame-suite-") as tmpdir:
        tmp = Path(tmpdir)
        for rep in range(args.reps):
            for conns in args.connections:
                for name in args.servers:
                    print(
                        f"rep {rep + 1}/{args.reps}  {conns:>6} conns  {name} ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    # One server at a time, started for its run and stopped
                    # after it: a server still tearing down 10,000 threads or
                    # connections would otherwise slow the next one's run.
                    with running([name], tmp) as servers:
                        runs.append(bench_once(servers[name], conns, rep, args))
                    time.sleep(1.0)
    rows = summarize(runs, args.baseline)
    print(f"baseline for the ratio: {args.baseline}", file=sys.stderr)
    sys.stdout.write(format_table(rows, args.markdown))
    if args.json_out:
        meta = {
            "started": started,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "duration_s": args.duration,
            "reps": args.reps,
            "connections": args.connections,
            "bench_procs": args.bench_procs,
            "baseline": args.baseline,
            "servers": {name: SERVERS[name][0] for name in args.servers},
        }
        runs_out = [run.__dict__ for run in runs]
        out = {"meta": meta, "summary": rows, "runs": runs_out}
        args.json_out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    if args.plot:
        plot(rows, args.plot)
    return 1 if any(row["failures"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
