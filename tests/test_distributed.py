"""torchrun with 2 gloo processes on CPU: the same numbers as one process, rank 0 alone writes and speaks, a bad
input on one rank stops both with one line, and an interrupted run resumes bit-identically on the same world size.

One torchrun launch (tests/distributed_driver.py) runs every command in one process group; the tests below read
what it left. Each single-process reference runs in this process with the same options.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hw3cli.core import matmul
from tests.conftest import DECISIVE, ROOT, assert_usage_error, run_ok, synthetic_fashion, write_assignment

# Odd batch sizes: the two ranks' parts differ by one item, and their means are weighted by their sizes. fp32
# throughout: the comparison is to float tolerance, and `auto` would choose bf16 on a CPU that computes it natively.
GAN = ["--epochs", "2", "--limit", "512", "--batch-size", "31", "--g-hidden", "8,16,32", "--d-hidden", "32,16,8",
       "--samples", "10", "--sample-every", "0", "--precision", "fp32"]
GAN_LOSSES = {
    "vanilla": ["--loss", "vanilla"],
    "wgan": ["--loss", "wgan", "--weight-clip", "0.01"],
    "lsgan": ["--loss", "lsgan"],
    "mse": ["--loss", "mse"],
    "conditional": ["--loss", "vanilla", "--conditional"],
    "surrogate": ["--loss", "vanilla", "--unroll", "2", "--unroll-mode", "surrogate"],
    "wgan-gp": ["--loss", "wgan-gp"],  # a double backward (the penalty), averaged like the rest
}
SENTIMENT = {
    "gru": ["train-gru", "--epochs", "2", "--batch-size", "7", "--embed-dim", "4", "--hidden", "4", "--dropout", "0",
            "--precision", "fp32"],
    "mlp": ["train-mlp", "--epochs", "2", "--batch-size", "7", "--embed-dim", "2", "--hidden", "4", "--dropout", "0",
            "--precision", "fp32"],
}
CLASSIFY = ["classify", "--epochs", "2", "--batch-size", "31", "--validation", "100", "--dropout", "0",
            "--precision", "fp32"]
# A library other than torch's for the dense layers' products, where one runs here: every rank must take the same.
LIBRARY = next((name for name in ("openblas", "onednn") if not matmul.unavailable(name)), "torch")
RESUMABLE = ["train-gan", *GAN, "--epochs", "3"]
# 51 steps: long enough for a GAN's dynamics to amplify rounding into another trajectory
LONG = [*GAN, "--epochs", "3", "--matmul", "torch"]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Inputs, then one torchrun launch of 2 ranks running every job; its codes, output and folders."""
    w = tmp_path_factory.mktemp("distributed")
    fashion = synthetic_fashion(w / "fashion", n_train=512, n_test=128)
    (w / "data-rank0").symlink_to(fashion)
    (w / "data-rank1").mkdir()
    for f in fashion.iterdir():  # rank 1 alone meets a corrupt file
        (w / "data-rank1" / f.name).write_bytes(b"\x1f\x8b not gzip" if "train-images" in f.name else f.read_bytes())
    run_ok("preprocess", "--data", write_assignment(w / "imdb-src", reviews=DECISIVE), "--out", w / "imdb",
           "--max-len", "10")
    run_ok("train-gan", "--data", fashion, "--out", w / "source-gan", *GAN)
    two = w / "two"
    jobs = [{"argv": ["train-gan", "--data", fashion, "--out", two / name, *GAN, *opts]}
            for name, opts in GAN_LOSSES.items()]
    jobs += [{"argv": [*argv, "--data", w / "imdb", "--out", two / name]} for name, argv in SENTIMENT.items()]
    jobs += [{"argv": [*CLASSIFY, "--data", fashion, "--init-from", w / "source-gan", "--out", two / "classify"]}]
    jobs += [
        {"argv": ["train-gan", "--data", w / "data-rank{rank}", "--out", two / "bad-input", *GAN]},
        {"argv": ["train-gan", "--data", fashion, "--out", two / "one-each", *GAN, "--batch-size", "1"]},
        {"argv": [*SENTIMENT["gru"], "--data", w / "imdb", "--out", two / "gru-one-each", "--batch-size", "1"]},
        {"argv": ["train-gan", "--data", fashion, "--out", two / "exact", *GAN, "--unroll", "2",
                  "--unroll-mode", "exact"]},
        {"argv": [*RESUMABLE, "--data", fashion, "--out", two / "straight", "--matmul", LIBRARY]},
        # rank 1 gets the Ctrl-C: both stop after the same epoch, rank 0 saves; then the same command resumes
        # (--matmul auto, the default, continuing with the library the run began with)
        {"argv": [*RESUMABLE, "--data", fashion, "--out", two / "resumed", "--matmul", LIBRARY],
         "interrupt": {"rank": 1, "after_epoch": 1}},
        {"argv": [*RESUMABLE, "--data", fashion, "--out", two / "resumed", "--resume"]},
        {"argv": ["train-gan", "--data", fashion, "--out", two / "library", *GAN, "--matmul", LIBRARY]},
        {"argv": ["train-gan", "--data", fashion, "--out", two / "long", *LONG]},
        {"argv": [*RESUMABLE, "--data", fashion, "--out", two / "left"],
         "interrupt": {"rank": 0, "after_epoch": 1}},
    ]
    jobs_file = w / "jobs.json"
    jobs_file.write_text(json.dumps(jobs, default=str))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "HW3CLI_COLLECTIVE_TIMEOUT": "60"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           ROOT / "tests" / "distributed_driver.py", jobs_file, two], cwd=w, env=env,
                          capture_output=True, text=True, timeout=600)
    reports = {rank: json.loads((w / f"report-rank{rank}.json").read_text())
               for rank in (0, 1) if (w / f"report-rank{rank}.json").is_file()}
    assert done.returncode == 0 and set(reports) == {0, 1}, done.stdout + done.stderr
    codes = {rank: dict(zip(range(len(jobs)), r["codes"])) for rank, r in reports.items()}
    return {"w": w, "two": two, "fashion": fashion, "codes": codes, "reports": reports, "stderr": done.stderr,
            "stdout": done.stdout,
            "jobs": jobs}


