"""``hag-chain serve``: HAG over the OpenAI chat-completions API, for clients outside Python and LangChain.

Needs the ``serve`` extra (``pip install 'hag-chain[serve]'``: FastAPI, uvicorn, sse-starlette).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hag_chain.server.app import create_app
from hag_chain.server.defaults import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STREAM_INTERVAL

if TYPE_CHECKING:
    from hag_chain.chat.model import ChatHAG

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_STREAM_INTERVAL", "create_app", "serve"]


def serve(
    chat: ChatHAG,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    model_name: str | None = None,
    log_level: str = "info",
    stream_interval: float = DEFAULT_STREAM_INTERVAL,
) -> None:
    """Serve ``chat`` over HTTP with uvicorn until interrupted (Ctrl-C); ``stream_interval`` as in ``create_app``."""
    import uvicorn

    app = create_app(chat, model_name=model_name, stream_interval=stream_interval)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
