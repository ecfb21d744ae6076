"""How many CPU threads llama.cpp gets for a call: every CPU that other processes are not keeping busy.

Measured on a 2-core machine (``python bench/runtime.py``, 128-token answers): idle, every CPU answered in 1.81 s
against 3.31 s for llama.cpp's own default (one decoding thread); with another process keeping one core busy,
every CPU took 7.08 s against 3.17 s, because llama.cpp's threads wait for each other at every layer and one of
them keeps losing its core. So the default follows the machine's load: before each call, the CPU time other
processes used since the previous call (``/proc/stat`` minus this process's own) says how many cores are taken.
"""

from __future__ import annotations

import os
import time

__all__ = ["CpuMeter", "available_cpus"]


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class CpuMeter:
    """Reads how many cores other processes kept busy between two calls (Linux; elsewhere it knows nothing)."""

    _MIN_WINDOW_S = 0.05  # a shorter window is all noise: keep the previous choice

    def __init__(self) -> None:
        self._ticks_per_s = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._sample()

    def threads(self, current: int) -> int:
        """The threads to use now: the CPUs not busy with other processes (at least 1), else ``current``."""
        busy = self.others_busy()
        if busy is None:
            return current
        cpus = available_cpus()
        return max(1, min(cpus, round(cpus - busy)))

    def others_busy(self) -> float | None:
        """Cores other processes kept busy, on average, since the previous reading; ``None`` if unknown."""
        now, last = self._sample(), self._last
        if now is None or last is None or now[0] - last[0] < self._MIN_WINDOW_S:
            return None
        self._last = now
        wall, busy, own = (a - b for a, b in zip(now, last))
        return max(0.0, (busy - own) / wall)

    def _sample(self) -> tuple[float, float, float] | None:
        """(monotonic seconds, CPU seconds all processes were busy, CPU seconds of this process)."""
        try:
            with open("/proc/stat", encoding="ascii") as f:
                fields = [int(x) for x in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + fields[4]  # idle and iowait
        own = os.times()
        return time.monotonic(), (sum(fields) - idle) / self._ticks_per_s, own.user + own.system
