"""Several server processes on one port (SO_REUSEPORT), one per core.

A game lives on one connection, so worker processes share nothing but the
port and the store: the kernel spreads new connections over the workers'
listening sockets, and each worker runs an ordinary single-process server.
The parent only starts them, forwards SIGINT/SIGTERM, and waits.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import replace
from types import FrameType
from typing import Any

from .server import ServerConfig, ServerHub, listen_socket
from .store import Store

__all__ = ["ListenError", "serve_workers", "reserve_port"]

log = logging.getLogger("guessgame.server")

#: Builds the server of one worker process from its hub.
ServerMaker = Callable[[ServerHub], object]


class ListenError(OSError):
    """A port :func:`serve_workers` was to serve could not be bound; ``port``
    says which (the game's or the web page's)."""

    def __init__(self, exc: OSError, port: int) -> None:
        super().__init__(exc.errno, exc.strerror)
        self.port = port


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, not listening, SO_REUSEPORT socket that holds ``port`` (or a
    free port for 0) while workers start. Not listening, it takes no
    connections. OSError if another program already listens there."""
    # First without SO_REUSEPORT: that fails if anybody listens on the port,
    # even another reuse-port group that we must not silently join.
    probe = listen_socket(host, port)
    port = probe.getsockname()[1]
    probe.close()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    return holder


def _worker(
    index: int,
    config: ServerConfig,
    open_store: Callable[[], Store],
    make_server: ServerMaker,
    ready: multiprocessing.connection.Connection,
) -> None:
    # Forked children inherit the parent's forwarding handlers; the server
    # installs its own once it runs.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    try:
        sock = listen_socket(config.host, config.port, reuse_port=True)
        web_sock = None
        if config.web_port is not None:  # every worker serves the page too
            web_sock = listen_socket(config.host, config.web_port, reuse_port=True)
        store = open_store()
    except Exception as exc:  # reported by the parent as one line
        ready.send(f"worker {index}: {exc}")
        sys.exit(2)
    if config.metrics_port is not None:  # one metrics port per worker
        config = replace(config, metrics_port=config.metrics_port + index - 1)
    hub = ServerHub(config, store, conn_prefix=f"{index}.")
    try:
        hub.start_metrics()
    except (ImportError, OSError) as exc:
        ready.send(f"worker {index}: metrics on port {config.metrics_port}: {exc}")
        store.close()
        sys.exit(2)
    server = make_server(hub)

    def bound(address: tuple[str, int]) -> None:
        ready.send("")

    try:
        server.run(bound, sock=sock, web_sock=web_sock)  # type: ignore[attr-defined]
    finally:
        hub.close()
        store.close()


def serve_workers(
    config: ServerConfig,
    workers: int,
    open_store: Callable[[], Store],
    make_server: ServerMaker,
    ready: Callable[[tuple[str, int]], None] | None = None,
    web_ready: Callable[[int], None] | None = None,
) -> int:
    """Run ``workers`` server processes on one port until SIGINT/SIGTERM
    (and on ``config.web_port`` too, whose number goes to ``web_ready``).

    Returns 0 when every worker stopped cleanly. Raises :class:`ListenError`
    if a port is taken and RuntimeError if a worker failed to start.
    """
    try:
        holder = reserve_port(config.host, config.port)
    except OSError as exc:
        raise ListenError(exc, config.port) from None
    address: tuple[str, int] = holder.getsockname()[:2]
    config = replace(config, port=address[1])
    web_holder = None
    if config.web_port is not None:
        try:
            web_holder = reserve_port(config.host, config.web_port)
        except OSError as exc:
            holder.close()
            raise ListenError(exc, config.web_port) from None
        web_port: int = web_holder.getsockname()[1]
        config = replace(config, web_port=web_port)
        if web_ready is not None:
            web_ready(web_port)
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    ctx: Any = multiprocessing.get_context(method)
    procs: list[multiprocessing.process.BaseProcess] = []
    pipes: list[multiprocessing.connection.Connection] = []
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                try:
                    os.kill(proc.pid, signum)
                except ProcessLookupError:
                    pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index in range(workers):
            receiver, sender = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_worker,
                args=(index + 1, config, open_store, make_server, sender),
                name=f"guessgame-worker-{index + 1}",
            )
            proc.start()
            sender.close()
            procs.append(proc)
            pipes.append(receiver)
        failures = []
        for index, pipe in enumerate(pipes):
            try:
                message = pipe.recv() if pipe.poll(30.0) else f"worker {index + 1}: no answer"
            except EOFError:
                message = f"worker {index + 1}: exited while starting"
            if message:
                failures.append(message)
        holder.close()
        if web_holder is not None:
            web_holder.close()
        if failures:
            forward(signal.SIGTERM, None)
            for proc in procs:
                proc.join(10.0)
            raise RuntimeError("; ".join(failures))
        if ready is not None:
            ready(address)
        status = 0
        for proc in procs:
            proc.join()
            if proc.exitcode != 0:
                log.warning("%s exited with status %s", proc.name, proc.exitcode)
                status = 1
        return status if stopping else 1
    finally:
        holder.close()
        if web_holder is not None:
            web_holder.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
