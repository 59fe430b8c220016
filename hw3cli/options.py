"""How a config field (configs.py) becomes a command-line option, without typer: the fields a command offers, the
parser and help of each, and the config built back from the parsed values. cli.py hands these to typer.

Every number is checked here, when the command line is parsed: the range its config field declares (shown in
--help), finite floats only (NaN and infinity are refused), ASCII digits only. What depends on the machine (memory
for a model of that size) is checked by the experiment before it allocates anything. A parser raises ValueError
with the message the user sees.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional

from hw3cli.configs import SIZE_MAX


def of(config: type, defaults: Any = None) -> Iterator[tuple[str, dataclasses.Field, Any, Any]]:
    """(name, field, type, default) of every command-line option of `config`: its fields that are options or
    arguments, and those of its option groups (their defaults the group's own), but the ones a group hides."""
    hints = typing.get_type_hints(config)
    for f in dataclasses.fields(config):
        default = getattr(defaults, f.name) if defaults is not None else f.default
        if dataclasses.is_dataclass(f.default):
            hidden = f.metadata.get("hide", ())
            yield from ((n, g, h, d) for n, g, h, d in of(type(f.default), default) if n not in hidden)
        elif "flag" in f.metadata or f.metadata.get("argument"):
            yield f.name, f, hints[f.name], default


def build(config: type, values: dict[str, Any], used: set[str] | None = None) -> Any:
    """The config from a command's parsed options: each field takes the value of its name, a nested option group
    takes its fields' from its own defaults; `used` collects the names taken."""
    used = set() if used is None else used
    kwargs = {}
    for f in dataclasses.fields(config):
        if dataclasses.is_dataclass(f.default):
            group = {g.name: values[g.name] for g in dataclasses.fields(f.default) if g.name in values}
            used.update(group)
            kwargs[f.name] = dataclasses.replace(f.default, **group)
        elif f.name in values:
            used.add(f.name)
            value = values[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return config(**kwargs)


def cli_type(hint: Any) -> Any:
    """The type a field's option is parsed as: tuples of paths as repeated options or arguments, other tuples
    (layer sizes, class lists) as one comma-separated string, `X | None` as Optional[X]."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return Optional[cli_type(args[0])]
    if typing.get_origin(hint) is tuple:
        return list[Path] if args[0] is Path else str
    return hint


def parsing(field: dataclasses.Field, hint: Any, default: Any) -> tuple[Callable | None, str, str | None, Any]:
    """(parser or None, help text, metavar, default as the command line shows it) of an option field."""
    meta = field.metadata
    kinds = set(typing.get_args(hint)) or {hint}
    parse, extra, metavar = None, "", meta["metavar"] or placeholder(hint)
    if isinstance(default, tuple):  # layer sizes, class lists: comma-separated on the command line
        default = ",".join(map(str, default)) if default else None
    if meta["sizes"]:
        parse, metavar = sizes, "INT,INT,..."
    elif meta["flag"] == "--device":
        parse, metavar = device, "[auto|cpu|cuda|cuda:N|mps]"
    elif meta["low"] is not None and float in kinds:
        parse, extra = real(meta["low"], meta["high"], meta["low_open"], meta["high_open"])
    elif meta["low"] is not None and int in kinds:
        parse, extra = count(int(meta["low"]), int(meta["high"]))
    return parse, " ".join(part for part in (meta["help"], extra) if part), metavar, default


def placeholder(hint: Any) -> str | None:
    """What an option's value looks like, from its type: PATH, INT, FLOAT, TEXT or the list of its choices (None
    for a flag)."""
    kinds = [k for k in (typing.get_args(hint) or (hint,)) if k is not type(None)]
    if typing.get_origin(hint) is typing.Literal:
        return "[" + "|".join(map(str, kinds)) + "]"
    if len(kinds) == 1 and kinds[0] is not hint:
        return placeholder(kinds[0])
    if typing.get_origin(hint) is tuple:
        return "PATH" if kinds[0] is Path else "TEXT,TEXT,..."
    return {Path: "PATH", int: "INT", float: "FLOAT", str: "TEXT"}.get(hint)


PANEL_ORDER = ("Model", "Optimizer", "Unrolled", "Conditional", "Grading", "Run", "Runtime")  # as --help lists them


def panel(config: type, name: str) -> str | None:
    """The help panel a config (or one of its option groups) puts an option in (its PANELS), or None."""
    for title, names in getattr(config, "PANELS", {}).items():
        if name in names:
            return title
    groups = (f.default for f in dataclasses.fields(config) if dataclasses.is_dataclass(f.default))
    return next((p for group in groups if (p := panel(type(group), name))), None)


def renamed(configs: typing.Iterable[type]) -> dict[str, str]:
    """{former flag: its new name} among these configs' options."""
    return {f.metadata["was"]: f.metadata["flag"] for config in configs for _, f, _, _ in of(config)
            if f.metadata.get("was")}


def modernised(args: list[str], commands: dict[str, tuple[type, ...]]) -> tuple[list[str], list[str]]:
    """The command line with every former flag name of its command replaced by the new one (`--clip 0.1`,
    `--clip=0.1`, `-n5`), and a note for each; a value given to an option is left as it is, whatever it reads."""
    args, notes = list(args), []
    name = next((a for a in args if not a.startswith("-")), None)
    configs = commands.get(name, ())
    former = renamed(configs)
    valued = {flag for config in configs for _, f, hint, _ in of(config)
              if "flag" in f.metadata and bool not in (set(typing.get_args(hint)) or {hint})
              for flag in (f.metadata["flag"], f.metadata["was"])}
    start = args.index(name) + 1 if name in commands else len(args)
    for i in range(start, len(args)):
        if args[i] == "--":
            break
        if args[i - 1] in valued and i > start:  # the previous option's value
            continue
        flag, sep, value = args[i].partition("=")
        short = next((f for f in former if len(f) == 2 and not sep and flag.startswith(f) and len(flag) > 2), None)
        if short:  # a short option with its value attached
            flag, sep, value = short, "=", flag[2:]
        if flag in former:
            args[i] = former[flag] + sep + value
            notes.append(f"hw3cli: note: {flag} is now {former[flag]} (the old name still works for now)")
    return args, notes


def real(low: float, high: float, low_open: bool, high_open: bool) -> tuple[Callable[[Any], float], str]:
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: Any) -> float:
        if isinstance(text, float):
            return text
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
        if not (math.isfinite(value) and low <= value <= high) or (low_open and value == low) or (
                high_open and value == high):
            raise ValueError(f"{text} is not a finite number in {interval}")
        return value

    return parse, f"In {interval}."


