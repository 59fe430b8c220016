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
    assert re.search(r"--loss <([^>]*)>", shown).group(1).split("|") == list(LOSSES)
    assert re.search(r"--dataset <([^>]*)>", shown).group(1).split("|") == list(GAN_DATASETS)
    assert c.GanConfig().dataset in GAN_DATASETS and all(dataclasses.is_dataclass(d) for d in GAN_DATASETS.values())
    assert cli("train-gan", "--loss", "wgan-gpp").code == 2
