"""The batched llama.cpp engine against the single-sequence one, on the real SmolLM2 GGUF.

The reference is the single engine on one thread with its KV cache cleared before each request ("fresh"). As it
runs in the search, it reuses the KV prefix of whatever it evaluated last (which changes how llama.cpp batches a
prompt) and follows the machine's load in threads; both change the rounding and now and then a reply (measured in
bench/engine_throughput.py).
"""

from collections import Counter

import pytest
from hag_training import get_task
from hag_training.generation import grammar_window
from hag_training.generation.batched import BatchedLlamaCppEngine
from hag_training.generation.grammar_window import GrammarWindowSampler
from hag_training.generation.llama import LlamaCppEngine
from hag_training.generation.llama_port import sampler_chain
from hag_training.generation.request import GenerationRequest

from hag_chain import ContextLengthError, DecodingConfig, ModelKey, default_adapter_path, default_model_path, load_model

N_CTX = 512
GREEDY = DecodingConfig(temperature=0.0)
HOT = DecodingConfig(temperature=1.5)
REPEATING = [{"role": "user", "content": "Say the word hello ten times."}]  # greedy: "Hello, hello, hello, ..."
YES_NO = 'root ::= "yes" | "no"'


@pytest.fixture(scope="module")
def batched() -> BatchedLlamaCppEngine:
    return BatchedLlamaCppEngine(n_ctx=N_CTX, concurrency=8)


@pytest.fixture(scope="module")
def fresh_single():
    """The single engine on one thread, its KV cache cleared before each request.

    With more threads llama.cpp splits a one-token decode's attention across them, and the rounding changes with
    the thread count (measured: 2 of 8 greedy 160-token GSM8K replies differ between 1 and 2 threads); the batched
    engine's replies do not depend on the thread count and equal the single engine's on one thread.
    """
    import llama_cpp

    engine = LlamaCppEngine(n_ctx=N_CTX)
    model = load_model(ModelKey(default_model_path(), None, n_ctx=N_CTX))
    meter, threads = model._meter, model._threads
    model._meter = None
    llama_cpp.llama_set_n_threads(model.llm.ctx, 1, 1)

    def generate(requests):
        out = []
        for req in requests:
            model.llm.reset()
            out += engine.generate([req])
        return out

    yield generate
    model._meter, model._threads = meter, threads
    llama_cpp.llama_set_n_threads(model.llm.ctx, threads, threads)


def _task_prompts() -> list[list[dict[str, str]]]:
    """Six short prompts of real tasks."""
    prompts = []
    for name, n in (("coinflip", 2), ("haiku", 2), ("pig_latin", 1), ("translation", 1)):
        task = get_task(name)
        prompts += [task.messages(example) for example in task.load()[:n]]
    return prompts


def _req(messages, config=GREEDY, seed=0, max_tokens=24, grammar=None, tools=None) -> GenerationRequest:
    return GenerationRequest.build(messages, config, seed, max_tokens, grammar, tools)


@pytest.mark.unit
def test_engine_id_and_cache_keys_are_the_single_engines():
    assert BatchedLlamaCppEngine().engine_id == LlamaCppEngine().engine_id
    assert BatchedLlamaCppEngine().engine_id.startswith("llama.cpp:SmolLM2")
    # The shipped adapter is an activated LoRA: it never changes answers, so both engines answer as the base.
    adapter = default_adapter_path()
    assert adapter is not None, "hag-chain ships its adapter (hag_chain/data/hag-smollm2-135m.lora.gguf)"
    with_adapter = BatchedLlamaCppEngine(adapter_path=adapter).engine_id
    assert with_adapter == LlamaCppEngine(adapter_path=adapter).engine_id == LlamaCppEngine().engine_id
    with pytest.raises(ValueError, match="concurrency"):
        BatchedLlamaCppEngine(concurrency=0)


def test_greedy_and_sampled_replies_agree_with_the_single_engine(batched, fresh_single, record_property):
    prompts = _task_prompts()
    requests = [_req(m) for m in prompts] + [_req(prompts[0], HOT, seed=3), _req(prompts[2], HOT, seed=4)]
    ours, theirs = batched.generate(requests), fresh_single(requests)
    agree = [a == b for a, b in zip(ours, theirs, strict=True)]
    record_property("agreement", f"{sum(agree)}/{len(agree)}")
    # llama.cpp's batched kernels are not bit-exact with its one-token ones: allow one near-tie to flip.
    assert sum(agree) >= len(agree) - 1, list(zip(ours, theirs, strict=True))
    assert all(ours)
    # Alone in the batch, the engine computes exactly what the single engine does, sampled replies included.
    assert batched.generate(requests[-1:]) == theirs[-1:]


def test_seeds_are_reproducible_and_distinct(batched):
    prompt = _task_prompts()[2]
    requests = [_req(prompt, HOT, seed=s) for s in range(4)]
    first = batched.generate(requests)
    assert batched.generate(requests) == first
    assert len(set(first)) >= 3


