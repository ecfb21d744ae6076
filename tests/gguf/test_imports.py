import hag_gguf


def test_public_api():
    assert hag_gguf.__all__ == [
        "ADAPTER_OUTTYPES",
        "OUTTYPES",
        "ConversionReport",
        "GGUFExportError",
        "UnsupportedModelError",
        "convert_adapter",
        "convert_model",
        "inspect_gguf",
        "merge_adapter",
    ]
    assert all(hasattr(hag_gguf, name) for name in hag_gguf.__all__)
