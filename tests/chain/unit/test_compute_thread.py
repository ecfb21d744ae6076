"""The compute thread's hand-over: results, errors, early exits and calls made from the thread itself."""

import asyncio
import signal
import sys
import threading
import time

import pytest

from hag_chain.llama.compute import (
    OnComputeThread,
    aiterate_on_compute_thread,
    iterate_on_compute_thread,
    run_on_compute_thread,
)

pytestmark = pytest.mark.unit


def _thread() -> str:
    return threading.current_thread().name


def test_run_returns_the_result_computed_on_the_compute_thread():
    name = run_on_compute_thread(_thread)
    assert name != _thread() and name.startswith("hag-chain-llama")
    assert run_on_compute_thread(_thread) == name  # one long-lived thread


def test_run_raises_the_error_on_the_callers_thread():
    def fail() -> None:
        raise KeyError("no such knob")

    with pytest.raises(KeyError, match="no such knob"):
        run_on_compute_thread(fail)


def test_a_call_from_the_compute_thread_runs_in_place():
    assert run_on_compute_thread(lambda: run_on_compute_thread(_thread)) == run_on_compute_thread(_thread)


def test_iterate_yields_in_order_and_closes_the_generator_when_left_early():
    closed_on: list[str] = []

    def numbers():
        try:
            for i in range(1000):
                yield i, _thread()
        finally:
            closed_on.append(_thread())

    seen = []
    for i, name in iterate_on_compute_thread(numbers):
        seen.append(i)
        assert name.startswith("hag-chain-llama")
        if i == 2:
            break
    assert seen == [0, 1, 2]
    run_on_compute_thread(lambda: None)  # the thread has moved on past the generator's exit
    assert len(closed_on) == 1 and closed_on[0].startswith("hag-chain-llama")


def test_iterate_raises_an_error_after_the_items_before_it():
    def broken():
        yield 1
        raise ValueError("prompt too long")

    got = []
    with pytest.raises(ValueError, match="prompt too long"):
        for item in iterate_on_compute_thread(broken):
            got.append(item)
    assert got == [1]


def test_aiterate_relays_items_to_an_event_loop():
    def letters():
        yield from "abc"

    async def collect() -> list[str]:
        return [x async for x in aiterate_on_compute_thread(letters)]

    assert asyncio.run(collect()) == ["a", "b", "c"]


def test_on_compute_thread_moves_method_calls_and_the_iterators_they_return():
    class Client:
        name = "client"

        def where(self) -> str:
            return _thread()

        def stream(self, n: int):
            for _ in range(n):
                yield _thread()

    proxy = OnComputeThread(Client())
    assert proxy.name == "client"
    assert proxy.where().startswith("hag-chain-llama")
    names = list(proxy.stream(3))
    assert len(names) == 3 and all(n.startswith("hag-chain-llama") for n in names)


def _waits_in_run(frame) -> bool:
    """Whether ``frame`` is a wait inside ``run_on_compute_thread`` (a thread's start waits too)."""
    if frame is None or frame.f_code.co_name != "wait":
        return False
    while frame is not None and frame.f_code.co_name != "run_on_compute_thread":
        frame = frame.f_back
    return frame is not None


def test_a_waiting_caller_interrupted_returns_only_after_the_work_is_done():
    """Ctrl-C while the main thread waits: KeyboardInterrupt is raised once the compute thread has finished the step,
    so nothing the caller frees on its way out is still in use there.
    """
    handled, may_finish, finished = threading.Event(), threading.Event(), threading.Event()

    def on_sigint(*_: object) -> None:
        handled.set()
        raise KeyboardInterrupt

    def step() -> None:
        may_finish.wait()
        finished.set()

    def press_ctrl_c() -> None:
        main = threading.main_thread().ident
        while not _waits_in_run(sys._current_frames().get(main)):
            time.sleep(0.001)
        signal.pthread_kill(main, signal.SIGINT)  # to the waiting main thread itself
        handled.wait()  # the main thread has taken the interrupt; only now may the step end
        may_finish.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        threading.Thread(target=press_ctrl_c).start()
        with pytest.raises(KeyboardInterrupt):
            run_on_compute_thread(step)
        assert finished.is_set()
    finally:
        signal.signal(signal.SIGINT, previous)
