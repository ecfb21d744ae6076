"""The search's output record (:class:`Label`, one per labelled input) and how it is written and read back."""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["Label", "SearchResult", "load_records", "write_outputs"]


@dataclass
class Label:
    """One labelled training input: the configuration it is taught, and every score behind the choice."""

    task: str
    messages: list[dict[str, str]]
    label_line: str
    """The label as the planner writes it (``SearchSpace.format``)."""
    scores: dict[str, float]
    """Group score of every survivor on this input, by line."""
    tools: list[dict[str, Any]] = field(default_factory=list)
    """The tools the model was offered with :attr:`messages`, for its chat template to write (none where the
    template cannot: then they are instructions in the messages; ``hag_chain.tool_prompt``)."""
    family: str = ""
    example_id: str = ""
    label: dict[str, Any] = field(default_factory=dict)
    """The label's knob values."""
    label_score: float = 0.0
    """The label's group score on this input."""
    label_answer: str = ""
    """The first of the label's replies to this input (taught as the base model's own answer in ``lora`` mode)."""
    stderrs: dict[str, float] = field(default_factory=dict)
    """Standard error of each of those scores."""
    rule: str = "task best"
    """``task best`` (the task's configuration) or ``input evidence`` (this input clearly earned another)."""
    provenance: str = ""
    """JSON: engine, search settings, space, versions."""

    def to_dict(self) -> dict[str, Any]:
        """The record as written to ``labels.jsonl``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Label:
        """Read a ``labels.jsonl`` record; fields older searches did not write take their defaults.

        Raises:
            ValueError: A field every search writes is missing.

        """
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        if missing := required - set(data):
            raise ValueError(f"not a `hag-train search` record: it lacks {sorted(missing)}")
        known = {k: v for k, v in data.items() if k in names}
        for name in _JSON_FIELDS:  # a row of the `datasets` copy holds these as JSON text
            if isinstance(known.get(name), str):
                known[name] = json.loads(known[name])
        return cls(**known)


_JSON_FIELDS = ("scores", "stderrs", "label", "tools")
""":class:`Label` fields the ``datasets`` copy stores as JSON text (per-input dicts of varying keys)."""


@dataclass
class SearchResult:
    """Labelled inputs plus what stage 1 found per task."""

    records: list[Label]
    stage1: dict[str, dict[str, Any]]
    generated: int
    cache_hits: int


def write_outputs(result: SearchResult, out_dir: str | Path) -> Path:
    """Write ``labels.jsonl``, ``stage1.json`` and a ``datasets`` dataset (``dataset/``) under ``out_dir``."""
    from datasets import Dataset

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [rec.to_dict() for rec in result.records]
    with open(out / "labels.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "stage1.json").write_text(json.dumps(result.stage1, indent=2) + "\n")
    flat = [row | {k: json.dumps(row[k]) for k in _JSON_FIELDS} for row in rows]  # dicts of varying keys
    Dataset.from_list(flat).save_to_disk(str(out / "dataset"))
    return out


def load_records(data: str | os.PathLike[str]) -> list[Label]:
    """Read the search's ``labels.jsonl`` (``data`` is the file or the search's output folder).

    Raises:
        FileNotFoundError: There is no such file.
        ValueError: The file holds no records, or something other than a search's records.

    """
    path = Path(data)
    if path.is_dir():
        path = path / "labels.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass the output folder of `hag-train search` or its labels.jsonl")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} holds no labelled inputs; run `hag-train search` with --n-train > 0")
    try:
        return [Label.from_dict(json.loads(line)) for line in lines]
    except ValueError as e:
        raise ValueError(f"{path} is not a `hag-train search` output: {e}") from e
