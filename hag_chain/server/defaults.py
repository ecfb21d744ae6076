"""``hag-chain serve``'s defaults.

Where it listens (loopback only, so nothing off this machine reaches it), and how often a streamed answer's tokens
go out (:class:`~hag_chain.server.pacing.TextPacer`).
"""

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_STREAM_INTERVAL"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_STREAM_INTERVAL = 0.05
