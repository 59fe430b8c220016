"""Every subcommand against bad input: missing paths, garbage and truncated files, a checkpoint of another
model, wrong types, out-of-range numbers. Each must exit with code 2 and one line on stderr naming the problem,
print no traceback, and leave the output folder exactly as it was."""


import shutil

import pytest

from tests.conftest import TINY_GAN, assert_usage_error, snapshot


def cases():
    """(id, arguments, words the message must contain); {w} is the world folder, {out} a fresh output path."""
    return [
        # Problem 0
        ("rnn-add not binary", ["rnn-add", "102", "11"], ["binary"]),
        ("rnn-add one number", ["rnn-add", "101"], ["two binary numbers"]),
        ("rnn-add verify 0", ["rnn-add", "--verify", "0"], ["--verify"]),
        ("rnn-add verify text", ["rnn-add", "--verify", "many"], ["--verify", "integer"]),
        ("rnn-add learn 0 seeds", ["rnn-add", "--learn", "--seeds", "0", "--out", "{out}"], ["--seeds"]),
        ("rnn-add garbage weights", ["rnn-add", "101", "1", "--weights", "{w}/garbage.bin"], ["garbage.bin"]),
        ("rnn-add weights of a GAN", ["rnn-add", "101", "1", "--weights", "{w}/gan/generator.safetensors"],
         ["generator"]),
        ("rnn-add missing weights", ["rnn-add", "101", "1", "--weights", "{w}/nothing.safetensors"], ["not found"]),
        # Problem 1
        ("preprocess missing source", ["preprocess", "--data", "{w}/nothing", "--out", "{out}"], ["nothing"]),
        ("preprocess empty folder", ["preprocess", "--data", "{w}/empty", "--out", "{out}"], ["empty"]),
        ("preprocess garbage tarball", ["preprocess", "--data", "{w}/garbage.bin", "--out", "{out}"],
         ["garbage.bin"]),
        ("preprocess max-len 0", ["preprocess", "--data", "{w}/imdb-src", "--out", "{out}", "--max-len", "0"],
         ["--max-len"]),
        ("preprocess dev-fraction 1.5", ["preprocess", "--data", "{w}/imdb-src", "--out", "{out}",
                                         "--validation", "1.5"], ["--validation"]),
        ("preprocess truncate middle", ["preprocess", "--data", "{w}/imdb-src", "--out", "{out}", "--truncate",
                                        "middle"], ["--truncate"]),
        ("train-gru missing data", ["train-gru", "--data", "{w}/nothing", "--out", "{out}"], ["nothing"]),
        ("train-gru garbage data", ["train-gru", "--data", "{w}/imdb-garbage", "--out", "{out}"], ["data.safetensors"]),
        ("train-gru epochs 0", ["train-gru", "--data", "{w}/imdb", "--out", "{out}", "--epochs", "0"], ["--epochs"]),
        ("train-gru negative lr", ["train-gru", "--data", "{w}/imdb", "--out", "{out}", "--lr", "-1"], ["--lr"]),
        ("train-gru batch text", ["train-gru", "--data", "{w}/imdb", "--out", "{out}", "--batch-size", "big"],
         ["--batch-size"]),
        ("train-gru unknown device", ["train-gru", "--data", "{w}/imdb", "--out", "{out}", "--device", "tpu"],
         ["tpu"]),
        ("train-gru fp8", ["train-gru", "--data", "{w}/imdb", "--out", "{out}", "--precision", "fp8"],
         ["--precision"]),
        ("train-mlp unknown input", ["train-mlp", "--data", "{w}/imdb", "--out", "{out}", "--input", "pixels"],
         ["--input"]),
        ("train-mlp hidden 0", ["train-mlp", "--data", "{w}/imdb", "--out", "{out}", "--hidden", "0"], ["--hidden"]),
        ("predict missing model", ["predict", "--model", "{w}/nothing", "{w}/reviews.txt"], ["nothing"]),
        ("predict a GAN", ["predict", "--model", "{w}/gan", "{w}/reviews.txt"], ["train-gru"]),
        ("predict vocab not a vocabulary", ["predict", "--model", "{w}/gru-badvocab", "{w}/reviews.txt"],
         ["vocab"]),
        ("predict vocab not JSON", ["predict", "--model", "{w}/gru-notjson", "{w}/reviews.txt"], ["vocab"]),
        ("predict missing reviews", ["predict", "--model", "{w}/gru", "{w}/nothing.txt"], ["nothing.txt"]),
        ("predict batch 0", ["predict", "--model", "{w}/gru", "--batch-size", "0", "{w}/reviews.txt"],
         ["--batch-size"]),
        ("compare-imdb a GAN", ["compare-imdb", "{w}/gan", "--out", "{out}/c.md"], ["train-gru"]),
        ("compare-imdb missing", ["compare-imdb", "{w}/nothing", "--out", "{out}/c.md"], ["nothing"]),
        # Problem 2
        ("train-gan unknown loss", ["train-gan", "--loss", "hinge", "--data", "{fashion}", "--out", "{out}"],
         ["hinge"]),
        ("train-gan clip 0", ["train-gan", "--loss", "wgan", "--weight-clip", "0", "--data", "{fashion}", "--out",
                              "{out}"], ["--weight-clip"]),
        ("train-gan epochs -1", ["train-gan", "--epochs", "-1", "--data", "{fashion}", "--out", "{out}"],
         ["--epochs"]),
        ("train-gan batch 0", ["train-gan", "--batch-size", "0", "--data", "{fashion}", "--out", "{out}"],
         ["--batch-size"]),
        ("train-gan hidden text", ["train-gan", "--g-hidden", "a,b,c", "--data", "{fashion}", "--out", "{out}"],
         ["--g-hidden"]),
        ("train-gan unroll mode", ["train-gan", "--unroll", "2", "--unroll-mode", "psychic", "--data",
                                   "{fashion}", "--out", "{out}"], ["--unroll-mode"]),
        ("train-gan empty data dir", ["train-gan", "--data", "{w}/empty", "--out", "{out}"], ["empty"]),
        ("train-gan garbage data", ["train-gan", "--data", "{w}/garbage-idx", "--out", "{out}"],
         ["garbage-idx"]),
        ("train-gan classifier is a GAN", ["train-gan", "--data", "{fashion}", "--classifier", "{w}/gan",
                                           "--out", "{out}", *TINY_GAN], ["classif"]),
        ("compare-gan a GRU", ["compare-gan", "{w}/gru", "--out", "{out}"], ["train-gan"]),
        ("compare-gan nothing", ["compare-gan", "--out", "{out}"], ["run"]),
        ("toy-summary a GRU", ["toy-summary", "{w}/gru", "--out", "{out}"], ["train-gan"]),
        ("collapse-summary a GRU", ["collapse-summary", "{w}/gru", "--out", "{out}"], ["train-gan"]),
        ("collapse-summary an ungraded GAN", ["collapse-summary", "{w}/gan", "--out", "{out}"], ["--judge"]),
        ("toy-summary a Fashion GAN", ["toy-summary", "{w}/gan", "--out", "{out}"], ["Fashion-MNIST"]),
        ("train-gan unknown dataset", ["train-gan", "--dataset", "moons", "--out", "{out}"], ["--dataset"]),
        ("data garbage fashion", ["data", "--fashion-dir", "{w}/garbage-idx", "--imdb-source", "{w}/empty",
                                  "--cache-dir", "{out}"], ["garbage-idx", "corrupt"]),
        ("data nothing anywhere", ["data", "--fashion-dir", "{w}/none", "--imdb-source", "{w}/none",
                                   "--cache-dir", "{out}"], ["IMDB", "DOWNLOAD=1"]),
        ("train-gan d-lr 0", ["train-gan", "--dataset", "ring", "--d-lr", "0", "--out", "{out}"], ["--d-lr"]),
        ("classify from a GRU", ["classify", "--data", "{fashion}", "--init-from", "{w}/gru", "--out", "{out}"],
         ["gru"]),
        ("classify truncated D", ["classify", "--data", "{fashion}", "--init-from", "{w}/gan-truncated",
                                  "--out", "{out}", "--epochs", "1", "--validation", "100"], ["discriminator"]),
        ("classify epochs 0", ["classify", "--data", "{fashion}", "--from-scratch", "--out", "{out}",
                               "--epochs", "0"], ["--epochs"]),
        ("classify dropout 1.5", ["classify", "--data", "{fashion}", "--from-scratch", "--out", "{out}",
                                  "--dropout", "1.5"], ["--dropout"]),
        ("judge validation too large", ["judge", "--data", "{fashion}", "--out", "{out}", "--validation",
                                        "100000"], ["--validation"]),
        ("judge garbage idx", ["judge", "--data", "{w}/garbage-idx", "--out", "{out}"], ["garbage-idx"]),
        ("judge shift 99", ["judge", "--data", "{fashion}", "--out", "{out}", "--shift", "99"], ["--shift"]),
        ("train-gan judge is a classifier", ["train-gan", "--data", "{fashion}", "--out", "{out}", "--judge",
                                             "{w}/clf", "--epochs", "1"], ["not a judge run"]),
        ("histogram judge is a GRU", ["histogram", "--generator", "{w}/gan", "--classifier", "{w}/clf", "--judge",
                                      "{w}/gru", "--data", "{fashion}", "--out", "{out}"], ["judge"]),
        ("histogram missing generator", ["histogram", "--generator", "{w}/nothing", "--classifier", "{w}/clf",
                                         "--data", "{fashion}", "--out", "{out}"], ["nothing"]),
        ("histogram truncated generator", ["histogram", "--generator", "{w}/gan-truncated", "--classifier", "{w}/clf",
                                           "--data", "{fashion}", "--out", "{out}"], ["generator"]),
        ("histogram tampered generator", ["histogram", "--generator", "{w}/gan-tampered", "--classifier", "{w}/clf",
                                          "--data", "{fashion}", "--out", "{out}"], ["generator"]),
        ("histogram classifier is a GAN", ["histogram", "--generator", "{w}/gan", "--classifier", "{w}/gan",
                                           "--data", "{fashion}", "--out", "{out}"], ["classif"]),
        ("histogram n 0", ["histogram", "--generator", "{w}/gan", "--classifier", "{w}/clf", "--samples", "0",
                           "--data", "{fashion}", "--out", "{out}"], ["--samples"]),
        ("cgan-sample unconditional", ["cgan-sample", "--generator", "{w}/gan", "--out", "{out}/g.png"],
         ["unconditional"]),
        ("cgan-sample class 10", ["cgan-sample", "--generator", "{w}/cgan", "--classes", "10", "--out",
                                  "{out}/g.png"], ["10"]),
        ("cgan-sample unknown class", ["cgan-sample", "--generator", "{w}/cgan", "--classes", "hat", "--out",
                                       "{out}/g.png"], ["hat"]),
        ("cgan-sample per-class 0", ["cgan-sample", "--generator", "{w}/cgan", "--samples", "0", "--out",
                                     "{out}/g.png"], ["--samples"]),
        ("cgan-sample score-per-class 0", ["cgan-sample", "--generator", "{w}/cgan", "--classifier", "{w}/clf",
                                              "--score-samples", "0", "--out", "{out}/g.png"],
         ["--score-samples"]),
        ("cgan-sample score-per-class 100001", ["cgan-sample", "--generator", "{w}/cgan", "--classifier", "{w}/clf",
                                              "--score-samples", "100001", "--out", "{out}/g.png"],
         ["--score-samples"]),
        ("cgan-sample score-per-class 1e9", ["cgan-sample", "--generator", "{w}/cgan", "--classifier", "{w}/clf",
                                              "--score-samples", "1e9", "--out", "{out}/g.png"],
         ["--score-samples"]),
        ("cgan-sample garbage classifier", ["cgan-sample", "--generator", "{w}/cgan", "--classifier", "{w}/gru",
                                            "--out", "{out}/g.png"], ["classif"]),
        ("report artifacts is a file", ["report", "--artifacts", "{w}/garbage.bin", "--out", "{out}/R.md"],
         ["garbage.bin"]),
        ("unknown subcommand", ["train-everything"], ["train-everything"]),
        ("unknown option", ["train-gan", "--epocs", "3"], ["--epocs"]),
    ]