def code_of(two_ranks, out: str) -> set[int]:
    """The exit codes of the job writing to `out`, on both ranks (the last such job)."""
    index = max(i for i, job in enumerate(two_ranks["jobs"]) if str(two_ranks["two"] / out) in map(str, job["argv"]))
    return {two_ranks["codes"][rank][index] for rank in (0, 1)}


def assert_close(one: Path, two: Path, files: tuple[str, ...], atol: float = 1e-5, rel: float = 1e-3) -> None:
    """Weights within float tolerance (all within `atol`, and all but 0.1% within 1e-6), and every number of
    metrics.json within `rel`."""
    for name in files:
        a, b = load_file(one / name), load_file(two / name)
        assert a.keys() == b.keys(), name
        for key in a:
            assert torch.allclose(a[key].float(), b[key].float(), rtol=1e-4, atol=atol), (name, key)
        diff = torch.cat([(a[k].float() - b[k].float()).abs().flatten() for k in a])
        assert (diff > 1e-6).float().mean() < 1e-3, (name, (diff > 1e-6).float().mean())
    numbers_close(json.loads((one / "metrics.json").read_text()), json.loads((two / "metrics.json").read_text()), rel)


def numbers_close(a, b, rel: float, where: str = "metrics") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a.keys() - {"summary"}:  # the summary's words round the numbers compared here
            numbers_close(a[key], b[key], rel, f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            numbers_close(x, y, rel, f"{where}[{i}]")
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rel, abs_tol=1e-4), (where, a, b)
    else:
        assert a == b, (where, a, b)


