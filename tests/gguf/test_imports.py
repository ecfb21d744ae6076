import subprocess
import sys

import hag_gguf

HEAVY = ["langchain_core", "llama_cpp", "peft", "torch", "transformers"]


def test_public_api():
    assert hag_gguf.__all__ == [
        "ADAPTER_OUTTYPES",
        "ARCHITECTURES",
        "OUTTYPES",
        "Architecture",
        "ConversionReport",
        "GGUFExportError",
        "UnsupportedModelError",
        "convert_adapter",
        "convert_model",
        "hf_checkpoint_from_gguf",
        "inspect_gguf",
        "merge_adapter",
        "register_architecture",
    ]
    assert all(hasattr(hag_gguf, name) for name in hag_gguf.__all__)


def test_import_is_light():
    """Test that `import hag_gguf` loads neither LangChain, llama.cpp nor the training stack (a fresh interpreter)."""
    code = f"import sys, hag_gguf; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