def count(low: int, high: int) -> tuple[Callable[[Any], int], str]:
    def parse(text: Any) -> int:
        if isinstance(text, int):
            return text
        if not re.fullmatch(r"[+-]?[0-9]+", str(text).strip()):
            raise ValueError(f"'{text}' is not an integer")
        value = int(text)
        if value < low or value > high:
            raise ValueError(f"must be at {'least' if value < low else 'most'} {low if value < low else high:,}, "
                             f"got {value:,}")
        return value

    return parse, f"{low:,} to {high:,}." if high < 10**12 else f"{low:,} or more."


def sizes(text: Any) -> tuple[int, ...]:
    if isinstance(text, tuple):
        return text
    if not re.fullmatch(r"[0-9]+(,[0-9]+)*", str(text).strip()):
        raise ValueError(f"takes comma-separated positive integers like 256,512,1024, not '{text}'")
    widths = tuple(int(part) for part in str(text).split(","))
    if any(not 1 <= s <= SIZE_MAX for s in widths):
        raise ValueError(f"takes layer sizes from 1 to {SIZE_MAX:,}, got '{text}'")
    return widths


def device(text: Any) -> str:
    if not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]{1,3})?", str(text).lower()):
        raise ValueError(f"'{text}' is not a device: auto, cpu, cuda, cuda:N or mps")
    return str(text).lower()
