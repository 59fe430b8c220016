"""Every command's options come from its config fields (configs.py), each once: the help shows every field, and
no command takes a parameter that is not a field."""

import dataclasses
import re

import pytest
import typer.main

from hw3cli import configs as c
from hw3cli import options
from hw3cli.cli import app
from hw3cli.data.sources import GAN_DATASETS
from hw3cli.train.gan_losses import LOSSES


def commands() -> dict:
    group = typer.main.get_command(app)
    return {name: group.commands[name] for name in group.commands}


CONFIGS = {"rnn-add": (c.AddConfig, c.VerifyConfig, c.LearnConfig), "preprocess": (c.PreprocessConfig,),
           "data": (c.DataConfig,), "collapse-summary": (c.CollapseSummaryConfig,),
           "train-gru": (c.GRUConfig,), "train-mlp": (c.MLPConfig,), "predict": (c.PredictConfig,),
           "compare-imdb": (c.CompareImdbConfig,), "train-gan": (c.GanConfig,), "cgan-sample": (c.CganSampleConfig,),
           "classify": (c.ClassifyConfig,), "judge": (c.JudgeConfig,), "histogram": (c.HistogramConfig,),
           "compare-gan": (c.CompareGanConfig,), "toy-summary": (c.ToySummaryConfig,), "report": (c.ReportConfig,)}


def test_every_command_is_listed_here():
    assert set(commands()) == set(CONFIGS)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_field_reaches_the_help_and_every_parameter_is_a_field(cli, name):
    fields = {n: f for config in CONFIGS[name] for n, f, _, _ in options.of(config)}
    params = {p.name: p for p in commands()[name].params}
    assert set(params) == set(fields)  # a parameter with no field (a misspelling) or a field with no parameter
    shown = cli(name, "--help")
    assert shown.code == 0
    for field_name, field in fields.items():
        if field.metadata.get("argument"):
            assert field.metadata["help"].split(" (")[0] in " ".join(shown.out.split())
        else:
            assert re.search(rf"(^|\s){re.escape(field.metadata['flag'].split('/')[0])}(\s|$)", shown.out), field_name


def test_group_options_keep_the_groups_own_defaults():
    learn = options.build(c.LearnConfig, {"seed": 7, "threads": 1, "learn": True})
    assert (learn.runtime.seed, learn.runtime.threads, learn.runtime.device, learn.runtime.precision) == (
        7, 1, "cpu", "fp32")
    hidden = {n for n, *_ in options.of(c.LearnConfig)}
    assert not hidden & {"device", "precision"} and "resume" in hidden


def test_a_value_no_field_takes_is_not_taken():
    used: set[str] = set()
    config = options.build(c.GanConfig, {"loss": "wgan", "los": "lsgan"}, used)
    assert config.loss == "wgan" and used == {"loss"}


def test_the_choices_are_the_registries(cli):
    shown = cli("train-gan", "--help").out
    assert re.search(r"--loss \[([^\]]*)\]", shown).group(1).split("|") == list(LOSSES)
    assert re.search(r"--dataset \[([^\]]*)\]", shown).group(1).split("|") == list(GAN_DATASETS)
    assert c.GanConfig().dataset in GAN_DATASETS and all(dataclasses.is_dataclass(d) for d in GAN_DATASETS.values())
    assert cli("train-gan", "--loss", "wgan-gpp").code == 2


def help_at(name: str | None, width: int = 80) -> str:
    group = typer.main.get_command(app)
    command = group.commands[name] if name else group
    return command.get_help(command.context_class(command, info_name=name or "hw3cli", terminal_width=width,
                                                  max_content_width=width))


def entries(text: str) -> list[list[str]]:
    """Each option's lines in a help text: its name line, then the lines of its help below."""
    found: list[list[str]] = []
    for line in text.splitlines():
        if re.match(r"^  -", line):
            found.append([line])
        elif found and line.startswith("    ") and line.strip():
            found[-1].append(line)
        elif found and not line.startswith("    "):
            found.append([])  # a heading or a blank line ends the entry
    return [e for e in found if e]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_each_option_is_two_lines_of_help_at_most_at_80_columns(name):
    for entry in entries(help_at(name)):
        beside = re.match(r"^  \S.*?\S\s{2,}\S", entry[0]) is not None  # the help starts on the name's line
        assert len(entry) - (0 if beside else 1) <= 2, "\n".join(entry)
        assert all(len(line) <= 80 for line in entry), "\n".join(entry)
        names = entry[0].split("  ")[1].strip()
        assert "<" not in names and "list[" not in names and "{" not in names, names  # placeholders: the type's


