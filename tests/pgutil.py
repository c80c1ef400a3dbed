"""A throw-away PostgreSQL cluster for tests: ``initdb`` and ``pg_ctl`` in a
temporary directory, listening on a free loopback port only, trust
authentication, stopped when the test is done.

The server binaries refuse to run as root, so under root they run as the
``postgres`` user (``runuser``), with the data directory in a directory
that user owns. Without the binaries (or psycopg), :func:`start_postgres`
skips the test and says why.

    from pgutil import start_postgres, postgres   # the function, the fixture

    def test_x(postgres: PgCluster) -> None:
        store = PostgresStore(postgres.url)
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from absent import absent

__all__ = ["PgCluster", "find_pg_bin", "postgres", "start_postgres"]

#: Seconds pg_ctl waits for the server to start or stop.
PG_CTL_TIMEOUT = 30
#: The database the cluster's URL names (created by :func:`start_postgres`).
DBNAME = "guessgame"


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` that has initdb and pg_ctl
    (or the directory of ``pg_ctl`` on PATH); None without them."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    on_path = shutil.which("pg_ctl")
    for pg_ctl in [*reversed(candidates), *([on_path] if on_path else [])]:
        bindir = Path(pg_ctl).parent
        if (bindir / "initdb").exists():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """A PostgreSQL cluster of a test: :attr:`url`, and :meth:`stop`,
    :meth:`start` (again, same port and data) and :meth:`kill`."""

    def __init__(self, bindir: Path, base: Path, port: int, log: Path, run_as: str | None) -> None:
        self.bindir = bindir
        self.base = base
        self.datadir = base / "data"
        self.port = port
        self.log = log
        self._run_as = run_as
        self.running = False

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/guessgame``."""
        return self.url_of(DBNAME)

    def url_of(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._run_as is not None:
            command = ["runuser", "-u", self._run_as, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PG_CTL_TIMEOUT + 10, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} failed ({result.returncode}): {result.stdout}{result.stderr}"
            )
        return result

    def start(self) -> None:
        """Start the server (again) on the same port and data directory."""
        self._run(
            "pg_ctl", "start", "-w", "-t", str(PG_CTL_TIMEOUT), "-D", str(self.datadir),
            "-l", str(self.base / "server.log"),
        )  # fmt: skip
        self.running = True

    def stop(self) -> None:
        """Stop the server cleanly (``pg_ctl stop -m fast``)."""
        if self.running:
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.datadir))
            self.running = False

    def kill(self) -> None:
        """Stop the server at once, as a crash would (``-m immediate``):
        connections drop, and the next start recovers from the WAL."""
        if self.running:
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.datadir))
            self.running = False

    def create_database(self, name: str) -> str:
        """A new empty database in the cluster; its URL."""
        import psycopg

        with psycopg.connect(self.url_of("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def server_log(self) -> str:
        try:
            return (self.base / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def remove(self) -> None:
        """Kill the server and delete its files."""
        with contextlib.suppress(Exception):
            self.kill()
        shutil.rmtree(self.base, ignore_errors=True)


def start_postgres(tmp_path: Path) -> PgCluster:
    """A new cluster on a free loopback port with an empty database
    ``guessgame``, running. The caller stops it (:meth:`PgCluster.remove`
    deletes it too). Skips the test without PostgreSQL or psycopg."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (guessgame[postgres])")
    bindir = find_pg_bin()
    if bindir is None:
        absent(
            "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb); "
            "install the 'postgresql' package to run these tests"
        )
    run_as: str | None = None
    if os.geteuid() == 0:
        # initdb and postgres refuse to run as root.
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            absent("running as root and there is no 'postgres' user to run PostgreSQL as")
        if shutil.which("runuser") is None:
            absent("running as root without runuser to run PostgreSQL as 'postgres'")
        run_as = "postgres"
        # tmp_path's parents are private to root; the cluster needs a
        # directory its user can reach.
        base = Path(tempfile.mkdtemp(prefix="guessgame-pg-"))
        os.chown(base, account.pw_uid, account.pw_gid)
    else:
        base = tmp_path / "pg"
        base.mkdir()
    port = _free_port()
    cluster = PgCluster(bindir, base, port, tmp_path / "pg.log", run_as)
    try:
        cluster._run(
            "initdb", "-D", str(cluster.datadir), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        sockets = base / "sockets"
        sockets.mkdir()
        if run_as is not None:
            os.chown(sockets, pwd.getpwnam(run_as).pw_uid, pwd.getpwnam(run_as).pw_gid)
        with (cluster.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{sockets}'\n"
                # A test cluster: durability against power loss is not tested.
                "fsync = off\nfull_page_writes = off\nmax_connections = 50\n"
            )
        cluster.start()
        cluster.create_database(DBNAME)
    except BaseException:
        cluster.remove()
        raise
    return cluster


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PgCluster]:
    """A running cluster of this test only (:func:`start_postgres`),
    killed and deleted after it."""
    cluster = start_postgres(tmp_path)
    try:
        yield cluster
    finally:
        cluster.remove()