@pytest.mark.parametrize("case", cases(), ids=[c[0] for c in cases()])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(cli, tmp_path, world, case):
    _, args, words = case
    out_root = tmp_path / "outputs"
    out_root.mkdir()
    (out_root / "earlier-result.txt").write_text("a result from before\n")
    before, world_before = snapshot(out_root), snapshot(world["w"])
    filled = [str(a).format(w=world["w"], fashion=world["fashion"], out=out_root / "run") for a in args]
    assert_usage_error(cli(*filled), *words)
    assert snapshot(out_root) == before
    assert sorted(p.name for p in out_root.iterdir()) == ["earlier-result.txt"]  # no .partial, no temp folders
    assert snapshot(world["w"]) == world_before


def test_every_subcommand_is_covered():
    from hw3cli.cli import app

    names = {c.name for c in app.registered_commands}
    covered = {c[1][0] for c in cases()}
    assert names <= covered, names - covered


def test_read_only_output_folder_fails_before_training(cli, tmp_path, world):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permission bits: use a folder no one may write in
            locked = next((p for p in (os.path.realpath("/sys"), "/proc") if not _writable(p)), None)
            if locked is None:
                pytest.skip("no read-only folder to try as root")
        r = cli("train-gan", "--data", world["fashion"], "--out", f"{locked}/hw3cli-run", *TINY_GAN)
        assert_usage_error(r, "cannot write")
    finally:
        (tmp_path / "locked").chmod(0o700)