def test_placeholders_come_from_the_type():
    text = help_at("train-gan")
    for flag, placeholder in (("--out", "PATH"), ("--epochs", "INT"), ("--lr", "FLOAT"), ("--g-hidden", "INT,INT,..."),
                              ("--loss", "[" + "|".join(LOSSES) + "]"), ("--device", "[auto|cpu|cuda|cuda:N|mps]"),
                              ("--lr-decay", "FLOAT"), ("--unroll", "INT")):
        assert re.search(rf"^  {re.escape(flag)} {re.escape(placeholder)}(\s|$)", text, re.M), flag


def test_every_default_is_shown():
    """A fixed default as typer shows it; a default that depends on other options (None) said in the help."""
    for name, configs in CONFIGS.items():
        shown = {e[0].split()[0]: " ".join(e) for e in entries(help_at(name, 200))}
        for config in configs:
            for _, field, hint, default in options.of(config):
                flag = field.metadata.get("flag", "").split("/")[0]
                if field.metadata.get("argument") or field.metadata.get("required") or default in (False, ()):
                    continue
                if default is not None:
                    assert "[default:" in shown[flag], (name, flag)
                elif options.placeholder(hint) != "PATH":  # an unset path is an input not given: no default
                    assert "default" in shown[flag], (name, flag)


def test_train_gans_options_sit_in_their_panels():
    text = help_at("train-gan")
    headings = [line[:-1] for line in text.splitlines() if re.fullmatch(r"[A-Z][a-z]+:", line)]
    assert headings == ["Model", "Optimizer", "Unrolled", "Conditional", "Grading", "Run", "Runtime", "Options"]
    for _, field, _, _ in options.of(c.GanConfig):  # every option but --help in a panel
        assert options.panel(c.GanConfig, field.name) in options.PANEL_ORDER, field.name
    assert options.panel(c.GanConfig, "unroll_mode") == "Unrolled" and options.panel(c.GRUConfig, "matmul") == "Runtime"


def test_command_summaries_fit_one_line():
    listing = help_at(None).split("Commands:")[1]
    assert "..." not in listing and len(listing.strip().splitlines()) == len(CONFIGS)


RENAMED = [("train-gan", "--clip", "--weight-clip"), ("train-gru", "--clip", "--grad-clip"),
           ("train-mlp", "--clip", "--grad-clip"), ("train-gan", "--data-dir", "--data"),
           ("classify", "--data-dir", "--data"), ("preprocess", "--source", "--data"),
           ("preprocess", "--dev-fraction", "--validation"), ("histogram", "-n", "--samples"),
           ("cgan-sample", "--per-class", "--samples"), ("cgan-sample", "--score-per-class", "--score-samples")]


@pytest.mark.parametrize("command, old, new", RENAMED)
def test_old_flag_names_still_work_with_a_note(command, old, new):
    from hw3cli.cli import COMMANDS

    args, notes = options.modernised([command, old, "7", f"{old}=8", "--", old], COMMANDS)
    assert args == [command, new, "7", f"{new}=8", "--", old]  # after "--" nothing is an option
    assert notes == [f"hw3cli: note: {old} is now {new} (the old name still works for now)"] * 2
    assert options.modernised(["report", old], COMMANDS)[0] == ["report", old]  # only the command's own
    assert options.modernised([command, "--out", old], COMMANDS)[0] == [command, "--out", old]  # a value stays
    if len(old) == 2:  # a short option with its value attached
        assert options.modernised([command, f"{old}5"], COMMANDS)[0] == [command, f"{new}=5"]


def test_an_old_flag_runs_the_command_with_one_note(cli, tmp_path):
    from tests.conftest import write_assignment

    source = write_assignment(tmp_path / "src")
    r = cli("preprocess", "--source", source, "--out", tmp_path / "data", "--max-len", "10")
    assert r.code == 0 and (tmp_path / "data" / "vocab.json").is_file()
    assert r.err.strip().splitlines()[0] == "hw3cli: note: --source is now --data (the old name still works for now)"
    r = cli("histogram", "--generator", tmp_path / "none", "-n", "0")
    assert r.code == 2 and r.err.count("\n") == 2 and "--samples" in r.err.splitlines()[1]
