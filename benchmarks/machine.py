"""What the machine was doing during a benchmark: load, and the CPU time the hypervisor stole.

On a shared virtual machine the host can take a large share of the CPUs ("steal" in
/proc/stat; 30-47% at times on 2026-12-01). Timings taken then are slower for reasons that
are not huenet's, so every benchmark records it beside its numbers.
"""

from __future__ import annotations

import os


def cpu_counters() -> list[int] | None:
    """The aggregate CPU line of /proc/stat (user, nice, system, idle, iowait, irq, softirq, steal, ...)."""
    try:
        with open("/proc/stat") as stat:
            return [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def conditions(before: list[int] | None) -> dict:
    """Load average now, and the share of CPU time stolen since ``before`` (None where unknown)."""
    after = cpu_counters()
    steal = None
    if before and after and len(after) > 7:
        total = sum(after[:8]) - sum(before[:8])
        steal = round((after[7] - before[7]) / total, 3) if total > 0 else None
    return {"cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2), "steal_share": steal}
