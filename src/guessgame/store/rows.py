"""How a finished game becomes one row of the ``games`` table, and back.

Both engines store the same columns. A game's guesses live in its own row,
in the ``guesses`` text column: each guess in decimal, followed by one
character for the client's decision, separated by single spaces::

    50? 25- 37+ 31=

``+`` warmer, ``-`` colder, ``?`` unsure, ``=`` correct; a guess without a
character after it was never reported. One short string per game instead
of a row per guess: the writer's cost per game is a string join, not
dozens of rows to build, bind and index.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from ..protocol import Decision
from ..records import DECISION_CODES, GameRecord, Guesses, Move, Outcome

__all__ = [
    "DECISION_MARKS",
    "GAME_COLUMNS",
    "decode_guesses",
    "encode_guesses",
    "game_ids",
    "game_rows",
    "read_games",
    "size_decade",
]

#: The character after a guess for each decision; nothing for None.
DECISION_MARKS: dict[Decision | None, str] = {
    Decision.WARMER: "+",
    Decision.COLDER: "-",
    Decision.UNSURE: "?",
    Decision.CORRECT: "=",
    None: "",
}
_DECISION_BY_MARK = {mark: d for d, mark in DECISION_MARKS.items() if d is not None}
# The marks by id() of the decision: Enum hashes in Python code, and this
# lookup runs for every guess the writer stores (a sixth of its cost).
# Members and None live as long as the process, so their ids are stable.
_MARK_BY_ID = {id(d): mark for d, mark in DECISION_MARKS.items()}
#: The same marks by the decision's stored word (schema versions 1 and 2).
MARK_BY_WORD: dict[str | None, str] = {
    (None if d is None else d.value): mark for d, mark in DECISION_MARKS.items()
}
#: The same marks by the decision codes of :class:`~guessgame.records.Guesses`.
_MARK_BY_CODE = [""] * (max(DECISION_CODES.values()) + 1)
for _decision, _code in DECISION_CODES.items():
    _MARK_BY_CODE[_code] = DECISION_MARKS[_decision]
_OUTCOMES = {o: o.value for o in Outcome}

#: The columns :func:`game_rows` fills, in order.
GAME_COLUMNS = (
    "id, lower, upper, size_decade, strategy, backend, peer,"
    " started_at, ended_at, outcome, guess_count, guesses"
)
GAME_WIDTH = 12


def size_decade(lower: int, upper: int) -> int:
    """The power-of-ten bucket of a range's size N = upper - lower + 1:
    ``k`` such that ``10**k <= N < 10**(k+1)``. Exact for every 64-bit range
    (N reaches 2**64, which a 64-bit integer column cannot hold)."""
    return len(str(max(upper - lower + 1, 1))) - 1


def encode_guesses(guesses: Iterable[Move]) -> str:
    """The ``guesses`` column of a game: ``50? 25- 37+ 31=``.

    TypeError or KeyError for a guess that is not an integer or a decision
    that is not a :class:`Decision`, so a malformed record is refused.
    """
    if type(guesses) is Guesses:  # what the servers record
        by_code = _MARK_BY_CODE
        return " ".join(
            [f"{v}{by_code[c]}" for v, c in zip(guesses.values, guesses.codes, strict=True)]
        )
    marks = _MARK_BY_ID
    # One f-string per guess is the cheapest form measured (cheaper than
    # joining two mapped columns); ":d" refuses anything but an int.
    return " ".join([f"{guess:d}{marks[id(decision)]}" for guess, decision in guesses])


def decode_guesses(text: str) -> tuple[tuple[int, Decision | None], ...]:
    """The guesses of a game from its ``guesses`` column."""
    moves: list[tuple[int, Decision | None]] = []
    for token in text.split():
        decision = _DECISION_BY_MARK.get(token[-1])
        moves.append((int(token[:-1]), decision) if decision is not None else (int(token), None))
    return tuple(moves)


def game_ids(records: Sequence[GameRecord]) -> list[str]:
    """A UUIDv7 per record: 48 bits of its end time in ms, 74 random bits.

    Random bits come from the OS, not from :mod:`random`, whose state a
    forked worker would share with its siblings.
    """
    entropy = os.urandom(10 * len(records))
    ids = []
    for i, record in enumerate(records):
        ms = min(max(int(record.ended_at * 1000), 0), 0xFFFF_FFFF_FFFF)
        bits = int.from_bytes(entropy[10 * i : 10 * i + 10], "big")
        value = (
            ms << 80
            | 0x7 << 76  # version 7
            | (bits >> 68) << 64  # 12 random bits
            | 0b10 << 62  # RFC 9562 variant
            | bits & 0x3FFF_FFFF_FFFF_FFFF  # 62 random bits
        )
        h = f"{value:032x}"
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def game_rows(records: Sequence[GameRecord], ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """The ``games`` rows of ``records`` (columns :data:`GAME_COLUMNS`).

    Raises (TypeError, KeyError, ValueError) for a malformed record.
    """
    outcomes = _OUTCOMES
    encode = encode_guesses
    return [
        (
            gid,
            r.lower,
            r.upper,
            len(str(max(r.upper - r.lower + 1, 1))) - 1,  # size_decade, inlined
            r.strategy,
            r.backend,
            r.peer,
            r.started_at,
            r.ended_at,
            outcomes[r.outcome],
            len(r.guesses),
            encode(r.guesses),
        )
        for gid, r in zip(ids, records, strict=True)
    ]


class Connection(Protocol):
    """What :func:`read_games` needs of a connection (sqlite3 and psycopg
    both have it)."""

    def execute(self, query: Any, /) -> Any: ...


_READ = (
    "SELECT id, lower, upper, strategy, backend, peer, started_at, ended_at, outcome, guesses"
    " FROM games ORDER BY ended_at, id"
)


def read_games(conn: Connection) -> Iterator[tuple[str, GameRecord]]:
    """Every stored game with its id, in the order the games ended, from a
    database of the current schema (either engine)."""
    for gid, lower, upper, strategy, backend, peer, started, ended, outcome, moves in conn.execute(
        _READ
    ).fetchall():
        yield (
            str(gid),
            GameRecord(
                lower=lower,
                upper=upper,
                strategy=strategy,
                backend=backend,
                peer=peer,
                started_at=started,
                ended_at=ended,
                outcome=Outcome(outcome),
                guesses=decode_guesses(moves),
            ),
        )
