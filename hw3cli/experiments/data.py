"""`hw3cli data`: find both data sets, or fetch what is missing with --download (Fashion-MNIST through
torchvision's mirror, IMDB's tarball with its published SHA-256) into one cache folder; `make all` runs it first."""

from __future__ import annotations

from pathlib import Path

from hw3cli.configs import DataConfig
from hw3cli.data.fashion_mnist import DEBIAN_DIR, download, find_folder, load_fashion_mnist
from hw3cli.data.imdb import corpus_form, download_aclimdb
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display

WAYS = ("make: FMNIST_DIR=DIR, IMDB_SOURCE=PATH, DOWNLOAD=1, or make fmnist (Debian's package, as root); by hand: "
        "hw3cli data --fashion-dir DIR --imdb-source PATH, or --download")


def run(config: DataConfig) -> int:
    fashion, imdb, missing = _fashion(config), _imdb(config), []
    if fashion is None:
        where = config.fashion_dir or f"{DEBIAN_DIR} or {config.cache_dir / 'fashion-mnist'}"
        missing.append(f"Fashion-MNIST (not in {where})")
    if imdb is None:
        missing.append(f"IMDB ({config.imdb_source} does not exist)")
    if missing:
        raise Hw3Error(f"missing {' and '.join(missing)}; supply it ({WAYS})")
    load_fashion_mnist(fashion)  # whole and of the right kind: each file's header, size and labels checked
    corpus_form(imdb)  # a form preprocess reads
    out = display.stdout()
    out.print(f"fashion-mnist: {fashion}", markup=False)
    out.print(f"imdb: {imdb}", markup=False)
    return 0


def _fashion(config: DataConfig) -> Path | None:
    """The folder holding the four IDX files: --fashion-dir, else Debian's or the cache's; fetched into the cache
    (or --fashion-dir) with --download."""
    candidates = [config.fashion_dir] if config.fashion_dir else [DEBIAN_DIR, config.cache_dir / "fashion-mnist"]
    for folder in candidates:
        try:
            return find_folder(folder)
        except Hw3Error:
            continue
    if not config.download:
        return None
    return download(config.fashion_dir or config.cache_dir / "fashion-mnist")


def _imdb(config: DataConfig) -> Path | None:
    if config.imdb_source.exists():
        return config.imdb_source
    if not config.download:
        return None
    return download_aclimdb(config.cache_dir)
