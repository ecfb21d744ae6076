"""Where hag-training keeps what it downloads and generates: one cache folder."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$HAG_CACHE_DIR``, by default the user cache folder of ``hag-chain`` (``~/.cache/hag-chain`` on Linux).

    It holds the generation cache (``generations.sqlite``) and the downloaded data packages.
    """
    if os.environ.get("HAG_CACHE_DIR"):
        return Path(os.environ["HAG_CACHE_DIR"]).expanduser()
    from platformdirs import user_cache_path

    return user_cache_path("hag-chain", appauthor=False)