def test_a_nearly_full_disk_fails_before_training(cli, tmp_path, world, monkeypatch):
    import collections

    import hw3cli.core.runs as runs

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(runs.shutil, "disk_usage", lambda path: usage(10 * 2**30, 10 * 2**30 - 2**20, 2**20))
    out = tmp_path / "run"
    assert_usage_error(cli("train-gru", "--data", world["w"] / "imdb", "--out", out), "1 MB free")
    assert not out.exists() and not (tmp_path / "run.partial").exists()


def _writable(path: str) -> bool:
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


# Special files where a file is expected, as inputs and as outputs ----------------------------------------------

def _special(kind: str, path):
    import os

    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        os.symlink(path.name, path)  # a link to itself
    return path


@pytest.mark.parametrize("kind", ["folder", "fifo", "loop"])
def test_special_files_as_inputs_are_one_line_errors_never_a_hang(cli, tmp_path, world, kind):
    w = world["w"]
    gru = tmp_path / "gru"
    shutil.copytree(w / "gru", gru)
    (gru / "vocab.json").unlink()
    _special(kind, gru / "vocab.json")
    assert_usage_error(cli("predict", "--model", gru, w / "reviews.txt"), "vocab")
    reviews = _special(kind, tmp_path / "reviews.txt")
    assert_usage_error(cli("predict", "--model", w / "gru", reviews), "reviews.txt")
    acl = tmp_path / "aclImdb"
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            (acl / split / label).mkdir(parents=True)
            (acl / split / label / "1_8.txt").write_text("a fine film\n")
    (acl / "train" / "pos" / "1_8.txt").unlink()
    _special(kind, acl / "train" / "pos" / "1_8.txt")
    r = cli("preprocess", "--data", acl, "--out", tmp_path / "data")
    if kind == "folder":  # a folder named like a review is not a review: it is skipped
        assert r.code in (0, 2) and "Traceback" not in r.err
    else:
        assert_usage_error(r, "1_8.txt")


