"""hag-chain: Hyperparameter Aware Generation for LangChain on local GGUF models.

A HAG model first writes the decoding configuration it wants for the input, then answers with it.
:class:`ChatHAG` runs both phases in-process through llama.cpp; :func:`with_self_tuning` lets the planner choose
the settings of any other LangChain chat model.
"""

from hag_chain.chat_models import CONFIG_EVENT, ChatHAG
from hag_chain.config import DecodingConfig
from hag_chain.errors import (
    AdapterMismatchError,
    ContextLengthError,
    HAGError,
    InvalidConfigError,
    ModelLoadError,
)
from hag_chain.metadata import HAGKeys, HAGProfile
from hag_chain.protocol import DEFAULT_PROMPT_VERSION, planner_messages
from hag_chain.self_tuning import SelfTuning, TargetParams, register_target, with_self_tuning
from hag_chain.space import DEFAULT_SEARCH_SPACE, SearchSpace

__version__ = "0.1.0"

__all__ = [
    "CONFIG_EVENT",
    "DEFAULT_PROMPT_VERSION",
    "DEFAULT_SEARCH_SPACE",
    "AdapterMismatchError",
    "ChatHAG",
    "ContextLengthError",
    "DecodingConfig",
    "HAGError",
    "HAGKeys",
    "HAGProfile",
    "InvalidConfigError",
    "ModelLoadError",
    "SearchSpace",
    "SelfTuning",
    "TargetParams",
    "__version__",
    "planner_messages",
    "register_target",
    "with_self_tuning",
]
