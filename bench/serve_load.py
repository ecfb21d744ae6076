"""`hag-chain serve` under load: 16 concurrent OpenAI clients against calling ChatHAG in-process.

The same requests (a prompt, a seed, a distinct ``max_tokens`` each, half of them streamed) go three ways:

- **in-process**: one ``ChatHAG`` in a process of its own, called one request after another (``invoke``, or
  ``stream`` for the streamed ones): the baseline;
- **one client**: the official ``openai`` client, one request at a time, against ``hag-chain serve`` started with its
  real command line in another process. Each request goes in-process and through this client one right after the
  other (which goes first alternates), so that the machine's drift over a run falls on both sides alike;
- **16 clients**: the requests spread over 16 concurrent clients (client c sends requests c, c+16, ...). The model
  answers one request at a time either way (one llama.cpp context, ChatHAG's lock), so the server's wall time for all
  of them is compared with the in-process total.

Every reply is checked: status 200, the configuration in the body's ``hag`` field (the first chunk of a stream) and
the same in the ``X-HAG-Config`` header, ``finish_reason`` "length" with as many answer tokens as the in-process reply
to the same request (the end-of-generation tokens are banned with ``logit_bias``, and each request asks for its own
length, so a reply handed to the wrong client shows), and its text and configuration against that reply.

A last phase disconnects: a quarter of the 16 clients stream a long answer and hang up after a few chunks, while the
other clients send their usual requests; every one of those must come back complete and correct, and the server must
answer once more afterwards. Writes bench/results/serve_load.json.

    pip install -e ".[bench]"
    python bench/serve_load.py                  # SmolLM2-135M; run it on an otherwise idle machine
    python bench/serve_load.py --model qwen2.5-coder-0.5b --out bench/results/serve_load_qwen2.5-coder-0.5b.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hag_chain.server import DEFAULT_STREAM_INTERVAL

PROMPTS = [
    "Tell me a bedtime story about a sleepy fox.",
    "How does a refrigerator keep food cold?",
    "What is 48 divided by 6? Show your working.",
    "Explain photosynthesis to a ten-year-old.",
    "Write a haiku about the sea.",
    "What should I pack for a weekend of hiking?",
    "Give me three tips for learning a new language.",
    "Describe a busy market in the morning.",
    "Translate into German: Where is the train station?",
    "Who painted the Mona Lisa?",
    "Write a Python function that checks whether a number is prime.",
    "Why do leaves change colour in autumn?",
    "Write a limerick about a forgetful robot.",
    "Compare tea and coffee in a short paragraph.",
    "A shop sells pens at 3 for 2 euros. How much do 12 pens cost?",
    "Suggest a name for a bakery and explain it.",
]
CLIENTS = 16
REQUESTS = 64
REPEATS = 2
THREADS = 2
DISCONNECT_AFTER_CHUNKS = 3
DISCONNECT_MAX_TOKENS = 400
RESULTS = Path(__file__).parent / "results" / "serve_load.json"


def requests(count: int) -> list[dict[str, Any]]:
    """Request i: a prompt, seed i, 16 + i answer tokens (a length no other request asks for), streamed if i is odd."""
    return [
        {"i": i, "prompt": PROMPTS[i % len(PROMPTS)], "seed": i, "max_tokens": 16 + i, "stream": i % 2 == 1}
        for i in range(count)
    ]


# -- in-process: the baseline ------------------------------------------------------------------------------------


def _worker(model: str, threads: int) -> None:
    """The in-process side: one ChatHAG answering the requests read from stdin, one JSON line each, on stdout."""
    import llama_cpp

    from hag_chain import ChatHAG

    chat = ChatHAG(model=model, n_threads=threads)
    llm = chat.load().llm
    # Every end-of-generation token (SmolLM2 has two), so that each reply runs to its max_tokens.
    eog = [t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(llm._model.vocab, t)]
    chat.invoke("Hello", max_tokens=8)  # warm-up, as the server gets one
    print(json.dumps({"eog": eog}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        kwargs = {"seed": req["seed"], "max_tokens": req["max_tokens"], "logit_bias": dict.fromkeys(eog, -100.0)}
        start = time.perf_counter()
        if req["stream"]:
            text, last = "", None
            for chunk in chat.stream(req["prompt"], **kwargs):
                text += chunk.text
                last = chunk
            assert last is not None
            meta, usage = last.response_metadata, last.usage_metadata or {}
        else:
            msg = chat.invoke(req["prompt"], **kwargs)
            text, meta, usage = msg.text, msg.response_metadata, msg.usage_metadata or {}
        seconds = time.perf_counter() - start
        reply = {"i": req["i"], "seconds": seconds, "text": text, "config": meta["hag"]["config"]}
        print(json.dumps({**reply, "tokens": usage.get("output_tokens")}), flush=True)


class InProcess:
    """:func:`_worker` in a process of its own, asked one request at a time."""

    def __init__(self, model: str, threads: int) -> None:
        cmd = [sys.executable, __file__, "--worker", "--model", model, "--threads", str(threads)]
        self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.eog: list[int] = json.loads(self.stdout.readline())["eog"]

    def ask(self, req: dict[str, Any]) -> dict[str, Any]:
        self.stdin.write(json.dumps(req) + "\n")
        self.stdin.flush()
        return json.loads(self.stdout.readline())

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.stdin.close()
        self.process.wait(timeout=60)


# -- over HTTP -----------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``hag-chain serve`` on a free loopback port, started with its real command line."""

    def __init__(self, model: str, threads: int, stream_interval: float) -> None:
        self.port = _free_port()
        command = shutil.which("hag-chain", path=os.path.dirname(sys.executable)) or "hag-chain"
        cmd = [command, "serve", "--model", model, "--threads", str(threads), "--port", str(self.port)]
        cmd += ["--stream-interval", str(stream_interval)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Server:
        import httpx

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hag-chain serve exited with status {self.process.returncode}")
            try:
                httpx.get(f"{self.url}/models", timeout=1).raise_for_status()
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("hag-chain serve did not answer within 300 s")

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


async def _ask(client: Any, req: dict[str, Any], eog: list[int]) -> dict[str, Any]:
    """One request through the ``openai`` client; what came back, and how long it took."""
    kwargs = {
        "model": "hag",
        "messages": [{"role": "user", "content": req["prompt"]}],
        "seed": req["seed"],
        "max_tokens": req["max_tokens"],
        "logit_bias": dict.fromkeys(map(str, eog), -100),
    }
    start = time.perf_counter()
    if req["stream"]:
        raw = await client.chat.completions.with_raw_response.create(
            **kwargs, stream=True, stream_options={"include_usage": True}
        )
        text, hag, reason, tokens = "", None, None, None
        async for chunk in raw.parse():
            hag = hag or (chunk.model_extra or {}).get("hag")
            for choice in chunk.choices:
                text += choice.delta.content or ""
                reason = choice.finish_reason or reason
            tokens = chunk.usage.completion_tokens if chunk.usage else tokens
    else:
        raw = await client.chat.completions.with_raw_response.create(**kwargs)
        completion = raw.parse()
        text = completion.choices[0].message.content or ""
        hag = (completion.model_extra or {}).get("hag")
        reason, tokens = completion.choices[0].finish_reason, completion.usage.completion_tokens
    header = raw.headers.get("x-hag-config")
    return {
        "i": req["i"],
        "seconds": time.perf_counter() - start,
        "text": text,
        "config": hag and hag["config"],
        "header_matches": header is not None and hag is not None and json.loads(header) == hag["config"],
        "finish_reason": reason,
        "tokens": tokens,
    }


async def _hang_up(client: Any, req: dict[str, Any], eog: list[int]) -> int:
    """Stream a long answer and close the connection after a few chunks; the chunks received."""
    stream = await client.chat.completions.create(
        model="hag",
        messages=[{"role": "user", "content": req["prompt"]}],
        seed=req["seed"],
        max_tokens=DISCONNECT_MAX_TOKENS,
        logit_bias=dict.fromkeys(map(str, eog), -100),
        stream=True,
    )
    received = 0
    async for _ in stream:
        received += 1
        if received >= DISCONNECT_AFTER_CHUNKS:
            break
    await stream.close()
    return received


def _client(url: str) -> Any:
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)


