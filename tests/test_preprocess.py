import gzip
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from hw3cli.data.encoded_imdb import load_sentiment_data
from hw3cli.data.imdb import read_corpus
from hw3cli.data.padding import pad_left
from hw3cli.data.tokenizer import tokenize, tokenize_many
from hw3cli.data.vocab import Vocabulary
from tests.conftest import REVIEWS, SHARED, assert_usage_error, snapshot, write_assignment


def write_aclimdb(root: Path) -> Path:
    for (split, label), texts in REVIEWS.items():
        folder = root / "aclImdb" / split / label
        folder.mkdir(parents=True)
        for i, text in enumerate(texts):
            (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(text)
    return root / "aclImdb"


def write_tarball(path: Path, members: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def acl_members() -> dict[str, str]:
    members = {}
    for (split, label), texts in REVIEWS.items():
        for i, text in enumerate(texts):
            members[f"aclImdb/{split}/{label}/{i}_{8 if label == 'pos' else 2}.txt"] = text
    members["aclImdb/train/unsup/0_0.txt"] = "not labelled"
    members["aclImdb/README"] = "readme"
    return members


def test_tokenizer_lowercases_strips_html_and_unicode_punctuation():
    assert tokenize("Café — «GREAT»! <br /><br />It's 10/10... (really)") == ["café", "great", "its", "1010", "really"]
    assert tokenize("well-known<BR/>end ¿qué?") == ["wellknown", "end", "qué"]
    assert tokenize("!!! ... ???") == []
    assert tokenize_many(["A, b.", "", "C!"]) == [["a", "b"], [], ["c"]]


def test_pad_left_and_truncation_exactly():
    flat = np.array([5, 6, 7, 8, 9, 10, 11], dtype=np.int32)
    lengths = np.array([2, 0, 5])
    head = pad_left(flat, lengths, 4, "head")
    assert head.tolist() == [[0, 0, 5, 6], [0, 0, 0, 0], [7, 8, 9, 10]]
    tail = pad_left(flat, lengths, 4, "tail")
    assert tail.tolist() == [[0, 0, 5, 6], [0, 0, 0, 0], [8, 9, 10, 11]]
    assert pad_left(flat, lengths, 1, "head").tolist() == [[5], [0], [7]]
    assert pad_left(flat, lengths, 1, "tail").tolist() == [[6], [0], [11]]


def test_readers_agree_across_all_three_forms(tmp_path):
    plain = read_corpus(write_assignment(tmp_path / "plain"))
    packed = read_corpus(write_assignment(tmp_path / "gz", gz=True))
    folder = read_corpus(write_aclimdb(tmp_path / "acl"))
    tarball = read_corpus(write_tarball(tmp_path / "aclImdb_v1.tar.gz", acl_members()))
    assert plain.form == "assignment" and folder.form == "aclImdb folder" and tarball.form == "aclImdb tarball"
    for corpus in (packed, folder, tarball):
        for split in ("train", "test"):
            assert sorted(corpus.split(split).texts) == sorted(plain.split(split).texts)
            assert sorted(corpus.split(split).labels) == sorted(plain.split(split).labels)
    assert plain.train.labels == [1, 1, 1, 0, 0, 0]


def run_preprocess(cli, source, out, *extra):
    return cli("preprocess", "--data", source, "--out", out, "--validation", "0.34", *extra)


def test_preprocess_outputs_vocab_matrices_and_stats(cli, tmp_path):
    out = tmp_path / "data"
    r = run_preprocess(cli, write_assignment(tmp_path / "src"), out, "--max-len", "6")
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "data.safetensors", "stats.json", "vocab.json"]
    vocab = json.loads((out / "vocab.json").read_text())
    words = [w for w, _ in vocab["words"]]
    assert words[:2] == ["<pad>", "<unk>"]
    counts = [c for _, c in vocab["words"][2:]]
    assert counts == sorted(counts, reverse=True)
    for (w1, c1), (w2, c2) in zip(vocab["words"][2:], vocab["words"][3:]):
        assert c1 > c2 or (c1 == c2 and w1 < w2)
    data = load_sentiment_data(out)
    sizes = {name: len(s["labels"]) for name, s in data.splits.items()}
    assert sizes == {"train": 4, "dev": 2, "test": 4}  # one review of each label held out of each train file
    assert sorted(data.splits["dev"]["labels"].tolist()) == [0, 1]
    assert all(s["ids"].shape[1] == 6 for s in data.splits.values())
    # "Dull and awful." -> 3 tokens, left-padded; "superb" never occurs in training, so it is <unk>.
    test = data.splits["test"]
    row = test["ids"][test["lengths"].tolist().index(3)].tolist()
    assert row[:3] == [0, 0, 0] and all(i > 0 for i in row[3:])
    superb = test["ids"][test["lengths"].tolist().index(1)].tolist()
    assert superb == [0, 0, 0, 0, 0, 1]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["splits"]["test"]["reviews"] == 4 and stats["vocabulary_size"] == len(words)
    assert 0 < stats["unknown_token_rate_test"] < 1


def test_vocabulary_is_byte_identical_across_runs_and_leaves_out_dev_and_test(cli, tmp_path):
    src = write_assignment(tmp_path / "src")
    run_preprocess(cli, src, tmp_path / "a")
    run_preprocess(cli, src, tmp_path / "b")
    assert (tmp_path / "a" / "vocab.json").read_bytes() == (tmp_path / "b" / "vocab.json").read_bytes()
    a, b = load_sentiment_data(tmp_path / "a"), load_sentiment_data(tmp_path / "b")
    for split in ("train", "dev", "test"):
        for key in ("ids", "labels", "lengths"):
            assert torch.equal(a.splits[split][key], b.splits[split][key])
    words = {w for w, _ in json.loads((tmp_path / "a" / "vocab.json").read_text())["words"]}
    assert "superb" not in words  # test-only word


def test_min_freq_and_max_vocab_bound_the_vocabulary(cli, tmp_path):
    src = write_assignment(tmp_path / "src")
    run_preprocess(cli, src, tmp_path / "v", "--min-freq", "2")
    vocab = Vocabulary.load(tmp_path / "v" / "vocab.json")
    assert all(c >= 2 for c in vocab.counts[2:])
    run_preprocess(cli, src, tmp_path / "w", "--max-vocab", "4")
    assert len(Vocabulary.load(tmp_path / "w" / "vocab.json")) == 4


def test_invalid_utf8_empty_and_punctuation_only_reviews(cli, tmp_path):
    src = write_assignment(tmp_path / "src")
    (src / "test_neg_reviews.txt").write_bytes(b"Dull \xff\xfe film.\n\n?!...\nbad \xc3 and \xe2\x80 twice\n")
    r = run_preprocess(cli, src, tmp_path / "out", "--max-len", "5")
    assert r.code == 0, r.err
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["invalid_utf8_reviews"] == 2  # a review with two bad runs counts once
    assert stats["splits"]["test"]["empty_reviews"] == 2
    test = load_sentiment_data(tmp_path / "out").splits["test"]
    assert (test["ids"][test["lengths"] == 0] == 0).all()


def test_checksums_are_verified_when_present(cli, tmp_path):
    src = write_assignment(tmp_path / "src", gz=True)
    (src / "SHA256SUMS").write_text("0" * 64 + "  train_pos_reviews.txt.gz\n")
    assert_usage_error(run_preprocess(cli, src, tmp_path / "out"), "checksum")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["missing", "partial", "empty-file", "not-imdb-tar", "garbage-tar", "unknown-folder",
                                  "max-len-0", "bad-truncate", "dev-fraction", "max-vocab"])
