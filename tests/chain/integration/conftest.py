import threading
import time
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


def _serve(n_ctx: int):
    """`hag-chain serve`'s application on a free loopback port over the default model.

    ``n_ctx`` tells the servers apart from each other and from the ``chat`` fixture: each gets its own llama.cpp
    context (and KV cache), so the prompt cache one test module leaves behind never changes how another's prompts are
    split into batches. Threads are fixed, as greedy near ties can tip with the thread count.
    """
    import uvicorn

    from hag_chain.server import create_app

    served = ChatHAG(max_tokens=16, n_ctx=n_ctx, n_threads=2)
    served.load()
    srv = uvicorn.Server(uvicorn.Config(create_app(served), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield Served(f"http://127.0.0.1:{port}/v1", served)
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="session")
def server():
    """The server test_serve.py drives."""
    yield from _serve(4000)


@pytest.fixture(scope="session")
def suite_server():
    """The server LangChain's standard suite drives through ChatOpenAI."""
    yield from _serve(3900)
