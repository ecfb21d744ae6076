"""The thread policy reads the machine's real load: a busy process takes a core away from llama.cpp."""

import subprocess
import sys
import time

import pytest

from hag_chain.llama.threads import CpuMeter, available_cpus

pytestmark = pytest.mark.unit

SPIN = [sys.executable, "-c", "import time\nend = time.time() + 1.0\nwhile time.time() < end: pass"]


def test_a_process_keeping_a_core_busy_is_seen_and_leaves_a_thread_less():
    meter = CpuMeter()
    busy = subprocess.Popen(SPIN)
    try:
        time.sleep(0.8)
        others = meter.others_busy()
    finally:
        busy.wait()
    assert others is not None and others >= 0.6  # the child spun (nearly) all along; this process slept
    time.sleep(0.2)
    meter.others_busy()
    busy = subprocess.Popen(SPIN)
    try:
        time.sleep(0.8)
        threads = meter.threads(current=available_cpus())
    finally:
        busy.wait()
    assert 1 <= threads <= max(1, available_cpus() - 1)


def test_a_window_too_short_to_measure_keeps_the_current_choice():
    meter = CpuMeter()
    meter.others_busy()
    assert meter.threads(current=7) == 7  # read again at once: no new information
