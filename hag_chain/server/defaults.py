"""Where ``hag-chain serve`` listens unless told otherwise: loopback only, so nothing off this machine reaches it."""

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
