"""Readers for the IMDB Large Movie Review Dataset in each form it is found in.

- the assignment's form: a folder with {train,test}_{pos,neg}_reviews.txt, one review per line, plain or .gz,
  with an optional SHA256SUMS that is checked when present;
- Stanford's aclImdb/ folder: {train,test}/{pos,neg}/<id>_<rating>.txt;
- Stanford's aclImdb_v1.tar.gz, read straight from the tarball.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tarfile
import urllib.error
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hw3cli.errors import Hw3Error

SPLITS = ("train", "test")
LABELS = {"pos": 1, "neg": 0}
ACLIMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
ACLIMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
_ACL_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


@dataclass
class RawSplit:
    texts: list[str] = field(default_factory=list)  # one review each, with no newlines
    labels: list[int] = field(default_factory=list)  # 1 positive, 0 negative


@dataclass
class RawCorpus:
    train: RawSplit
    test: RawSplit
    form: str  # "assignment", "aclImdb folder" or "aclImdb tarball"
    invalid_utf8: int = 0  # reviews whose bytes were not valid UTF-8 (decoded with U+FFFD replacements)
    checksums: str = "absent"  # "verified" when a SHA256SUMS file was present and matched

    def split(self, name: str) -> RawSplit:
        return self.train if name == "train" else self.test


def read_corpus(source: str | os.PathLike) -> RawCorpus:
    """Detect the form of `source` and read all 50,000 (or however many) labelled reviews."""
    source = Path(source)
    if not source.exists():
        raise Hw3Error(f"IMDB source not found: {source}")
    if source.is_file():
        return read_tarball(source)
    if any(_assignment_file(source, s, lab) for s in SPLITS for lab in LABELS):
        return read_assignment_folder(source)
    for root in (source, source / "aclImdb"):
        if (root / "train" / "pos").is_dir() or (root / "test" / "pos").is_dir():
            return read_aclimdb_folder(root)
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
    checksums = _verify_sha256sums(folder, [p for p in files.values() if p is not None])
    corpus = RawCorpus(RawSplit(), RawSplit(), "assignment", checksums=checksums)
    with ThreadPoolExecutor(4) as pool:  # zlib decompresses without holding the GIL: the files in parallel
        contents = list(pool.map(_read_bytes, files.values()))
    for ((split, label), path), data in zip(files.items(), contents):
        texts, bad = _decode_lines(data)
        if texts and texts[-1] == "":
            texts.pop()
        if not texts:
            raise Hw3Error(f"{path} is empty: it should hold one review per line")
        corpus.invalid_utf8 += bad
        target = corpus.split(split)
        target.texts.extend(t.rstrip("\r") for t in texts)
        target.labels.extend([LABELS[label]] * len(texts))
    return corpus


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise Hw3Error(f"cannot read {path}: {exc} (truncated or corrupt?)") from None


def _decode_lines(data: bytes) -> tuple[list[str], int]:
    """The lines of `data` decoded as UTF-8; only when that fails, line by line, replacing bad bytes and
    counting the lines that had them."""
    try:
        return data.decode("utf-8").split("\n"), 0
    except UnicodeDecodeError:
        texts, bad = [], 0
        for line in data.split(b"\n"):
            try:
                texts.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append(line.decode("utf-8", errors="replace"))
                bad += 1
        return texts, bad


def _verify_sha256sums(folder: Path, files: list[Path]) -> str:
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return "absent"
    expected = {}
    for line in sums.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2:
            expected[parts[1].lstrip("*")] = parts[0].lower()
    for path in files:
        if path.name in expected and _sha256(path) != expected[path.name]:
            raise Hw3Error(f"{path} does not match its checksum in {sums}: the file is corrupt or was changed")
    return "verified"


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
        for _, _, data in items:
            text, bad = _one_line(data)
            corpus.invalid_utf8 += bad
            corpus.split(split).texts.append(text)
            corpus.split(split).labels.append(LABELS[label])
    return corpus


def read_aclimdb_folder(root: Path) -> RawCorpus:
    found: dict[tuple[str, str], list] = {(s, lab): [] for s in SPLITS for lab in LABELS}
    for (split, label), items in found.items():
        folder = root / split / label
        if not folder.is_dir():
            raise Hw3Error(f"{root} is an incomplete aclImdb folder: {split}/{label}/ is missing")
        for path in folder.glob("*.txt"):
            match = re.fullmatch(r"(\d+)_(\d+)\.txt", path.name)
            if match:
                items.append((int(match[1]), int(match[2]), path.read_bytes()))
    return _assemble(found, "aclImdb folder", root)


def read_tarball(path: Path) -> RawCorpus:
    found: dict[tuple[str, str], list] = {(s, lab): [] for s in SPLITS for lab in LABELS}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                match = _ACL_MEMBER.search(member.name)
                if match and member.isfile():
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
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(ACLIMDB_URL, timeout=60) as response, open(partial, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise Hw3Error(f"cannot download {ACLIMDB_URL} ({exc}); offline? pass --source with a local copy") from None
    if _sha256(partial) != ACLIMDB_SHA256:
        partial.unlink(missing_ok=True)
        raise Hw3Error(f"the download of {ACLIMDB_URL} does not match its published SHA-256")
    os.replace(partial, target)
    return target
