"""collapse-summary: each variant's measures over seeds with 95% intervals (Student's t), and words that follow the
intervals: better or worse than the vanilla GAN only where the intervals separate."""

import json
import math
import statistics

import pytest

from tests.conftest import assert_usage_error

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def graded_run(folder, variant: dict, seed: int, coverage: float, kl: float, judged: bool = True) -> None:
    quality = {"kl_from_uniform": kl, "classes_over_5pct": 9, "inception_score": 5.0, "frechet_distance": 10.0,
               "precision": 0.7, "recall": 0.5, "density": 0.9, "coverage": coverage,
               "coverage_per_class": {c: coverage for c in CLASSES}}
    folder.mkdir(parents=True)
    config = {"loss": "vanilla", "clip": 0.01, "unroll": None, "unroll_mode": "surrogate", "seed": seed, **variant}
    (folder / "config.json").write_text(json.dumps({"experiment": "train-gan", "config": config, "command": []}))
    metrics = {"loss": config["loss"], "epochs": [{"epoch": 1, "g_loss": 1.0, "d_loss": 1.0, "real_score": 0.5,
                                                   "fake_score": 0.5}], "sample_diversity": 0.2,
               "real_diversity": 0.3, "summary": "s", "judge_quality" if judged else "quality": quality}
    (folder / "metrics.json").write_text(json.dumps(metrics))


VANILLA = [0.50, 0.52, 0.51]
UNROLLED = [0.80, 0.82, 0.81]  # far above: better
WGAN = [0.40, 0.62, 0.51]  # overlaps vanilla's interval: cannot tell


@pytest.fixture
def runs(tmp_path):
    folders = []
    for name, variant, coverages in (("vanilla", {}, VANILLA),
                                     ("unrolled", {"unroll": 5, "unroll_mode": "exact"}, UNROLLED),
                                     ("wgan", {"loss": "wgan"}, WGAN)):
        for seed, coverage in enumerate(coverages, 1):
            folders.append(tmp_path / name / f"seed{seed}")
            graded_run(folders[-1], variant, seed, coverage, kl=0.1)
    return folders


