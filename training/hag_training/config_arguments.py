"""Command-line options generated from the configuration dataclasses, so that a setting is written once.

Each field with a ``help`` in its metadata (peft's convention) becomes ``--field-name``, with that help, the field's
default and a parser chosen by its type: numbers and strings as such, a ``Literal`` as choices, a ``bool`` as a
switch (``--no-field-name`` when it defaults to ``True``), a sequence of strings as a comma-separated list, a
:class:`~hag_chain.SearchSpace` or :class:`~hag_chain.DecodingConfig` as JSON. Metadata may add ``flags`` (other
option strings) and ``choices``.

Written here rather than with transformers' ``HfArgumentParser``, which would import transformers (and torch) before
the CLI can refuse a bad setting; and pydantic-settings' CLI names options and subcommands its own way.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from hag_chain import DecodingConfig, SearchSpace

__all__ = ["add_config_arguments", "config_from_args", "parse_search_space"]

C = TypeVar("C")


def _argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse``, its errors reported by argparse with their own message."""

    @functools.wraps(parse)
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"{text!r}: {e}") from e

    return convert


@_argument_type
def parse_search_space(text: str) -> SearchSpace:
    """A search space from JSON, e.g. ``{"temperature": [0.0, 0.7], "top_k": [10, 50]}``."""
    return SearchSpace(values=json.loads(text))


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


_PARSERS: dict[Any, Callable[[str], Any]] = {
    SearchSpace: parse_search_space,
    DecodingConfig: _argument_type(DecodingConfig.from_line),
}


def _cli_fields(config_class: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config_class) if f.init and "help" in f.metadata]


def _default(f: dataclasses.Field, defaults: Mapping[str, Any]) -> Any:
    if f.name in defaults:
        return defaults[f.name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def add_config_arguments(
    parser: argparse.ArgumentParser, config_class: type, *, defaults: Mapping[str, Any] | None = None
) -> None:
    """Add one option per documented field of the dataclass ``config_class`` to ``parser``.

    Args:
        parser: The (sub)command's parser.
        config_class: A dataclass whose fields carry ``metadata={"help": ...}``.
        defaults: Defaults that replace the dataclass's (or stand in where a field has none) on this command.

    """
    hints = typing.get_type_hints(config_class)
    for f in _cli_fields(config_class):
        kind = hints[f.name]
        if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
            kind = next(a for a in typing.get_args(kind) if a is not type(None))  # `X | None`: an X, or the default
        default = _default(f, defaults or {})
        flags = [f"--{f.name.replace('_', '-')}", *f.metadata.get("flags", ())]
        help_text = f.metadata["help"].replace("%", "%%")
        if kind is bool:
            if default:
                flags = [f"--no-{f.name.replace('_', '-')}"]
            action, state = ("store_false", "on") if default else ("store_true", "off")
            parser.add_argument(*flags, dest=f.name, action=action, help=f"{help_text} (default: {state})")
            continue
        options: dict[str, Any] = {"dest": f.name, "help": help_text}
        if typing.get_origin(kind) is Literal:
            options["choices"] = typing.get_args(kind)
            kind = type(options["choices"][0])
        elif typing.get_origin(kind) in (tuple, Sequence):
            kind, default = _comma_list, default if default is dataclasses.MISSING else ",".join(default)
        if "choices" in f.metadata:
            options["choices"] = f.metadata["choices"]
        options["type"] = _PARSERS.get(kind, kind)
        if default is dataclasses.MISSING:
            options["required"] = True
        elif isinstance(default, (int, float, str)):
            options |= {"default": default, "help": f"{help_text} (default: {default})"}
        parser.add_argument(*flags, **options)


def config_from_args(config_class: type[C], args: argparse.Namespace) -> C:
    """The ``config_class`` the parsed ``args`` describe (an option left unset keeps the field's default)."""
    values = {f.name: getattr(args, f.name) for f in _cli_fields(config_class)}
    return config_class(**{name: value for name, value in values.items() if value is not None})
