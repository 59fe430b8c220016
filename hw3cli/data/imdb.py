"""Readers for the IMDB Large Movie Review Dataset in each form it is found in.

- the assignment's form: a folder with {train,test}_{pos,neg}_reviews.txt, one review per line, plain or .gz,
  with an optional SHA256SUMS that is checked when present;
- Stanford's aclImdb/ folder: {train,test}/{pos,neg}/<id>_<rating>.txt;
- Stanford's aclImdb_v1.tar.gz, read straight from the tarball.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hw3cli.core.files import download, input_file, read_input
from hw3cli.core.memory import available_bytes, size_text
from hw3cli.errors import Hw3Error

SPLITS = ("train", "test")
LABELS = {"pos": 1, "neg": 0}
ACLIMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
ACLIMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
REVIEW_LIMIT = 2**20  # one review of aclImdb; the longest is about 14 kB
_ACL_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/([0-9]{1,9})_([0-9]{1,2})\.txt$")


@dataclass
class ReviewBlock:
    """Reviews of one label, one per line: UTF-8 bytes (where they are not, read with U+FFFD), each review ended
    by a newline, with no newline in it."""

    data: bytes
    label: int  # 1 positive, 0 negative
    count: int  # reviews

    @classmethod
    def of_texts(cls, texts: list[str], label: int) -> ReviewBlock:
        return cls("".join(t + "\n" for t in texts).encode("utf-8"), label, len(texts))

    def texts(self) -> list[str]:
        return [t.rstrip("\r") for t in self.data.decode("utf-8", errors="replace").split("\n")[: self.count]]


@dataclass
class RawSplit:
    blocks: list[ReviewBlock] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        """The reviews as str, decoded on each call (preprocess itself works on the bytes)."""
        return [text for block in self.blocks for text in block.texts()]

    @property
    def labels(self) -> list[int]:
        return [block.label for block in self.blocks for _ in range(block.count)]


@dataclass
class RawCorpus:
    train: RawSplit
    test: RawSplit
    form: str  # "assignment", "aclImdb folder" or "aclImdb tarball"
    invalid_utf8: int = 0  # reviews of the aclImdb forms whose bytes were not valid UTF-8 (decoded with U+FFFD
    # replacements); the assignment's files are kept as bytes, and the tokenizer counts theirs
    checksums: str = "absent"  # "verified" when a SHA256SUMS file was present and matched

    def split(self, name: str) -> RawSplit:
        return self.train if name == "train" else self.test


def read_corpus(source: str | os.PathLike) -> RawCorpus:
    """Detect the form of `source` and read all 50,000 (or however many) labelled reviews."""
    reader, path = corpus_form(source)
    return reader(path)


def corpus_form(source: str | os.PathLike) -> tuple[Callable[[Path], RawCorpus], Path]:
    """How `source` is read (its reader, and the path it reads), from its form alone: no review is read."""
    source = Path(source)
    if not source.is_dir():
        return read_tarball, input_file(source, "IMDB source")
    if any(_assignment_file(source, s, lab) for s in SPLITS for lab in LABELS):
        return read_assignment_folder, source
    for root in (source, source / "aclImdb"):
        if (root / "train" / "pos").is_dir() or (root / "test" / "pos").is_dir():
            return read_aclimdb_folder, root
    raise Hw3Error(
        f"{source} holds no IMDB data in a known form: expected train_pos_reviews.txt[.gz] and its three "
        "siblings, an aclImdb/ folder, or aclImdb_v1.tar.gz"
    )


def _assignment_file(folder: Path, split: str, label: str) -> Path | None:
    for name in (f"{split}_{label}_reviews.txt", f"{split}_{label}_reviews.txt.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_assignment_folder(folder: Path) -> RawCorpus:
    files = {(s, lab): _assignment_file(folder, s, lab) for s in SPLITS for lab in LABELS}
    missing = [f"{s}_{lab}_reviews.txt" for (s, lab), path in files.items() if path is None]
    if missing:
        raise Hw3Error(f"{folder} lacks {', '.join(missing)} (plain or .gz)")
    expected = _sha256sums(folder)
    corpus = RawCorpus(RawSplit(), RawSplit(), "assignment", checksums="absent" if expected is None else "verified")
    with ThreadPoolExecutor(4) as pool:  # hashing and zlib run without the GIL: the files side by side
        read = list(pool.map(lambda path: _read_lines(path, expected or {}), files.values()))
    for ((split, label), _), (data, lines) in zip(files.items(), read):
        corpus.split(split).blocks.append(ReviewBlock(data, LABELS[label], lines))
    return corpus


def _read_lines(path: Path, expected: dict[str, str]) -> tuple[bytes, int]:
    """A file's lines, each ended by a newline, after checking its SHA-256 (when listed), and how many there
    are. Lines that are not valid UTF-8 are left as they are (and counted where they are decoded)."""
    raw = read_input(path, "review file")
    if path.name in expected and hashlib.sha256(raw).hexdigest() != expected[path.name]:
        raise Hw3Error(f"{path} does not match its checksum in SHA256SUMS: the file is corrupt or was changed")
    data = _gunzip(raw, path) if path.suffix == ".gz" else raw
    if not data:
        raise Hw3Error(f"{path} is empty: it should hold one review per line")
    if not data.endswith(b"\n"):
        data += b"\n"
    return data, data.count(b"\n")


def _gunzip(raw: bytes, path: Path) -> bytes:
    """All members of a gzip file (zlib in one call: faster than reading through gzip.open), inflating to at most
    what this process can hold: a gzip bomb is refused, not unpacked."""
    parts, room = [], max(2**28, int(0.25 * available_bytes()))  # IMDB's largest file inflates to 33 MB
    try:
        while raw.strip(b"\0"):  # zero bytes after the last member are padding
            member = zlib.decompressobj(wbits=31)
            parts.append(member.decompress(raw, room))
            room -= len(parts[-1])
            if member.unconsumed_tail or room <= 0:
                raise Hw3Error(f"{path} inflates to more than {size_text(sum(map(len, parts)))}, more than this "
                               "machine can hold for it (a gzip bomb?)")
            if not member.eof:
                raise EOFError("it ends in the middle of its data")
            raw = member.unused_data
    except (zlib.error, EOFError) as exc:
        raise Hw3Error(f"cannot read {path}: {exc} (truncated or corrupt?)") from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _sha256sums(folder: Path) -> dict[str, str] | None:
    """The digests SHA256SUMS lists, by file name; None when there is no SHA256SUMS."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return None
    expected = {}
    for line in read_input(sums, "checksum file", 2**20).decode("utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2:
            expected[parts[1].lstrip("*")] = parts[0].lower()
    return expected


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _one_line(data: bytes) -> tuple[str, bool]:
    try:
        text, bad = data.decode("utf-8"), False
    except UnicodeDecodeError:
        text, bad = data.decode("utf-8", errors="replace"), True
    return " ".join(text.splitlines()), bad


def _assemble(found: dict[tuple[str, str], list[tuple[int, int, bytes]]], form: str, where: Path) -> RawCorpus:
    if not any(found.values()):
        raise Hw3Error(f"{where} is not the aclImdb dataset: no aclImdb/{{train,test}}/{{pos,neg}}/*.txt inside")
    corpus = RawCorpus(RawSplit(), RawSplit(), form)
    for (split, label), items in sorted(found.items()):
        items.sort()  # by review id, then rating: the order of the original files
        texts = []
        for _, _, data in items:
            text, bad = _one_line(data)
            corpus.invalid_utf8 += bad
            texts.append(text)
        corpus.split(split).blocks.append(ReviewBlock.of_texts(texts, LABELS[label]))
    return corpus


def read_aclimdb_folder(root: Path) -> RawCorpus:
    found: dict[tuple[str, str], list] = {(s, lab): [] for s in SPLITS for lab in LABELS}
    for (split, label), items in found.items():
        folder = root / split / label
        if not folder.is_dir():
            raise Hw3Error(f"{root} is an incomplete aclImdb folder: {split}/{label}/ is missing")
        for path in folder.glob("*.txt"):
            match = re.fullmatch(r"([0-9]{1,9})_([0-9]{1,2})\.txt", path.name)  # id_rating, as aclImdb names them
            if match:
                items.append((int(match[1]), int(match[2]), read_input(path, "review", REVIEW_LIMIT)))
    return _assemble(found, "aclImdb folder", root)


def read_tarball(path: Path) -> RawCorpus:
    found: dict[tuple[str, str], list] = {(s, lab): [] for s in SPLITS for lab in LABELS}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                match = _ACL_MEMBER.search(member.name)
                if match and member.isfile():
                    if member.size > REVIEW_LIMIT:
                        raise Hw3Error(f"{path}: {member.name} is {member.size:,} bytes, not a review")
                    handle = archive.extractfile(member)
                    if handle is not None:
                        found[(match[1], match[2])].append((int(match[3]), int(match[4]), handle.read()))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise Hw3Error(f"{path} is not a readable tar archive ({exc})") from None
    missing = [f"{s}/{lab}" for (s, lab), items in found.items() if not items]
    if any(found.values()) and missing:
        raise Hw3Error(f"{path} is an incomplete aclImdb archive: no reviews under {', '.join(missing)}")
    return _assemble(found, "aclImdb tarball", path)


def download_aclimdb(cache_dir: Path) -> Path:
    """Fetch aclImdb_v1.tar.gz into `cache_dir` once, verifying its published SHA-256."""
    target = cache_dir / "aclImdb_v1.tar.gz"
    if target.is_file() and _sha256(target) == ACLIMDB_SHA256:
        return target
    return download(ACLIMDB_URL, target, "sha256", ACLIMDB_SHA256, "pass --data with a local copy")
