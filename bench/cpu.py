"""Where the CPU of a queued build goes: the whole machine's busy CPU over a phase
(``/proc/stat``: user, nice, system, irq, softirq; not idle, iowait or steal) and Ocelot's own
share of it (the worker's process tree, reaped children such as ``git`` included, and this
process, which serves the API in a thread). The rest is the Docker daemon, containerd, its
shims and ``runc``, and the containers themselves. Compared with the same figure per
``docker run --rm`` of the concurrent loops, it says whether throughput is bound by what
Ocelot does or by what it asks of the daemon."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / TICK


def _stats() -> dict[int, tuple[int, float]]:
    """``{pid: (ppid, cpu seconds incl. reaped children)}`` of every process."""
    found: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        rest = text.rsplit(")", 1)[1].split()
        ppid = int(rest[1])
        utime, stime, cutime, cstime = (int(v) for v in rest[11:15])
        found[int(entry.name)] = (ppid, (utime + stime + cutime + cstime) / TICK)
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds of process ``root`` and its descendants (their reaped children too)."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo.extend(children.get(pid, ()))
    return total


def self_cpu() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Sample:
    busy: float
    ocelot: float


def sample(worker_pid: int | None) -> Sample:
    ours = self_cpu() + (tree_cpu(worker_pid) if worker_pid is not None else 0.0)
    return Sample(machine_busy(), ours)


def per_unit(before: Sample, after: Sample, units: int) -> tuple[float, float]:
    """Milliseconds of busy CPU per unit: the whole machine's, and Ocelot's share."""
    return (
        (after.busy - before.busy) * 1000 / units,
        (after.ocelot - before.ocelot) * 1000 / units,
    )