def test_a_device_is_never_replaced_by_an_output(cli, tmp_path, world):
    import os
    import stat

    null = "/dev/null"
    before = os.stat(null)
    assert_usage_error(cli("rnn-add", "101", "11", "--save", null), "character device")
    assert_usage_error(cli("cgan-sample", "--generator", world["w"] / "cgan", "--out", null), "character device")
    after = os.stat(null)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_a_link_to_a_regular_file_is_written_through(cli, tmp_path):
    import json
    import os

    target = tmp_path / "result.json"
    target.write_text("{}")
    os.symlink(target.name, tmp_path / "link.json")
    assert cli("rnn-add", "101", "11", "--save", tmp_path / "link.json").code == 0
    assert os.path.islink(tmp_path / "link.json") and json.loads(target.read_text())["sum"] == "1000"


def test_a_failing_command_writes_none_of_its_outputs(cli, tmp_path, world):
    (tmp_path / "tensors").mkdir()
    r = cli("cgan-sample", "--generator", world["w"] / "cgan", "--out", tmp_path / "grid.png", "--tensor",
            tmp_path / "tensors")
    assert_usage_error(r, "tensors")
    assert not (tmp_path / "grid.png").exists()
    art = tmp_path / "art"
    art.mkdir()
    (art / "REPORT.html").mkdir()
    assert_usage_error(cli("report", "--artifacts", art, "--out", art / "REPORT.md"), "REPORT.html")
    assert not (art / "REPORT.md").exists()


