"""The thread policy, on known CPU-time samples: a core kept busy by another process is a thread less for llama.cpp.

The samples are given, not measured, so each test has one right answer whatever else the machine is doing.
"""

from collections import namedtuple
from types import SimpleNamespace

import psutil
import pytest

from hag_chain.llama import threads
from hag_chain.llama.threads import CpuMeter, CpuSample, others_busy_between, threads_for

pytestmark = pytest.mark.unit


def test_others_busy_is_the_machines_busy_time_less_this_process_over_the_window():
    earlier = CpuSample(wall=10.0, busy=100.0, own=5.0)
    # 2 s in which the machine was busy 3.5 CPU-seconds, 0.5 of them this process's own: 1.5 cores busy elsewhere.
    assert others_busy_between(earlier, CpuSample(wall=12.0, busy=103.5, own=5.5)) == 1.5
    # This process alone kept the machine busy: nobody else.
    assert others_busy_between(earlier, CpuSample(wall=12.0, busy=102.0, own=7.0)) == 0.0
    # Counters sampled a moment apart can make the difference negative: never fewer than no cores.
    assert others_busy_between(earlier, CpuSample(wall=12.0, busy=101.0, own=7.0)) == 0.0


def test_a_window_shorter_than_the_minimum_says_nothing():
    earlier = CpuSample(wall=10.0, busy=100.0, own=5.0)
    later = CpuSample(wall=10.04, busy=100.04, own=5.0)
    assert others_busy_between(earlier, later, min_window=0.05) is None
    assert others_busy_between(earlier, later) == pytest.approx(1.0)
    assert others_busy_between(earlier, earlier) is None  # no time passed


@pytest.mark.parametrize(
    ("cpus", "others", "expected"),
    [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 2.0, 1), (8, 2.6, 5), (8, 0.0, 8), (4, 9.0, 1)],
)
def test_threads_are_the_cpus_others_leave_free_and_at_least_one(cpus, others, expected):
    assert threads_for(cpus, others) == expected


class _Scripted(CpuMeter):
    """A meter that reads the given samples in turn instead of the machine's counters."""

    def __init__(self, *samples: CpuSample) -> None:
        self._samples = iter(samples)
        super().__init__()  # takes the first sample

    def sample(self) -> CpuSample:
        return next(self._samples)


def test_meter_gives_a_core_kept_busy_elsewhere_back_as_a_thread_less(monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda: 4)
    meter = _Scripted(
        CpuSample(wall=0.0, busy=0.0, own=0.0),
        CpuSample(wall=1.0, busy=1.5, own=0.5),  # one core busy elsewhere
        CpuSample(wall=2.0, busy=2.0, own=1.0),  # only this process
        CpuSample(wall=3.0, busy=6.0, own=1.0),  # every core busy elsewhere
    )
    assert [meter.threads(current=7) for _ in range(3)] == [3, 4, 1]


def test_a_window_too_short_to_measure_keeps_the_current_choice_and_the_earlier_sample(monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda: 4)
    w = CpuMeter.MIN_WINDOW_S
    meter = _Scripted(
        CpuSample(wall=0.0, busy=0.0, own=0.0),
        CpuSample(wall=0.5 * w, busy=0.5 * w, own=0.0),  # too soon: no new information
        CpuSample(wall=w, busy=2 * w, own=0.0),  # a full window since the first sample: 2 cores busy elsewhere
    )
    assert meter.threads(current=7) == 7
    assert meter.threads(current=7) == 2  # measured from the first sample (from the second it is too soon again)


def test_a_sample_counts_idle_iowait_and_guest_time_as_not_busy(monkeypatch):
    # A fake, named as such: no test can set the machine's CPU counters, so psutil's readings are given here (its
    # Linux fields; guest time is already counted in user and nice).
    Times = namedtuple("Times", "user nice system idle iowait irq softirq steal guest guest_nice")
    machine = Times(
        user=10.0,
        nice=1.0,
        system=5.0,
        idle=100.0,
        iowait=3.0,
        irq=0.5,
        softirq=0.5,
        steal=0.0,
        guest=2.0,
        guest_nice=1.0,
    )
    own = SimpleNamespace(user=1.25, system=0.5, children_user=9.0, children_system=9.0)  # children: not ours
    monkeypatch.setattr(psutil, "cpu_times", lambda: machine)
    monkeypatch.setattr(psutil, "Process", lambda: SimpleNamespace(cpu_times=lambda: own))
    sample = CpuMeter().sample()
    assert (sample.busy, sample.own) == (17.0, 1.75)
