"""Should phase 2 (the answer) run with the HAG LoRA adapter on, or on the bare base model?

For a plain LoRA: the planner runs with the adapter, and switching it off for the answer means the KV cache of the
conversation, computed under the adapter, cannot be reused: the prompt is evaluated again. (An activated LoRA, the
shipped kind, is on only for the planner turn: the answer continues the base model's own cache.) This measures that
cost on SmolLM2-135M with a rank-8 LoRA on every attention and MLP projection (random weights: the latency does not
depend on what the adapter learned). Writes bench/results/adapter_phase2.json.

    python bench/adapter_phase2.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a bicycle works, in detail, for a curious ten-year-old who loves machines.",
    "What is 17 * 23? Explain step by step.",
    "Describe the water cycle.",
    "Summarise the history of the printing press and its effect on literacy in Europe.",
    "List some ideas for a birthday party.",
]
RESULTS = Path(__file__).parent / "results" / "adapter_phase2.json"


def build_adapter(work: Path) -> Path:
    import peft
    import torch
    from hag_gguf import convert_adapter, hf_checkpoint_from_gguf
    from transformers import AutoModelForCausalLM

    from hag_chain import default_model_path

    hf_dir = hf_checkpoint_from_gguf(Path(default_model_path()), work / "smollm2")
    torch.manual_seed(0)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = peft.get_peft_model(
        AutoModelForCausalLM.from_pretrained(hf_dir, torch_dtype="float32"),
        peft.LoraConfig(r=8, lora_alpha=16, target_modules=targets, init_lora_weights=False),
    )
    model.save_pretrained(work / "lora")
    return convert_adapter(work / "lora", work / "adapter.gguf", hf_dir).path


def main() -> None:
    from hag_chain import ChatHAG

    with tempfile.TemporaryDirectory() as tmp:
        adapter = str(build_adapter(Path(tmp)))
        results = {}
        for with_adapter in (True, False):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the rebuilt checkpoint's general.name differs from the file's
                chat = ChatHAG(adapter_path=adapter, answer_with_adapter=with_adapter, max_tokens=64, seed=0)
                chat.invoke("Hello")
                seconds = []
                for _ in range(2):
                    for prompt in PROMPTS:
                        start = time.perf_counter()
                        chat.invoke(prompt)
                        seconds.append(time.perf_counter() - start)
            results["with_adapter" if with_adapter else "without_adapter"] = round(statistics.median(seconds), 3)
    results["answer_tokens_max"] = 64
    results["slowdown_without_adapter"] = round(results["without_adapter"] / results["with_adapter"], 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
