"""An aLoRA tuned on its suffixes over cached prefixes learns exactly what the whole examples teach (tiny llama)."""

from __future__ import annotations

import json

import pytest
from hag_training.labels import load_records
from hag_training.sft import train_adapter
from hag_training.sft_config import SFTConfig
from hag_training.sft_examples import alora_invocation, build_examples, label_space
from hag_training.sft_prefix import PrefixCollator, cache_prefixes

from hag_chain.protocol import TUNED_PROMPT_VERSION

from ..tiny_models import TRAINING

# The tiny llama runs in torch here: on one thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("single_threaded_torch")


@pytest.fixture(scope="module")
def setup(labels, base_dir):
    """The tiny llama with a randomly initialised aLoRA (both factors non-zero) and its planner examples."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    records = load_records(labels)
    space = label_space(json.loads(records[0].provenance), records[0].label_line)
    invocation = alora_invocation(tokenizer, TUNED_PROMPT_VERSION)
    examples, _ = build_examples(records, tokenizer, max_length=512, answers=False, invocation=invocation, space=space)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    lora = LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=False,  # B random too: the adapter changes the forward pass, not only the gradients
        task_type="CAUSAL_LM",
        alora_invocation_tokens=invocation,
    )
    return get_peft_model(base, lora), tokenizer, examples


def _loss_and_grads(model, batch):
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_suffixes_over_cached_prefixes_give_the_whole_examples_loss_and_gradients(setup):
    import torch
    from transformers import DataCollatorForSeq2Seq

    model, tokenizer, examples = setup
    invocation = model.peft_config["default"].alora_invocation_tokens
    model.train()
    whole = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)(examples)
    loss, grads = _loss_and_grads(model, whole)

    cached = cache_prefixes(model, examples, batch_size=3)  # batches of mixed lengths: the padding is exercised
    assert model.training  # restored after the prefixes
    for ex, c in zip(examples, cached, strict=True):
        n = c["past"][0][0].shape[2]
        assert c["input_ids"] == ex["input_ids"] and c["labels"] == ex["labels"]  # whole, for group_by_length
        # What the model runs is the invocation and the reply (its loss tokens); everything before it is cached.
        assert n > 0 and len(ex["input_ids"]) - n == len(invocation) + sum(t != -100 for t in ex["labels"])
    batch = PrefixCollator(tokenizer.pad_token_id)(cached)
    assert batch["input_ids"].shape[1] == len(invocation) + 1  # hag-v3 replies with one code token
    cached_loss, cached_grads = _loss_and_grads(model, batch)

    assert cached_loss == pytest.approx(loss, rel=1e-5)
    assert grads.keys() == cached_grads.keys() and any(g.abs().sum() > 0 for g in grads.values())
    for name, grad in grads.items():
        torch.testing.assert_close(cached_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_an_example_without_the_invocation_is_refused(setup):
    model, _, examples = setup
    n = len(model.peft_config["default"].alora_invocation_tokens)
    broken = {"input_ids": examples[0]["input_ids"][: -n - 1], "labels": examples[0]["labels"][: -n - 1]}
    with pytest.raises(ValueError, match="example 1 does not contain the aLoRA invocation"):
        cache_prefixes(model, [examples[0], broken], batch_size=2)


def test_loss_on_the_invocations_first_token_is_refused(setup):
    model, _, examples = setup
    n = len(model.peft_config["default"].alora_invocation_tokens) + 1  # the invocation and the one-token reply
    start = len(examples[0]["input_ids"]) - n
    labelled = dict(examples[0], labels=list(examples[0]["labels"]))
    labelled["labels"][start] = labelled["input_ids"][start]  # predicted from the prefix: no suffix step sees it
    with pytest.raises(ValueError, match="example 0 carries loss on or before the aLoRA invocation's first token"):
        cache_prefixes(model, [labelled], batch_size=1)


def test_a_finished_run_rerun_computes_no_prefixes(labels, base_dir, tmp_path, capsys):
    config = SFTConfig(**(TRAINING | {"epochs": 2}))  # the default mode: alora
    first = train_adapter(labels, tmp_path, config, base=base_dir, progress=True)
    assert "prefixes" in capsys.readouterr().err
    (state,) = (tmp_path / "trainer").glob("checkpoint-*/trainer_state.json")
    saved = state.stat().st_mtime_ns
    again = train_adapter(labels, tmp_path, config, base=base_dir, progress=True)
    assert "prefixes" not in capsys.readouterr().err  # nothing to train, so no prefix is computed
    assert state.stat().st_mtime_ns == saved
    assert again.summary["loss_per_epoch"] == first.summary["loss_per_epoch"]
