from __future__ import annotations

import atexit
import gzip
import os
import shutil
import signal
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

# Nothing a test runs writes to the user's cache (--matmul auto caches its probe there): a fresh one per session.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="hw3cli-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], True)

from hw3cli.cli import main  # noqa: E402 (after the cache is set: the package reads it once)
from hw3cli.core.device import resolve_device  # noqa: E402
from hw3cli.errors import Hw3Error  # noqa: E402

# The tests train tiny models: one thread is faster for them than two threads handing off tiny matrices. The
# commands' default thread count (--threads 0) follows OMP_NUM_THREADS when it is set.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HW3CLI_SHARED", ROOT.parent / "shared"))


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="the device the device tests train on (tests/test_devices.py, "
                     "tests/test_determinism.py): cpu (the default), cuda, cuda:N or mps")


def pytest_configure(config):
    device = config.getoption("--device")
    try:
        kind = resolve_device(device, threads=1).type
    except Hw3Error as exc:
        raise pytest.UsageError(str(exc)) from None
    if kind == "cuda":  # cuBLAS reads it when the process first uses it: before any test's run, deterministic or not
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@pytest.fixture(scope="session")
def device(request) -> str:
    """The device the device tests train on (`pytest --device cuda`)."""
    return request.config.getoption("--device")


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """Run `hw3cli ARGS...` in-process from a temp working directory; return exit code, stdout, stderr."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> Result:
        capsys.readouterr()
        # Python warnings reach a user's terminal on stderr; pytest would otherwise collect them out of sight.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                main([str(a) for a in args])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        shown = "".join(f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n" for w in caught)
        return Result(code, captured.out, shown + captured.err)

    return run


def run_ok(*args) -> None:
    """Run `hw3cli ARGS...` in-process and require exit code 0: for fixtures that build their inputs once per module
    or session, where the function-scoped `cli` fixture cannot be used."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert exc.code == 0, args


def assert_usage_error(result: Result, *words: str) -> None:
    """Exit code 2, exactly one line on stderr naming the problem, and no traceback."""
    assert result.code == 2, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# Tiny data sets the tests build -------------------------------------------------------------------------------------

def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def synthetic_fashion(folder: Path, n_train: int = 512, n_test: int = 128, seed: int = 0, noise: int = 30) -> Path:
    """Ten classes, each a bright horizontal bar at its own height on a dark background, with a little noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, noise + 1, (n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label: 5 + 2 * label, 4:24] = 230
        write_idx(folder / f"{split}-images-idx3-ubyte", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, gz=False)
    return folder


REVIEWS = {
    ("train", "pos"): ["A great, great film!", "Great acting<br />and a great plot.", "Loved it: great fun."],
    ("train", "neg"): ["A dull film.", "Dull, dull, dull... awful plot.", "Awful!"],
    ("test", "pos"): ["Great film, superb.", "Superb!"],
    ("test", "neg"): ["Dull and awful.", "Awful film."],
}

DECISIVE = {
    ("train", "pos"): [f"film {w} superb moment {i}" for i, w in enumerate(["one", "two", "three", "four"] * 5)],
    ("train", "neg"): [f"film {w} dreadful moment {i}" for i, w in enumerate(["one", "two", "three", "four"] * 5)],
    ("test", "pos"): ["superb film", "a superb one", "superb"],
    ("test", "neg"): ["dreadful film", "a dreadful one", "dreadful"],
}


def write_assignment(folder: Path, gz: bool = False, reviews=REVIEWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for (split, label), texts in reviews.items():
        data = ("\n".join(texts) + "\n").encode()
        name = f"{split}_{label}_reviews.txt"
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


TINY_GAN = ["--epochs", "1", "--limit", "256", "--g-hidden", "8,16,32", "--d-hidden", "32,16,8", "--samples", "10"]


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """Real (tiny) runs of every kind, and damaged copies of them."""
    w = tmp_path_factory.mktemp("world")
    fashion = synthetic_fashion(w / "fashion", n_train=512, n_test=128)
    run_ok("preprocess", "--data", write_assignment(w / "imdb-src", reviews=DECISIVE), "--out", w / "imdb",
           "--max-len", "10")
    run_ok("train-gru", "--data", w / "imdb", "--out", w / "gru", "--epochs", "1", "--embed-dim", "4", "--hidden", "4")
    run_ok("train-gan", "--data", fashion, "--out", w / "gan", *TINY_GAN)
    run_ok("train-gan", "--data", fashion, "--out", w / "cgan", "--conditional", *TINY_GAN)
    run_ok("classify", "--data", fashion, "--init-from", w / "gan", "--out", w / "clf", "--epochs", "1",
           "--validation", "100")
    run_ok("train-mlp", "--data", w / "imdb", "--out", w / "mlp", "--epochs", "1", "--embed-dim", "2", "--hidden", "2")
    run_ok("rnn-add", "--learn", "--seeds", "1", "--steps", "5", "--out", w / "adder")

    (w / "garbage.bin").write_bytes(bytes(range(256)) * 8)
    (w / "empty").mkdir()
    garbage_idx = w / "garbage-idx"
    shutil.copytree(fashion, garbage_idx)
    for f in garbage_idx.iterdir():
        f.write_bytes(b"\x1f\x8b not really gzip")
    shutil.copytree(w / "gan", w / "gan-truncated")
    for g in (w / "gan-truncated").glob("*.safetensors"):
        g.write_bytes(g.read_bytes()[: g.stat().st_size // 2])
    shutil.copytree(w / "gan", w / "gan-tampered")
    g = w / "gan-tampered" / "generator.safetensors"
    data = bytearray(g.read_bytes())
    data[8:40] = b"#" * 32  # the JSON header of the safetensors file
    g.write_bytes(bytes(data))
    shutil.copytree(w / "gru", w / "gru-badvocab")
    (w / "gru-badvocab" / "vocab.json").write_text("[1, 2, 3]")
    shutil.copytree(w / "gru", w / "gru-notjson")
    (w / "gru-notjson" / "vocab.json").write_text("{not json")
    shutil.copytree(w / "imdb", w / "imdb-garbage")
    (w / "imdb-garbage" / "data.safetensors").write_bytes(b"\x00" * 100)
    (w / "reviews.txt").write_text("a fine film\n")
    return {"w": w, "fashion": fashion}



def interrupt_after_epoch(loop, epoch: int, sig: int = signal.SIGINT):
    """`loop` (a training generator) that sends `sig` to this process once it has yielded epoch `epoch`: what
    Ctrl-C (SIGINT) or a scheduler's SIGTERM does mid-run."""

    def interrupted(*args, **kwargs):
        for record in loop(*args, **kwargs):
            yield record
            if record["event"] == "epoch" and record["epoch"] == epoch:
                os.kill(os.getpid(), sig)

    return interrupted
