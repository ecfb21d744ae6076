"""hag-chain: Hyperparameter Aware Generation for LangChain on local GGUF models.

A HAG model first writes the decoding configuration it wants for the input, then answers with it.
:class:`ChatHAG` runs both phases in-process through llama.cpp; :func:`with_self_tuning` lets the planner choose
the settings of any other LangChain chat model.

The public API, by concern:

- chat models: :class:`ChatHAG`, :class:`SelfTuning`, :func:`with_self_tuning`, :class:`TargetParams`,
  :func:`register_target`, :data:`TARGETS`, :data:`CONFIG_EVENT`;
- decoding settings: :class:`DecodingConfig`, :data:`KNOBS`, :class:`Knob`, :class:`SearchSpace`,
  :data:`DEFAULT_SEARCH_SPACE`, :class:`ResolvedConfig`, :func:`split_knob_kwargs`;
- the protocol a tuned model follows: :func:`planner_messages`, :data:`DEFAULT_PROMPT_VERSION`,
  :class:`HAGKeys`, :class:`HAGProfile`, :func:`read_gguf_metadata`;
- the llama.cpp backend that ``hag_training`` and ``hag_gguf`` share: :func:`load_model`, :class:`ModelKey`,
  :class:`LoadedModel`, :func:`default_model_path`, :func:`default_adapter_path`;
- :class:`Registry`, the registry shape of targets, tasks and architectures; the errors, all :class:`HAGError`
  (:class:`DuplicateEntryError` and :class:`UnknownEntryError` among them).

Names are imported on first use (PEP 562), so ``import hag_chain.errors`` from ``hag_gguf`` or ``hag_training``
does not load LangChain or llama.cpp.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "CONFIG_EVENT": "events",
    "ChatHAG": "chat_models",
    "SelfTuning": "self_tuning",
    "with_self_tuning": "self_tuning",
    "TARGETS": "targets",
    "TargetParams": "targets",
    "register_target": "targets",
    "DecodingConfig": "config",
    "KNOBS": "config",
    "Knob": "config",
    "split_knob_kwargs": "config",
    "DEFAULT_SEARCH_SPACE": "space",
    "SearchSpace": "space",
    "ResolvedConfig": "precedence",
    "DEFAULT_PROMPT_VERSION": "protocol",
    "planner_messages": "protocol",
    "HAGKeys": "metadata",
    "HAGProfile": "metadata",
    "read_gguf_metadata": "metadata",
    "LoadedModel": "llama_backend",
    "ModelKey": "llama_backend",
    "load_model": "llama_backend",
    "default_adapter_path": "default_model",
    "default_model_path": "default_model",
    "Registry": "registry",
    "DuplicateEntryError": "registry",
    "UnknownEntryError": "registry",
    "AdapterMismatchError": "errors",
    "ContextLengthError": "errors",
    "HAGError": "errors",
    "InvalidConfigError": "errors",
    "ModelLoadError": "errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hag_chain' has no attribute {name!r}")
    value = getattr(import_module(f"hag_chain.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from hag_chain.chat_models import ChatHAG
    from hag_chain.config import KNOBS, DecodingConfig, Knob, split_knob_kwargs
    from hag_chain.default_model import default_adapter_path, default_model_path
    from hag_chain.errors import AdapterMismatchError, ContextLengthError, HAGError, InvalidConfigError, ModelLoadError
    from hag_chain.events import CONFIG_EVENT
    from hag_chain.llama_backend import LoadedModel, ModelKey, load_model
    from hag_chain.metadata import HAGKeys, HAGProfile, read_gguf_metadata
    from hag_chain.precedence import ResolvedConfig
    from hag_chain.protocol import DEFAULT_PROMPT_VERSION, planner_messages
    from hag_chain.registry import DuplicateEntryError, Registry, UnknownEntryError
    from hag_chain.self_tuning import SelfTuning, with_self_tuning
    from hag_chain.space import DEFAULT_SEARCH_SPACE, SearchSpace
    from hag_chain.targets import TARGETS, TargetParams, register_target
