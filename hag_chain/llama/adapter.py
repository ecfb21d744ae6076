"""A GGUF LoRA adapter attached to a llama.cpp context: loading it, switching it on and off, what it says of itself.

llama-cpp-python's ``Llama(lora_path=...)`` applies an adapter for good; HAG needs it on for the planner and (for
an activated LoRA, or ``answer_with_adapter=False``) off for the answer, so this drives llama.cpp's adapter API.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

from hag_chain.errors import AdapterMismatchError, ModelLoadError
from hag_chain.llama.files import check_gguf_file, read_gguf_metadata
from hag_chain.protocol import HAGKeys

__all__ = ["LoraAdapter"]


@dataclass
class LoraAdapter:
    """A loaded adapter: llama.cpp's handle, its GGUF metadata and, for an activated LoRA, its invocation tokens."""

    path: str
    handle: Any
    metadata: dict[str, str] = field(default_factory=dict)
    invocation: tuple[int, ...] = ()
    """The aLoRA invocation tokens (``adapter.alora.invocation_tokens``); empty for a plain LoRA."""

    @classmethod
    def load(cls, llm: Any, path: str) -> LoraAdapter:
        """Load the adapter at ``path`` for the ``llama_cpp.Llama`` ``llm`` (not yet switched on).

        Raises:
            ModelLoadError: The file is missing, not a GGUF, or a GGUF model rather than an adapter.
            AdapterMismatchError: The adapter does not fit the model's tensors.

        """
        import llama_cpp

        check_gguf_file(path, "adapter", "Pass `adapter_path=` a GGUF LoRA adapter (see `hag-gguf adapter`).")
        handle = llama_cpp.llama_adapter_lora_init(llm.model, path.encode("utf-8"))
        if not handle:
            raise _explain_failure(llm, path)
        n = llama_cpp.llama_adapter_get_alora_n_invocation_tokens(handle)
        ptr = llama_cpp.llama_adapter_get_alora_invocation_tokens(handle) if n else None
        invocation = tuple(int(ptr[i]) for i in range(n)) if ptr is not None else ()
        return cls(path=path, handle=handle, metadata=_metadata(handle), invocation=invocation)

    def switch(self, ctx: Any, on: bool) -> None:
        """Apply the adapter to the llama.cpp context ``ctx`` (scale 1), or remove every adapter from it."""
        import llama_cpp

        if on:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self.handle)
            scales = (ctypes.c_float * 1)(1.0)
            status = llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, scales)
        else:
            status = llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
        if status != 0:
            raise ModelLoadError(f"llama.cpp could not switch the LoRA adapter {'on' if on else 'off'}.")


def _explain_failure(llm: Any, path: str) -> ModelLoadError:
    """Why llama.cpp refused the adapter at ``path``: a model rather than an adapter, or another base's."""
    info = read_gguf_metadata(path)
    kind = info.get("general.type")
    if kind is not None and kind != "adapter":
        return ModelLoadError(
            f"{path!r} is a GGUF {kind}, not a LoRA adapter. Pass it as `model_path=`, or pass an adapter "
            "written by `hag-gguf adapter` as `adapter_path=`."
        )
    base_arch = llm.metadata.get("general.architecture")
    arch = info.get("general.architecture")
    base = info.get(HAGKeys.BASE_MODEL, "an unrecorded base model")
    return AdapterMismatchError(
        f"llama.cpp rejected the adapter {path!r} for model {llm.model_path!r}: the adapter "
        f"(architecture {arch!r}, trained on {base}) does not fit this {base_arch!r} model's tensors. "
        "Use the base model the adapter was trained on."
    )


def _metadata(handle: Any) -> dict[str, str]:
    """The adapter's GGUF metadata as llama.cpp read it (string values)."""
    import llama_cpp

    buf = ctypes.create_string_buffer(1 << 16)
    out: dict[str, str] = {}
    for i in range(llama_cpp.llama_adapter_meta_count(handle)):
        if llama_cpp.llama_adapter_meta_key_by_index(handle, i, buf, len(buf)) < 0:
            continue
        name = buf.value.decode("utf-8", errors="replace")
        if llama_cpp.llama_adapter_meta_val_str_by_index(handle, i, buf, len(buf)) < 0:
            continue
        out[name] = buf.value.decode("utf-8", errors="replace")
    return out
