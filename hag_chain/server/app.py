"""``hag-chain serve``: an OpenAI-compatible HTTP server over one ``ChatHAG``.

``/v1/chat/completions`` (plain and streamed) and ``/v1/models``, on FastAPI with sse-starlette's event streams (the
stack llama-cpp-python's own server uses). Every request is one ``ChatHAG`` call: the planner chooses the knobs the
request leaves out, and the configuration comes back in the ``hag`` field and the ``X-HAG-Config`` header. Requests
run concurrently; ``ChatHAG``'s model lock serialises them on the one llama.cpp context. A client that disconnects
mid-stream cancels its call: ``ChatHAG`` stops at the next token and releases the lock, so the server stays usable.
Bad requests get OpenAI's error object with status 400.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from hag_chain.server.defaults import DEFAULT_STREAM_INTERVAL
from hag_chain.server.openai_wire import (
    CONFIG_HEADER,
    ChatCompletionRequest,
    chunk_body,
    completion_body,
    config_header,
    error_body,
    final_delta,
    finish_reason,
    new_completion_id,
    usage_body,
)
from hag_chain.server.pacing import TextPacer

if TYPE_CHECKING:
    from fastapi import FastAPI

    from hag_chain.chat.model import ChatHAG

__all__ = ["create_app"]


def create_app(
    chat: ChatHAG, *, model_name: str | None = None, stream_interval: float = DEFAULT_STREAM_INTERVAL
) -> FastAPI:
    """The FastAPI application serving ``chat`` under ``model_name`` (default: its resolved model name).

    A streamed answer's tokens go out at most once per ``stream_interval`` seconds, those generated in between in
    one chunk (:class:`~hag_chain.server.pacing.TextPacer`); 0 sends every token in a chunk of its own.
    """
    TextPacer(stream_interval)  # a negative interval is refused here, not on the first streamed request
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    name = model_name or chat.resolved_model_name
    app = FastAPI(title="hag-chain", summary="Hyperparameter Aware Generation, OpenAI-compatible")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Any, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            detail = first.get("ctx", {}).get("error", "")
            message, where = f"Invalid request: the body is not JSON ({detail}).", None
        else:
            where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
            message = f"Invalid request: {first.get('msg', 'malformed body')}" + (f" (at `{where}`)" if where else "")
        return JSONResponse(error_body(message, kind="invalid_request_error", param=where), status_code=400)

    @app.exception_handler(Exception)
    async def failed(_: Any, exc: Exception) -> JSONResponse:  # OpenAI's shape for the server's own failures too
        message = f"hag-chain failed to answer: {type(exc).__name__}: {exc}"
        return JSONResponse(error_body(message, kind="server_error", param=None), status_code=500)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "hag-chain"}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: ChatCompletionRequest) -> Any:
        try:
            messages, kwargs = request.messages_for_chat(), request.call_kwargs()
            if request.stream:
                include_usage = bool((request.stream_options or {}).get("include_usage"))
                return await _stream(chat, messages, kwargs, name, include_usage, TextPacer(stream_interval))
            message = await chat.ainvoke(messages, **kwargs)
        except ValueError as e:  # ChatHAG's refusals of a call (a bad knob, a prompt too long) are ValueErrors
            param = getattr(e, "param", None) or getattr(e, "field", None)
            return JSONResponse(error_body(str(e), kind="invalid_request_error", param=param), status_code=400)
        body = completion_body(message, name)
        return JSONResponse(body, headers={CONFIG_HEADER: config_header(body["hag"])})

    return app


async def _stream(
    chat: ChatHAG, messages: list, kwargs: dict[str, Any], name: str, include_usage: bool, pacer: TextPacer
) -> Any:
    """Start the call and answer with its event stream once the configuration is known (it goes in a header).

    Errors before the configuration (a bad knob, a prompt too long) raise here, so the client gets a 400 rather than
    a stream that breaks off.
    """
    from sse_starlette.sse import EventSourceResponse

    hag, chunks = await chat.astream_planned(messages, **kwargs)
    completion_id, created = new_completion_id(), int(time.time())

    def data(body: dict[str, Any]) -> dict[str, str]:
        return {"data": json.dumps(body, ensure_ascii=False)}

    def content(text: str) -> dict[str, str]:
        return data(chunk_body(completion_id, name, created, {"content": text}))

    async def sse() -> AsyncIterator[dict[str, str]]:
        try:
            yield data(chunk_body(completion_id, name, created, {"role": "assistant", "content": ""}, hag=hag))
            async for chunk in chunks:
                if chunk.chunk_position != "last":
                    if chunk.text and (text := pacer.add(chunk.text, time.monotonic())):
                        yield content(text)
                    continue
                if text := pacer.flush():
                    yield content(text)
                delta, reason = final_delta(chunk), finish_reason(chunk)
                yield data(chunk_body(completion_id, name, created, delta, finish_reason=reason))
                if include_usage and chunk.usage_metadata:
                    body = chunk_body(completion_id, name, created, {}, usage=usage_body(chunk))
                    body["choices"] = []
                    yield data(body)
            yield {"data": "[DONE]"}
        except Exception as e:  # the headers are out: say what went wrong in the stream (the openai client raises it)
            if text := pacer.flush():  # what was generated before the failure
                yield content(text)
            yield data(error_body(f"hag-chain failed mid-answer: {e}", kind="server_error", param=None))
        finally:  # also on a client's disconnect: ChatHAG stops at its next token and releases the model
            await chunks.aclose()

    return EventSourceResponse(sse(), headers={CONFIG_HEADER: config_header(hag)}, sep="\n")