# Our own files read back: schemas, not trust ---------------------------------------------------------------------

def _rewrite_data(src, dst, change):
    """A copy of a preprocess folder whose data.safetensors went through `change(tensors, metadata)`."""
    import json

    from hw3cli.core.checkpoint import load_checkpoint, save_checkpoint

    shutil.copytree(src, dst)
    tensors, meta = load_checkpoint(dst / "data.safetensors")
    args = meta.pop("model_args")
    change(tensors, args)
    extra = {k: v for k, v in meta.items() if k not in ("format", "kind", "hw3cli_version")}
    save_checkpoint(dst / "data.safetensors", tensors, meta["kind"], args, extra)
    return json, dst


@pytest.mark.parametrize("change, words", [
    (lambda t, a: t.__setitem__("train_ids", t["train_ids"] + 10**6), ["outside the vocabulary"]),
    (lambda t, a: t.__setitem__("train_ids", t["train_ids"].unsqueeze(0)), ["integer matrix"]),
    (lambda t, a: t.__setitem__("train_labels", t["train_labels"] * 0 + 7), ["labels"]),
    (lambda t, a: t.__setitem__("train_labels", t["train_labels"] * 0), ["both labels"]),
    (lambda t, a: a.pop("max_len"), ["max_len"]),
    (lambda t, a: a.__setitem__("max_len", "abc"), ["max_len"]),
    (lambda t, a: t.pop("dev_lengths"), ["dev split"]),
    (lambda t, a: [t.__setitem__(f"test_{k}", t[f"test_{k}"][:0]) for k in ("ids", "labels", "lengths")],
     ["test split", "no reviews"]),
])
def test_preprocessed_data_is_checked_against_its_schema(cli, tmp_path, world, change, words):
    _, data = _rewrite_data(world["w"] / "imdb", tmp_path / "imdb", change)
    assert_usage_error(cli("train-gru", "--data", data, "--out", tmp_path / "run"), "data.safetensors", *words)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("vocab, words", [
    ('{"format": "hw3cli-vocab", "min_freq": 1, "max_size": null, "words": [["<pad>", 0], ["<unk>", 0], [["a"], 1]]}',
     ["word, count"]),
    ('{"format": "hw3cli-vocab", "min_freq": 1, "max_size": null, "words": [["<pad>", 0], ["<unk>", 0], ["a", 1], '
     '["a", 2]]}', ["twice"]),
    ('{"format": "hw3cli-vocab", "min_freq": "1", "max_size": null, "words": [["<pad>", 0], ["<unk>", 0]]}',
     ["min_freq"]),
])
def test_a_vocabulary_is_checked_against_its_schema(cli, tmp_path, world, vocab, words):
    gru = tmp_path / "gru"
    shutil.copytree(world["w"] / "gru", gru)
    (gru / "vocab.json").write_text(vocab)
    assert_usage_error(cli("predict", "--model", gru, world["w"] / "reviews.txt"), "vocab", *words)


def test_a_learned_adder_of_the_wrong_shape_is_refused(cli, tmp_path):
    import torch

    from hw3cli.core.checkpoint import save_checkpoint
    from hw3cli.models.adder import ThresholdAdder

    tensors = ThresholdAdder.hand_set().tensors()
    save_checkpoint(tmp_path / "a.safetensors", {**tensors, "U": torch.ones(6)}, "threshold-adder")
    assert_usage_error(cli("rnn-add", "1", "1", "--weights", tmp_path / "a.safetensors"), "U", "shape")


@pytest.mark.parametrize("name, content", [("metrics.json", "{}"), ("config.json", "[]"),
                                           ("metrics.json", '{"epochs": []}')])
