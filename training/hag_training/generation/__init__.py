"""Generation engines: how the search, the evaluation and the room turn requests into reply texts.

Every engine answers the same :class:`~hag_training.generation.request.GenerationRequest` (chat messages, a
:class:`~hag_chain.DecodingConfig`, a seed and a token limit) and follows the
:class:`~hag_training.generation.engine.Engine` protocol, so a search can move from a laptop to a llama-server or
vLLM cluster without changing its labels' meaning. :func:`~hag_training.generation.local.local_engine` picks the
in-process llama.cpp engine; :class:`~hag_training.generation.cache.CachedEngine` puts the persistent cache in front
of any engine.
"""
