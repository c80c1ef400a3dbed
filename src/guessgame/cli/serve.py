"""``guessgame serve``: run a server until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import logging
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

from ..loops import LOOPS, default_loop
from ..protocol import DEFAULT_MAX_GUESSES, DEFAULT_MAX_LINE, MIN_MAX_LINE
from ..server import (
    Backend,
    ServerConfig,
    ServerHub,
    describe_oserror,
    game_log,
    listen_socket,
)
from ..server_asyncio import AsyncioServer
from ..server_threads import ThreadedServer
from ..store import NullStore, Store, StoreError
from ..store import open_store as open_db_store
from ..strategies import DEFAULT_STRATEGY, STRATEGIES
from ..workers import ListenError, serve_workers
from ._common import (
    IO,
    ExitStatus,
    UserError,
    add_lang,
    at_least,
    non_negative_int,
    port_arg,
    positive_float,
    positive_int,
)

__all__ = ["add_parser", "run", "make_server"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="run a game server",
        description=(
            "Run a game server: it guesses, clients judge. Runs until SIGINT or "
            "SIGTERM, then stops accepting, gives games in flight a grace period, "
            "records them and exits 0."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port_arg, default=3333, help="TCP port (default 3333; 0: any)")
    p.add_argument(
        "--backend",
        choices=[b.value for b in Backend],
        default=Backend.ASYNCIO.value,
        help="asyncio: one event loop (default); threads: a thread per connection",
    )
    p.add_argument(
        "--strategy",
        choices=sorted(STRATEGIES),
        default=DEFAULT_STRATEGY,
        help="smart: uses the warmer/colder feedback (default); random: the seed's guesser",
    )
    db = p.add_mutually_exclusive_group()
    db.add_argument(
        "--db",
        metavar="PATH|URL",
        help="where to record every game: a SQLite file (default: games.sqlite3 in the "
        "user's data directory) or a postgresql://user@host:port/dbname URL (needs the "
        "'postgres' extra)",
    )
    db.add_argument("--no-db", action="store_true", help="record nothing")
    p.add_argument(
        "--max-connections",
        type=positive_int,
        default=10000,
        metavar="N",
        help="connections served at once; more are answered ERROR busy (default 10000)",
    )
    p.add_argument(
        "--max-per-address",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="connections served at once from one client address (the PROXY header's with "
        "--proxy-protocol); more are answered ERROR busy (default 0: no limit)",
    )
    p.add_argument(
        "--max-line",
        type=at_least(MIN_MAX_LINE),
        default=DEFAULT_MAX_LINE,
        metavar="BYTES",
        help=f"longest line accepted; a longer one is answered ERROR line-too-long and the "
        f"connection closed (default {DEFAULT_MAX_LINE})",
    )
    p.add_argument(
        "--max-guesses",
        type=positive_int,
        default=DEFAULT_MAX_GUESSES,
        metavar="N",
        help=f"guesses one game may hold; NUMBER beyond is answered ERROR too-many-guesses "
        f"(default {DEFAULT_MAX_GUESSES})",
    )
    p.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=120.0,
        metavar="S",
        help="close a connection after S seconds without a complete line (default 120)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds games in flight get to finish at shutdown (default 5)",
    )
    p.add_argument(
        "--loop",
        choices=LOOPS,
        default=default_loop(),
        help=f"event loop of the asyncio backend (default {default_loop()})",
    )
    p.add_argument(
        "--proxy-protocol",
        action="store_true",
        help="expect a PROXY protocol v1/v2 header (HAProxy send-proxy) on every "
        "connection and record the address it carries; close connections without one",
    )
    p.add_argument(
        "--metrics-port",
        type=port_arg,
        metavar="N",
        help="serve Prometheus metrics at http://HOST:N/metrics (needs the 'metrics' extra; "
        "with --workers, worker i uses N+i-1)",
    )
    p.add_argument(
        "--web-port",
        type=port_arg,
        metavar="N",
        help="also serve the page at http://HOST:N/ and the game over a WebSocket at "
        "ws://HOST:N/ws (/ws?strategy=random for another guesser); with --workers, every "
        "worker serves it",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="server processes sharing the port (SO_REUSEPORT), e.g. one per core (default 1)",
    )
    add_lang(p, "language of the report log")
    p.add_argument("-v", "--verbose", action="store_true", help="log every report (서버: 3는 맞음)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    if args.grace < 0:
        raise UserError("--grace must not be negative")
    return ServerConfig(
        host=args.host,
        port=args.port,
        backend=Backend(args.backend),
        strategy=args.strategy,
        max_connections=args.max_connections,
        max_per_address=args.max_per_address,
        max_line=args.max_line,
        max_guesses=args.max_guesses,
        idle_timeout=args.idle_timeout,
        grace=args.grace,
        lang=args.lang,
        verbose=args.verbose,
        proxy_protocol=args.proxy_protocol,
        metrics_port=args.metrics_port,
        loop=args.loop,
        web_port=args.web_port,
    )


def open_store(args: argparse.Namespace) -> Store:
    """The store ``--db``/``--no-db`` ask for; UserError if it cannot be used."""
    if args.no_db:
        return NullStore()
    try:
        return open_db_store(args.db)
    except StoreError as exc:
        raise UserError(str(exc)) from None


def make_server(hub: ServerHub) -> AsyncioServer | ThreadedServer:
    if hub.config.backend is Backend.THREADS:
        return ThreadedServer(hub)
    return AsyncioServer(hub)


def _setup_logging(io: IO) -> list[logging.Handler]:
    """Log lines to stderr; the games' lines come stamped already."""
    handler = logging.StreamHandler(io.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("guessgame")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    games = logging.StreamHandler(io.stderr)
    games.setFormatter(logging.Formatter("%(message)s"))
    game_log.addHandler(games)
    game_log.propagate = False
    return [handler, games]


def _remove_logging(handlers: list[logging.Handler]) -> None:
    logging.getLogger("guessgame").removeHandler(handlers[0])
    game_log.removeHandler(handlers[1])
    game_log.propagate = True


def run(args: argparse.Namespace, io: IO) -> int:
    config = config_from_args(args)
    store = open_store(args)
    hub = ServerHub(config, store, transcript=io.stdout)
    server = make_server(hub)
    log = logging.getLogger("guessgame.server")

    def ready(address: tuple[str, int]) -> None:
        log.info(
            "serving on %s:%d (%s backend, %s strategy); stop with Ctrl-C",
            address[0],
            address[1],
            config.backend.value,
            config.strategy,
        )
        if server.web_address is not None:
            log_web(server.web_address)

    if args.workers > 1:
        store.close()  # opened once here so that a bad --db fails before any worker
        return _run_workers(args, config, io)
    try:
        sock = listen_socket(config.host, config.port)
    except OSError as exc:
        store.close()
        raise UserError(_listen_error(config, exc)) from None
    web_sock = None
    if config.web_port is not None:
        try:
            web_sock = listen_socket(config.host, config.web_port)
        except OSError as exc:
            sock.close()
            store.close()
            raise UserError(_listen_error(config, exc, config.web_port)) from None
    try:
        hub.start_metrics()
    except ImportError as exc:
        sock.close()
        if web_sock is not None:
            web_sock.close()
        store.close()
        raise UserError(str(exc)) from None
    except OSError as exc:
        sock.close()
        if web_sock is not None:
            web_sock.close()
        store.close()
        where = f"{config.host}:{config.metrics_port}"
        raise UserError(f"cannot serve metrics on {where}: {describe_oserror(exc)}") from None
    handlers = _setup_logging(io)
    try:
        with _signals_deferred():
            try:
                server.run(ready, sock=sock, web_sock=web_sock)
            finally:
                hub.close()
                store.close()
        log.info("stopped")
    finally:
        _remove_logging(handlers)
    return ExitStatus.OK


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """While the server drains and the store flushes, a repeated SIGINT or
    SIGTERM is logged, not obeyed: obeying it would lose recorded games.
    (The server installs its own handlers while it serves.)"""
    log = logging.getLogger("guessgame.server")

    def patience(signum: int, frame: FrameType | None) -> None:
        log.info("already stopping: finishing games in flight and the store")

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, patience) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_workers(args: argparse.Namespace, config: ServerConfig, io: IO) -> int:
    log = logging.getLogger("guessgame.server")

    def ready(address: tuple[str, int]) -> None:
        log.info(
            "serving on %s:%d (%d workers, %s backend, %s strategy); stop with Ctrl-C",
            address[0],
            address[1],
            args.workers,
            config.backend.value,
            config.strategy,
        )
        if web_port is not None:
            log_web((address[0], web_port))

    web_port = config.web_port
    handlers = _setup_logging(io)

    def bound_web(port: int) -> None:
        nonlocal web_port
        web_port = port

    try:
        status = serve_workers(
            config,
            args.workers,
            functools.partial(open_store, args),
            make_server,
            ready,
            web_ready=bound_web,
        )
    except OSError as exc:
        port = exc.port if isinstance(exc, ListenError) else config.port
        raise UserError(_listen_error(config, exc, port)) from None
    except RuntimeError as exc:
        raise UserError(f"cannot start workers: {exc}") from None
    finally:
        _remove_logging(handlers)
    return ExitStatus.OK if status == 0 else ExitStatus.ERROR


def log_web(address: tuple[str, int]) -> None:
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    logging.getLogger("guessgame.server").info(
        "web page at http://%s:%d/ (the game over a WebSocket at /ws)", host, address[1]
    )


def _listen_error(config: ServerConfig, exc: OSError, port: int | None = None) -> str:
    where = f"{config.host}:{config.port if port is None else port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: address already in use"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: address not available on this machine"
    reason = exc.strerror or str(exc)
    return f"cannot listen on {where}: {reason[:1].lower() + reason[1:]}"