def test_run_files_are_checked_against_their_schema(cli, tmp_path, world, name, content):
    for run, command in (("gru", ["compare-imdb", "--out", tmp_path / "c.md"]),
                         ("gan", ["compare-gan", "--out", tmp_path / "c"])):
        copy = tmp_path / run
        shutil.copytree(world["w"] / run, copy, dirs_exist_ok=True)
        (copy / name).write_text(content)
        assert_usage_error(cli(command[0], copy, *command[1:]), name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gan", "gru"]


def test_a_progress_file_that_is_damaged_is_refused_on_resume(cli, tmp_path, world):
    import torch

    from hw3cli.core.checkpoint import save_checkpoint

    partial = tmp_path / "run.partial"
    partial.mkdir()
    save_checkpoint(partial / "progress.safetensors", {"x": torch.zeros(1)}, "train-gan-progress",
                    extra={"state": "not json"})
    r = cli("train-gan", "--data", world["fashion"], "--out", tmp_path / "run", "--resume", *TINY_GAN)
    assert_usage_error(r, "progress")
    save_checkpoint(partial / "progress.safetensors", {"x": torch.zeros(1)}, "train-gan-progress",
                    extra={"state": '{"config": {}}'})
    assert_usage_error(cli("train-gan", "--data", world["fashion"], "--out", tmp_path / "run", "--resume",
                           *TINY_GAN), "--resume")


# Memory: bounded before anything is allocated --------------------------------------------------------------------

def test_a_gzip_bomb_is_refused_after_the_header_says_how_much_to_read(cli, tmp_path, world):
    import gzip
    import resource

    bomb = tmp_path / "fashion"
    shutil.copytree(world["fashion"], bomb)
    good = gzip.decompress((bomb / "train-images-idx3-ubyte.gz").read_bytes())
    zeros = gzip.compress(bytes(2**24), 9)
    (bomb / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(good) + zeros * 32)  # 512 MB more, in 33 members
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert_usage_error(cli("train-gan", "--data", bomb, "--out", tmp_path / "run", *TINY_GAN), "more data")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200 * 1024  # kB: far below the 512 MB


def test_a_checkpoint_that_promises_more_than_memory_is_refused_unread(cli, tmp_path, world, monkeypatch):
    import json

    import hw3cli.core.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 64 * 2**20)
    header = json.dumps({"__metadata__": {"format": "hw3cli", "kind": "gan-generator", "model_args": "{}"},
                         "w": {"dtype": "F32", "shape": [2**15, 2**15], "data_offsets": [0, 2**32]}}).encode()
    path = tmp_path / "gan" / "generator.safetensors"
    path.parent.mkdir()
    with open(path, "wb") as handle:  # a sparse file: 4 GB long, nothing on disk
        handle.write(len(header).to_bytes(8, "little") + header)
        handle.truncate(8 + len(header) + 2**32)
    r = cli("cgan-sample", "--generator", tmp_path / "gan", "--out", tmp_path / "g.png")
    assert_usage_error(r, "generator.safetensors", "memory")


def test_checkpoint_arguments_that_disagree_with_its_tensors_build_nothing(cli, tmp_path, world):
    from hw3cli.core.checkpoint import load_checkpoint, save_checkpoint

    gan = tmp_path / "gan"
    shutil.copytree(world["w"] / "cgan", gan)
    tensors, meta = load_checkpoint(gan / "generator.safetensors")
    save_checkpoint(gan / "generator.safetensors", tensors, meta["kind"], {**meta["model_args"],
                                                                           "hidden": [22000, 22000, 1]})
    assert_usage_error(cli("cgan-sample", "--generator", gan, "--out", tmp_path / "g.png"), "disagree")


