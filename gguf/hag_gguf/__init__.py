"""hag_gguf: export HAG models and LoRA adapters, trained with transformers and peft, to GGUF for llama.cpp.

Example::

    from hag_gguf import convert_adapter, convert_model

    convert_model("ckpt/", "model.gguf", outtype="q8_0", hag_metadata={"hag.prompt_version": "hag-v1"})
    convert_adapter("lora/", "adapter.gguf", base_dir="ckpt/")

The same operations are on the command line as ``hag-gguf convert|adapter|merge|inspect``.
:func:`hf_checkpoint_from_gguf` goes the other way (GGUF → transformers checkpoint, for training on a GGUF base);
:func:`register_architecture` adds an architecture to :data:`ARCHITECTURES`.

"""

from __future__ import annotations

from hag_gguf._writer import ConversionReport
from hag_gguf.adapter import convert_adapter
from hag_gguf.architecture import ARCHITECTURES, Architecture, register_architecture
from hag_gguf.convert import convert_model
from hag_gguf.errors import GGUFExportError, UnsupportedModelError
from hag_gguf.from_gguf import hf_checkpoint_from_gguf, hf_tokenizer_from_gguf
from hag_gguf.inspection import inspect_gguf
from hag_gguf.merge import merge_adapter
from hag_gguf.outtypes import ADAPTER_OUTTYPES, OUTTYPES

__all__ = [
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