def test_every_knob_reaches_the_sampler(batched):
    prompt = _task_prompts()[2]
    requests = [
        _req(prompt),
        _req(prompt, HOT, seed=0),
        _req(prompt, HOT, seed=1),
        _req(prompt, DecodingConfig(temperature=1.5, top_k=1), seed=0),
        _req(prompt, DecodingConfig(temperature=1.5, top_k=1), seed=1),
        _req(REPEATING),
        _req(REPEATING, DecodingConfig(temperature=0.0, repetition_penalty=2.0)),
        _req(REPEATING, DecodingConfig(temperature=0.0, presence_penalty=1.5)),
    ]
    greedy, hot0, hot1, top1_0, top1_1, repeating, penalised, present = batched.generate(requests)
    assert hot0 != greedy and hot1 != greedy  # temperature 1.5 samples; 0 is greedy
    assert top1_0 == top1_1 == greedy  # top_k 1 leaves one candidate whatever the temperature and seed
    most_repeated = Counter(repeating.lower().split()).most_common(1)[0][1]
    assert most_repeated >= 5, repeating
    for text in (penalised, present):  # penalties on repeated tokens break the loop
        assert text != repeating and Counter(text.lower().split()).most_common(1)[0][1] < most_repeated


def test_sampler_chain_is_create_completions(batched):
    """Same samplers in the same order as llama-cpp-python's own chain for create_completion."""
    import llama_cpp

    llm = load_model(ModelKey(default_model_path(), None, n_ctx=N_CTX)).llm

    def names(chain):
        n = llama_cpp.llama_sampler_chain_n(chain.sampler)
        return [llama_cpp.llama_sampler_name(llama_cpp.llama_sampler_chain_get(chain.sampler, i)) for i in range(n)]

    for config in (GREEDY, HOT, DecodingConfig(temperature=0.7, top_k=10, typical_p=0.9, repetition_penalty=1.2)):
        kwargs = {k: v for k, v in config.to_llama_kwargs().items() if k != "temperature"}
        theirs = llm._init_sampler(temp=config.temperature, **kwargs)
        ours = sampler_chain(config, 0, n_vocab=llm.n_vocab())
        assert names(ours) == names(theirs)
    assert [n.lstrip(b"?") for n in names(sampler_chain(GREEDY, 0, n_vocab=llm.n_vocab()))] == [b"penalties", b"greedy"]
    # With a grammar, create_completion puts it after the penalties; the window sampler keeps that order.
    for config in (GREEDY, HOT):
        kwargs = {k: v for k, v in config.to_llama_kwargs().items() if k != "temperature"}
        theirs = llm._init_sampler(
            temp=config.temperature, grammar=llama_cpp.LlamaGrammar.from_string(YES_NO), **kwargs
        )
        ours = GrammarWindowSampler(
            config, 0, n_vocab=llm.n_vocab(), penalty_last_n=64, grammar=YES_NO, vocab=llm._model.vocab
        )
        assert [*names(ours.penalties), llama_cpp.llama_sampler_name(ours.grammar), *names(ours.rest)] == names(theirs)
        ours.close()


def test_the_grammar_window_changes_no_token(monkeypatch):
    """Structured replies with the grammar checked on the top tokens first equal those checked on every token.

    Greedy, the penalty, top_k 10 and 50, top_p 0.9 and 1.0, llama.cpp's defaults, on JSON extraction and forced
    tool calls; the window decides nearly every token.
    """
    configs = [
        GREEDY,
        DecodingConfig(temperature=0.0, repetition_penalty=1.15),
        DecodingConfig(temperature=0.7, top_k=10, top_p=1.0, repetition_penalty=1.15),
        DecodingConfig(temperature=1.0, top_k=50, top_p=0.9),
        DecodingConfig(temperature=0.8),  # llama.cpp's defaults: top_k 40, top_p 0.95, min_p 0.05
    ]
    requests = []
    for name in ("structured_output", "tool_arguments"):
        task = get_task(name)
        for example in task.split(0).dev[:2]:
            grammar, tools = task.grammar(example), task.tools(example)
            requests += [_req(task.messages(example), c, s, 48, grammar, tools) for c in configs for s in range(2)]
    windowed = BatchedLlamaCppEngine(n_ctx=N_CTX, concurrency=8)
    replies = windowed.generate(requests)
    monkeypatch.setattr(grammar_window, "WINDOW", 0)
    every_token = BatchedLlamaCppEngine(n_ctx=N_CTX, concurrency=8)
    assert every_token.generate(requests) == replies
    assert len(set(replies)) > len(requests) / 2  # the configurations and seeds did reply differently
    tokens = every_token.stats["decoded"] + len(requests)  # and a first token each, from its prompt's logits
    assert every_token.stats["grammar_full_checks"] == tokens
    assert windowed.stats["grammar_full_checks"] <= tokens / 10


