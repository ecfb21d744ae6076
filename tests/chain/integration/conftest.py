import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from hag_chain import ChatHAG


@pytest.fixture(scope="session")
def chat() -> ChatHAG:
    model = ChatHAG(max_tokens=24)
    model.load()
    return model


@dataclass(frozen=True)
class Served:
    """A running `hag-chain serve` application: its base URL and the ChatHAG behind it."""

    url: str
    chat: ChatHAG


def run_app(app) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn on a free loopback port, in a thread; yields ``http://127.0.0.1:PORT``."""
    import uvicorn

    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}"
    srv.should_exit = True
    thread.join(timeout=30)


def _serve(n_ctx: int) -> Iterator[Served]:
    """`hag-chain serve`'s application on a free loopback port over the default model.

    ``n_ctx`` tells the servers apart from each other and from the ``chat`` fixture: each gets its own llama.cpp
    context (and KV cache), so the prompt cache one test module leaves behind never changes how another's prompts are
    split into batches. Threads are fixed, as greedy near ties can tip with the thread count.
    """
    from hag_chain.server import create_app

    served = ChatHAG(max_tokens=16, n_ctx=n_ctx, n_threads=2)
    served.load()
    for url in run_app(create_app(served)):
        yield Served(f"{url}/v1", served)


@pytest.fixture(scope="session")
def server():
    """The server test_serve.py drives."""
    yield from _serve(4000)


@pytest.fixture(scope="session")
def suite_server():
    """The server LangChain's standard suite drives through ChatOpenAI."""
    yield from _serve(3900)
