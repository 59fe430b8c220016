"""`hw3cli preprocess`: IMDB review text to a vocabulary and left-padded index matrices."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from hw3cli.configs import PreprocessConfig
from hw3cli.core.checkpoint import TensorFile
from hw3cli.core.files import atomic_folder, atomic_write_text, write_json
from hw3cli.core.runs import MIN_FREE_BYTES, check_writable, write_config
from hw3cli.data.encoded_imdb import DATA_KIND, EncodeOptions, data_layout, encode_corpus
from hw3cli.data.imdb import download_aclimdb, read_corpus
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display

OUTPUT_FILES = ("vocab.json", "data.safetensors", "stats.json", "config.json")


def validate(config: PreprocessConfig) -> None:
    if config.max_len < 1:
        raise Hw3Error(f"--max-len must be at least 1, got {config.max_len}")
    if config.truncate not in ("head", "tail"):
        raise Hw3Error(f"--truncate must be head or tail, not '{config.truncate}'")
    if config.min_freq < 1:
        raise Hw3Error(f"--min-freq must be at least 1, got {config.min_freq}")
    if not 0.0 < config.dev_fraction < 1.0:
        raise Hw3Error(f"--validation must be between 0 and 1 (exclusive), got {config.dev_fraction}")
    out = config.out_dir
    if out.exists() and (not out.is_dir() or _foreign_contents(out)):
        raise Hw3Error(f"{out} exists and is not a preprocess output folder; choose another --out")


def _foreign_contents(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name not in OUTPUT_FILES]


def run(config: PreprocessConfig) -> int:
    validate(config)
    check_writable(config.out_dir)
    start = time.perf_counter()
    source = download_aclimdb(config.cache_dir) if config.download else config.source
    if source is None:
        raise Hw3Error("give --data PATH or --download")
    corpus = read_corpus(source)
    read_seconds = time.perf_counter() - start
    options = EncodeOptions(config.max_len, config.truncate, config.min_freq, config.max_vocab,
                            config.dev_fraction, config.seed)
    layout = data_layout(corpus, options)
    (train_reviews,) = layout["train_labels"][1]
    if train_reviews == 0:
        raise Hw3Error(f"{source}: the training split is empty after carving out the dev split")
    size = sum(np.dtype(dtype).itemsize * math.prod(shape) for dtype, shape in layout.values())
    check_writable(config.out_dir, size + MIN_FREE_BYTES, f"--max-len {config.max_len} ({size / 2**20:,.0f} MB of "
                   "index matrices)")
    with atomic_folder(config.out_dir) as tmp:
        # The matrices are filled straight into the output file (80 MB for IMDB: no copy to write out);
        # the vocabulary's hash, known last, has a placeholder of its length until then.
        data = TensorFile(tmp / "data.safetensors", layout, DATA_KIND,
                          {"max_len": config.max_len, "truncate": config.truncate},
                          {"vocab_sha256": "0" * 64, "source": str(source)})
        vocab, stats = encode_corpus(corpus, options, data.arrays)
        atomic_write_text(tmp / "vocab.json", vocab.to_json())
        data.finish({"vocab_sha256": vocab.sha256()})
        stats["seconds"] = {"read": round(read_seconds, 2), "total": round(time.perf_counter() - start, 2)}
        write_json(tmp / "stats.json", stats)
        write_config(tmp, "preprocess", config)
    _summary(config, stats)
    return 0


def _summary(config: PreprocessConfig, stats: dict) -> None:
    out = display.stdout()
    table = Table(title=f"IMDB preprocessed ({stats['form']}, checksums {stats['checksums']}) -> {config.out_dir}")
    for column in ("split", "reviews", "pos", "neg", "median tokens", "95th pct", f"> {config.max_len} (cut)"):
        table.add_column(column, justify="right")
    for name, s in stats["splits"].items():
        table.add_row(name, f"{s['reviews']:,}", f"{s['positive']:,}", f"{s['negative']:,}",
                      f"{s['length_percentiles']['p50']:.0f}", f"{s['length_percentiles']['p95']:.0f}",
                      f"{100 * s['share_truncated']:.1f}%")
    out.print(table)
    out.print(f"vocabulary {stats['vocabulary_size']:,} entries; unknown tokens on test "
              f"{100 * stats['unknown_token_rate_test']:.2f}%; invalid UTF-8 reviews {stats['invalid_utf8_reviews']}; "
              f"{stats['seconds']['total']:.1f} s")
