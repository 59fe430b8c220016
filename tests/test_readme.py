"""The README stays true: short, its results table is a committed results file's, and every command it quotes
parses (`--help` for hw3cli, `make -n` for make)."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def quoted(prefix: str) -> list[str]:
    """Every line of a code block, and every inline code span, that starts with `prefix`."""
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", README, flags=re.S))
    commands = {c for c in lines + spans if c.startswith(prefix + " ")}
    return sorted(c for c in commands if not any(re.fullmatch(r"[A-Z]+", t) for t in c.split()))  # COMMAND


def test_the_readme_is_short_and_links_only_to_pages_that_exist():
    assert len(README) <= 12_000
    for link in re.findall(r"\]\(([^)#]+)\)", README):
        assert (ROOT / link).exists(), link


def test_the_results_table_is_the_committed_results_files():
    named = re.search(r"The table above is \[docs/results/([^\]]+)\]", README).group(1)
    table = re.search(r"\n(\| target \| result \| time \|\n(?:\|.*\n)+)", README).group(1)
    assert table in (ROOT / "docs" / "results" / named).read_text()


@pytest.mark.parametrize("command", quoted("hw3cli"))
def test_every_quoted_hw3cli_command_parses(cli, command):
    r = cli(*shlex.split(command)[1:], "--help")
    assert r.code == 0, (command, r.err)


@pytest.mark.parametrize("command", quoted("make"))
def test_every_quoted_make_command_parses(command, tmp_path):
    args = [a for a in shlex.split(command)[1:] if a != "test"]  # make -n test would run nothing here anyway
    r = subprocess.run(["make", "-n", *args, f"ART={tmp_path}/art"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, (command, r.stderr)


def test_no_user_document_speaks_of_the_projects_history():
    for path in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        text = path.read_text().lower()
        for word in ("session", "local patch", "earlier run", "previous run"):
            assert word not in text, (path.name, word)