def test_means_and_intervals_over_seeds_and_words_that_follow_them(cli, tmp_path, runs):
    r = cli("collapse-summary", *runs, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(summary) == ["unrolled-exact-k5", "vanilla", "wgan-clip0.01"]
    cell = summary["vanilla"]["coverage"]
    half = 4.303 * statistics.stdev(VANILLA) / math.sqrt(3)  # t at 2 degrees of freedom
    assert cell == pytest.approx({"mean": statistics.fmean(VANILLA), "low": 0.51 - half, "high": 0.51 + half})
    text = (tmp_path / "out" / "summary.md").read_text()
    assert "unrolled-exact-k5: cannot tell on class KL, better on coverage" in text
    assert "wgan-clip0.01 (3 seeds): the runs cannot tell it from the vanilla GAN" in text
    assert "So unrolled-exact-k5 measurably reduced mode collapse here" in text


def test_one_seed_gives_no_interval_and_no_verdict(cli, tmp_path):
    graded_run(tmp_path / "v", {}, 1, 0.5, 0.1)
    graded_run(tmp_path / "u", {"unroll": 5}, 1, 0.9, 0.01)
    r = cli("collapse-summary", tmp_path / "v", tmp_path / "u", "--out", tmp_path / "out")
    assert r.code == 0, r.err
    assert "one seed, no interval" in r.out and "no variant measurably reduced mode collapse" in r.out


def test_ungraded_runs_and_repeated_seeds_are_one_line(cli, tmp_path):
    graded_run(tmp_path / "a", {}, 1, 0.5, 0.1)
    graded_run(tmp_path / "b", {}, 1, 0.5, 0.1)
    assert_usage_error(cli("collapse-summary", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "o"), "seed")
    (tmp_path / "c").mkdir()
    run = tmp_path / "c" / "run"
    graded_run(run, {}, 2, 0.5, 0.1)
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["judge_quality"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert_usage_error(cli("collapse-summary", run, "--out", tmp_path / "o"), "--judge")
    assert not (tmp_path / "o").exists()


def test_the_report_gives_the_answer_and_the_intervals(cli, tmp_path, runs):
    art = tmp_path / "artifacts"
    assert cli("collapse-summary", *runs, "--out", art / "gan" / "mode-collapse").code == 0
    r = cli("report", "--artifacts", art, "--out", art / "REPORT.md")
    assert r.code == 0, r.err
    report = (art / "REPORT.md").read_text()
    section = report[report.index("### Mode collapse: do the unrolled GAN and WGAN reduce it?"):]
    assert "So unrolled-exact-k5 measurably reduced mode collapse here" in section
    assert "| wgan-clip0.01 | 3 |" in section


def test_the_2d_mixtures_get_the_same_intervals_over_seeds():
    from hw3cli.experiments.toy_summary import markdown, summarise

    def run(seed, modes):
        config = {"dataset": "ring", "loss": "vanilla", "clip": 0.01, "seed": seed, "precision": "fp32"}
        return config, {"precision": "fp32", "mode_coverage": {"modes_recovered": modes, "high_quality_fraction": 0.5,
                                                               "reverse_kl": 0.1, "modes": 8}}

    summary = summarise([run(1, 6), run(2, 8), run(3, 7)])
    row = summary["ring"]["vanilla"]
    half = 4.303 * 1.0 / math.sqrt(3)  # the three seeds' standard deviation is 1
    assert row["modes_recovered_interval"] == pytest.approx([7 - half, 7 + half])
    assert f"7.0 ({7 - half:.1f}-{7 + half:.1f}) of 8" in markdown(summary)
    assert summarise([run(1, 6)])["ring"]["vanilla"]["modes_recovered_interval"] is None


def test_the_reports_answer_joins_the_mixtures_and_states_the_grid_finding(tmp_path):
    from hw3cli.experiments.report import BASELINE, _grid_finding, _mixture_answer

    def row(modes, interval, quality=0.5, seeds=3):
        return {"modes_recovered": modes, "modes_recovered_interval": interval, "high_quality_fraction": quality,
                "reverse_kl": 0.1, "modes": 25, "seeds": seeds}

    rows = {BASELINE: row(4.0, [3.0, 5.0]), "unrolled-exact-k5": row(20.0, [18.0, 22.0], 0.1),
            "wgan-gp": row(4.5, [2.0, 7.0]), "wgan-clip0.01": row(1.0, [0.5, 1.5])}
    text = _mixture_answer("grid", rows)
    assert "recovers 4.0 of 25 modes" in text and "more: unrolled-exact-k5 20.0" in text
    assert "fewer: wgan-clip0.01 1.0" in text and "cannot tell wgan-gp 4.5" in text
    one = {BASELINE: row(4.0, None, seeds=1), "wgan-gp": row(9.0, None, seeds=1)}
    assert "more" not in _mixture_answer("grid", one) and "cannot tell wgan-gp" in _mixture_answer("grid", one)
    run = tmp_path / "grid" / "unrolled-exact-k5" / "seed1"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"experiment": "train-gan", "command": [], "config": {
        "unroll": 5, "epochs": 50, "batch_size": 512}}))
    finding = _grid_finding(tmp_path, rows)
    assert "k = 5, 5,000 generator steps of batch 512" in finding and "recovers 20.0 of 25 modes" in finding
    assert "is not reached at this budget" in finding
    rows["unrolled-exact-k5"] = row(24.0, [23.0, 25.0], 0.2)
    assert "is reached" in _grid_finding(tmp_path, rows)


def test_the_answer_without_fidelity_rests_on_kl_and_bad_summaries_are_one_line(cli, tmp_path):
    from hw3cli.experiments.report import BASELINE, _one_seed_answer, _one_seed_rows

    row = {"kl_from_uniform": 0.5, "chi2_p_value": 0.0, "classes_over_5pct": 4, "inception_score": 3.0,
           "frechet_distance": 9.0}
    h = {"rows": {"real test images": row, BASELINE: row, "wgan-gp": {**row, "kl_from_uniform": 0.1}}}
    rows, grader = _one_seed_rows(h, tmp_path / "histograms.json")
    text = _one_seed_answer(rows, grader)
    assert "class KL from uniform is 0.500;" in text and "(KL): wgan-gp 0.100" in text and "coverage" not in text
    art = tmp_path / "artifacts"
    (art / "gan" / "toy").mkdir(parents=True)
    for bad in ({"grid": []}, {"grid": {BASELINE: {"modes_recovered": 1, "high_quality_fraction": 0.1,
                                                   "reverse_kl": 1.0, "modes": 25, "seeds": 3,
                                                   "modes_recovered_interval": "x"}}}):
        (art / "gan" / "toy" / "summary.json").write_text(json.dumps(bad))
        r = cli("report", "--artifacts", art, "--out", art / "REPORT.md")
        assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "summary.json" in r.err, r.err
