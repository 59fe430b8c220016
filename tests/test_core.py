import json
import os
import subprocess
import sys

import pytest
import torch

from hw3cli.core.checkpoint import load_checkpoint, save_checkpoint
from hw3cli.core.device import resolve_device
from hw3cli.core.files import atomic_folder, atomic_write_text, read_json
from hw3cli.core.runs import write_config
from hw3cli.errors import Hw3Error


def test_safetensors_round_trip_keeps_tensors_and_metadata(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5, dtype=torch.int32)}
    path = save_checkpoint(tmp_path / "m.safetensors", tensors, "thing", {"hidden": [4, 8]}, {"seed": 7})
    loaded, meta = load_checkpoint(path, "thing")
    assert torch.equal(loaded["a"], tensors["a"]) and torch.equal(loaded["b"], tensors["b"])
    assert meta["model_args"] == {"hidden": [4, 8]} and meta["kind"] == "thing" and meta["seed"] == "7"
    with pytest.raises(Hw3Error, match="holds a 'thing' model"):
        load_checkpoint(path, "other")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_checkpoints_are_clear_errors(tmp_path, damage):
    path = save_checkpoint(tmp_path / "m.safetensors", {"a": torch.randn(100)}, "thing")
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint at all", "empty": b""}[damage])
    with pytest.raises(Hw3Error, match="not a readable safetensors"):
        load_checkpoint(path)


def test_foreign_safetensors_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(1)}, tmp_path / "x.safetensors")
    with pytest.raises(Hw3Error, match="not an hw3cli checkpoint"):
        load_checkpoint(tmp_path / "x.safetensors")


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["f.txt"]


def test_atomic_folder_keeps_the_old_folder_when_building_fails(tmp_path):
    out = tmp_path / "run"
    with atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_folder(out) as tmp:
            (tmp / "a.txt").write_text("second")
            raise RuntimeError("boom")
    assert (out / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_read_json_errors(tmp_path):
    with pytest.raises(Hw3Error, match="not found"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(Hw3Error, match="not valid JSON"):
        read_json(tmp_path / "bad.json")


def test_config_json_records_options_and_versions(tmp_path):
    from dataclasses import dataclass
    from pathlib import Path

    @dataclass(frozen=True)
    class Cfg:
        lr: float = 0.1
        out: Path = Path("x/y")

    write_config(tmp_path, "demo", Cfg())
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["experiment"] == "demo" and record["config"] == {"lr": 0.1, "out": "x/y"}
    assert record["versions"]["torch"] == torch.__version__


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(Hw3Error, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(Hw3Error, match="no CUDA"):
            resolve_device("cuda")


def test_python_dash_m_and_help_work():
    r = subprocess.run([sys.executable, "-m", "hw3cli", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "rnn-add" in r.stdout
    r = subprocess.run([sys.executable, "-m", "hw3cli", "rnn-add", "12", "1"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not binary" in r.stderr
