"""Every subcommand against bad input: missing paths, garbage and truncated files, a checkpoint of another
model, wrong types, out-of-range numbers. Each must exit with code 2 and one line on stderr naming the problem,
print no traceback, and leave the output folder exactly as it was."""


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
        ("preprocess missing source", ["preprocess", "--source", "{w}/nothing", "--out", "{out}"], ["nothing"]),
        ("preprocess empty folder", ["preprocess", "--source", "{w}/empty", "--out", "{out}"], ["empty"]),
        ("preprocess garbage tarball", ["preprocess", "--source", "{w}/garbage.bin", "--out", "{out}"],
         ["garbage.bin"]),
        ("preprocess max-len 0", ["preprocess", "--source", "{w}/imdb-src", "--out", "{out}", "--max-len", "0"],
         ["--max-len"]),
        ("preprocess dev-fraction 1.5", ["preprocess", "--source", "{w}/imdb-src", "--out", "{out}",
                                         "--dev-fraction", "1.5"], ["--dev-fraction"]),
        ("preprocess truncate middle", ["preprocess", "--source", "{w}/imdb-src", "--out", "{out}", "--truncate",
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
        ("train-gan unknown loss", ["train-gan", "--loss", "hinge", "--data-dir", "{fashion}", "--out", "{out}"],
         ["hinge"]),
        ("train-gan clip 0", ["train-gan", "--loss", "wgan", "--clip", "0", "--data-dir", "{fashion}", "--out",
                              "{out}"], ["--clip"]),
        ("train-gan epochs -1", ["train-gan", "--epochs", "-1", "--data-dir", "{fashion}", "--out", "{out}"],
         ["--epochs"]),
        ("train-gan batch 0", ["train-gan", "--batch-size", "0", "--data-dir", "{fashion}", "--out", "{out}"],
         ["--batch-size"]),
        ("train-gan hidden text", ["train-gan", "--g-hidden", "a,b,c", "--data-dir", "{fashion}", "--out", "{out}"],
         ["--g-hidden"]),
        ("train-gan unroll mode", ["train-gan", "--unroll", "2", "--unroll-mode", "psychic", "--data-dir",
                                   "{fashion}", "--out", "{out}"], ["--unroll-mode"]),
        ("train-gan empty data dir", ["train-gan", "--data-dir", "{w}/empty", "--out", "{out}"], ["empty"]),
        ("train-gan garbage data", ["train-gan", "--data-dir", "{w}/garbage-idx", "--out", "{out}"],
         ["garbage-idx"]),
        ("train-gan classifier is a GAN", ["train-gan", "--data-dir", "{fashion}", "--classifier", "{w}/gan",
                                           "--out", "{out}", *TINY_GAN], ["classif"]),
        ("compare-gan a GRU", ["compare-gan", "{w}/gru", "--out", "{out}"], ["train-gan"]),
        ("compare-gan nothing", ["compare-gan", "--out", "{out}"], ["run"]),
        ("classify from a GRU", ["classify", "--data-dir", "{fashion}", "--init-from", "{w}/gru", "--out", "{out}"],
         ["gru"]),
        ("classify truncated D", ["classify", "--data-dir", "{fashion}", "--init-from", "{w}/gan-truncated",
                                  "--out", "{out}", "--epochs", "1", "--validation", "100"], ["discriminator"]),
        ("classify epochs 0", ["classify", "--data-dir", "{fashion}", "--from-scratch", "--out", "{out}",
                               "--epochs", "0"], ["--epochs"]),
        ("classify dropout 1.5", ["classify", "--data-dir", "{fashion}", "--from-scratch", "--out", "{out}",
                                  "--dropout", "1.5"], ["--dropout"]),
        ("histogram missing generator", ["histogram", "--generator", "{w}/nothing", "--classifier", "{w}/clf",
                                         "--data-dir", "{fashion}", "--out", "{out}"], ["nothing"]),
        ("histogram truncated generator", ["histogram", "--generator", "{w}/gan-truncated", "--classifier", "{w}/clf",
                                           "--data-dir", "{fashion}", "--out", "{out}"], ["generator"]),
        ("histogram tampered generator", ["histogram", "--generator", "{w}/gan-tampered", "--classifier", "{w}/clf",
                                          "--data-dir", "{fashion}", "--out", "{out}"], ["generator"]),
        ("histogram classifier is a GAN", ["histogram", "--generator", "{w}/gan", "--classifier", "{w}/gan",
                                           "--data-dir", "{fashion}", "--out", "{out}"], ["classif"]),
        ("histogram n 0", ["histogram", "--generator", "{w}/gan", "--classifier", "{w}/clf", "-n", "0",
                           "--data-dir", "{fashion}", "--out", "{out}"], ["-n"]),
        ("cgan-sample unconditional", ["cgan-sample", "--generator", "{w}/gan", "--out", "{out}/g.png"],
         ["unconditional"]),
        ("cgan-sample class 10", ["cgan-sample", "--generator", "{w}/cgan", "--classes", "10", "--out",
                                  "{out}/g.png"], ["10"]),
        ("cgan-sample unknown class", ["cgan-sample", "--generator", "{w}/cgan", "--classes", "hat", "--out",
                                       "{out}/g.png"], ["hat"]),
        ("cgan-sample per-class 0", ["cgan-sample", "--generator", "{w}/cgan", "--per-class", "0", "--out",
                                     "{out}/g.png"], ["--per-class"]),
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
        r = cli("train-gan", "--data-dir", world["fashion"], "--out", f"{locked}/hw3cli-run", *TINY_GAN)
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
