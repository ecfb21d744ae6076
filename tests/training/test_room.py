"""`hag-train room` on a small slice of real tasks, with the real SmolLM2 GGUF."""

import json

import pytest
from hag_training.cli import main
from hag_training.generation.cache import GenerationCache
from hag_training.room import ROOM_METHODS

from ..conftest import TINY_SPACE


def test_room_measures_every_method_with_intervals_on_a_small_slice(tmp_path, capsys):
    space = json.dumps({k: list(v) for k, v in TINY_SPACE.values.items()})
    out, cache = tmp_path / "room", tmp_path / "cache.sqlite"
    args = ["room", "--tasks", "coinflip,pig_latin", "--n-inputs", "2", "--k", "2", "--space", space]
    assert main([*args, "--cache", str(cache), "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "room.json").read_text())
    assert set(data["summary"]) == {"coinflip", "pig_latin"}
    for task, row in data["summary"].items():
        grid = {line: scores for line, scores in data["scores"][task].items() if line.startswith("{")}
        assert len(grid) == TINY_SPACE.size and all(len(s) == 2 for s in grid.values())
        means = {line: sum(s) / 2 for line, s in grid.items()}
        best, worst = row["best static"]["line"], row["worst static"]["line"]
        assert means[best] == max(means.values()) and row["best static"]["mean"] == round(means[best], 4)
        assert means[worst] == min(means.values()) and row["worst static"]["mean"] == round(means[worst], 4)
        # The spread is best minus worst, input by input: its mean is the gap of the means, its interval (inputs
        # resampled in pairs) lies within the smallest and largest gap on one input.
        gaps = [b - w for b, w in zip(grid[best], grid[worst], strict=True)]
        assert row["spread"]["mean"] == round(sum(gaps) / 2, 4)
        assert row["spread"]["mean"] == pytest.approx(means[best] - means[worst], abs=5e-5)
        lo, hi = row["spread"]["ci95"]
        assert round(min(gaps), 4) <= lo <= row["spread"]["mean"] <= hi <= round(max(gaps), 4)
        for method in ROOM_METHODS:
            lo, hi = row[method]["ci95"]
            assert 0.0 <= lo <= row[method]["mean"] <= hi <= 1.0
        assert row["floor"] == (0.5 if task == "coinflip" else 0.0)
    table = (out / "room.md").read_text()
    assert "| coinflip | reasoning |" in table and "best − worst" in table
    assert (out / "room.png").stat().st_size > 0
    assert "room.md" in capsys.readouterr().out
    # A rerun is answered from the cache alone.
    n = len(GenerationCache(cache))
    assert main([*args, "--cache", str(cache), "--out", str(out), "--no-progress"]) == 0
    assert len(GenerationCache(cache)) == n