def test_sizes_the_machine_cannot_hold_are_refused_naming_the_option(cli, tmp_path, world, monkeypatch):
    import hw3cli.core.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 256 * 2**20)
    r = cli("train-mlp", "--data", world["w"] / "imdb", "--out", tmp_path / "m", "--hidden", "60000",
            "--embed-dim", "60000")
    assert_usage_error(r, "--hidden 60000", "memory")
    r = cli("train-gan", "--data", world["fashion"], "--out", tmp_path / "g", "--g-hidden", "60000,60000,60000")
    assert_usage_error(r, "--g-hidden 60000,60000,60000", "memory")
    r = cli("histogram", "--generator", world["w"] / "gan", "--classifier", world["w"] / "clf", "--samples", "1000000",
            "--data", world["fashion"], "--out", tmp_path / "h")
    assert_usage_error(r, "-n 1,000,000", "memory")
    r = cli("cgan-sample", "--generator", world["w"] / "cgan", "--classifier", world["w"] / "clf", "--score-samples",
            "100000", "--out", tmp_path / "c.png")
    assert_usage_error(r, "--score-samples 100,000", "memory")
    r = cli("rnn-add", "--verify", "2", "--random-pairs", "10000000")
    assert_usage_error(r, "--random-pairs", "memory")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# Quietly wrong no more -------------------------------------------------------------------------------------------

def test_a_wgan_epoch_shorter_than_its_critic_steps_is_refused(cli, tmp_path, world):
    r = cli("train-gan", "--loss", "wgan", "--data", world["fashion"], "--out", tmp_path / "run", "--limit",
            "256", "--batch-size", "64", "--g-hidden", "4,4,4", "--d-hidden", "4,4,4")
    assert_usage_error(r, "4 batches", "5 critic steps")


def test_a_very_long_number_is_added_and_printed(cli):
    import json

    a, b = "1" * 20_000, "1"
    r = cli("rnn-add", a, b, "--json")
    assert r.code == 0, r.err[-500:]
    result = json.loads(r.out, parse_int=str)  # Python's own limit on int digits guards the test's reading too
    assert result["correct"] and result["sum"] == "1" + "0" * 20_000 and len(result["decimal"]["sum"]) == 6021
    assert_usage_error(cli("rnn-add", "1" * 100_001, "1"), "100,000")


def test_non_ascii_digits_are_not_class_numbers(cli, tmp_path, world):
    assert_usage_error(cli("cgan-sample", "--generator", world["w"] / "cgan", "--classes", "²", "--out",
                           tmp_path / "g.png"), "²")


def test_predict_reads_invalid_utf8_on_stdin_and_says_when_a_line_has_no_words(cli, world, monkeypatch):
    import io
    import sys

    stdin = io.TextIOWrapper(io.BytesIO(b"a fine film\n\n\xff\xfe wonderful \xc3\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    r = cli("predict", "--model", world["w"] / "gru")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 3 and lines[1] == "-\tno words" and lines[0].split("\t")[1] in ("positive", "negative")


@pytest.mark.parametrize("out", [".", ".."])
def test_the_current_folder_is_not_a_run_folder(cli, world, out):
    assert_usage_error(cli("train-gru", "--data", world["w"] / "imdb", "--out", out, "--epochs", "1"),
                       "current folder")


def test_a_relative_default_that_is_missing_says_where_it_was_looked_for(cli, tmp_path):
    r = cli("train-gru")
    assert_usage_error(r, "artifacts/imdb/data", "relative to the current folder", str(tmp_path))


def test_help_shows_every_default_and_plain_flags(cli):
    r = cli("train-gan", "--help")
    assert r.code == 0
    text = " ".join(r.out.split())
    assert "default: the variant's and data set's, docs/recipes.md" in text and "5 for wgan and wgan-gp" in text
    assert "<bool>" not in text and "--json" not in text
    assert "[default: 64" in text and "1 to 512." in text
    assert "--conditional" in text


def test_bare_hw3cli_prints_its_usage_and_succeeds(cli):
    r = cli()
    assert r.code == 0 and r.out.startswith("Usage: hw3cli") and "train-gan" in r.out and r.err == ""


def test_model_arguments_no_model_has_are_refused_before_anything_is_built(cli, tmp_path, world):
    from hw3cli.core.checkpoint import load_checkpoint, save_checkpoint

    gan = tmp_path / "gan"
    shutil.copytree(world["w"] / "cgan", gan)
    tensors, meta = load_checkpoint(gan / "generator.safetensors")
    for args, word in (({**meta["model_args"], "hidden": [8] * 1_000_000}, "layers"), ("[" * 50_000, "corrupt")):
        save_checkpoint(gan / "generator.safetensors", tensors, meta["kind"], extra={"model_args": args}
                        if isinstance(args, str) else None, model_args=None if isinstance(args, str) else args)
        assert_usage_error(cli("cgan-sample", "--generator", gan, "--out", tmp_path / "g.png"), "model arguments",
                           word)


def test_an_idx_header_announcing_more_than_memory_is_refused(cli, tmp_path, world, monkeypatch):
    import gzip

    import hw3cli.core.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 32 * 2**20)
    fashion = tmp_path / "fashion"
    shutil.copytree(world["fashion"], fashion)
    images = bytearray(gzip.decompress((fashion / "train-images-idx3-ubyte.gz").read_bytes()))
    images[4:8] = (900_000).to_bytes(4, "big")  # one field of the header changed: 900,000 images (705 MB)
    (fashion / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(images)))
    assert_usage_error(cli("train-gan", "--data", fashion, "--out", tmp_path / "run", *TINY_GAN),
                       "train-images", "memory")


