import subprocess
import sys
from pathlib import Path

import hag_chain

ROOT = Path(__file__).resolve().parents[2]


def test_import_gguf_from_repo_root_gives_the_library():
    code = "import gguf, sys; print(gguf.__file__); print(hasattr(gguf, 'GGUFWriter'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    path, has_writer = out.stdout.split()
    assert has_writer == "True"
    assert not Path(path).resolve().is_relative_to(ROOT / "gguf"), path
    assert not (ROOT / "gguf" / "__init__.py").exists()


def test_public_api_is_pinned():
    assert set(hag_chain.__all__) == {
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
    }


def test_runtime_does_not_import_torch():
    code = "import hag_chain, sys; from hag_chain import ChatHAG; ChatHAG(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