def test_bad_input_is_one_line_and_leaves_outputs_alone(cli, tmp_path, case):
    good = write_assignment(tmp_path / "good")
    out = tmp_path / "out"
    assert run_preprocess(cli, good, out).code == 0
    before = snapshot(out)
    extra = []
    if case == "missing":
        source, word = tmp_path / "nope", "not found"
    elif case == "partial":
        source = write_assignment(tmp_path / "p")
        (source / "test_neg_reviews.txt").unlink()
        word = "lacks test_neg_reviews.txt"
    elif case == "empty-file":
        source = write_assignment(tmp_path / "e")
        (source / "train_pos_reviews.txt").write_text("")
        word = "empty"
    elif case == "not-imdb-tar":
        source, word = write_tarball(tmp_path / "x.tar.gz", {"foo/bar.txt": "hi"}), "not the aclImdb"
    elif case == "garbage-tar":
        source = tmp_path / "junk.tar.gz"
        source.write_bytes(b"\x1f\x8b garbage")
        word = "not a readable tar"
    elif case == "unknown-folder":
        source = tmp_path / "empty"
        source.mkdir()
        word = "no IMDB data"
    else:
        source = good
        extra, word = {
            "max-len-0": (["--max-len", "0"], "--max-len"),
            "bad-truncate": (["--truncate", "middle"], "truncate"),
            "dev-fraction": (["--validation", "1.5"], "--validation"),
            "max-vocab": (["--max-vocab", "1"], "max-vocab"),
        }[case]
    assert_usage_error(cli("preprocess", "--data", source, "--out", out, *extra), word)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_refuses_to_replace_a_folder_that_is_not_preprocess_output(cli, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert_usage_error(run_preprocess(cli, write_assignment(tmp_path / "src"), out), "not a preprocess output")
    assert (out / "notes.txt").read_text() == "keep me"


REAL = SHARED / "data" / "imdb"


@pytest.mark.skipif(not (REAL / "train_pos_reviews.txt.gz").exists(), reason="../shared/data/imdb is not here")
def test_real_data_slice(cli, tmp_path):
    assert read_corpus(REAL).checksums == "verified"
    src = tmp_path / "slice"
    src.mkdir()
    for path in REAL.glob("*_reviews.txt.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            lines = [next(handle) for _ in range(200)]
        (src / path.name).write_bytes(gzip.compress("".join(lines).encode()))
    r = cli("preprocess", "--data", src, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    data = load_sentiment_data(tmp_path / "out")
    assert {k: len(v["labels"]) for k, v in data.splits.items()} == {"train": 320, "dev": 80, "test": 400}
    ids = data.splits["train"]["ids"]
    assert ids.shape == (320, 400) and int(ids.max()) < len(data.vocab)
    lengths = data.splits["train"]["lengths"]
    short = lengths < 400
    # left padding: the number of leading zeros of a short review is 400 minus its length
    assert ((ids[short] == 0).sum(1) >= 400 - lengths[short]).all()
    assert (ids[short][:, -1] != 0).all()


def test_vocabulary_hash_is_of_the_file_bytes(tmp_path, cli):
    import hashlib

    run_preprocess(cli, write_assignment(tmp_path / "src"), tmp_path / "out")
    path = tmp_path / "out" / "vocab.json"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))  # same content, other layout
    assert Vocabulary.load(path).sha256() == hashlib.sha256(path.read_bytes()).hexdigest()


CRAFTED = [
    "Café — «GREAT»! <br /><br />It's 10/10... (really)", "well-known<BR/>end ¿qué?", "!!! ... ???", "", "   ",
    "tabs\tand\x0bvertical\x0cfeeds\x1cfile\x1dgroup\x1erecord\x1funit separators", "line break inside\r it",
    "<br>x<br/>y<br  />z<br\t/>w<bR />v <brr> <b>bold</b> a<i>b", "nul\0inside a\0 a \0", "ΣΟΦΟΣ ΟΔΟΣ.",
    "x\xa0y\u2003z\u3000w",
    "12345678 123456789 1234567890123456 12345678901234567 " + "x" * 40 + " " + "x" * 41,
    "abcdefghX abcdefghY abcdefgh abcdefg", "“Smart” quotes — and… ellipses’", "İstanbul ǅemal ﬁne",
    "$5 + 3 = 8 ~ ^ | ` < >",
    "a" * 8 + "b" * 8 + "c", "a" * 8 + "b" * 8 + "d", "ünïcödé only", "ascii only, after unicode",
    # A break the one-pass regex leaves, and breaks that only exist once punctuation or a non-ASCII
    # character is gone: all must come out as `tokenize` has them.
    "<br <br />> <br<br />/> é<br<br />/> <b.r /> é<b.r />x <b’r /> <br\xa0/> é.<br />x",
    # Final sigma: lower-casing looks past ASCII punctuation that is removed later.
    "ΑΣ-Α Α-Σ b ΑΣ.Α ΑΣ'Α ΟΔΥΣΣΕΥΣ, x-Σ", "Kelvin \u212a, \u0130 and \u1e9e ß", "\ufeffbom start",
]


def _block_tokens(data: bytes) -> list[list[str]]:
    """Every line's tokens as Tokens and KeyIndex see them."""
    from hw3cli.data.fast_tokenizer import KeyIndex, Tokens

    tokens = Tokens.of(data)
    index = KeyIndex(tokens)
    words = [index.words[i] for i in index.ranks.tolist()]
    starts = np.cumsum(tokens.per_line) - tokens.per_line
    return [words[s:s + n] for s, n in zip(starts.tolist(), tokens.per_line.tolist())]


@pytest.mark.parametrize("part", [1 << 20, 64])  # one part, and parts of a few lines each
def test_byte_tokenizer_finds_exactly_the_tokens_of_tokenize(monkeypatch, part):
    from hw3cli.data import fast_tokenizer as token_ids
    from hw3cli.data.fast_tokenizer import KeyIndex, Tokens

    monkeypatch.setattr(token_ids, "_PART", part)
    data = "".join(text + "\n" for text in CRAFTED).encode()
    assert _block_tokens(data) == [tokenize(t) for t in CRAFTED]
    index = KeyIndex(Tokens.of(data))
    assert len(index) == len({w for t in CRAFTED for w in tokenize(t)})  # one number per distinct token
    # Bytes that are not UTF-8 read as U+FFFD, as the whole line decoded with replacement does.
    bad = [b"ok \xe2.\x80 x", b"\xff\xfeAB \xc3", b"\xe2\x80\x9cQ\xe2\x80\x9d d\xc3\xa9j\xc3"]
    assert _block_tokens(b"".join(line + b"\n" for line in bad)) == [
        tokenize(line.decode("utf-8", errors="replace")) for line in bad]
    assert _block_tokens(b"") == [] and _block_tokens(b"\n\n") == [[], []]


def test_key_index_probes_past_taken_slots(monkeypatch):
    from hw3cli.data.fast_tokenizer import KeyIndex, Tokens

    # Every key's home slot is slot 0: each is placed, and found, by probing on.
    monkeypatch.setattr(KeyIndex, "_home", lambda self, keys: np.zeros(len(keys), dtype=np.int64))
    data = "".join(text + "\n" for text in CRAFTED).encode()
    assert _block_tokens(data) == [tokenize(t) for t in CRAFTED]
    index = KeyIndex(Tokens.of(b"brand new words\n"))
    assert index.find(index.keys).tolist() == [0, 1, 2]
    assert index.find(KeyIndex(Tokens.of(b"unseen\n")).keys).tolist() == [-1]


@pytest.mark.skipif(not (REAL / "train_pos_reviews.txt.gz").exists(), reason="../shared/data/imdb is not here")
def test_byte_tokenizer_matches_tokenize_on_real_reviews():
    texts = []
    for name in ("train_pos", "test_neg"):
        with gzip.open(REAL / f"{name}_reviews.txt.gz", "rt", encoding="utf-8") as handle:
            texts += [next(handle).rstrip("\n") for _ in range(1500)]
    assert sum(not t.isascii() for t in texts) > 50  # non-ASCII runs are exercised
    assert _block_tokens("".join(t + "\n" for t in texts).encode()) == tokenize_many(texts)


def test_vocabulary_order_is_frequency_then_code_points():
    from hw3cli.data.vocab import build_vocabulary

    # Words that share their first 8 bytes, contain NUL, or are not ASCII: the cases the byte prefixes tie on.
    words = ["absolutely", "absolute", "absolutes", "ab", "ab\0", "ab\0c", "a\0", "a", "é", "e\u0301", "zz" * 10,
             "zz" * 9 + "z", "\U0001F600", "\uffff", "b", "c", "abcdefgh", "abcdefgg"]
    counts = np.array([3, 3, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 3, 0, 1, 1])
    vocab, table = build_vocabulary(words, counts, 1, None)
    expected = sorted((i for i in range(len(words)) if counts[i] >= 1), key=lambda i: (-counts[i], words[i]))
    assert vocab.words[2:] == [words[i] for i in expected]
    assert table.tolist() == [expected.index(i) + 2 if i in expected else 1 for i in range(len(words))]
    small, _ = build_vocabulary(words, counts, 2, 5)
    assert small.words == ["<pad>", "<unk>", "absolute", "absolutely", "b"]


def test_preprocess_equals_a_plain_python_reference(cli, tmp_path, monkeypatch):
    """The whole pipeline against the obvious loops, with the helper process and with its thread stand-in."""
    from hw3cli.core import helper
    from hw3cli.data.encoded_imdb import dev_mask

    reviews = {(split, label): [CRAFTED[(i * 7 + len(split) + len(label)) % len(CRAFTED)] + f" w{i % 5} Great"
                                for i in range(40)] for split in ("train", "test") for label in ("pos", "neg")}
    src = write_assignment(tmp_path / "src", reviews=reviews)
    assert run_preprocess(cli, src, tmp_path / "fork", "--max-len", "7").code == 0
    monkeypatch.setattr(helper, "forking", lambda: False)
    assert run_preprocess(cli, src, tmp_path / "thread", "--max-len", "7").code == 0
    for name in ("vocab.json", "data.safetensors"):
        assert (tmp_path / "thread" / name).read_bytes() == (tmp_path / "fork" / name).read_bytes()

    train = reviews[("train", "pos")] + reviews[("train", "neg")]
    labels = np.array([1] * 40 + [0] * 40)
    dev = dev_mask(labels, 0.34, 0)
    counts: dict[str, int] = {}
    for text, held_out in zip(train, dev):
        for word in [] if held_out else tokenize(text):
            counts[word] = counts.get(word, 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = Vocabulary.load(tmp_path / "fork" / "vocab.json")
    assert vocab.words[2:] == words and vocab.counts[2:] == [counts[w] for w in words]
    index = {w: i + 2 for i, w in enumerate(words)}

    def matrix(texts):
        out = np.zeros((len(texts), 7), dtype=np.int32)
        for row, text in enumerate(texts):
            ids = [index.get(w, 1) for w in tokenize(text)][:7]
            out[row, 7 - len(ids):] = ids
        return out

    data = load_sentiment_data(tmp_path / "fork")
    test = reviews[("test", "pos")] + reviews[("test", "neg")]
    for name, texts, rows in (("train", train, ~dev), ("dev", train, dev), ("test", test, np.ones(80, bool))):
        chosen = [t for t, keep in zip(texts, rows) if keep]
        assert data.splits[name]["ids"].numpy().tolist() == matrix(chosen).tolist(), name
        assert data.splits[name]["lengths"].tolist() == [len(tokenize(t)) for t in chosen]
