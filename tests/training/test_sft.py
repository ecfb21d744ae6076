"""`hag-train sft` end to end on a tiny random llama: real Trainer + peft steps, a real GGUF adapter, real llama.cpp."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from gguf import GGUFReader
from hag_training.cli import main as hag_train
from hag_training.evaluate import METHODS, markdown_table, summarize
from hag_training.sft import train_adapter
from hag_training.sft_config import SFTConfig
from hag_training.sft_examples import IGNORE_INDEX, build_examples, resolve_ties

from hag_chain import ChatHAG, HAGKeys, ModelKey, SearchSpace, load_model, planner_messages, read_gguf_metadata

from ..tiny_models import ANSWERS, COOL, MATH, POEMS, SPACE, TRAINING, WARM, label_record, with_recommended_sampling

# The tiny llama runs in torch and in llama.cpp here: torch on one thread (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("single_threaded_torch")

# The plain-LoRA mode, with the untuned model's planner prompt: the adapter stays on for the answer.
LORA = {**TRAINING, "mode": "lora", "prompt_version": "hag-v1"}


@pytest.fixture(scope="module")
def tuned(labels, base_dir, tmp_path_factory):
    config = SFTConfig(**LORA)
    return train_adapter(labels, tmp_path_factory.mktemp("sft"), config, base=base_dir, progress=False)


def test_only_the_configuration_line_or_the_answer_carries_loss(labels, base_dir, base_gguf):
    from hag_training.labels import load_records
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    records = load_records(labels)
    examples, skipped = build_examples(records, tokenizer, prompt_version="hag-v1", max_length=512)
    assert skipped == 0 and len(examples) == 2 * len(records)
    model = load_model(ModelKey(str(base_gguf), n_ctx=512))
    for rec, line_ex, answer_ex in zip(records, examples[::2], examples[1::2]):
        for ex, messages, target in (
            (line_ex, planner_messages(rec.messages, "hag-v1"), rec.label_line),
            (answer_ex, rec.messages, rec.label_answer + "<|im_end|>"),  # an answer ends with EOS
        ):
            labelled = [t for t in ex["labels"] if t != IGNORE_INDEX]
            n_prompt = len(ex["input_ids"]) - len(labelled)
            assert ex["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
            assert ex["input_ids"][n_prompt:] == labelled
            assert tokenizer.decode(labelled) == target
            # The tuned prompt is token for token the prompt the runtime sends (llama.cpp's own template).
            assert ex["input_ids"][:n_prompt] == model.prompt_tokens(messages)
    line_only, _ = build_examples(records, tokenizer, prompt_version="hag-v1", max_length=512, answers=False)
    assert line_only == examples[::2]


def test_loss_goes_down(tuned):
    losses = tuned.summary["loss_per_epoch"]
    assert len(losses) == 30
    assert losses[-1] < 0.25 * losses[0]


def test_adapter_carries_hag_metadata(tuned, base_gguf):
    meta = read_gguf_metadata(str(tuned.adapter_path))
    assert meta["general.type"] == "adapter"
    space = SearchSpace.from_json(meta[HAGKeys.SEARCH_SPACE])
    assert space == SPACE and list(space.knobs) == ["top_k", "temperature"]  # the labels' order, not sorted
    assert meta[HAGKeys.PROMPT_VERSION] == "hag-v1"
    provenance = json.loads(meta[HAGKeys.PROVENANCE])
    assert provenance["seed"] == 0 and provenance["data"]["examples"] == 16
    assert provenance["data"]["answer_examples"] == 8
    assert {"torch", "transformers", "peft"} <= set(provenance["versions"])


def test_tuned_planner_writes_the_labels_in_llama_cpp(tuned, base_gguf):
    bare = ChatHAG(model_path=str(base_gguf), n_ctx=512)
    chat = ChatHAG(model_path=str(base_gguf), adapter_path=str(tuned.adapter_path), n_ctx=512)
    chosen = {q: chat.choose_config(q).config.temperature for q in MATH + POEMS}
    assert chosen == {**dict.fromkeys(MATH, 0.0), **dict.fromkeys(POEMS, 1.0)}
    assert {q: bare.choose_config(q).config.temperature for q in MATH + POEMS} != chosen


def test_adapter_stays_on_for_the_answer_without_answering_with_a_configuration(tuned, base_gguf):
    chat = ChatHAG(model_path=str(base_gguf), adapter_path=str(tuned.adapter_path), n_ctx=512, max_tokens=16)
    for question in (MATH[0], POEMS[0]):
        msg = chat.invoke(question, temperature=0.0)
        assert msg.content.startswith(ANSWERS[question])  # the answer it was taught, not a configuration line


def test_rerun_resumes_from_the_last_checkpoint_and_trains_nothing(tuned, labels, base_dir):
    out = tuned.adapter_path.parent
    before = tuned.adapter_path.read_bytes()
    (state,) = (out / "trainer").glob("checkpoint-*/trainer_state.json")
    saved = state.stat().st_mtime_ns
    config = SFTConfig(**LORA)
    again = train_adapter(labels, out, config, base=base_dir, progress=False)
    assert state.stat().st_mtime_ns == saved  # no step was trained, so no checkpoint was written again
    assert again.adapter_path.read_bytes() == before
    assert again.summary["loss_per_epoch"] == tuned.summary["loss_per_epoch"]


def test_rerun_that_changes_only_the_outtype_resumes_and_exports_again(tuned, labels, base_dir, tmp_path):
    # A copy of the finished run (timestamps kept), so the shared `tuned` adapter stays f32 for the other tests.
    out = shutil.copytree(tuned.adapter_path.parent, tmp_path / "sft")
    (state,) = (out / "trainer").glob("checkpoint-*/trainer_state.json")
    saved = state.stat().st_mtime_ns
    config = SFTConfig(**(LORA | {"outtype": "f16"}))
    again = train_adapter(labels, out, config, base=base_dir, progress=False)
    assert state.stat().st_mtime_ns == saved  # resumed: no step was trained, so no checkpoint was written again
    assert again.summary["loss_per_epoch"] == tuned.summary["loss_per_epoch"]
    assert {t.tensor_type.name for t in GGUFReader(again.adapter_path).tensors} == {"F16"}
    assert {t.tensor_type.name for t in GGUFReader(tuned.adapter_path).tensors} == {"F32"}
    assert json.loads(read_gguf_metadata(str(again.adapter_path))[HAGKeys.PROVENANCE])["sft"]["outtype"] == "f16"


@pytest.mark.unit
def test_flat_inputs_are_kept_or_dropped():
    flat = label_record("math", "What is 1 + 1?", COOL, {COOL: 0.0, WARM: 0.0})
    records = [label_record("math", q, COOL, {COOL: 1.0, WARM: 0.0}) for q in MATH[:2]] + [flat]
    assert resolve_ties(records, "keep") == (records, 1)
    assert resolve_ties(records, "drop") == (records[:2], 1)


def test_cli_sft_writes_adapter_and_card(labels, base_dir, tmp_path, capsys):
    out = tmp_path / "sft"
    args = ["sft", "--data", str(labels), "--base", str(base_dir), "--out", str(out), "--epochs", "1"]
    assert hag_train([*args, "--no-progress"]) == 0
    assert (out / "hag-adapter.lora.gguf").is_file()
    card = (out / "README.md").read_text()
    assert "LoRA rank" in card and "math" in card
    assert "hag-adapter.lora.gguf" in capsys.readouterr().out


@pytest.mark.unit
def test_cli_sft_explains_missing_data(tmp_path, capsys):
    assert hag_train(["sft", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "hag-train search" in capsys.readouterr().err


def test_eval_adds_the_models_recommended_sampling_as_a_baseline(tuned, base_gguf, tmp_path):
    from hag_training.evaluate import RECOMMENDED, EvalConfig, evaluate_adapter
    from hag_training.generation.cache import GenerationCache

    base = with_recommended_sampling(base_gguf, tmp_path / base_gguf.name, temp=0.5, top_k=7)
    config = EvalConfig(tasks=("coinflip",), n_test=2, n_dev=2, static_candidates=1, k=1, bootstrap=50)
    report = evaluate_adapter(
        config, tuned.adapter_path, GenerationCache(tmp_path / "gen.sqlite"), model_path=str(base)
    )
    assert report.methods == (*METHODS[:-4], RECOMMENDED, *METHODS[-4:])
    rows = [r for r in report.rows if r["method"] == RECOMMENDED]
    assert len(rows) == 2 and all(r["config"]["temperature"] == 0.5 and r["config"]["top_k"] == 7 for r in rows)
    assert f"| {RECOMMENDED} |" in markdown_table(summarize(report))


def test_cli_eval_writes_table_and_plots(tuned, base_gguf, tmp_path, capsys):
    """`hag-train eval` on a small slice, with the tiny tuned model standing in for SmolLM2 (fast, same code)."""
    out = tmp_path / "eval"
    args = ["eval", "--model", str(base_gguf), "--adapter", str(tuned.adapter_path), "--tasks", "coinflip,pig_latin"]
    args += ["--n-test", "3", "--n-dev", "2", "--out", str(out), "--cache", str(tmp_path / "gen.sqlite")]
    assert hag_train([*args, "--no-progress"]) == 0
    table = (out / "results.md").read_text()
    for method in METHODS:
        assert f"| {method} |" in table or f"| **{method}** |" in table
    assert "coinflip" in table and "pig_latin" in table and "stream mean" in table
    for png in ("scores.png", "configs.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * len(METHODS) * 3
    assert all(SPACE.format(SPACE.parse(json.dumps(r["config"]))) for r in rows if r["method"] == "HAG")
    # The oracle is, per input, the best any method scored on it.
    for r in rows:
        if r["method"] == "oracle":
            same = [o["score"] for o in rows if (o["task"], o["example_id"]) == (r["task"], r["example_id"])]
            assert r["score"] == max(same)
    summary = json.loads((out / "summary.json").read_text())
    for stats in summary["stream"].values():
        assert stats["ci95"][0] <= stats["mean"] <= stats["ci95"][1]
    single = summary["static"]["single"]
    assert single["line"] == max(single["dev_scores"], key=single["dev_scores"].get)
    assert "results.md" in capsys.readouterr().out


def test_code_reply_examples_end_with_one_code_token(labels, base_dir):
    from hag_training.labels import load_records
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    records = load_records(labels)
    examples, _ = build_examples(
        records, tokenizer, prompt_version="hag-v3", max_length=512, answers=False, space=SPACE
    )
    for rec, ex in zip(records, examples, strict=True):
        labelled = [t for t in ex["labels"] if t != IGNORE_INDEX]
        assert tokenizer.decode(labelled) == SPACE.code(SPACE.parse(rec.label_line).model_dump())
    with pytest.raises(ValueError, match="provenance has no `space`.*rerun the search"):
        build_examples(records, tokenizer, prompt_version="hag-v3", max_length=512)


def test_leave_one_out_tunes_without_each_task_and_pairs_with_the_evaluation(
    tuned, labels, base_gguf, tmp_path, capsys
):
    """`hag-train leave-one-out` end to end on a tiny slice: one planner per held-out task, tuned on the others."""
    from hag_training.labels import load_records
    from hag_training.leave_one_out import COMPARED, HELD_OUT

    cache = ["--cache", str(tmp_path / "gen.sqlite"), "--no-progress"]
    args = ["eval", "--model", str(base_gguf), "--adapter", str(tuned.adapter_path), "--tasks", "coinflip,pig_latin"]
    assert hag_train([*args, "--n-test", "3", "--n-dev", "2", "--out", str(tmp_path / "eval"), *cache]) == 0
    # The tiny search's labels, renamed after the evaluation's tasks.
    renamed = {"math": "coinflip", "poem": "pig_latin"}
    search = tmp_path / "search"
    search.mkdir()
    records = [r.to_dict() | {"task": renamed[r.task]} for r in load_records(labels)]
    (search / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    out = tmp_path / "loo"
    loo = ["leave-one-out", "--search", str(search), "--eval", str(tmp_path / "eval"), "--out", str(out)]
    loo += ["--model", str(base_gguf), "--epochs", "1", "--mode", "lora", "--prompt-version", "hag-v1", *cache]
    assert hag_train(loo) == 0
    for held, other in (("coinflip", "pig_latin"), ("pig_latin", "coinflip")):
        assert {r.task for r in load_records(out / held / "labels.jsonl")} == {other}
        assert (out / held / "sft" / "hag-adapter.lora.gguf").is_file()
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    evaluated = {
        json.loads(line)["example_id"] for line in (tmp_path / "eval" / "results.jsonl").read_text().splitlines()
    }
    assert len(rows) == 6 and {r["method"] for r in rows} == {HELD_OUT} and {r["example_id"] for r in rows} <= evaluated
    summary = json.loads((out / "summary.json").read_text())
    for task in ("coinflip", "pig_latin"):
        held = summary["tasks"][task][HELD_OUT]["mean"]
        assert held == pytest.approx(np.mean([r["score"] for r in rows if r["task"] == task]), abs=1e-4)
    for m in COMPARED:
        diffs = [summary["tasks"][t][f"minus {m}"]["mean"] for t in ("coinflip", "pig_latin")]
        assert summary["average"][f"minus {m}"]["mean"] == pytest.approx(np.mean(diffs), abs=1e-4)
    table = (out / "results.md").read_text()
    assert "| **average** |" in table and "| coinflip |" in table
    # A rerun tunes nothing again and gives the same summary.
    adapter = out / "coinflip" / "sft" / "hag-adapter.lora.gguf"
    mtime = adapter.stat().st_mtime_ns
    assert hag_train(loo) == 0
    assert adapter.stat().st_mtime_ns == mtime and json.loads((out / "summary.json").read_text()) == summary
    # One task held out: its row as before, the average over it alone.
    assert hag_train([*loo, "--tasks", "pig_latin"]) == 0
    one = json.loads((out / "summary.json").read_text())
    mean = summary["tasks"]["pig_latin"][HELD_OUT]["mean"]
    assert list(one["tasks"]) == ["pig_latin"] and one["tasks"]["pig_latin"][HELD_OUT]["mean"] == mean
    assert one["average"][HELD_OUT]["mean"] == mean
    assert hag_train([*loo, "--tasks", "haiku"]) == 2
    assert "has no task ['haiku']; its tasks: coinflip, pig_latin" in capsys.readouterr().err