def test_device_names_are_case_blind_and_a_missing_gpu_index_is_named(cli, tmp_path, world, monkeypatch):
    import torch

    r = cli("rnn-add", "--verify", "2", "--random-pairs", "0")
    assert r.code == 0
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert_usage_error(cli("train-gan", "--device", "CUDA:3", "--data", world["fashion"], "--out",
                           tmp_path / "run", *TINY_GAN), "cuda:3", "cuda:0 to cuda:0")


def test_report_refuses_an_html_out_that_would_swallow_the_markdown(cli, tmp_path):
    (tmp_path / "art").mkdir()
    assert_usage_error(cli("report", "--artifacts", tmp_path / "art", "--out", tmp_path / "R.html"), "Markdown")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_an_output_never_replaces_one_of_the_commands_inputs(cli, tmp_path, world):
    cgan = tmp_path / "cgan"
    shutil.copytree(world["w"] / "cgan", cgan)
    before = snapshot(cgan)
    assert_usage_error(cli("cgan-sample", "--generator", cgan, "--out", cgan / "generator.safetensors"),
                       "reads it")
    assert_usage_error(cli("cgan-sample", "--generator", cgan, "--out", tmp_path / "g.png", "--tensor",
                           tmp_path / "g.png"), "twice")
    assert snapshot(cgan) == before and not (tmp_path / "g.png").exists()


def test_a_generator_given_twice_or_with_nan_weights_is_refused(cli, tmp_path, world):
    import torch

    from hw3cli.core.checkpoint import load_checkpoint, save_checkpoint

    common = ["--classifier", world["w"] / "clf", "--samples", "20", "--data", world["fashion"],
              "--out", tmp_path / "h"]
    assert_usage_error(cli("histogram", "--generator", world["w"] / "gan", "--generator", world["w"] / "gan",
                           *common), "twice")
    gan = tmp_path / "gan"
    shutil.copytree(world["w"] / "gan", gan)
    tensors, meta = load_checkpoint(gan / "generator.safetensors")
    name = sorted(tensors)[0]
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_checkpoint(gan / "generator.safetensors", tensors, meta["kind"], meta["model_args"])
    assert_usage_error(cli("histogram", "--generator", gan, *common), "NaN")
    assert not (tmp_path / "h").exists()


def test_a_progress_file_without_its_optimizer_state_is_refused(cli, tmp_path, world, monkeypatch):
    import hw3cli.experiments.train_gan as gan
    from hw3cli.core.checkpoint import load_checkpoint, save_checkpoint
    from tests.conftest import interrupt_after_epoch

    monkeypatch.setattr(gan, "gan_training", interrupt_after_epoch(gan.gan_training, 1))
    args = ["train-gan", "--data", world["fashion"], "--out", tmp_path / "run", "--g-hidden", "4,4,4",
            "--d-hidden", "4,4,4", "--epochs", "2", "--limit", "256", "--samples", "4"]
    assert cli(*args).code == 130
    monkeypatch.undo()
    progress = tmp_path / "run.partial" / "progress.safetensors"
    tensors, meta = load_checkpoint(progress)
    kept = {k: v for k, v in tensors.items() if not k.startswith("optimizer.D.")}
    save_checkpoint(progress, kept, meta["kind"], meta["model_args"], {"state": meta["state"]})
    assert_usage_error(cli(*args, "--resume"), "optimizer")
