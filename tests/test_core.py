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
from hw3cli.core.wording import counted
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


def test_same_tensors_give_the_same_checkpoint_bytes_in_any_dtype(tmp_path):
    from safetensors.torch import load_file

    tensors = {"w": torch.randn(3, 4), "h": torch.randn(2).to(torch.bfloat16),
               "n": torch.arange(6).reshape(2, 3)[:, 1], "flag": torch.tensor([True, False]),
               "empty": torch.zeros(0, 4), "byte": torch.tensor(7, dtype=torch.uint8)}
    extra = {"z": "last", "a": "first", "m": [1, 2]}
    one = save_checkpoint(tmp_path / "one.safetensors", tensors, "thing", {"k": 1}, extra).read_bytes()
    shuffled = dict(reversed(list(tensors.items())))
    two = save_checkpoint(tmp_path / "two.safetensors", shuffled, "thing", {"k": 1}, dict(reversed(extra.items())))
    assert two.read_bytes() == one  # safetensors' own writer puts the metadata in a random order
    assert int.from_bytes(one[:8], "little") % 8 == 0  # the tensors start 8-byte aligned
    loaded = load_file(tmp_path / "one.safetensors")  # the reference reader agrees
    assert loaded.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor.contiguous()), name


def test_tensor_file_is_filled_in_place_then_loads_like_a_checkpoint(tmp_path):
    import numpy as np

    from hw3cli.core.checkpoint import TensorFile

    layout = {"ids": (np.int32, (3, 4)), "labels": (np.uint8, (3,)), "none": (np.int32, (0, 4))}
    data = TensorFile(tmp_path / "t.safetensors", layout, "table", {"width": 4}, {"digest": "0" * 8, "who": "me"})
    assert data.arrays["ids"].shape == (3, 4) and not data.arrays["ids"].any()  # zero until filled
    data.arrays["ids"][1, 2:] = [5, 6]
    data.arrays["labels"][:] = [1, 0, 1]
    with pytest.raises(ValueError, match="changed length"):
        data.finish({"digest": "123", "who": "me"})
    data.finish({"digest": "12345678", "who": "me"})
    tensors, meta = load_checkpoint(tmp_path / "t.safetensors", "table")
    assert tensors["ids"].tolist() == [[0, 0, 0, 0], [0, 0, 5, 6], [0, 0, 0, 0]]
    assert tensors["labels"].tolist() == [1, 0, 1] and tensors["none"].shape == (0, 4)
    assert meta["digest"] == "12345678" and meta["model_args"] == {"width": 4}
    # The same bytes as writing the finished tensors in one go.
    again = save_checkpoint(tmp_path / "s.safetensors", tensors, "table", {"width": 4},
                            {"digest": "12345678", "who": "me"})
    assert again.read_bytes() == (tmp_path / "t.safetensors").read_bytes()


def _helper_echo(channel, factor, fail):
    if fail == "user":
        raise Hw3Error("the helper's input is wrong")
    if fail == "bug":
        raise KeyError("missing")
    channel.send(os.getpid())
    channel.send([factor * x for x in channel.recv()])


@pytest.mark.parametrize("fork", [True, False])
def test_helper_runs_beside_the_caller_and_reports_its_errors(monkeypatch, fork):
    from hw3cli.core import helper

    if fork and not helper.forking():
        pytest.skip("no fork here")
    monkeypatch.setattr(helper, "forking", lambda: fork)
    with helper.Helper(_helper_echo, 3, None) as worker:
        assert (worker.recv() != os.getpid()) == fork  # a process of its own, or a thread of this one
        worker.send([1, 2])
        assert worker.recv() == [3, 6]
    with helper.Helper(_helper_echo, 3, "user") as worker, pytest.raises(Hw3Error, match="helper's input is wrong"):
        worker.recv()
    with helper.Helper(_helper_echo, 3, "bug") as worker, pytest.raises(RuntimeError, match="KeyError"):
        worker.recv()
    with pytest.raises(ZeroDivisionError), helper.Helper(_helper_echo, 3, None) as worker:
        worker.recv()
        raise ZeroDivisionError  # the caller fails while the helper waits for it: leaving must not hang


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


def test_counted_words_agree_in_number():
    assert counted(1, "epoch") == "1 epoch"
    assert counted(0, "epoch") == "0 epochs"
    assert counted(30, "epoch") == "30 epochs"
    assert counted(5000, "sample") == "5,000 samples"
    assert counted(1, "class", "classes") == "1 class" and counted(3, "class", "classes") == "3 classes"
