"""hag-training: build HAG models — benchmark tasks, the racing configuration search, LoRA tuning, evaluation.

The ``hag-train`` command runs each step (``search``, ``sft``, ``eval``) or all of them (``recipe``); ``room``
measures how much decoding moves each task's score. The public API is listed once, by step, in ``__init__.pyi``.

Names are imported on first use (``lazy_loader``), so ``import hag_training`` loads neither torch, transformers,
peft, datasets nor llama.cpp; each is loaded only by the step that needs it.

Example:
    >>> from hag_training import get_task
    >>> get_task("coinflip").family
    'reasoning'

"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
