"""Byte-level fuzzer of the server core's framing and parser (atheris / libFuzzer).

Each input is one connection's worth of bytes plus a few header bytes that
choose the strategy, the line limit, whether a PROXY header is expected,
the rng seed and where the stream is cut into reads. For every input:

- no exception escapes :meth:`ServerConnection.receive_data` (a bad line is
  an ``ERROR`` reply, never a raise) nor the PROXY header parser (only
  :class:`ProxyHeaderError`);
- every reply line is an integer or ``ERROR <known-code> <message>``;
- fed line by line, a line answered with ``ERROR`` (one that does not close)
  leaves the connection's state exactly as it was;
- guesses lie within the game's range and never repeat within a game;
- how the stream is cut into reads changes nothing: same replies, same records.

Run it for a bounded time::

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python fuzz/fuzz_core.py --seconds 60
    .venv/bin/python fuzz/fuzz_core.py --seconds 600 -- -jobs=2 -workers=2

Arguments after ``--`` go to libFuzzer. ``--replay FILE...`` runs the
checks on saved inputs without atheris (a crash file, say).
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from collections.abc import Sequence
from pathlib import Path

try:
    import atheris
except ImportError:  # --replay works without it
    atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["guessgame"]):
        from guessgame.game import GameConfig, ServerConnection
        from guessgame.protocol import ErrorCode
        from guessgame.proxy import ProxyHeaderError, ProxyHeaderParser
        from guessgame.records import GameRecord
        from guessgame.strategies import STRATEGIES
else:
    from guessgame.game import GameConfig, ServerConnection
    from guessgame.protocol import ErrorCode
    from guessgame.proxy import ProxyHeaderError, ProxyHeaderParser
    from guessgame.records import GameRecord
    from guessgame.strategies import STRATEGIES

HERE = Path(__file__).resolve().parent
#: Tokens of the protocol, so that libFuzzer reaches past the parser quickly.
DICTIONARY = HERE / "core.dict"
#: Line limits to try: the smallest allowed, the default, and one large
#: enough for numbers of thousands of digits.
MAX_LINES = (16, 64, 1024, 8192)
#: Where libFuzzer writes the inputs that fail (kept out of git).
ARTIFACTS = HERE / "artifacts"
#: Longest input libFuzzer makes: room for lines over the largest limit.
MAX_LEN = 20000

_STRATEGY_NAMES = sorted(STRATEGIES)
_CODES = {code.value for code in ErrorCode}
_HEADER = 8


class Case:
    """One fuzz input, decoded: configuration, read sizes and the stream."""

    def __init__(self, data: bytes) -> None:
        head = data[:_HEADER].ljust(_HEADER, b"\0")
        self.strategy = _STRATEGY_NAMES[head[0] % len(_STRATEGY_NAMES)]
        self.max_line = MAX_LINES[head[1] % len(MAX_LINES)]
        # A PROXY header on one input in eight: most inputs test the game.
        self.proxy = head[2] % 8 == 0
        self.seed = int.from_bytes(head[3:7], "little")
        ncuts = head[7] % 9
        self.cuts = [b % 64 + 1 for b in data[_HEADER : _HEADER + ncuts]]
        self.stream = data[_HEADER + ncuts :]

    def connection(self, records: list[GameRecord]) -> ServerConnection:
        ticks = itertools.count()
        config = GameConfig(
            strategy=self.strategy,
            max_line=self.max_line,
            backend="fuzz",
            proxy_protocol=self.proxy,
            rng=random.Random(self.seed),
            clock=lambda: float(next(ticks)),
        )
        return ServerConnection(config, peer="192.0.2.1:1", on_game_end=records.append)


def core_state(conn: ServerConnection) -> tuple[object, ...]:
    """What a connection and its strategy hold, as comparable values."""
    strategy = conn._strategy
    fields: dict[str, object] = {}
    if strategy is not None:
        for name in getattr(type(strategy), "__slots__", ()):
            fields[name] = getattr(strategy, name, None)
        fields.update(getattr(strategy, "__dict__", {}))
    return (
        conn.closed,
        conn._buf,
        conn._pos,
        conn._lower,
        conn._upper,
        conn._pending,
        conn._secret,
        tuple(conn._guesses),
        bytes(conn._codes),
        id(strategy),
        # A strategy's place in a memo shared by all games: by identity.
        sorted(
            (k, f"id {id(v)}" if isinstance(v, dict) else repr(v))
            for k, v in fields.items()
            if not isinstance(v, random.Random)
        ),
        conn.config.rng.getstate(),
    )


def check_reply(conn: ServerConnection, line: bytes, guessed: set[int]) -> str | None:
    """Check one reply line; the error code if it is an ERROR."""
    if line.startswith(b"ERROR "):
        parts = line.split(b" ", 2)
        assert len(parts) == 3 and parts[2], line
        code = parts[1].decode()
        assert code in _CODES, line
        return code
    guess = int(line)
    assert conn._lower <= guess <= conn._upper, (guess, conn._lower, conn._upper)
    if conn._secret is None:
        assert guess not in guessed, (guess, guessed)
        guessed.add(guess)
    else:
        assert guess == conn._secret
    return None


def _lines(stream: bytes) -> list[bytes]:
    """``stream`` cut after every ``\\n`` (unlike splitlines, not at ``\\r``)."""
    pieces = stream.split(b"\n")
    last = pieces.pop()
    return [p + b"\n" for p in pieces] + ([last] if last else [])


def line_by_line(case: Case) -> tuple[bytes, list[GameRecord]]:
    """Feed whole lines one at a time, checking every reply and every error."""
    records: list[GameRecord] = []
    conn = case.connection(records)
    out = b""
    guessed: set[int] = set()
    for piece in _lines(case.stream):
        before = core_state(conn)
        game_before = conn.has_game and conn._strategy
        n_records = len(records)
        reply = conn.receive_data(piece)
        assert isinstance(reply, bytes)
        out += reply
        if game_before is not conn._strategy:
            guessed = set()
        if not reply:
            continue
        assert reply.endswith(b"\n"), reply
        codes = [check_reply(conn, r, guessed) for r in reply[:-1].split(b"\n")]
        if piece.endswith(b"\n") and piece.count(b"\n") == 1 and len(codes) == 1:
            code = codes[0]
            if code is not None and not ErrorCode(code).closes:
                assert core_state(conn) == before, piece
                assert len(records) == n_records
        if conn.closed:
            assert codes[-1] is not None and ErrorCode(codes[-1]).closes, reply
            assert conn.receive_data(b"NUMBER\n") == b""
            break
    return out, records


def in_reads(case: Case) -> tuple[bytes, list[GameRecord]]:
    """Feed the same stream in reads of the fuzzed sizes."""
    records: list[GameRecord] = []
    conn = case.connection(records)
    out = b""
    sizes = itertools.cycle(case.cuts or [len(case.stream) or 1])
    at = 0
    while at < len(case.stream):
        size = next(sizes)
        out += conn.receive_data(case.stream[at : at + size])
        at += size
        # The lines past a turn's worth come on the next calls, as a shell
        # makes them once it has served its other connections.
        while conn.backlog:
            out += conn.receive_data(b"")
    return out, records


def check_proxy(data: bytes) -> None:
    parser = ProxyHeaderParser()
    try:
        for i in range(0, len(data), 7):
            if parser.feed(data[i : i + 7]) is not None:
                break
    except ProxyHeaderError:
        pass


def check(data: bytes) -> None:
    """Every property of the module docstring, for one input."""
    case = Case(data)
    whole, whole_records = line_by_line(case)
    split, split_records = in_reads(case)
    # line_by_line stops at a closing error; so does the core itself.
    assert split == whole, (split[-200:], whole[-200:])
    assert split_records == whole_records
    for record in whole_records:
        guesses = [g for g, _ in record.guesses]
        assert len(set(guesses)) == len(guesses), record
        assert all(record.lower <= g <= record.upper for g in guesses), record
    check_proxy(case.stream)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="fuzz this long (default 60)")
    parser.add_argument("--replay", nargs="+", type=Path, metavar="FILE", help="check saved inputs")
    parser.add_argument("libfuzzer", nargs="*", help="options for libFuzzer, after --")
    args = parser.parse_args(argv)
    if args.replay:
        for path in args.replay:
            check(path.read_bytes())
            print(f"{path}: ok")
        return 0
    if atheris is None:
        print("fuzz_core: atheris is not installed (pip install -e '.[fuzz]')", file=sys.stderr)
        return 2
    ARTIFACTS.mkdir(exist_ok=True)
    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={args.seconds}",
            f"-max_len={MAX_LEN}",
            f"-dict={DICTIONARY}",
            f"-artifact_prefix={ARTIFACTS}/",
            "-print_final_stats=1",
            *args.libfuzzer,
        ],
        check,
    )
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
