"""Generation on any server speaking the OpenAI chat-completions protocol."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hag_chain import KNOBS
from hag_training.generation.request import GenerationRequest

__all__ = ["OpenAICompatibleEngine"]


@dataclass
class OpenAICompatibleEngine:
    """A server speaking the OpenAI chat-completions protocol (llama-server, vLLM, llama-cpp-python's server).

    Requests run concurrently. Every knob of :data:`~hag_chain.KNOBS` is sent under each of its
    :attr:`~hag_chain.Knob.server_names` (ours, which vLLM reads, and llama-server's: ``repetition_penalty`` and
    ``repeat_penalty``); servers ignore names they do not use.

    A request's grammar (GBNF) is sent as ``grammar``, the field llama-server and llama-cpp-python's server read.
    Other servers ignore it and would answer unconstrained (vLLM takes grammars in its own field and dialect): set
    ``grammar=False`` to have requests with a grammar refused instead of sent.

    Args:
        base_url: E.g. ``http://127.0.0.1:8080/v1``.
        model: The ``model`` field sent with each request.
        concurrency: Requests in flight at once.
        timeout: Seconds per request.
        grammar: Whether the server applies a ``grammar`` field (see above); ``False`` refuses grammar requests.

    """

    base_url: str
    model: str = "default"
    concurrency: int = 4
    timeout: float = 300.0
    grammar: bool = True
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def engine_id(self) -> str:
        """``openai:<model>``: the cache assumes one model name means one set of weights."""
        return f"openai:{self.model}"

    def resolve(self, request: GenerationRequest) -> GenerationRequest:
        """``request`` with its tools as instructions in the system message (:func:`hag_chain.tool_call_messages`).

        The server's chat template is not known here, so tools are asked for as ``ChatHAG`` asks a model whose
        template cannot write them; the reply is read from the message's text either way.
        """
        if request.tools is None:
            return request
        from hag_chain import tool_call_messages

        return request.asked(tool_call_messages(request.chat, request.tool_list or []), None)

    def generate(
        self, requests: Sequence[GenerationRequest], on_reply: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """POST each request to ``/chat/completions``, ``concurrency`` at a time (``on_reply`` from the workers).

        Raises:
            ValueError: A request has a grammar and the engine was told the server applies none (``grammar=False``).

        """
        if not self.grammar and any(r.grammar is not None for r in requests):
            msg = (
                f"OpenAICompatibleEngine({self.base_url!r}, grammar=False) cannot constrain a reply to a grammar; "
                "use a llama-server or llama-cpp-python server (they read the `grammar` field) or a local engine."
            )
            raise ValueError(msg)

        requests = [self.resolve(r) for r in requests]

        def one(i: int) -> str:
            text = self._one(requests[i])
            if on_reply:
                on_reply(i, text)
            return text

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, range(len(requests))))

    def request_body(self, req: GenerationRequest) -> dict[str, Any]:
        """The JSON body posted for ``req``: model, messages, token limit, seed and every knob by its server names.

        A grammar (GBNF) goes in ``grammar``, only when the request has one.
        """
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.resolve(req).chat,
            "max_tokens": req.max_tokens,
            "seed": req.seed,
        }
        for name, knob in KNOBS.items():
            body.update(dict.fromkeys(knob.server_names, getattr(req.config, name)))
        if req.grammar is not None:
            body["grammar"] = req.grammar
        return body

    def _one(self, req: GenerationRequest) -> str:
        import httpx

        body = self.request_body(req)
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(base_url=self.base_url.rstrip("/"), timeout=self.timeout)
        response = client.post("/chat/completions", json=body)
        if response.status_code != 200:
            msg = f"{self.base_url}/chat/completions answered {response.status_code}: {response.text[:500]}"
            raise RuntimeError(msg)
        return response.json()["choices"][0]["message"]["content"] or ""
