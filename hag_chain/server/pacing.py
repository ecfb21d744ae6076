"""How often a streamed answer goes out: at most one event per interval, the tokens in between together.

Every server-sent event costs both ends a wake-up, a JSON encoding and a socket write; on a small model that writes
a token every 10-15 ms on the same cores as its clients, one event per token cost a streamed request about 10% more
than calling ``ChatHAG`` in-process (SmolLM2-135M on 2 cores, ``bench/serve_load.py``). SGLang and vLLM offer the
same trade as a token count (``--stream-interval``); a time keeps a slow model's tokens going out one by one, since
each arrives after the interval has passed, and batches only a fast model's. Neither LangChain nor sse-starlette
paces a stream, hence this small class.
"""

from __future__ import annotations

import math

__all__ = ["TextPacer"]


class TextPacer:
    """Holds a stream's text until ``interval`` seconds have passed since the last text went out.

    The first text goes out at once (the time to the first token is not delayed); a held text goes out with the
    first token that arrives once the interval has passed, or with :meth:`flush` at the end of the answer. A text
    waits at most the interval plus one token's generation time. ``interval=0`` sends every text as it comes.
    """

    def __init__(self, interval: float) -> None:
        if not interval >= 0:  # NaN too
            raise ValueError(f"`interval` must be 0 or more seconds, got {interval}.")
        self.interval = interval
        self._pending: list[str] = []
        self._last = -math.inf

    def add(self, text: str, now: float) -> str | None:
        """Take ``text``, generated at time ``now`` (seconds); the text to send now, or ``None`` to wait."""
        self._pending.append(text)
        if now - self._last < self.interval:
            return None
        self._last = now
        return self.flush()

    def flush(self) -> str:
        """The text held so far (possibly empty), which is no longer held."""
        text = "".join(self._pending)
        self._pending.clear()
        return text
