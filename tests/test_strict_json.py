"""Every JSON file the tool writes, and every --json output, parses with Python's json at its default limits, with
NaN and Infinity refused, and with jq where it is installed."""

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw3cli.core.files import JSON_INT_DIGITS, json_text, write_json

ROOT = Path(__file__).resolve().parents[1]


def refuse(constant):
    raise ValueError(f"{constant} is not JSON")


def strict_load(text: str):
    return json.loads(text, parse_constant=refuse)


huge = st.integers(min_value=1, max_value=3).map(lambda k: 10 ** (JSON_INT_DIGITS + k) + 7)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), huge, st.floats(), st.text(max_size=5))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text("abc", max_size=3), inner, max_size=4)),
                      max_leaves=20)


def expected(value):
    """What a strict writer must give back: non-finite floats as null, huge integers as their digits."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** JSON_INT_DIGITS:
        sys.set_int_max_str_digits(0)
        return str(value)
    if isinstance(value, dict):
        return {k: expected(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expected(v) for v in value]
    return value


@settings(max_examples=200, deadline=None)
@given(values)
def test_the_writer_gives_json_every_reader_parses(value):
    limit = sys.get_int_max_str_digits()
    try:
        want = expected(value)
    finally:
        sys.set_int_max_str_digits(limit)
    assert without_notes(strict_load(json_text(value)), want) == want


def without_notes(got, want):
    """`got` less the "<key>_is" notes the writer adds beside a key it wrote as null (checked here)."""
    if isinstance(want, dict) and isinstance(got, dict):
        notes = {k: v for k, v in got.items() if k not in want}
        assert all(k.endswith("_is") and v in ("NaN", "Infinity", "-Infinity") for k, v in notes.items())
        return {k: without_notes(v, want[k]) for k, v in got.items() if k in want}
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        return [without_notes(g, w) for g, w in zip(got, want)]
    return got


def test_a_non_finite_number_says_what_it_was():
    text = json_text({"d_loss": float("nan"), "losses": [1.0, float("-inf")], "g_loss": 0.5})
    assert strict_load(text) == {"d_loss": None, "d_loss_is": "NaN", "losses": [1.0, None],
                                 "losses_is": "-Infinity", "g_loss": 0.5}


def test_every_json_file_is_written_one_way():
    """JSON files and --json output go through core.files.json_text; json.dumps elsewhere only makes strings kept
    inside other files (safetensors headers and metadata, the vocabulary's streamed header) or table cells."""
    allowed = {"hw3cli/core/files.py", "hw3cli/core/checkpoint.py", "hw3cli/core/resume.py", "hw3cli/data/vocab.py",
               "hw3cli/experiments/report.py", "hw3cli/experiments/rnn_add.py"}
    for path in (ROOT / "hw3cli").rglob("*.py"):
        name = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        assert "json.dump(" not in text, name
        if "json.dumps(" in text:
            assert name in allowed, name
        if name == "hw3cli/experiments/rnn_add.py":  # a weights table cell, never its output
            assert all("add_row" in line for line in text.splitlines() if "json.dumps(" in line)


def test_a_20000_bit_sum_as_json_parses(cli, tmp_path):
    a = "1" * 20_000
    r = cli("rnn-add", a, "1", "--json", "--save", tmp_path / "sum.json")
    assert r.code == 0, r.err[-300:]
    for text in (r.out, (tmp_path / "sum.json").read_text()):
        result = strict_load(text)
        assert isinstance(result["decimal"]["a"], str) and len(result["decimal"]["a"]) > JSON_INT_DIGITS
        assert result["decimal"]["sum"] == digits(int(a, 2) + 1) and result["correct"] is True
    if shutil.which("jq"):
        assert subprocess.run(["jq", "-e", ".correct"], input=r.out, text=True, capture_output=True).returncode == 0


def digits(value: int) -> str:
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return str(value)
    finally:
        sys.set_int_max_str_digits(limit)


def test_verify_json_parses(cli):
    r = cli("rnn-add", "--verify", "4", "--random-pairs", "3", "--json")
    assert r.code == 0 and strict_load(r.out)["exhaustive"]["mismatches"] == 0


def test_an_mse_runs_files_are_strict_json(cli, tmp_path):
    from tests.conftest import synthetic_fashion

    data = synthetic_fashion(tmp_path / "data")
    out = tmp_path / "mse"
    r = cli("train-gan", "--loss", "mse", "--data", data, "--out", out, "--epochs", "1", "--g-hidden", "8,8,8",
            "--d-hidden", "8,8,8", "--samples", "4")
    assert r.code == 0, r.err
    for path in out.glob("*.json"):
        loaded = strict_load(path.read_text())
        assert not re.search(r"\bNaN\b|Infinity", path.read_text().replace('"NaN"', "").replace('"Infinity"', ""))
        if path.name == "metrics.json":
            assert loaded["epochs"][0]["d_loss"] is None and loaded["epochs"][0]["d_loss_is"] == "NaN"


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_write_json_refuses_nothing_it_can_say(tmp_path, value):
    write_json(tmp_path / "x.json", {"v": value})
    assert strict_load((tmp_path / "x.json").read_text())["v"] is None
