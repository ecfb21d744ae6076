# The public API of hag_training, by step: the one list of its names. `__init__.py` reads it (lazy_loader) to import
# each name on first use; type checkers read it as the package's interface. Grouped by step, not sorted:
# ruff: noqa: I001

# tasks
from .tasks import TASKS as TASKS
from .tasks import Example as Example
from .tasks import Phrasing as Phrasing
from .tasks import Split as Split
from .tasks import Task as Task
from .tasks import get_task as get_task
from .tasks import register_task as register_task

# generation
from .generation.batched import BatchedLlamaCppEngine as BatchedLlamaCppEngine
from .generation.cache import CachedEngine as CachedEngine
from .generation.cache import GenerationCache as GenerationCache
from .generation.cache import default_cache_path as default_cache_path
from .generation.engine import Engine as Engine
from .generation.llama import LlamaCppEngine as LlamaCppEngine
from .generation.openai_compatible import OpenAICompatibleEngine as OpenAICompatibleEngine
from .generation.request import GenerationRequest as GenerationRequest

# scoring (shared by the search, the evaluation and the room)
from .scoring import BudgetExhausted as BudgetExhausted
from .scoring import GroupScore as GroupScore
from .scoring import Scorer as Scorer
from .scoring import answer_tokens as answer_tokens

# the search and its labels
from .baselines import LLAMA_CPP_DEFAULT as LLAMA_CPP_DEFAULT
from .labels import Label as Label
from .labels import SearchResult as SearchResult
from .labels import write_outputs as write_outputs
from .search import SearchConfig as SearchConfig
from .search import run_search as run_search

# tuning
from .model_card import write_model_card as write_model_card
from .sft import SFTResult as SFTResult
from .sft import train_adapter as train_adapter
from .sft_config import SFTConfig as SFTConfig

# evaluation
from .evaluate import METHODS as METHODS
from .evaluate import EvalConfig as EvalConfig
from .evaluate import EvalReport as EvalReport
from .evaluate import evaluate_adapter as evaluate_adapter
from .evaluate import write_report as write_report
from .leave_one_out import leave_one_task_out as leave_one_task_out

# the room (how much decoding moves each task's score)
from .room import RoomConfig as RoomConfig
from .room import RoomReport as RoomReport
from .room import run_room as run_room
from .room import write_room as write_room

# recipes
from .recipe import RECIPES as RECIPES
from .recipe import Recipe as Recipe
from .recipe import run_recipe as run_recipe
