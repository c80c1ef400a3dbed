"""Guesses per game against the range size N, for `random` and `smart`.

For N from 1 to 10**6 (every N up to 64, then about 50 values spaced
geometrically) it measures, with an honest client (``guessgame.judge.Judge``)
that reports every guess:

* ``smart``: the worst case and the mean over every secret for N up to
  ``--exact-max``; beyond that over a sample of secrets (the 500 smallest
  and 500 largest, a grid of 5,000 evenly spaced and 2,000 random ones), so
  the worst case shown there is a lower bound of the true one; the mean is
  taken over the grid and the random secrets only;
* ``random``: its worst case is N (it may guess every number before the
  secret); its mean is measured over simulated games (about (N+1)/2);
* the bounds: the IOI 2010 full-score bound floor(log2(3N)) + 1, the
  information bound ceil(log2(N+1)) and the contract ceil(log2 N) + 2;
* the exact optimum and the least mean of ``tools/optimum.py`` (read from
  ``--optimum``, its ``--json`` output), for every N it reached: every such
  N is measured too, side by side.

It also plays every secret of every N in ``--sweep`` (goal coverage: which N
miss floor(log2(3N)) + 1) and times a guess. It writes ``docs/strategies.png``
and prints markdown tables. Every secret of a range is played by walking the
decision tree of all its games at once (``guessgame.strategies.measure``).

    .venv/bin/python benchmarks/strategies_plot.py [--exact-max 1000000]
        [--sweep 1:5000] [--procs 2] [--out docs/strategies.png] [--seed 1]
        [--optimum benchmarks/optimum.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from guessgame.judge import Judge  # noqa: E402
from guessgame.protocol import INT64_MAX, INT64_MIN, Decision  # noqa: E402
from guessgame.strategies import RandomStrategy, SmartStrategy, Strategy, smart  # noqa: E402
from guessgame.strategies.measure import play_every_secret  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
N_MAX = 10**6
#: Simulated random games per N: as many as fit in this many guesses ...
RANDOM_GUESS_BUDGET = 2_000_000
#: ... but no fewer and no more than these.
RANDOM_GAMES = (10, 1000)


def contract(n: int) -> int:
    return (n - 1).bit_length() + 2


def goal(n: int) -> int:
    """floor(log2(3N)) + 1, in exact integer arithmetic."""
    return (3 * n).bit_length()


def info_bound(n: int) -> int:
    """ceil(log2(N + 1))."""
    return n.bit_length()


def goal_w(n: int) -> int:
    """floor(log2(3N)): the IOI count to know the secret."""
    return (3 * n).bit_length() - 1


@dataclass
class Optimum:
    """What ``tools/optimum.py`` found for one N."""

    n: int
    optimum: int
    #: Least mean over the strategies of optimal worst case (small N only).
    least_mean: float | None


def load_optimum(path: Path) -> dict[int, Optimum]:
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    return {
        int(n): Optimum(int(n), row[0], row[4] if len(row) > 4 else None) for n, row in raw.items()
    }


def sizes(reach: int = 64) -> list[int]:
    """Every N up to 64 (or the optimum's reach), then about 50 values spaced
    geometrically to 10**6."""
    out = set(range(1, max(reach, 64) + 1))
    steps = 50
    ratio = (N_MAX / 64) ** (1 / steps)
    out |= {round(64 * ratio**k) for k in range(steps + 1)}
    return sorted(out)


def play(strategy: Strategy, secret: int) -> int:
    """Guesses until the secret, every one judged and reported."""
    judge = Judge(secret)
    count = 0
    while True:
        guess = strategy.next_guess()
        count += 1
        decision = judge.judge(guess)
        if decision is Decision.CORRECT:
            return count
        strategy.observe(guess, decision)


@dataclass
class SmartRow:
    n: int
    worst: int
    mean: float
    secrets: int
    exhaustive: bool


def measure_smart(n: int, exact_max: int, rng: random.Random) -> SmartRow:
    if n <= exact_max:
        counts = play_every_secret(SmartStrategy(0, n - 1), 0, n - 1)
        return SmartRow(n, counts.worst, counts.mean, n, True)
    edges = sorted({*range(min(500, n)), *range(max(0, n - 500), n)})
    spread = sorted({n * k // 5000 for k in range(5000)} | {rng.randrange(n) for _ in range(2000)})
    edge_counts = [play(SmartStrategy(0, n - 1), s) for s in edges]
    counts = [play(SmartStrategy(0, n - 1), s) for s in spread]
    return SmartRow(
        n,
        max(max(edge_counts), max(counts)),
        statistics.fmean(counts),
        len(set(edges) | set(spread)),
        False,
    )


def measure_random(n: int, rng: random.Random) -> tuple[float, int]:
    """Mean guesses of simulated games (uniform secrets), and how many."""
    low, high = RANDOM_GAMES
    games = max(low, min(high, RANDOM_GUESS_BUDGET // n))
    counts = [
        play(RandomStrategy(0, n - 1, random.Random(rng.getrandbits(64))), rng.randrange(n))
        for _ in range(games)
    ]
    return statistics.fmean(counts), games


def worst_of(n: int) -> int:
    return play_every_secret(SmartStrategy(0, n - 1), 0, n - 1).worst


def sweep(lo: int, hi: int, procs: int) -> tuple[list[int], list[int]]:
    """Every N in [lo, hi] whose worst case over every secret misses the goal
    floor(log2 3N) + 1, and every one above floor(log2 3N)."""
    ns = range(lo, hi + 1)
    with multiprocessing.Pool(procs) as pool:
        worsts = pool.map(worst_of, ns, chunksize=16)
    missed, over_w = [], []
    for n, worst in zip(ns, worsts, strict=True):
        assert worst <= contract(n), f"contract broken: N={n} worst={worst}"
        if worst > goal(n):
            missed.append(n)
        if worst > goal_w(n):
            over_w.append(n)
    return missed, over_w


def per_guess_costs(rng: random.Random) -> list[tuple[str, float, float, float]]:
    """(range, guesses per game, microseconds per guess with the memo of
    games emptied before each game, and with it kept), judge included."""
    rows = []
    for label, lower, upper in [
        ("N = 11", 0, 10),
        ("N = 100", 1, 100),
        ("N = 200", 0, 199),
        ("N = 1,000", 0, 999),
        ("N = 10**6", 0, 10**6 - 1),
        ("N = 2**64 (all of int64)", INT64_MIN, INT64_MAX),
    ]:
        secrets = [rng.randint(lower, upper) for _ in range(2000)]
        timings = []
        for keep in (False, True):
            smart.forget()
            elapsed = 0.0
            total = 0
            for secret in secrets:
                if not keep:
                    smart.forget()
                start = time.perf_counter()
                total += play(SmartStrategy(lower, upper), secret)
                elapsed += time.perf_counter() - start
            timings.append(elapsed / total * 1e6)
        rows.append((label, total / len(secrets), timings[0], timings[1]))
    return rows


def bound_curve(fn: object, ns: Iterable[int]) -> tuple[list[int], list[int]]:
    xs = sorted(set(ns))
    return xs, [fn(n) for n in xs]  # type: ignore[operator]


def dense_ns() -> list[int]:
    """Enough N to draw the step bounds exactly: all N where one may change."""
    ns = set(range(1, 130))
    k = 1
    while 2**k <= 4 * N_MAX:
        for v in (2**k, 2**k + 1, -(-(2**k) // 3), 2**k // 3 + 1):
            if 1 <= v <= N_MAX:
                ns.add(v)
                ns.add(max(1, v - 1))
        k += 1
    ns.add(N_MAX)
    return sorted(ns)


def plot(
    out: Path,
    smart: Sequence[SmartRow],
    rand: dict[int, tuple[float, int]],
    exact_max: int,
    optima: dict[int, Optimum],
) -> None:
    xs = dense_ns()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), constrained_layout=True)

    ns = [r.n for r in smart]
    left.step(
        *bound_curve(contract, xs),
        where="post",
        color="tab:red",
        ls="--",
        lw=1,
        label="contract ceil(log2 N)+2",
    )
    left.step(
        *bound_curve(goal, xs),
        where="post",
        color="black",
        lw=1.2,
        label="IOI bound floor(log2 3N)+1",
    )
    left.step(
        *bound_curve(info_bound, xs),
        where="post",
        color="tab:gray",
        ls=":",
        lw=1.2,
        label="information bound ceil(log2(N+1))",
    )
    if optima:
        on = sorted(optima)
        left.step(
            on,
            [optima[n].optimum for n in on],
            where="post",
            color="tab:purple",
            lw=1.6,
            label=f"exact optimum (N <= {on[-1]})",
        )
    exact = [r for r in smart if r.exhaustive]
    sampled = [r for r in smart if not r.exhaustive]
    left.plot(
        [r.n for r in exact],
        [r.worst for r in exact],
        "o",
        ms=4,
        color="tab:blue",
        label="smart worst (every secret)",
    )
    if sampled:
        left.plot(
            [r.n for r in sampled],
            [r.worst for r in sampled],
            "o",
            ms=4,
            mfc="white",
            color="tab:blue",
            label="smart worst (sampled secrets)",
        )
        left.axvspan(exact_max, N_MAX * 1.1, color="tab:blue", alpha=0.06)
        left.text(
            exact_max * 1.1, 0.6, "sampled\nsecrets", fontsize=8, color="tab:blue", va="bottom"
        )
    left.plot(ns, [r.mean for r in smart], "-", color="tab:green", lw=1.3, label="smart mean")
    left.set_xscale("log")
    left.set_xlim(0.9, N_MAX * 1.1)
    left.set_ylim(0, 25)
    left.set_yticks(range(0, 26, 2))
    left.grid(True, which="major", alpha=0.3)
    left.set_xlabel("N (numbers in the range)")
    left.set_ylabel("guesses per game")
    left.set_title("smart against the bounds")
    left.legend(loc="upper left", fontsize=8.5)

    rn = sorted(rand)
    right.plot(ns, ns, "-", color="tab:orange", lw=1.2, label="random worst = N")
    right.plot(
        rn,
        [rand[n][0] for n in rn],
        "s",
        ms=3.5,
        color="tab:orange",
        label="random mean (simulated games)",
    )
    right.plot(xs, [(n + 1) / 2 for n in xs], ":", color="tab:orange", lw=1, label="(N+1)/2")
    right.plot(ns, [r.worst for r in smart], "o", ms=3, color="tab:blue", label="smart worst")
    right.plot(ns, [r.mean for r in smart], "-", color="tab:green", lw=1.3, label="smart mean")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlim(0.9, N_MAX * 1.1)
    right.set_ylim(0.8, N_MAX * 2)
    right.grid(True, which="major", alpha=0.3)
    right.set_xlabel("N (numbers in the range)")
    right.set_ylabel("guesses per game (log)")
    right.set_title("random against smart")
    right.legend(loc="upper left", fontsize=8.5)

    fig.savefig(out, dpi=110)
    plt.close(fig)


def print_optimum_table(smart: Sequence[SmartRow], optima: dict[int, Optimum]) -> None:
    """Every N the solver reached: the optimum, smart, the IOI counts."""
    rows = {r.n: r for r in smart}
    print(
        "\n| N | optimum | smart worst | smart mean | least mean | "
        "floor(log2 3N) | IOI floor(log2 3N)+1 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    above, above_w = [], []
    for n in sorted(optima):
        opt, row = optima[n], rows[n]
        least = "" if opt.least_mean is None else f"{opt.least_mean:.3f}"
        mark = " (+1)" if row.worst > opt.optimum else ""
        print(
            f"| {n} | {opt.optimum} | {row.worst}{mark} | {row.mean:.3f} | {least} "
            f"| {goal_w(n)} | {goal(n)} |"
        )
        if row.worst > opt.optimum:
            above.append(n)
        if opt.optimum > goal_w(n):
            above_w.append(n)
    print(f"\nsmart above the optimum at {len(above)} N: {above}")
    print(f"optimum above floor(log2 3N) at {len(above_w)} N: {compress(above_w)}")


def compress(ns: Sequence[int]) -> str:
    """1, 2, 3, 7 -> '1-3, 7'."""
    out: list[str] = []
    for n in ns:
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = out[-1].split("-")[0] + f"-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exact-max", type=int, default=N_MAX)
    parser.add_argument("--sweep", default="1:5000", help="LO:HI, every N and every secret")
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="for --sweep")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "strategies.png")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--optimum",
        type=Path,
        default=ROOT / "benchmarks" / "optimum.json",
        help="tools/optimum.py --json output",
    )
    parser.add_argument(
        "--costs-only", action="store_true", help="only time a guess (the last table)"
    )
    args = parser.parse_args()
    if args.costs_only:
        print_costs(random.Random(args.seed))
        return
    optima = load_optimum(args.optimum)
    reach = max(optima, default=0)
    rng = random.Random(args.seed)
    began = time.perf_counter()

    smart: list[SmartRow] = []
    rand: dict[int, tuple[float, int]] = {}
    base = set(sizes())
    for n in sizes(reach):
        row = measure_smart(n, args.exact_max, rng)
        assert row.worst <= contract(n), f"contract broken: N={n} worst={row.worst}"
        smart.append(row)
        if n in base:  # the N of the optimum's table only for smart
            rand[n] = measure_random(n, rng)
    plot(args.out, smart, rand, args.exact_max, optima)

    table_ns = set(range(1, 13)) | {16, 24, 32, 48, 64} | {n for n in base if n > 64}
    print(
        "| N | optimum | smart worst | smart mean | secrets played | IOI floor(log2 3N)+1 "
        "| ceil(log2(N+1)) | contract | random worst | random mean (games) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in smart:
        n = row.n
        if n not in table_ns:
            continue
        played = "all" if row.exhaustive else f"{row.secrets:,} sampled"
        over = " (+1)" if row.worst > goal(n) else ""
        mean, games = rand[n]
        best = optima[n].optimum if n in optima else ""
        print(
            f"| {n:,} | {best} | {row.worst}{over} | {row.mean:.2f} | {played} | {goal(n)} "
            f"| {info_bound(n)} | {contract(n)} | {n:,} | {mean:,.1f} ({games:,}) |"
        )
    met = sum(r.worst <= goal(r.n) for r in smart)
    print(f"\nsmart meets the IOI bound at {met} of {len(smart)} plotted N", end="")
    missed_plotted = [r.n for r in smart if r.worst > goal(r.n)]
    print(f"; misses: {missed_plotted}" if missed_plotted else "")

    if optima:
        print_optimum_table(smart, optima)

    lo, hi = (int(v) for v in args.sweep.split(":"))
    if hi >= lo:
        missed, over_w = sweep(lo, hi, args.procs)
        print(
            f"\nevery N in {lo}..{hi}, every secret: contract held; "
            f"{len(missed)} N miss the IOI bound (by one guess): {missed}"
        )
        print(f"{len(over_w)} N above floor(log2 3N): {compress(over_w)}")
        over = set(over_w)
        for k in range(1, 40):
            # Per level of floor(log2 3N): how many N, how many above it.
            level = [n for n in range(lo, hi + 1) if goal_w(n) == k]
            if level:
                high = [n for n in level if n in over]
                print(f"  floor(log2 3N) = {k}: N {level[0]}..{level[-1]}, {len(high)} above")

    print_costs(rng)
    print(f"\n{args.out} written; {time.perf_counter() - began:.0f} s in all")


def print_costs(rng: random.Random) -> None:
    print(
        "\n| smart, range | guesses per game | µs per guess, new range every game "
        "| µs per guess, range seen before |"
    )
    print("|---|---:|---:|---:|")
    for label, per_game, cold, warm in per_guess_costs(rng):
        print(f"| {label} | {per_game:.1f} | {cold:,.1f} | {warm:,.1f} |")


if __name__ == "__main__":
    main()