@pytest.mark.parametrize("name", list(GAN_LOSSES))
def test_two_ranks_train_every_gan_loss_to_the_weights_of_one_process(two_ranks, tmp_path, name):
    assert code_of(two_ranks, name) == {0}
    run_ok("train-gan", "--data", two_ranks["fashion"], "--out", tmp_path / name, *GAN, *GAN_LOSSES[name])
    files = ("generator.safetensors",) if name == "mse" else ("generator.safetensors", "discriminator.safetensors")
    # Adam and RMSprop move a weight whose gradient is rounding noise by about lr per step, whatever its size: the
    # WGAN critic (lr 5e-5) and the surrogate's look-ahead land up to 3e-5 from one process (skipping the
    # look-ahead's averaging lands 1.5e-3 away); WGAN-GP's Adam without momentum (beta1 = 0) moves a few of its
    # critic's 25,000 weights (0.02%) up to 1.3e-3. The others stay within 1e-7, and nearly every weight within 1e-6.
    atol = {"wgan": 1e-4, "surrogate": 1e-4, "wgan-gp": 3e-3}.get(name, 1e-5)
    # (those weights move WGAN-GP's recorded losses by up to 0.2%)
    assert_close(tmp_path / name, two_ranks["two"] / name, files, atol=atol, rel=1e-2 if name == "wgan-gp" else 1e-3)
    if name == "wgan":  # the clipping follows the averaged step: every critic weight inside [-c, c]
        critic = load_file(two_ranks["two"] / name / "discriminator.safetensors")
        assert max(t.abs().max().item() for t in critic.values()) <= 0.01 + 1e-7


@pytest.mark.parametrize("name", list(SENTIMENT))
def test_two_ranks_train_the_sentiment_models_to_the_weights_of_one_process(two_ranks, tmp_path, name):
    assert code_of(two_ranks, name) == {0}
    run_ok(*SENTIMENT[name], "--data", two_ranks["w"] / "imdb", "--out", tmp_path / name)
    assert_close(tmp_path / name, two_ranks["two"] / name, ("model.safetensors",))


def test_two_ranks_fine_tune_the_classifier_to_the_weights_of_one_process(two_ranks, tmp_path):
    assert code_of(two_ranks, "classify") == {0}
    run_ok(*CLASSIFY, "--data", two_ranks["fashion"], "--init-from", two_ranks["w"] / "source-gan",
           "--out", tmp_path / "classify")
    assert_close(tmp_path / "classify", two_ranks["two"] / "classify", ("classifier.safetensors",))


def test_the_run_records_its_world_and_only_rank_0_writes_or_speaks(two_ranks):
    run = two_ranks["two"] / "vanilla"
    world = {"size": 2, "backend": "gloo"}
    assert json.loads((run / "config.json").read_text())["world"] == world
    assert json.loads((run / "timings.json").read_text())["world"] == world
    assert "world" not in json.loads((run / "metrics.json").read_text())  # the numbers do not depend on it
    assert two_ranks["reports"][1]["writes"] == [], two_ranks["reports"][1]["writes"][:5]
    assert two_ranks["reports"][0]["writes"] == []  # rank 0 is not watched: the list is rank 1's alone
    for name in (*GAN_LOSSES, *SENTIMENT, "classify"):  # one summary line per run: rank 0's
        assert two_ranks["stdout"].count(f"-> {two_ranks['two'] / name}\n") == 1, name


def test_a_bad_input_on_one_rank_stops_both_with_one_line(two_ranks):
    assert code_of(two_ranks, "bad-input") == {2}
    lines = [line for line in two_ranks["stderr"].splitlines() if "hw3cli: error:" in line]
    bad = [line for line in lines if "data-rank1" in line]
    assert len(bad) == 1 and bad[0].startswith("hw3cli: error: rank 1: ") and "train-images" in bad[0], lines
    assert not (two_ranks["two"] / "bad-input").exists()
    assert "Traceback" not in two_ranks["stderr"]


