"""One hostile client in a process of its own, for ``reliability/run.py``.

Run as a separate process so that its work never competes with the
measuring process for the GIL: what the good clients see is then the
server's doing. Floods ``127.0.0.1:PORT`` for SECONDS and prints one JSON
line of what it sent and read::

    python reliability/flood.py KIND PORT SECONDS

Kinds:

- ``number``: one game over 2**63 numbers, then ``NUMBER`` lines in batches
  of 500, each sent once the last was answered (never reporting: the smart
  guesser's worst).
- ``number-report``: the same with ``NUMBER`` / ``REPORT 잘모르겠음`` pairs
  (every guess reported: the random guesser's worst).
- ``valid``: valid lines of games as fast as the server takes them, read by
  a second thread.
- ``garbage``: two-byte lines that are not commands (each answered with an
  ``ERROR``), as fast as the server takes them, read by a second thread.
- ``burst``: 100 MB of ``NUMBER`` lines, never reading a reply: sends until
  the server stops reading, then holds the connection open.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
HUGE = b"PARAMS 0 9223372036854775806\n"
BURST_BYTES = 100 * 2**20


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.settimeout(10)
    return sock


class _Reader(threading.Thread):
    """Reads whatever the server sends, counting bytes and line ends."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.bytes = 0
        self.lines = 0
        self.done = threading.Event()
        self.changed = threading.Condition()

    def run(self) -> None:
        try:
            while not self.done.is_set():
                data = self.sock.recv(1 << 16)
                if not data:
                    break
                with self.changed:
                    self.bytes += len(data)
                    self.lines += data.count(b"\n")
                    self.changed.notify_all()
        except OSError:
            pass
        finally:
            self.done.set()
            with self.changed:
                self.changed.notify_all()

    def wait_for(self, lines: int) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.lines >= lines or self.done.is_set(), 10)


def batches(port: int, seconds: float, unit: bytes) -> dict[str, int]:
    """One game, then ``unit`` x 500 at a time, the next batch sent once
    every unit of the last one was answered (a unit has one reply or more)."""
    sock = _connect(port)
    reader = _Reader(sock)
    reader.start()
    sock.sendall(HUGE)
    batch = unit * 500
    sent = units = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not reader.done.is_set():
            sock.sendall(batch)
            sent += len(batch)
            units += 500
            reader.wait_for(units)
    finally:
        reader.done.set()
        sock.close()
        reader.join(2)
    return {"sent": sent, "read": reader.bytes}


def stream(port: int, seconds: float, chunk: bytes) -> dict[str, int]:
    """``chunk`` again and again, a second thread reading whatever comes."""
    sock = _connect(port)
    reader = _Reader(sock)
    reader.start()
    sent = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not reader.done.is_set():
            sock.sendall(chunk)
            sent += len(chunk)
    finally:
        reader.done.set()
        sock.close()
        reader.join(2)
    return {"sent": sent, "read": reader.bytes}


def burst(port: int, seconds: float) -> dict[str, int]:
    """Send until the server stops reading (a send blocked for a second),
    never reading; hold the connection until the time is up."""
    sock = _connect(port)
    sock.settimeout(1.0)
    deadline = time.monotonic() + seconds
    chunk = HUGE + b"NUMBER\n" * (2**20 // 7)
    sent = 0
    try:
        while sent < BURST_BYTES and time.monotonic() < deadline:
            sent += sock.send(chunk)
    except TimeoutError:
        pass  # the server stopped reading: the point of the exercise
    time.sleep(max(0.0, deadline - time.monotonic()))
    sock.close()
    return {"sent": sent, "read": 0}


def main(argv: list[str]) -> int:
    kind, port, seconds = argv[0], int(argv[1]), float(argv[2])
    if kind == "number":
        result = batches(port, seconds, b"NUMBER\n")
    elif kind == "number-report":
        result = batches(port, seconds, "NUMBER\nREPORT 잘모르겠음\n".encode())
    elif kind == "valid":
        game = b"PARAMS 1 1000000\nNUMBER\nREPORT Unsure\nNUMBER\nREPORT Warmer\nCLEAR\n"
        result = stream(port, seconds, game * 1000)
    elif kind == "garbage":
        result = stream(port, seconds, b"x\n" * 32768)
    elif kind == "burst":
        result = burst(port, seconds)
    else:
        print(f"unknown kind {kind!r}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
