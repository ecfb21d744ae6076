"""HAG for any OpenAI client: `hag-chain serve`, then the `openai` package and LangChain's ChatOpenAI talk to it.

In your own setup, start the server once in a terminal and point clients at it:

    pip install 'hag-chain[serve]'
    hag-chain serve --port 8000                      # or: --model qwen2.5-coder-0.5b
    curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
         -d '{"model": "hag", "messages": [{"role": "user", "content": "Write a haiku about rain."}]}'

This script starts `hag-chain serve` itself on a free port, so that it runs on its own
(needs: pip install 'hag-chain[serve]' openai langchain-openai).
"""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from langchain_openai import ChatOpenAI
from openai import OpenAI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    command = Path(sys.executable).with_name("hag-chain")  # the console script beside this Python
    server = subprocess.Popen([str(command), "serve", "--port", str(port), "--max-tokens", "48"])
    for _ in range(600):  # the model loads first (seconds)
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).raise_for_status()
            return server
        except httpx.HTTPError:
            if server.poll() is not None:
                raise SystemExit("hag-chain serve exited; is hag-chain[serve] installed?") from None
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("hag-chain serve did not come up")


port = free_port()
server = start_server(port)
base_url = f"http://127.0.0.1:{port}/v1"
try:
    # 1. The official openai client. The planner chooses the knobs the request leaves out; what it chose comes back
    #    in the response's `hag` field and the X-HAG-Config header.
    client = OpenAI(base_url=base_url, api_key="not-needed")
    for prompt in ("Write a haiku about rain.", "What is 17 + 25?"):
        reply = client.chat.completions.create(model="hag", messages=[{"role": "user", "content": prompt}])
        print(prompt, "->", json.dumps(reply.model_extra["hag"]["config"]))
        print("  ", reply.choices[0].message.content.strip().replace("\n", " / "))

    # A knob the client sets wins; streaming works as with any OpenAI server.
    stream = client.chat.completions.create(
        model="hag", messages=[{"role": "user", "content": "Name three colours."}], temperature=0.0, stream=True
    )
    print("streamed at temperature 0:", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))

    # 2. LangChain's ChatOpenAI, unmodified. It drops unknown body fields, so the configuration is read from the
    #    X-HAG-Config header, which ChatOpenAI keeps with include_response_headers=True.
    llm = ChatOpenAI(base_url=base_url, api_key="not-needed", model="hag", include_response_headers=True)
    message = llm.invoke("Write a two-line poem about the sea.")
    print("ChatOpenAI:", message.content.strip().replace("\n", " / "))
    print("  chosen by the planner:", message.response_metadata["headers"]["x-hag-config"])
finally:
    server.terminate()
    server.wait(timeout=30)
