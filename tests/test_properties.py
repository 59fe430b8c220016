"""The README's promise as a property, over generated inputs (hypothesis): whatever number is given to whatever
option, and however one of our own files is damaged, a command exits 0 or 2; on 2 it prints exactly one line on
stderr, no traceback, and leaves its outputs as they were.

Example counts stay small by default (the suite must stay quick); HW3CLI_HYPOTHESIS=thorough runs many more.
"""

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import snapshot

settings.register_profile("default", max_examples=12, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HW3CLI_HYPOTHESIS", "default"))

# What a person, a script or a fuzzer may type for a number: values at and past every bound, non-finite floats,
# huge integers, negative zero, digits that are not ASCII, exponents, stray text.
NUMBERS = st.one_of(
    st.sampled_from(["0", "-0", "1", "-1", "2", "13", "14", "15", "256", "257", "65536", "65537", "100000",
                     "1000000000", "1000000001", "9223372036854775807", "9223372036854775808",
                     "18446744073709551616", "1e9", "1e-300", "5e-324", "-1e-9", "0.5", "1.0", "0x10", "1_000",
                     "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "²", "٣", "１", "", " ", "1 2", "1,2"]),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)


def run_command(cli, args, out_root: Path):
    """Run a command and check the promise; returns the result. Exit code 1 is rnn-add's "the adder added
    wrong", which a damaged adder may well do."""
    before = snapshot(out_root)
    result = cli(*args)
    assert result.code in ((0, 1, 2) if args[0] == "rnn-add" else (0, 2)), (args, result.code, result.err[-2000:])
    assert "Traceback" not in result.err, (args, result.err[-2000:])
    if result.code == 2:
        assert len(result.err.strip().splitlines()) == 1, (args, result.err)
        assert snapshot(out_root) == before, args
    return result


# Each training command is pointed at a finished run of its own kind (no --overwrite): whatever the numbers, it
# must refuse (bad number, or the finished run) before training, in a second at most.
TRAINING = {
    "train-gan": (["--data", "{fashion}", "--out", "{w}/gan"],
                  ["--epochs", "--batch-size", "--noise-dim", "--lr", "--weight-clip", "--critic-steps",
                   "--sample-every",
                   "--samples", "--threads", "--seed", "--limit", "--unroll", "--unroll-lr", "--eval-every"]),
    "train-gru": (["--data", "{w}/imdb", "--out", "{w}/gru"],
                  ["--embed-dim", "--hidden", "--layers", "--dropout", "--epochs", "--batch-size", "--lr",
                   "--weight-decay", "--grad-clip", "--patience", "--threads", "--seed"]),
    "train-mlp": (["--data", "{w}/imdb", "--out", "{w}/mlp"],
                  ["--embed-dim", "--hidden", "--dropout", "--epochs", "--batch-size", "--lr", "--patience"]),
    "classify": (["--data", "{fashion}", "--from-scratch", "--out", "{w}/clf"],
                 ["--epochs", "--batch-size", "--lr", "--dropout", "--shift", "--validation", "--seed", "--limit",
                  "--threads"]),
    "rnn-add": (["--learn", "--out", "{w}/adder"], ["--seeds", "--steps", "--seed", "--threads"]),
}
# The other commands are given an input that is missing, so that a valid number ends in that one-line error.
OTHERS = {
    "preprocess": (["--data", "{w}/nothing", "--out", "{out}/data"],
                   ["--max-len", "--min-freq", "--max-vocab", "--validation", "--seed"]),
    "predict": (["--model", "{w}/nothing", "{w}/reviews.txt"], ["--batch-size"]),
    "histogram": (["--generator", "{w}/nothing", "--classifier", "{w}/clf", "--data", "{fashion}", "--out",
                   "{out}/h"], ["--samples", "--seed"]),
    "cgan-sample": (["--generator", "{w}/nothing", "--out", "{out}/g.png"], ["--samples", "--seed"]),
}
OPTIONS = [(command, option) for table in (TRAINING, OTHERS) for command, (_, options) in table.items()
           for option in options] + [("rnn-add", "--verify"), ("rnn-add", "--random-pairs"),
                                     ("rnn-add", "--random-bits")]


def fill(args, world, out):
    return [str(a).format(w=world["w"], fashion=world["fashion"], out=out) for a in args]


@pytest.mark.parametrize("command, option", OPTIONS, ids=[f"{c} {o}" for c, o in OPTIONS])
@given(value=NUMBERS)
def test_any_value_of_any_number_option_is_refused_in_one_line_or_accepted(cli, tmp_path, world, command, option,
                                                                           value):
    out_root = tmp_path / "outputs"
    out_root.mkdir(exist_ok=True)
    (out_root / "earlier-result.txt").write_text("kept\n")
    if command == "rnn-add" and option in ("--verify", "--random-pairs", "--random-bits"):
        base = ["--verify", "3"] if option != "--verify" else []
        args = ["rnn-add", *base, option, value, "--weights", str(world["w"] / "nothing.safetensors")]
    else:
        base, _ = {**TRAINING, **OTHERS}[command]
        args = [command, *fill(base, world, out_root), option, value]
    world_before = snapshot(world["w"])
    result = run_command(cli, args, out_root)
    assert result.code == 2  # every base above ends in an error: a value that was accepted met that error
    assert snapshot(world["w"]) == world_before


# Our own files, damaged: a byte flipped, a cut, or bytes written over; read by the command that consumes each.
CONSUMERS = {
    "gan/generator.safetensors": ["histogram", "--generator", "{w}/gan", "--classifier", "{w}/clf", "--samples", "20",
                                  "--data", "{fashion}", "--out", "{out}/h"],
    "clf/classifier.safetensors": ["histogram", "--generator", "{w}/gan", "--classifier", "{w}/clf", "--samples", "20",
                                   "--data", "{fashion}", "--out", "{out}/h"],
    "cgan/generator.safetensors": ["cgan-sample", "--generator", "{w}/cgan", "--samples", "1", "--out",
                                   "{out}/g.png", "--tensor", "{out}/g.safetensors"],
    "gru/model.safetensors": ["predict", "--model", "{w}/gru", "{w}/reviews.txt"],
    "gru/vocab.json": ["predict", "--model", "{w}/gru", "{w}/reviews.txt"],
    "imdb/data.safetensors": ["train-mlp", "--data", "{w}/imdb", "--out", "{out}/m", "--epochs", "1", "--embed-dim",
                              "2", "--hidden", "2"],
    "imdb/vocab.json": ["train-mlp", "--data", "{w}/imdb", "--out", "{out}/m", "--epochs", "1", "--embed-dim", "2",
                        "--hidden", "2"],
    "gan/metrics.json": ["compare-gan", "{w}/gan", "--out", "{out}/c"],
    "gan/config.json": ["compare-gan", "{w}/gan", "--out", "{out}/c"],
    "gan/samples.safetensors": ["compare-gan", "{w}/gan", "--out", "{out}/c"],
    "gru/metrics.json": ["compare-imdb", "{w}/gru", "--out", "{out}/c.md"],
    "adder/learned.safetensors": ["rnn-add", "101", "11", "--weights", "{w}/adder/learned.safetensors"],
    "fashion/train-images-idx3-ubyte.gz": ["train-gan", "--data", "{fashion}", "--out", "{out}/g", "--epochs",
                                           "1", "--limit", "128", "--g-hidden", "4,4,4", "--d-hidden", "4,4,4"],
}


@st.composite
def damage(draw, size: int):
    kind = draw(st.sampled_from(["flip", "cut", "overwrite", "empty"]))
    if kind == "empty" or size == 0:
        return kind, 0, b""
    where = draw(st.integers(0, size - 1))
    if kind == "flip":
        return kind, where, bytes([draw(st.integers(1, 255))])
    if kind == "cut":
        return kind, where, b""
    return kind, where, draw(st.binary(min_size=1, max_size=16))


def damaged(data: bytes, how) -> bytes:
    kind, where, payload = how
    if kind == "empty":
        return b""
    if kind == "cut":
        return data[:where]
    if kind == "flip":
        return data[:where] + bytes([data[where] ^ payload[0]]) + data[where + 1:]
    return data[:where] + payload + data[where + len(payload):]


REPLACEMENTS = st.sampled_from([None, "x", "", [], {}, [1], {"a": 1}, 0, -1, 1.5, 1e308, 10**30, True, "NaN",
                                 [[22000, 22000, 1]], [22000, 22000, 1], "[22000, 22000, 1]", "{}", "[]"])


def _paths(value, prefix=()):
    """Every place in a JSON value (a key's value or a list item), up to a few levels deep."""
    if len(prefix) > 4:
        return
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in list(items)[:50]:
        yield (*prefix, key)
        yield from _paths(item, (*prefix, key))


def mutate_json(draw, value):
    """`value` with one field deleted or given another type or an absurd value."""
    paths = list(_paths(value))
    if not paths:
        return draw(REPLACEMENTS)
    path = draw(st.sampled_from(paths))
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(REPLACEMENTS)
    return value


def damaged_structure(draw, name: str, data: bytes) -> bytes:
    """A JSON file, or a safetensors file's header, well formed but with one field wrong: what a schema must catch."""
    if name.endswith(".json"):
        return json.dumps(mutate_json(draw, json.loads(data))).encode()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    meta = header.get("__metadata__", {})
    if meta and draw(st.booleans()):  # the metadata's JSON values (model_args, state) are documents of their own
        key = draw(st.sampled_from(sorted(meta)))
        try:
            meta[key] = json.dumps(mutate_json(draw, json.loads(meta[key])))
        except json.JSONDecodeError:
            meta[key] = json.dumps(draw(REPLACEMENTS))
    else:
        header = mutate_json(draw, header)
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data[8 + length:]


@pytest.mark.parametrize("name", sorted(CONSUMERS))
@given(data=st.data())
def test_a_damaged_file_of_ours_is_refused_in_one_line_or_read(cli, tmp_path, world, name, data):
    copy = tmp_path / "w"
    if not copy.exists():
        shutil.copytree(world["w"], copy, symlinks=True)
    target = copy / name
    original = (world["w"] / name).read_bytes()
    if not name.endswith(".gz") and data.draw(st.booleans()):
        target.write_bytes(damaged_structure(data.draw, name, original))
    else:
        # Bytes near the start (headers, JSON keys) matter most: half the draws damage the first 256 bytes.
        size = len(original) if data.draw(st.booleans()) else min(len(original), 256)
        target.write_bytes(damaged(original, data.draw(damage(size))))
    out_root = tmp_path / "outputs"
    out_root.mkdir(exist_ok=True)
    (out_root / "earlier-result.txt").write_text("kept\n")
    args = [str(a).format(w=copy, fashion=copy / "fashion", out=out_root) for a in CONSUMERS[name]]
    try:
        run_command(cli, args, out_root)
    finally:
        target.write_bytes(original)
