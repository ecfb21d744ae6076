import hag_gguf
import pytest

from ..conftest import MAY_LOAD, heavy_modules_after

pytestmark = pytest.mark.unit


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
        "hf_tokenizer_from_gguf",
        "inspect_gguf",
        "merge_adapter",
        "register_architecture",
    ]
    assert all(hasattr(hag_gguf, name) for name in hag_gguf.__all__)


def test_import_is_light():
    """Test that `import hag_gguf` loads neither LangChain, llama.cpp nor the training stack (a fresh interpreter)."""
    assert heavy_modules_after("import hag_gguf") <= MAY_LOAD["hag_gguf"]
