"""Schemas for the JSON files this tool reads back (a run's config.json and metrics.json, preprocess's stats.json,
the adder's and the histograms' JSON), checked on load so that a damaged or foreign file is a one-line error naming
the file and the field, never a KeyError or a wrong sentence in a report.

A schema is a Python value: a type (`Number` is int or float, never bool; `Maybe(x)` also allows null), a dict of
required keys (other keys are allowed; a key written "?key" may be missing), `MapOf(x)` for an object whose every
value fits x, or a one-element list `[item]` for a list of items.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hw3cli.errors import Hw3Error


class Number:
    """An int or a float (JSON numbers, and NaN as Python's json writes it); not a bool."""


class Maybe:
    def __init__(self, inner: Any):
        self.inner = inner


class MapOf:
    """An object (any keys, at least one) whose every value fits `inner`: e.g. per-class shares by class name."""

    def __init__(self, inner: Any):
        self.inner = inner


def _name(spec: Any) -> str:
    if spec is Number:
        return "a number"
    if isinstance(spec, Maybe):
        return f"{_name(spec.inner)} or null"
    if isinstance(spec, (dict, MapOf)):
        return "an object" if isinstance(spec, dict) else "a non-empty object"
    if isinstance(spec, list):
        return "a non-empty list"
    return {int: "an integer", str: "a string", bool: "true or false"}.get(spec, getattr(spec, "__name__", str(spec)))


def problem_of(value: Any, spec: Any, where: str) -> str | None:
    if isinstance(spec, Maybe):
        return None if value is None else problem_of(value, spec.inner, where)
    if spec is Number:  # an int too large for a float (1e400 written without its point) is no measurement
        ok = isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)
                                          and abs(value) < 2**63)
    elif spec is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            ok = False
        else:
            for key, inner in spec.items():
                optional, key = key.startswith("?"), key.lstrip("?")
                if key not in value:
                    if optional:
                        continue
                    return f"{where}{key} is missing"
                problem = problem_of(value[key], inner, f"{where}{key}.")
                if problem:
                    return problem
            return None
    elif isinstance(spec, MapOf):
        if not isinstance(value, dict) or not value:
            ok = False
        else:
            for key, item in value.items():
                problem = problem_of(item, spec.inner, f"{where}{key}.")
                if problem:
                    return problem
            return None
    elif isinstance(spec, list):
        if not isinstance(value, list) or not value:
            ok = False
        else:
            for i, item in enumerate(value):
                problem = problem_of(item, spec[0], f"{where.rstrip('.')}[{i}].")
                if problem:
                    return problem
            return None
    else:
        ok = isinstance(value, spec)
    if ok:
        return None
    return f"{where.rstrip('.') or 'the file'} should be {_name(spec)}, found {type(value).__name__}"


def check(value: Any, spec: Any, path: str | os.PathLike) -> Any:
    """`value` (read from `path`) if it fits `spec`; otherwise a one-line error naming the file and the field."""
    problem = problem_of(value, spec, "")
    if problem:
        raise Hw3Error(f"{Path(path)}: {problem}")
    return value


RUN_CONFIG = {"experiment": str, "config": dict, "command": list}