def test_the_exact_unrolled_gan_is_refused_under_torchrun(two_ranks):
    assert code_of(two_ranks, "exact") == {2}
    refused = [line for line in two_ranks["stderr"].splitlines() if "exact" in line and "hw3cli: error" in line]
    assert len(refused) == 1 and "surrogate" in refused[0], refused


def test_a_batch_smaller_than_the_ranks_is_refused(two_ranks):
    assert code_of(two_ranks, "one-each") == {2} and code_of(two_ranks, "gru-one-each") == {2}
    refused = [line for line in two_ranks["stderr"].splitlines() if "--batch-size 1 is smaller" in line]
    assert len(refused) == 2 and all("2 torchrun processes" in line for line in refused), refused


def test_an_interrupted_run_resumes_bit_identically_on_the_same_world_size(two_ranks):
    assert code_of(two_ranks, "straight") == {0} and code_of(two_ranks, "resumed") == {0}
    interrupted = [i for i, job in enumerate(two_ranks["jobs"]) if job.get("interrupt")]
    assert {two_ranks["codes"][rank][i] for rank in (0, 1) for i in interrupted} == {130}
    assert two_ranks["stderr"].count("hw3cli: interrupted in epoch 2") == 2  # once per interrupted run
    straight, resumed = two_ranks["two"] / "straight", two_ranks["two"] / "resumed"
    for name in ("metrics.json", "generator.safetensors", "discriminator.safetensors"):
        assert (straight / name).read_bytes() == (resumed / name).read_bytes(), name
    for run in (straight, resumed):
        assert json.loads((run / "timings.json").read_text())["machine"]["matmul"].split(" ")[0] == LIBRARY


def test_two_ranks_with_another_product_library_train_to_the_weights_of_one_process(two_ranks, tmp_path):
    assert code_of(two_ranks, "library") == {0}
    run_ok("train-gan", "--data", two_ranks["fashion"], "--out", tmp_path / "one", *GAN, "--matmul", LIBRARY)
    assert_close(tmp_path / "one", two_ranks["two"] / "library", ("generator.safetensors", "discriminator.safetensors"))
    assert json.loads((two_ranks["two"] / "library" / "timings.json").read_text())["machine"]["matmul"].split(" ")[
        0] == LIBRARY


def test_one_process_refuses_to_resume_a_run_of_two(two_ranks, cli):
    left = two_ranks["two"] / "left"
    assert (left.parent / "left.partial" / "progress.safetensors").is_file()
    assert_usage_error(cli(*RESUMABLE, "--data", two_ranks["fashion"], "--out", left, "--resume"),
                       "world_size (2, now 1)", "torchrun")


def test_over_a_whole_run_two_ranks_agree_with_one_process_within_the_spread_of_two_seeds(two_ranks, tmp_path):
    """Per step the ranks equal one process within rounding (above); over a run a GAN amplifies that rounding, so
    what holds is equality in distribution: two ranks end as close to one process as a second seed does."""
    assert code_of(two_ranks, "long") == {0}
    final = {}
    for name, seed in (("seed0", "0"), ("seed1", "1")):
        run_ok("train-gan", "--data", two_ranks["fashion"], "--out", tmp_path / name, *LONG, "--seed", seed)
        final[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    final["two"] = json.loads((two_ranks["two"] / "long" / "metrics.json").read_text())
    for key in ("g_loss", "d_loss", "real_score", "fake_score"):
        one, other, two = (final[n]["epochs"][-1][key] for n in ("seed0", "seed1", "two"))
        assert abs(two - one) <= 2 * abs(other - one) + 0.02, (key, one, other, two)
    one, other, two = (final[n]["sample_diversity"] for n in ("seed0", "seed1", "two"))
    assert abs(two - one) <= 2 * abs(other - one) + 0.01, ("sample_diversity", one, other, two)
