"""A persistent cache of generations, so that no search pays twice for the same generation.

Keyed by :meth:`GenerationRequest.digest <hag_training.generation.request.GenerationRequest.digest>`: the SHA-256
of (engine, messages, the knobs off their defaults, seed, token limit). Every entry is committed as soon as it is
written: a search killed at any point loses at most the generations in flight. A cache written with an older key
format is re-keyed once when opened (SQLite's ``user_version`` records the format), so no generation is lost to a
format change.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from hag_chain import cache_dir
from hag_training.generation.engine import Engine
from hag_training.generation.request import KEY_VERSION, GenerationRequest, key_digest

__all__ = ["CachedEngine", "GenerationCache", "default_cache_path"]


def default_cache_path() -> Path:
    """``generations.sqlite`` in the :func:`~hag_chain.cache_dir` (``$HAG_CACHE_DIR`` or the user cache)."""
    return cache_dir() / "generations.sqlite"


class GenerationCache:
    """SQLite file of ``key -> reply text``; safe to share between threads of one process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, request TEXT, text TEXT)")
        self._upgrade_keys()

    def _upgrade_keys(self) -> None:
        """Re-key entries of an older key format (:data:`~hag_training.generation.request.KEY_VERSION`) at once.

        The ``request`` column holds each entry's key preimage, from which the request is rebuilt and keyed anew.
        """
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= KEY_VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")  # another process opening the same file waits, then finds it done
        try:
            if self._db.execute("PRAGMA user_version").fetchone()[0] < KEY_VERSION:
                rows = self._db.execute("SELECT key, request, text FROM generations").fetchall()
                for key, request, text in rows:
                    try:
                        engine_id, req = GenerationRequest.from_key(request)
                    except (ValueError, KeyError, TypeError):  # not a request this code wrote: leave it be
                        continue
                    new_request = req.key(engine_id)
                    new_key = key_digest(new_request)
                    if new_key != key:
                        self._db.execute("DELETE FROM generations WHERE key = ?", (key,))
                        self._db.execute(
                            "INSERT OR REPLACE INTO generations VALUES (?, ?, ?)", (new_key, new_request, text)
                        )
                self._db.execute(f"PRAGMA user_version = {KEY_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def get(self, key: str) -> str | None:
        """The cached reply, or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT text FROM generations WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, request: str, text: str) -> None:
        """Store one reply (committed immediately)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO generations VALUES (?, ?, ?)", (key, request, text))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        """Close the database file."""
        self._db.close()


class CachedEngine:
    """Wraps an :class:`Engine`: answers from the cache, generates (and stores) only what is missing.

    Attributes:
        generated: Generations actually run by the engine since construction.
        hits: Requests answered from the cache.
        budget: Stop after this many new generations (``None``: no limit).

    """

    def __init__(self, engine: Engine, cache: GenerationCache, budget: int | None = None) -> None:
        self.engine = engine
        self.cache = cache
        self.budget = budget
        self.generated = 0
        self.hits = 0

    def resolve(self, request: GenerationRequest) -> GenerationRequest:
        """``request`` as the engine's model is asked it (:meth:`Engine.resolve`): only one with tools loads it."""
        return request if request.tools is None else self.engine.resolve(request)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str] | None:
        """Replies in order, or ``None`` when the budget runs out first.

        What the budget covered is generated and cached, so nothing is lost.
        """
        engine_id = self.engine.engine_id
        requests = [self.resolve(r) for r in requests]  # keyed as the model is asked them
        preimages = [r.key(engine_id) for r in requests]
        keys = [key_digest(p) for p in preimages]  # each preimage serialised once
        texts = [self.cache.get(k) for k in keys]
        missing = [i for i, t in enumerate(texts) if t is None]
        self.hits += len(requests) - len(missing)
        # One engine call for everything missing (a batched engine keeps its slots full across it), each reply
        # cached the moment it is complete, so a kill loses only the requests in flight. Duplicate keys within one
        # call (e.g. greedy twins) are generated once.
        todo = list(dict.fromkeys(keys[i] for i in missing))
        first = {keys[i]: i for i in reversed(missing)}
        over_budget = self.budget is not None and self.generated + len(todo) > self.budget
        if over_budget:
            todo = todo[: max(0, (self.budget or 0) - self.generated)]
        fresh: dict[str, str] = {}
        lock = threading.Lock()  # OpenAICompatibleEngine reports replies from its worker threads

        def keep(j: int, text: str) -> None:
            k = todo[j]
            self.cache.put(k, preimages[first[k]], text)
            with lock:
                fresh[k] = text
                self.generated += 1

        if todo:
            texts_new = self.engine.generate([requests[first[k]] for k in todo], on_reply=keep)
            if len(texts_new) != len(todo):
                msg = f"engine {engine_id} returned {len(texts_new)} replies for {len(todo)} requests"
                raise RuntimeError(msg)
            for j, text in enumerate(texts_new):  # replies an engine returned without reporting them
                if todo[j] not in fresh:
                    keep(j, text)
        if over_budget:
            return None
        return [fresh[k] if t is None else t for k, t in zip(keys, texts, strict=True)]