def test_a_grammar_constrains_both_engines_alike(batched, fresh_single):
    """Greedy and sampled replies under a yes/no grammar to prompts that ask for anything else: only yes or no."""
    prompts = _task_prompts()
    requests = [_req(m, grammar=YES_NO) for m in prompts[:4]]
    requests += [_req(prompts[1], HOT, seed=s, grammar=YES_NO) for s in range(4)]
    ours, theirs = batched.generate(requests), fresh_single(requests)
    assert set(ours) <= {"yes", "no"} and set(theirs) <= {"yes", "no"}, (ours, theirs)
    assert len(set(ours[4:])) == 2  # temperature 1.5 draws both
    assert sum(a == b for a, b in zip(ours, theirs, strict=True)) >= len(requests) - 1, (ours, theirs)
    assert batched.generate(requests[:1]) == theirs[:1]
    # Unconstrained, the same prompt is answered in words.
    assert batched.generate([_req(prompts[0])])[0] not in ("yes", "no")
    for engine in (batched, LlamaCppEngine(n_ctx=N_CTX)):
        with pytest.raises(ValueError, match="could not parse the grammar"):
            engine.generate([_req(prompts[0], grammar="root ::= (")])


def test_max_tokens_and_late_twins(batched, fresh_single):
    prompt = _task_prompts()[4]
    model = load_model(ModelKey(default_model_path(), None, n_ctx=N_CTX))
    # Three slots' worth of one prompt through two slots: the third is copied from a live twin's KV.
    two = BatchedLlamaCppEngine(n_ctx=N_CTX, concurrency=2)
    short, long, late = two.generate([_req(prompt, max_tokens=5), _req(prompt), _req(prompt, HOT, seed=7)])
    assert len(model.tokenize(short, special=False)) <= 6
    assert long.startswith(short)
    assert late == fresh_single([_req(prompt, HOT, seed=7)])[0]


def test_a_prompts_requests_are_prefilled_once_wherever_they_stand():
    """Two prompts asked configuration by configuration, as the search lists them, through two slots: two prefills.

    Each later request of a prompt starts from a live twin's copied KV and continues the prompt as its first did.
    """
    prompts = _task_prompts()[2:4]  # two haiku requests: replies longer than 16 tokens
    # Staggered ends: each later request of a prompt is admitted while an earlier one of it still decodes.
    lengths = (16, 4, 8)
    requests = [_req(p, max_tokens=n) for n in lengths for p in prompts]
    engine = BatchedLlamaCppEngine(n_ctx=N_CTX, concurrency=2)
    a16, b16, a4, b4, a8, b8 = engine.generate(requests)
    assert engine.stats["prefills"] == 2
    assert a16.startswith(a8) and a8.startswith(a4) and b16.startswith(b8) and b8.startswith(b4)
    assert len(a4) < len(a8) < len(a16) and a4 != b4


def test_a_prompt_too_long_is_refused_as_by_the_single_engine():
    engine = BatchedLlamaCppEngine(n_ctx=256, concurrency=2)
    with pytest.raises(ContextLengthError, match="context holds"):
        engine.generate([_req([{"role": "user", "content": "word " * 400}])])


def test_sequences_ending_early_move_down_and_keep_their_replies(fresh_single):
    """Short replies end first; the long ones in higher slots move into the holes, with their KV intact."""
    prompts = _task_prompts()
    engine = BatchedLlamaCppEngine(n_ctx=N_CTX, concurrency=4)
    requests = [_req(prompts[0], max_tokens=24), _req(prompts[1], max_tokens=2), _req(prompts[2], max_tokens=24)]
    requests += [_req(prompts[3], max_tokens=4)]
    reported = []
    ours = engine.generate(requests, on_reply=lambda i, text: reported.append((i, text)))
    assert engine.stats["moved"] >= 2  # e.g. slot 3 into slot 1 once slot 1 ends, then slot 2 into 1
    assert sorted(reported) == list(enumerate(ours))  # every reply reported once, as it ended
    theirs = fresh_single(requests)
    assert sum(a == b for a, b in zip(ours, theirs, strict=True)) >= len(requests) - 1, list(zip(ours, theirs))


def test_streams_hold_what_the_requests_need(monkeypatch):
    """Each KV stream is the call's need rounded up to 256 positions; a reply that runs past it (to finish a UTF-8
    character beyond max_tokens) is generated again by the single engine, which ends it where its context would."""
    from hag_training.generation import streams

    engine = BatchedLlamaCppEngine(n_ctx=N_CTX, concurrency=2)
    engine.generate([_req(REPEATING, max_tokens=8)])
    assert engine.kv_window == 256 < N_CTX
    # Greedy, this prompt (120 tokens) is answered with emoji of three tokens each; with max_tokens 136 the
    # 136th token starts an emoji, so the reply needs two positions past prompt + max_tokens = 256.
    monkeypatch.setattr(streams, "_WINDOW_MARGIN", 0)
    emoji = [{"role": "system", "content": "ok " * 98}, {"role": "user", "content": "Reply with three emoji."}]
    model = load_model(ModelKey(default_model_path(), None, n_ctx=N_CTX))
    assert len(model.prompt_tokens(emoji)) == 120
    request = _req(emoji, max_tokens=136)
    reply = engine.generate([request])[0]
    assert engine.stats["outgrown"] == 1
    assert reply == LlamaCppEngine(n_ctx=N_CTX).generate([request])[0]
    assert len(model.tokenize(reply, special=False)) == 138
