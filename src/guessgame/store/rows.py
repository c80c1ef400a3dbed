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
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from ..protocol import Decision
from ..records import DECISION_CODES, GameRecord, Guesses, Move, Outcome

__all__ = [
    "DECISION_MARKS",
    "GAME_COLUMNS",
    "decode_guesses",
    "encode_guesses",
    "PackedRecord",
    "batch_ids",
    "game_ids",
    "game_rows",
    "pack_record",
    "pack_records",
    "packed_rows",
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
        return _coded_text(guesses.values, guesses.codes)
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


#: A finished game as plain values, fit for :mod:`marshal` (what crosses to
#: the writer process): the first seven fields of its
#: :class:`~guessgame.records.GameRecord`, its outcome's word, and its
#: guesses packed as :class:`~guessgame.records.Guesses` keeps them (the
#: signed 64-bit guesses in native byte order, one decision code each).
PackedRecord = tuple[int, int, str, str, str, float, float, str, bytes, bytes]

_OUTCOME_WORDS = {o: o.value for o in Outcome}


def pack_record(record: GameRecord) -> PackedRecord:
    """``record`` as a :data:`PackedRecord` tuple.

    TypeError, KeyError or ValueError for a malformed record (a guess that
    is not a 64-bit integer, a decision or an outcome of the wrong type).
    """
    guesses = record[8]
    if type(guesses) is not Guesses:
        guesses = Guesses.of(guesses)
    # record[:7] slices the named tuple into a plain tuple in C.
    return record[:7] + (_OUTCOME_WORDS[record[7]], guesses.values.tobytes(), guesses.codes)


def pack_records(records: Iterable[GameRecord]) -> list[PackedRecord]:
    """:func:`pack_record` of each record."""
    return [pack_record(r) for r in records]


def batch_ids(ended: Iterable[float], seed: bytes) -> list[str]:
    """A UUIDv7 for each game of a batch, from its end time and ``seed``
    (10 random bytes for the batch): 48 bits of the end time in ms, then
    12 bits of the seed and 62 bits of the seed plus the game's place in
    the batch (RFC 9562, a counter in the random bits). Unique across
    batches as random ids are, within a batch by construction; the same
    batch and seed give the same ids, so a batch sent again cannot be
    stored twice. A seed per batch, not random bits per game: a third of
    the cost."""
    bits = int.from_bytes(seed, "big")
    rand_b = bits & _RAND_B
    times = [int(end * 1000) for end in ended]
    if times and (min(times) < 0 or max(times) > _MAX_MS):
        times = [min(max(ms, 0), _MAX_MS) for ms in times]
    low = rand_b & _LOW_48
    if low + len(times) > _LOW_48:
        # The counter would carry into the top 16 bits of rand_b: the long way.
        ids = []
        middle = f"-7{bits >> 62 & 0xFFF:03x}-"
        for i, ms in enumerate(times):
            t = f"{ms:012x}"
            r = f"{_VARIANT | (rand_b + i) & _RAND_B:016x}"
            ids.append(f"{t[:8]}-{t[8:]}{middle}{r[:4]}-{r[4:]}")
        return ids
    # The usual case: the top 16 bits of rand_b stay as they are, so all
    # but the time and the last 48 bits is the same string for the batch.
    middle = f"-7{bits >> 62 & 0xFFF:03x}-{(_VARIANT | rand_b) >> 48:04x}-"
    # The games of a batch end within a second: a few hundred distinct
    # milliseconds, each one's head formatted once (0.65 -> 0.45 us a game).
    # %-formatting: a third cheaper than an f-string's format specs.
    heads = {ms: "%08x-%04x%s" % (ms >> 16, ms & 0xFFFF, middle) for ms in set(times)}  # noqa: UP031
    return [heads[ms] + "%012x" % (low + i) for i, ms in enumerate(times)]  # noqa: UP031


_LOW_48 = 0xFFFF_FFFF_FFFF
_MAX_MS = 0xFFFF_FFFF_FFFF
_RAND_B = 0x3FFF_FFFF_FFFF_FFFF
_VARIANT = 0b10 << 62


def game_ids(records: Sequence[GameRecord]) -> list[str]:
    """A UUIDv7 per record (:func:`batch_ids`, seeded from the OS: not
    from :mod:`random`, whose state a forked worker shares with its
    siblings)."""
    return batch_ids([r.ended_at for r in records], os.urandom(10))


def packed_rows(packed: Sequence[PackedRecord], ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """The ``games`` rows (columns :data:`GAME_COLUMNS`) of packed records.

    Raises (TypeError, KeyError, ValueError) for a malformed record.
    """
    texts = _TEXTS
    decades = _DECADES
    rows = []
    for gid, (lower, upper, strategy, backend, peer, started, ended, outcome, values, codes) in zip(
        ids, packed, strict=True
    ):
        # A game played before (the smart guesser plays a range the same way
        # for the same secret) has its guesses' text made already.
        if len(codes) <= _CACHE_GUESSES:
            key = values + codes
            text = texts.get(key)
            if text is None:
                text = _guesses_text(values, codes)
                if len(texts) >= _CACHE_SIZE:
                    texts.clear()
                texts[key] = text
        else:
            text = _guesses_text(values, codes)
        span = upper - lower
        decade = decades.get(span)
        if decade is None:
            decade = size_decade(lower, upper)
            if len(decades) >= _CACHE_SIZE:
                decades.clear()
            decades[span] = decade
        rows.append(
            (
                gid,
                lower,
                upper,
                decade,
                strategy,
                backend,
                peer,
                started,
                ended,
                outcome,
                len(codes),
                text,
            )
        )
    return rows


def _guesses_text(values: bytes, codes: bytes) -> str:
    """:func:`encode_guesses` of packed guesses."""
    guesses = array("q")
    guesses.frombytes(values)
    return _coded_text(guesses, codes)


def _coded_text(values: Iterable[int], codes: bytes) -> str:
    """The ``guesses`` column of guesses and their decision codes; ValueError
    unless there is one code per guess."""
    by_code = _MARK_BY_CODE
    # One f-string a guess is the cheapest form measured.
    return " ".join([f"{v}{by_code[c]}" for v, c in zip(values, codes, strict=True)])


#: The guesses' text of games seen before, by their packed guesses (games of
#: at most :data:`_CACHE_GUESSES` guesses only: a key and its text take
#: about 1.1 KB at most, so 5 MB for the whole cache, whatever the clients
#: play), and the size bucket of ranges seen before, by upper - lower: a
#: writer process's own, cleared when full.
_TEXTS: dict[bytes, str] = {}
_DECADES: dict[int, int] = {}
_CACHE_SIZE = 4096
#: Longest game whose text is remembered (a smart game of 1..100 takes at
#: most 9 guesses, of 1..10^6 at most 22).
_CACHE_GUESSES = 32


def game_rows(records: Sequence[GameRecord], ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """The ``games`` rows of ``records`` (columns :data:`GAME_COLUMNS`).

    Raises (TypeError, KeyError, ValueError) for a malformed record.
    """
    return packed_rows(pack_records(records), ids)


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