async def _side_by_side(
    url: str, reqs: list[dict[str, Any]], local: InProcess
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each request in-process and through one client, one right after the other; both sides' replies."""
    in_process, served = [], []
    async with _client(url) as client:
        await _ask(client, {"i": -1, "prompt": "Hello", "seed": 0, "max_tokens": 8, "stream": False}, local.eog)
        for req in reqs:
            if (req["i"] // 2) % 2:
                served.append(await _ask(client, req, local.eog))
                in_process.append(local.ask(req))
            else:
                in_process.append(local.ask(req))
                served.append(await _ask(client, req, local.eog))
    return in_process, served


async def _many_clients(url: str, reqs: list[dict[str, Any]], eog: list[int], clients: int) -> tuple[float, list[dict]]:
    async def one(c: int) -> list[dict[str, Any]]:
        async with _client(url) as client:
            return [await _ask(client, req, eog) for req in reqs[c::clients]]

    start = time.perf_counter()
    per_client = await asyncio.gather(*(one(c) for c in range(clients)))
    wall = time.perf_counter() - start
    return wall, sorted((r for rs in per_client for r in rs), key=lambda r: r["i"])


async def _with_disconnects(url: str, reqs: list[dict[str, Any]], eog: list[int], clients: int) -> dict[str, Any]:
    """Clients 0, 4, 8, ... hang up mid-stream; the others send requests 1, 2, 3, 5, ... of ``reqs``."""

    async def one(c: int) -> Any:
        async with _client(url) as client:
            if c % 4 == 0:
                return await _hang_up(client, reqs[c], eog)
            return await _ask(client, reqs[c], eog)

    start = time.perf_counter()
    results = await asyncio.gather(*(one(c) for c in range(clients)))
    async with _client(url) as client:
        after = await _ask(client, reqs[clients], eog)
    return {
        "wall_seconds": time.perf_counter() - start,
        "hung_up": [r for c, r in enumerate(results) if c % 4 == 0],
        "replies": [r for c, r in enumerate(results) if c % 4 != 0] + [after],
    }


# -- checks and summary ----------------------------------------------------------------------------------------


def _check(replies: list[dict[str, Any]], reference: dict[int, dict[str, Any]]) -> dict:
    """What a user would check of every reply: complete, its own length, its configuration reported."""
    complete = [
        r
        for r in replies
        if r["config"] is not None
        and r["header_matches"]
        and r["finish_reason"] == "length"
        and r["tokens"] == reference[r["i"]]["tokens"]
    ]
    return {
        "replies": len(replies),
        "complete_with_config": len(complete),
        "same_config_as_in_process": sum(r["config"] == reference[r["i"]]["config"] for r in replies),
        "same_text_as_in_process": sum(r["text"] == reference[r["i"]]["text"] for r in replies),
        "failed": [r["i"] for r in replies if r not in complete],
    }


def _pass(model: str, threads: int, count: int, clients: int, stream_interval: float) -> dict[str, Any]:
    """One pass: in-process and one client side by side, then the server with 16 clients, and with disconnects."""
    reqs = requests(count)
    by_i = {r["i"]: r for r in reqs}
    with InProcess(model, threads) as local, Server(model, threads, stream_interval) as server:
        replies, sequential = asyncio.run(_side_by_side(server.url, reqs, local))
        eog, reference = local.eog, {r["i"]: r for r in replies}
        in_process_total = sum(r["seconds"] for r in replies)
        wall, concurrent = asyncio.run(_many_clients(server.url, reqs, eog, clients))
        disconnects = asyncio.run(_with_disconnects(server.url, reqs, eog, clients))
    ratios = {s["i"]: s["seconds"] / reference[s["i"]]["seconds"] for s in sequential}
    return {
        "in_process_seconds": round(in_process_total, 2),
        "one_client": {
            "seconds": round(sum(s["seconds"] for s in sequential), 2),
            "overhead": round(sum(s["seconds"] for s in sequential) / in_process_total - 1, 4),
            "median_per_request_overhead": {
                kind: round(statistics.median(r for i, r in ratios.items() if by_i[i]["stream"] == streamed) - 1, 4)
                for kind, streamed in (("plain", False), ("streamed", True))
            },
            "checks": _check(sequential, reference),
        },
        f"{clients}_clients": {
            "wall_seconds": round(wall, 2),
            "overhead": round(wall / in_process_total - 1, 4),
            "median_latency_seconds": round(statistics.median(r["seconds"] for r in concurrent), 2),
            "checks": _check(concurrent, reference),
        },
        "disconnects": {
            # Had the hung-up answers run on (DISCONNECT_MAX_TOKENS tokens each), the wall time would exceed the
            # other replies' in-process time by about that much generation.
            "wall_seconds": round(disconnects["wall_seconds"], 2),
            "in_process_seconds_of_the_other_replies": round(
                sum(reference[r["i"]]["seconds"] for r in disconnects["replies"]), 2
            ),
            "clients_hung_up": len(disconnects["hung_up"]),
            "chunks_before_hanging_up": disconnects["hung_up"],
            "checks": _check(disconnects["replies"], reference),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="smollm2-135m", help="a supported model's name (smollm2-135m)")
    parser.add_argument("--threads", type=int, default=THREADS, help=f"llama.cpp threads on both sides ({THREADS})")
    parser.add_argument("--requests", type=int, default=REQUESTS, help=f"requests per pass ({REQUESTS})")
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"concurrent clients ({CLIENTS})")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"passes ({REPEATS})")
    parser.add_argument(
        "--stream-interval",
        type=float,
        default=DEFAULT_STREAM_INTERVAL,
        help=f"the server's --stream-interval ({DEFAULT_STREAM_INTERVAL} s, its default)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write the results ({RESULTS})")
    args = parser.parse_args()
    if args.worker:
        _worker(args.model, args.threads)
        return
    if args.requests <= args.clients:
        parser.error("--requests must exceed --clients (the disconnect phase sends one request after the others)")
    passes = [
        _pass(args.model, args.threads, args.requests, args.clients, args.stream_interval) for _ in range(args.repeats)
    ]
    many = f"{args.clients}_clients"
    result = {
        "model": args.model,
        "threads": args.threads,
        "requests": args.requests,
        "clients": args.clients,
        "stream_interval": args.stream_interval,
        "cpu_count": os.cpu_count(),
        "median_overhead_one_client": statistics.median(p["one_client"]["overhead"] for p in passes),
        f"median_overhead_{many}": statistics.median(p[many]["overhead"] for p in passes),
        "median_per_request_overhead_streamed": statistics.median(
            p["one_client"]["median_per_request_overhead"]["streamed"] for p in passes
        ),
        "passes": passes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
