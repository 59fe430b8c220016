"""Run by torchrun from tests/test_distributed.py: several hw3cli commands in one process group (each launch costs
seconds), with what every rank did written to report-rankR.json beside JOBS.json.

    torchrun --nproc-per-node 2 tests/distributed_driver.py JOBS.json WATCHED_FOLDER

JOBS.json is a list of {"argv": [...], "interrupt": {"rank": R, "after_epoch": E}?}; "{rank}" in an argument is
replaced by the rank. Ranks other than 0 record every file they create, change or remove under WATCHED_FOLDER
(through Python's audit hooks, which see every open, mkdir, rename and removal), so the test can check that only
rank 0 writes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hw3cli.cli import main  # noqa: E402
from hw3cli.experiments import train_gan  # noqa: E402
from tests.conftest import interrupt_after_epoch  # noqa: E402

WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
CHANGES = {"os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "shutil.rmtree", "os.symlink", "os.link"}


def main_driver(jobs_file: str, watched: str) -> None:
    rank = int(os.environ["RANK"])
    watched_folder = os.path.realpath(watched)
    writes: list[str] = []

    def audit(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & WRITING)
        elif event in CHANGES:
            path, writing = args[0], True
        else:
            return
        if writing and isinstance(path, (str, bytes, os.PathLike)):
            name = os.path.realpath(os.fsdecode(path))
            if name.startswith(watched_folder):
                writes.append(f"{event} {name}")

    if rank != 0:
        sys.addaudithook(audit)
    original = train_gan.gan_training
    codes = []
    for job in json.loads(Path(jobs_file).read_text()):
        interrupt = job.get("interrupt")
        train_gan.gan_training = (interrupt_after_epoch(original, interrupt["after_epoch"])
                               if interrupt and interrupt["rank"] == rank else original)
        try:
            main([a.replace("{rank}", str(rank)) for a in job["argv"]])
            codes.append(0)
        except SystemExit as exc:
            codes.append(exc.code if isinstance(exc.code, int) else 1)
    # A file per rank, beside JOBS.json (two ranks printing at once can interleave their lines).
    report = Path(jobs_file).with_name(f"report-rank{rank}.json")
    report.write_text(json.dumps({"rank": rank, "codes": codes, "writes": writes}))


if __name__ == "__main__":
    main_driver(*sys.argv[1:])
