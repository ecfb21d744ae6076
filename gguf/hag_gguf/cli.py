"""The ``hag-gguf`` command: ``convert``, ``adapter``, ``merge`` and ``inspect``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from hag_gguf.errors import GGUFExportError
from hag_gguf.hag_metadata import HAG_KEYS, load_meta_file, parse_meta_items
from hag_gguf.outtypes import ADAPTER_OUTTYPES, OUTTYPES
from hag_gguf.vocab import KNOWN_PRE_TOKENIZERS

__all__ = ["build_parser", "main"]

_EPILOG = """\
examples:
  hag-gguf convert ckpt/ -o model.gguf --outtype q8_0 --meta hag.prompt_version=hag-v1
  hag-gguf adapter lora/ --base ckpt/ -o adapter.gguf --hag-metadata run/hag.json
  hag-gguf merge lora/ --base ckpt/ -o merged.gguf --outtype f16
  hag-gguf inspect adapter.gguf --json
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="hag-gguf",
        description="Export llama and qwen2 checkpoints and peft LoRA adapters to GGUF for llama.cpp, "
        "with hag.* metadata for hag-chain.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{convert,adapter,merge,inspect}")

    p = sub.add_parser("convert", help="HF checkpoint (safetensors) -> full GGUF model")
    p.add_argument(
        "model_dir",
        metavar="HF_DIR",
        help="directory with config.json, *.safetensors and the tokenizer (LlamaForCausalLM, Qwen2ForCausalLM)",
    )
    _add_output_args(p, tuple(OUTTYPES), "f16")
    _add_model_args(p)
    _add_meta_args(p)

    p = sub.add_parser("adapter", help="peft LoRA adapter -> GGUF LoRA adapter")
    p.add_argument("peft_dir", metavar="PEFT_DIR", help="directory with adapter_config.json and adapter weights")
    p.add_argument("--base", required=True, metavar="HF_DIR", help="base checkpoint directory (config.json is read)")
    _add_output_args(p, ADAPTER_OUTTYPES, "f32")
    p.add_argument("--name", help="general.name of the adapter (default: PEFT_DIR's name)")
    p.add_argument(
        "--base-name",
        help="hag.base_model: general.name of the base GGUF the adapter is for (default: what `convert` writes "
        "for --base, i.e. its directory name)",
    )
    _add_meta_args(p)

    p = sub.add_parser("merge", help="peft LoRA adapter merged into its base -> full GGUF model (needs torch, peft)")
    p.add_argument("peft_dir", metavar="PEFT_DIR", help="directory with adapter_config.json and adapter weights")
    p.add_argument("--base", required=True, metavar="HF_DIR", help="base checkpoint directory")
    _add_output_args(p, tuple(OUTTYPES), "f16")
    _add_model_args(p, name_default="PEFT_DIR's name")
    _add_meta_args(p)

    p = sub.add_parser("inspect", help="show architecture, type, hag.* keys and tensors of a GGUF file")
    p.add_argument("file", metavar="FILE", help="a .gguf model or adapter")
    p.add_argument("--json", action="store_true", help="print JSON (with every tensor) instead of text")
    p.add_argument("--tensors", action="store_true", help="list every tensor in the text output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hag-gguf``; returns the exit status (0 ok, 1 refused input, 2 usage error, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except GGUFExportError as e:
        print(f"hag-gguf {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hag-gguf {args.command}: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hag-gguf inspect x.gguf --json | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    from hag_gguf import convert_adapter, convert_model, inspect_gguf, merge_adapter
    from hag_gguf.inspection import format_inspection

    if args.command == "inspect":
        info = inspect_gguf(args.file)
        print(json.dumps(info, indent=2) if args.json else format_inspection(info, tensors=args.tensors))
        return 0
    meta = _meta(args)
    common = {"name": args.name, "hag_metadata": meta, "progress": args.progress}
    if args.command == "convert":
        report = convert_model(args.model_dir, args.output, args.outtype, tokenizer_pre=args.tokenizer_pre, **common)
    elif args.command == "adapter":
        report = convert_adapter(
            args.peft_dir, args.output, args.base, args.outtype, base_name=args.base_name, **common
        )
    else:
        report = merge_adapter(
            args.peft_dir, args.output, args.base, args.outtype, tokenizer_pre=args.tokenizer_pre, **common
        )
    print(report.summary())
    return 0


def _meta(args: argparse.Namespace) -> dict[str, object]:
    meta: dict[str, object] = {}
    if args.hag_metadata:
        meta.update(load_meta_file(args.hag_metadata))
    meta.update(parse_meta_items(args.meta or []))
    return meta


def _add_output_args(p: argparse.ArgumentParser, outtypes: tuple[str, ...], default: str) -> None:
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="GGUF file to write (replaced atomically)")
    p.add_argument(
        "--outtype",
        choices=outtypes,
        default=default,
        help=f"tensor type for weight matrices (default: {default}); norms stay f32, rows that do not fit a "
        "quant block fall back to f16 and are listed in the report",
    )
    p.add_argument("--progress", action="store_true", help="show a progress bar")


def _add_model_args(p: argparse.ArgumentParser, name_default: str = "HF_DIR's name") -> None:
    p.add_argument("--name", help=f"general.name (default: {name_default}); adapters refer to it as hag.base_model")
    p.add_argument(
        "--tokenizer-pre",
        metavar="NAME",
        help="llama.cpp BPE pre-tokenizer name (default: detected; known: " + ", ".join(KNOWN_PRE_TOKENIZERS) + ")",
    )


def _add_meta_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--meta",
        action="append",
        metavar="KEY=VALUE",
        help=f"a hag.* metadata string, repeatable; keys: {', '.join(HAG_KEYS)}",
    )
    p.add_argument(
        "--hag-metadata",
        metavar="FILE.json",
        help="JSON object of hag.* keys (search_space/provenance may be objects); --meta overrides it",
    )


if __name__ == "__main__":
    sys.exit(main())
