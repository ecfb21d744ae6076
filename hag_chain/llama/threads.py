"""How many CPU threads llama.cpp gets for a call: every CPU that other processes are not keeping busy.

Measured on a 2-core machine (``python bench/runtime.py``, 128-token answers, 2026-12-01): idle, every CPU answered
in 1.81 s against 3.31 s for llama.cpp's own default (one decoding thread); with another process keeping one core
busy, every CPU took 7.08 s against 3.17 s, because llama.cpp's threads wait for each other at every layer and one of
them keeps losing its core. So the default follows the machine's load: before each call, the CPU time other
processes used since the previous call (the machine's busy time minus this process's own, read with psutil) says
how many cores are taken.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import psutil

__all__ = ["CpuMeter", "CpuSample", "available_cpus"]


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform has one, else every CPU)."""
    affinity = getattr(psutil.Process(), "cpu_affinity", None)  # macOS has no affinity
    return len(affinity()) if affinity is not None else psutil.cpu_count() or 1


class CpuSample(NamedTuple):
    """One reading: when it was taken, and the CPU seconds spent so far by every process and by this one."""

    wall: float
    busy: float
    own: float


class CpuMeter:
    """Reads how many cores other processes kept busy between two calls."""

    MIN_WINDOW_S = 0.05
    """A shorter window is all noise: keep the previous choice."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._last = self.sample()

    def threads(self, current: int) -> int:
        """The threads to use now: the CPUs not busy with other processes (at least 1), else ``current``."""
        busy = self.others_busy()
        return current if busy is None else threads_for(available_cpus(), busy)

    def others_busy(self) -> float | None:
        """Cores other processes kept busy, on average, since the previous reading; ``None`` if the window is short."""
        now = self.sample()
        busy = others_busy_between(self._last, now, self.MIN_WINDOW_S)
        if busy is not None:
            self._last = now
        return busy

    def sample(self) -> CpuSample:
        """The machine's and this process's CPU seconds now."""
        machine, own = psutil.cpu_times(), self._process.cpu_times()
        # Linux only: iowait is idle time; guest time is already counted in user and nice
        not_busy = ("idle", "iowait", "guest", "guest_nice")
        idle = sum(getattr(machine, name, 0.0) for name in not_busy)
        return CpuSample(time.monotonic(), sum(machine) - idle, own.user + own.system)


def others_busy_between(earlier: CpuSample, later: CpuSample, min_window: float = 0.0) -> float | None:
    """Cores other processes kept busy on average between two samples, ``None`` if less than ``min_window`` apart."""
    wall = later.wall - earlier.wall
    if wall < min_window or wall <= 0:
        return None
    return max(0.0, ((later.busy - earlier.busy) - (later.own - earlier.own)) / wall)


def threads_for(cpus: int, others_busy: float) -> int:
    """The threads to give llama.cpp on ``cpus`` CPUs while other processes keep ``others_busy`` cores busy."""
    return max(1, min(cpus, round(cpus - others_busy)))
