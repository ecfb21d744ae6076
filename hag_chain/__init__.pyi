# The public API, named once: lazy_loader reads this stub to import each name on first use (see __init__.py), and
# type checkers read it as the package's types.
from .chat.events import CONFIG_EVENT as CONFIG_EVENT
from .chat.model import ChatHAG as ChatHAG
from .chat.precedence import ResolvedConfig as ResolvedConfig
from .chat.tools import json_grammar as json_grammar
from .chat.tools import structured_output_messages as structured_output_messages
from .errors import AdapterMismatchError as AdapterMismatchError
from .errors import ContextLengthError as ContextLengthError
from .errors import DuplicateEntryError as DuplicateEntryError
from .errors import HAGError as HAGError
from .errors import InvalidConfigError as InvalidConfigError
from .errors import ModelLoadError as ModelLoadError
from .errors import UnknownEntryError as UnknownEntryError
from .knobs import CORE_KNOBS as CORE_KNOBS
from .knobs import KNOBS as KNOBS
from .knobs import DecodingConfig as DecodingConfig
from .knobs import Knob as Knob
from .knobs import split_knob_kwargs as split_knob_kwargs
from .llama.files import default_adapter_path as default_adapter_path
from .llama.files import default_model_path as default_model_path
from .llama.files import read_gguf_metadata as read_gguf_metadata
from .llama.model import LoadedModel as LoadedModel
from .llama.model import ModelKey as ModelKey
from .llama.model import load_model as load_model
from .llama.templates import fallback_chat_template as fallback_chat_template
from .llama.threads import CpuMeter as CpuMeter
from .llama.threads import available_cpus as available_cpus
from .protocol import DEFAULT_PROMPT_VERSION as DEFAULT_PROMPT_VERSION
from .protocol import PLANNER_PROMPTS as PLANNER_PROMPTS
from .protocol import TUNED_PROMPT_VERSION as TUNED_PROMPT_VERSION
from .protocol import HAGKeys as HAGKeys
from .protocol import HAGProfile as HAGProfile
from .protocol import PlannerPrompt as PlannerPrompt
from .protocol import invocation_text as invocation_text
from .protocol import planner_messages as planner_messages
from .protocol import planner_reply as planner_reply
from .registry import Registry as Registry
from .self_tuning.model import SelfTuning as SelfTuning
from .self_tuning.model import with_self_tuning as with_self_tuning
from .self_tuning.targets import TARGETS as TARGETS
from .self_tuning.targets import TargetParams as TargetParams
from .self_tuning.targets import register_target as register_target
from .space import DEFAULT_SEARCH_SPACE as DEFAULT_SEARCH_SPACE
from .space import SearchSpace as SearchSpace

__version__: str
