"""One thread per process runs every llama.cpp computation.

llama-cpp-python's wheel builds llama.cpp with OpenMP, and libgomp gives each thread that starts a parallel region a
team of worker threads that lives as long as that thread does. Once the teams' threads outnumber the CPUs, libgomp
stops spinning at the barrier between two operations and puts the threads to sleep instead, so every operation of
every layer waits for a wake-up. Measured on a 2-core machine (SmolLM2-135M, 2 threads, llama-cpp-python 0.3.36): a
64-token completion from a second thread, after one from the main thread, took 2.35 s against 0.89 s;
``ChatHAG.batch`` of 8 prompts took 13.3 s against 5.9 s for a loop of ``invoke``, and ``ainvoke`` after ``invoke``
2.2 times as long. With every computation on one long-lived thread, one team exists, whoever calls.

The computations run there; callbacks, LangChain events and cache writes stay on the caller's thread: the functions
here hand back results or items, never call the caller's code on that thread.
Nothing here was found in llama-cpp-python or LangChain (llama-cpp-python's own server runs calls on anyio's worker
threads, which has the same cost), hence a small module of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = [
    "OnComputeThread",
    "aiterate_on_compute_thread",
    "arun_on_compute_thread",
    "iterate_on_compute_thread",
    "run_on_compute_thread",
]

T = TypeVar("T")

_THREAD_NAME = "hag-chain-llama"
_DONE = object()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def run_on_compute_thread(fn: Callable[[], T]) -> T:
    """``fn()`` on the compute thread (directly when called there); its result or its exception.

    A ``KeyboardInterrupt`` while waiting is raised once ``fn`` has finished, so that nothing the caller frees on
    its way out (a sampler, a KV cache) is still in use on the compute thread.
    """
    if _on_compute_thread():
        return fn()
    future: Future[T] | None = None
    try:
        future = _submit(fn)
        return future.result()
    except BaseException:
        while future is not None and not future.done():
            with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C waits too: one step is short
                futures.wait([future])
        raise


async def arun_on_compute_thread(fn: Callable[[], T]) -> T:
    """:func:`run_on_compute_thread` for an event loop: the loop waits for the result without blocking."""
    if _on_compute_thread():
        return fn()
    return await asyncio.wrap_future(_submit(fn))


def iterate_on_compute_thread(make: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The items of the iterator ``make()`` returns, which runs on the compute thread.

    Leaving the loop early (``break``, an exception, closing this generator) stops it at its next item and closes it,
    so its ``finally`` blocks (a released lock) run on the compute thread.
    """
    if _on_compute_thread():
        yield from make()
        return
    items: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    stop = threading.Event()
    _submit(lambda: _produce(make, items.put, stop))
    try:
        while (item := _unwrap(items.get())) is not _DONE:
            yield item
    finally:
        stop.set()


async def aiterate_on_compute_thread(make: Callable[[], Iterator[T]]) -> AsyncGenerator[T, None]:
    """:func:`iterate_on_compute_thread` for an event loop: the loop waits for items without blocking."""
    if _on_compute_thread():  # an event loop on the compute thread itself (a callback's): it has to block
        for item in make():
            yield item
        return
    loop = asyncio.get_running_loop()
    items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(items.put_nowait, item)

    _submit(lambda: _produce(make, put, stop))
    try:
        while (item := _unwrap(await items.get())) is not _DONE:
            yield item
    finally:
        stop.set()


class OnComputeThread:
    """An object whose method calls run on the compute thread; an iterator one returns is iterated there too.

    ``SelfTuning`` lends one to a target that runs llama.cpp in this process (``ChatLlamaCpp``'s ``client``): only
    the llama.cpp calls move, and the target's own code and callbacks stay on the thread that calls it.
    """

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._wrapped, name)
        if not callable(attr):
            return attr

        def on_compute_thread(*args: Any, **kwargs: Any) -> Any:
            result = run_on_compute_thread(lambda: attr(*args, **kwargs))
            return iterate_on_compute_thread(lambda: result) if isinstance(result, Iterator) else result

        return on_compute_thread


def _produce(make: Callable[[], Iterator[Any]], put: Callable[[tuple[str, Any]], None], stop: threading.Event) -> None:
    try:
        if stop.is_set():  # left before its turn came (a client gone while it waited)
            return
        items = make()
        try:
            for item in items:
                if stop.is_set():
                    return
                put(("item", item))
        finally:  # a generator's own cleanup (a lock it holds) runs here, on this thread
            close = getattr(items, "close", None)
            if close is not None:
                close()
        put(("done", None))
    except BaseException as e:  # re-raised on the caller's thread
        put(("error", e))


def _unwrap(message: tuple[str, Any]) -> Any:
    """A produced item, :data:`_DONE` at the end, or the producer's error raised."""
    kind, value = message
    if kind == "error":
        raise value
    return _DONE if kind == "done" else value


def _on_compute_thread() -> bool:
    return threading.current_thread().name.startswith(_THREAD_NAME)


def _submit(fn: Callable[[], T]) -> Future[T]:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_THREAD_NAME)
    context = contextvars.copy_context()  # as asyncio's run_in_executor does: tracing and config context follow
    return _executor.submit(context.run, fn)
