"""hag-chain: Hyperparameter Aware Generation for LangChain on local GGUF models.

A HAG model first writes the decoding configuration it wants for the input, then answers with it.
:class:`ChatHAG` runs both phases in-process through llama.cpp; :func:`with_self_tuning` lets the planner choose
the settings of any other LangChain chat model.

The public API is listed once, in ``__init__.pyi``. Each name is imported on first use (``lazy_loader``, PEP 562),
so ``from hag_chain import HAGError`` in ``hag_gguf`` or ``hag_training`` loads neither LangChain nor llama.cpp.
"""

from importlib.metadata import version

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
__version__ = version("hag-chain")
__all__ = sorted([*__all__, "__version__"])
