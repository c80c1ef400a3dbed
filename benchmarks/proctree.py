"""What a server costs, read from ``/proc``: the CPU time and resident
memory of a process and of every process under it (a store's writer
process, workers), whichever of its threads started them. Linux only; the
benchmarks share it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds", "own_cpu", "own_rss", "process_tree", "rss_mib"]


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live process under it, whichever thread started it."""
    found = [pid]
    for parent in found:  # grows as children are found
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                found += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def own_cpu(pid: int, reaped: bool) -> float:
    """utime + stime of one process, all its threads included (and, with
    ``reaped``, of its children that ended and were waited for)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    # Fields 14-17 of proc(5), counted after the command name.
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of every process under it, living or
    ended and waited for, all their threads included."""
    return sum(own_cpu(p, reaped=True) for p in process_tree(pid))


def own_rss(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process and every process under it, summed."""
    sizes = [r for r in map(own_rss, process_tree(pid)) if r is not None]
    return sum(sizes) if sizes else None
