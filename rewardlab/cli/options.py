"""Command-line flags generated from a typed config dataclass, so each option is written once.

A field declared with :func:`option` becomes a flag of the command: ``--final-k`` for ``final_k``, its type from
the annotation (``int | None`` parses ints), its default, choices and help text from the field. A field declared
without :func:`option` is set from Python only. ::

    @dataclass
    class ReplayConfig:
        search_dir: str = option(positional=True)
        seeds: int = option(3, help="seeds to re-train on")
        hp: tuple[str, ...] = option((), repeat=True, metavar="KEY=VALUE")   # --hp a=1 --hp b=2
        progress: bool = option(True, flag="--no-progress")                   # a True bool's flag stores False

    add_options(parser, ReplayConfig)
    cfg = from_options(ReplayConfig, parser.parse_args(argv))

Bools are switches (``store_true``, or ``store_false`` for a field that defaults to True). ``repeat`` collects a
repeated flag into a tuple. ``parse`` turns the flag's text into the value (``"a,b"`` into ``("a", "b")``).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
from collections.abc import Callable, Sequence
from typing import Any, Union, cast, get_args, get_origin, get_type_hints

_KEY = "rewardlab.cli.option"


@dataclasses.dataclass(frozen=True)
class Option:
    """How one config field appears on the command line (see :func:`option`)."""

    help: str | None = None
    flag: str | None = None
    choices: tuple[Any, ...] | None = None
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    repeat: bool = False
    positional: bool = False


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str | None = None,
    flag: str | None = None,
    choices: Sequence[Any] | None = None,
    metavar: str | None = None,
    parse: Callable[[str], Any] | None = None,
    repeat: bool = False,
    positional: bool = False,
) -> Any:
    """A dataclass field that is also a command-line option; without ``default`` the option is required.

    :param help: the help text (none: argparse shows the flag alone).
    :param flag: the flag when it is not ``--`` plus the field name with dashes (``--notes`` for ``human_notes``).
    :param choices: the values accepted.
    :param metavar: the value's name in the help (default: the flag's, upper-case).
    :param parse: text -> value, instead of the annotation's type.
    :param repeat: the flag may be given several times; the field holds the values in order (a tuple).
    :param positional: a positional argument named like the field.
    """
    meta = Option(help, flag, tuple(choices) if choices is not None else None, metavar, parse, repeat, positional)
    return dataclasses.field(default=default, metadata={_KEY: meta})


def option_fields(cls: type) -> dict[str, tuple[dataclasses.Field[Any], Option, type]]:
    """The command-line fields of a config dataclass: name -> (field, its option, the value's base type)."""
    hints = get_type_hints(cls)
    return {
        f.name: (f, f.metadata[_KEY], _base_type(hints[f.name])) for f in dataclasses.fields(cls) if _KEY in f.metadata
    }


def add_options(parser: argparse.ArgumentParser, cls: type, order: Sequence[str] | None = None) -> None:
    """Add every option of ``cls`` to ``parser``: in field order, or in ``order`` (which must name them all)."""
    specs = option_fields(cls)
    names = list(order) if order is not None else list(specs)
    if sorted(names) != sorted(specs):
        missing, unknown = sorted(set(specs) - set(names)), sorted(set(names) - set(specs))
        raise ValueError(f"order of {cls.__name__}'s options: missing {missing}, not options {unknown}")
    for name in names:
        field, opt, base = specs[name]
        flags, kwargs = _argument(name, field, opt, base)
        parser.add_argument(*flags, **kwargs)


def from_options(cls: type, args: argparse.Namespace, **extra: Any) -> Any:
    """The config ``args`` (parsed by a parser :func:`add_options` built) describe; ``extra`` sets other fields."""
    values = {}
    for name, (_, _, base) in option_fields(cls).items():
        value = getattr(args, name)
        values[name] = tuple(value) if base is tuple and isinstance(value, list) else value
    return cls(**values, **extra)


def comma_list(text: str) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``; ``""`` -> ``()``."""
    return tuple(x for x in text.split(",") if x)


def none_if_empty(text: str) -> str | None:
    """``""`` -> None (a flag that can be switched off with an empty value)."""
    return text or None


def _argument(name: str, field: dataclasses.Field[Any], opt: Option, base: type) -> tuple[list[str], dict[str, Any]]:
    required = field.default is dataclasses.MISSING
    flag = opt.flag or ("--" + name.replace("_", "-"))
    kw: dict[str, Any] = {} if opt.positional else {"dest": name}
    if base is bool:
        kw["action"] = "store_false" if field.default is True else "store_true"
    elif opt.repeat:
        kw.update(action="append", default=[] if required else list(cast("Sequence[Any]", field.default)))
    else:
        if not required:
            kw["default"] = field.default
        parse = opt.parse or (base if base in (int, float) else None)
        if parse is not None:
            kw["type"] = parse
        if opt.choices is not None:
            kw["choices"] = list(opt.choices)
    if required and not opt.positional:
        kw["required"] = True
    if opt.metavar is not None:
        kw["metavar"] = opt.metavar
    elif not opt.positional and base is not bool and opt.choices is None and flag != "--" + name.replace("_", "-"):
        kw["metavar"] = flag.lstrip("-").replace("-", "_").upper()  # what argparse shows for the flag's own dest
    if opt.help is not None:
        kw["help"] = opt.help
    return ([name] if opt.positional else [flag]), kw


def _base_type(hint: Any) -> type:
    """``int | None`` -> int, ``tuple[str, ...]`` -> tuple, ``str`` -> str."""
    args = (
        [a for a in get_args(hint) if a is not type(None)] if get_origin(hint) in (Union, types.UnionType) else [hint]
    )
    if len(args) != 1:
        raise TypeError(f"a command-line option holds one type, not {hint}")
    return get_origin(args[0]) or args[0]
