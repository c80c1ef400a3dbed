"""Find, for each range size N, the opening that lets `smart` meet its goal.

The smart strategy opens with the lower wall and then, by default, the
middle of the range. For some N a neighbour of the middle does better: this
script plays every secret for every N up to --max (exhaustively), tries the
second guesses ``middle + offset`` in the order 0, 1, -1, 2, -2, ... and
prints the offsets that reach the goal floor(log2(3N)) + 1 where the middle
does not. Its output is the table ``SECOND_GUESS_OFFSETS`` in
``src/guessgame/strategies/_openings.py``.

    python tools/smart_openings.py --max 2200 --span 6
"""

from __future__ import annotations

import argparse
import math
import sys

from guessgame.judge import Judge
from guessgame.protocol import Decision
from guessgame.strategies import smart
from guessgame.strategies.smart import SmartStrategy


def worst_case(n: int) -> int:
    worst = 0
    for secret in range(n):
        strategy = SmartStrategy(0, n - 1)
        judge = Judge(secret)
        for count in range(1, 4 * n + 8):
            guess = strategy.next_guess()
            decision = judge.judge(guess)
            if decision is Decision.CORRECT:
                worst = max(worst, count)
                break
            strategy.observe(guess, decision)
        else:
            raise AssertionError(f"N={n} secret={secret}: no end")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=1100)
    parser.add_argument("--span", type=int, default=6, help="largest |offset| tried")
    args = parser.parse_args()
    offsets = [0] + [d for k in range(1, args.span + 1) for d in (k, -k)]
    table: dict[int, int] = {}
    missed: list[int] = []
    for n in range(smart.EXACT_MAX + 1, args.max + 1):
        goal = math.floor(math.log2(3 * n)) + 1
        for offset in offsets:
            smart.SECOND_GUESS_OFFSETS.clear()
            smart.SECOND_GUESS_OFFSETS.update(table)
            smart.SECOND_GUESS_OFFSETS[n] = offset
            if worst_case(n) <= goal:
                if offset:
                    table[n] = offset
                break
        else:
            missed.append(n)
        print(f"N={n} offset={table.get(n, 0)}", file=sys.stderr, flush=True)
    print("SECOND_GUESS_OFFSETS = {")
    for n, offset in sorted(table.items()):
        print(f"    {n}: {offset},")
    print("}")
    print(f"# goal not reached with any offset: {missed}", file=sys.stderr)


if __name__ == "__main__":
    main()
