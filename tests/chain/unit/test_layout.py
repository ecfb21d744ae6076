import subprocess
import sys
from pathlib import Path

import pytest

import hag_chain

from ...conftest import MAY_LOAD, ROOT, heavy_modules_after

pytestmark = pytest.mark.unit


def test_import_gguf_from_repo_root_gives_the_library():
    code = "import gguf, sys; print(gguf.__file__); print(hasattr(gguf, 'GGUFWriter'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    path, has_writer = out.stdout.split()
    assert has_writer == "True"
    assert not Path(path).resolve().is_relative_to(ROOT / "gguf"), path
    assert not (ROOT / "gguf" / "__init__.py").exists()


def test_public_api_is_pinned():
    assert hag_chain.__all__ == sorted(hag_chain.__all__)
    assert set(hag_chain.__all__) == {
        "CONFIG_EVENT",
        "CORE_KNOBS",
        "DEFAULT_MODEL",
        "DEFAULT_PROMPT_VERSION",
        "DEFAULT_SEARCH_SPACE",
        "KNOBS",
        "MODELS",
        "PLANNER_PROMPTS",
        "TARGETS",
        "TUNED_PROMPT_VERSION",
        "AdapterMismatchError",
        "ChatHAG",
        "ContextLengthError",
        "CpuMeter",
        "DecodingConfig",
        "DuplicateEntryError",
        "HAGError",
        "HAGKeys",
        "HAGProfile",
        "InvalidConfigError",
        "Knob",
        "LoadedModel",
        "ModelKey",
        "ModelLoadError",
        "PlannerPrompt",
        "Registry",
        "ResolvedConfig",
        "SearchSpace",
        "SelfTuning",
        "SupportedModel",
        "TargetParams",
        "UnknownEntryError",
        "__version__",
        "available_cpus",
        "cache_dir",
        "default_adapter_path",
        "default_model_path",
        "fallback_chat_template",
        "invocation_text",
        "iterate_on_compute_thread",
        "register_model",
        "json_grammar",
        "load_model",
        "planner_messages",
        "planner_reply",
        "planner_suffix",
        "read_gguf_metadata",
        "register_target",
        "run_on_compute_thread",
        "split_knob_kwargs",
        "parse_tool_calls",
        "structured_output_messages",
        "tool_call_grammar",
        "tool_call_messages",
        "tool_prompt",
        "with_self_tuning",
    }
    for name in hag_chain.__all__:  # every lazily exported name resolves
        assert getattr(hag_chain, name) is not None, name


def test_importing_hag_chain_or_its_errors_loads_nothing_heavy():
    for code in ("import hag_chain", "import hag_chain.errors", "from hag_chain import DecodingConfig, SearchSpace"):
        assert heavy_modules_after(code) <= MAY_LOAD["hag_chain"], code
    assert "langchain_core" in heavy_modules_after("from hag_chain import ChatHAG")


def test_runtime_does_not_import_torch():
    assert "torch" not in heavy_modules_after("from hag_chain import ChatHAG; ChatHAG()")
