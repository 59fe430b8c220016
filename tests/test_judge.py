"""The judge (a CNN trained from scratch) and its use beside the classifier; the conditional GAN's matching-aware D
and AC-GAN class loss."""

import json

import pytest
import torch
from safetensors.torch import load_file

import hw3cli.experiments.train_gan as gan_experiment
from hw3cli.configs import GanConfig
from hw3cli.data.fashion_mnist import load_fashion_mnist
from hw3cli.metrics import CONDITIONAL_PER_CLASS, share_interval
from hw3cli.models.gan import Discriminator, Generator, load_classifier, load_discriminator, load_generator
from hw3cli.models.judge import Judge, load_judge
from hw3cli.train.fashion_classifier import predict
from hw3cli.train.gan_loop import gan_training, make_optimizers, sample
from hw3cli.train.gan_losses import make_loss
from tests.conftest import TINY_GAN, assert_usage_error, run_ok, synthetic_fashion


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A judge, a classifier, a conditional GAN measured by both, and histograms labelled by both."""
    root = tmp_path_factory.mktemp("judge")
    data = synthetic_fashion(root / "data", n_train=1200, n_test=200)
    run_ok("judge", "--data", data, "--out", root / "judge", "--epochs", "2", "--validation", "100",
           "--batch-size", "64")
    run_ok("train-gan", "--data", data, "--out", root / "gan", *TINY_GAN)
    run_ok("classify", "--data", data, "--init-from", root / "gan", "--out", root / "clf", "--epochs", "1",
           "--validation", "100")
    run_ok("train-gan", "--data", data, "--out", root / "cgan", "--conditional", "--mismatch", *TINY_GAN,
           "--classifier", root / "clf", "--judge", root / "judge")
    run_ok("histogram", "--generator", root / "gan", "--generator", root / "cgan", "--classifier", root / "clf",
           "--judge", root / "judge", "--samples", "100", "--data", data, "--out", root / "hist",
           "--prdc-samples", "300")
    return root, data


def test_the_judge_is_a_cnn_with_features_and_a_head():
    judge = Judge((4, 8), hidden=16)
    assert any(isinstance(m, torch.nn.Conv2d) for m in judge.modules())
    probs, features = predict(judge, torch.rand(5, 28, 28))
    assert probs.shape == (5, 10) and features.shape == (5, 16)
    assert torch.allclose(probs.sum(1), torch.ones(5))


def test_the_judge_learns_the_training_images_and_reports_its_own_test_accuracy(graded):
    root, _ = graded
    metrics = json.loads((root / "judge" / "metrics.json").read_text())
    config = json.loads((root / "judge" / "config.json").read_text())
    assert config["experiment"] == "judge" and config["config"]["epochs"] == 2
    # the synthetic classes are bars at ten heights: a CNN separates them in two epochs
    assert metrics["test_accuracy"] >= 0.9, metrics["test_accuracy"]
    assert len(metrics["per_class_accuracy"]) == 10 and sum(map(sum, metrics["confusion"])) == 200
    assert {"judge.safetensors", "accuracy.png", "confusion.png", "timings.json"} <= {
        p.name for p in (root / "judge").iterdir()}
    judge = load_judge(root / "judge")
    assert isinstance(judge, Judge) and not judge.training


def test_a_classifier_and_a_judge_are_not_taken_for_each_other(cli, graded, tmp_path):
    root, data = graded
    assert_usage_error(cli("histogram", "--generator", root / "gan", "--classifier", root / "clf", "--judge",
                           root / "clf", "--data", data, "--out", tmp_path / "h"), "not a judge run")
    assert_usage_error(cli("histogram", "--generator", root / "gan", "--classifier", root / "judge",
                           "--data", data, "--out", tmp_path / "h"), "not a classify run")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "judge.safetensors").write_bytes((root / "clf" / "classifier.safetensors").read_bytes())
    assert_usage_error(cli("cgan-sample", "--generator", root / "cgan", "--judge", tmp_path / "fake",
                           "--out", tmp_path / "g.png"), "fmnist-classifier")
    assert not (tmp_path / "h").exists() and not (tmp_path / "g.png").exists()


def test_train_gan_records_the_judges_numbers_beside_the_classifiers(graded):
    root, _ = graded
    metrics = json.loads((root / "cgan" / "metrics.json").read_text())
    judged, classified = metrics["judge_quality"], metrics["quality"]
    assert judged["counts"] != classified["counts"] or judged["frechet_distance"] != classified["frechet_distance"]
    for q in (judged, classified):
        assert sum(q["counts"]) == 1000 and 0 <= q["conditional_accuracy"] <= 1
        assert len(q["conditional_accuracy_per_class"]) == 10
        # the accuracy comes from 1,000 samples of each class, each share with its Wilson interval
        assert q["conditional_samples"] == 10 * CONDITIONAL_PER_CLASS == 10_000
        for name, share in q["conditional_accuracy_per_class"].items():
            assert q["conditional_accuracy_interval_per_class"][name] == list(
                share_interval(round(share * CONDITIONAL_PER_CLASS), CONDITIONAL_PER_CLASS))
    # recounted from the saved generator and judge: the class noise is drawn from seed + 2 (--seed 0)
    generator, judge = load_generator(root / "cgan"), load_judge(root / "judge")
    labels = torch.arange(10_000) % 10
    noise = torch.randn(10_000, generator.noise_dim, generator=torch.Generator().manual_seed(2))
    hits = predict(judge, sample(generator, noise, labels))[0].argmax(1) == labels
    assert judged["conditional_accuracy"] == pytest.approx(float(hits.float().mean()))
    pullover = float(hits[labels == 2].float().mean())
    assert judged["conditional_accuracy_per_class"]["Pullover"] == pytest.approx(pullover)
    assert metrics["judge_quality_real_floor"]["frechet_distance_train_vs_test"] >= 0
    assert "Judge-measured" in metrics["summary"] and "Classifier-measured" in metrics["summary"]
    assert "95% interval" in metrics["summary"] and "from 1,000 samples of each class)" in metrics["summary"]
    assert json.loads((root / "cgan" / "config.json").read_text())["config"]["mismatch"] is True


def test_histograms_by_both_graders_and_their_agreement_match_a_recount(graded):
    root, data = graded
    h = json.loads((root / "hist" / "histograms.json").read_text())
    assert list(h["judge_rows"]) == list(h["rows"]) == ["real test images", "gan", "cgan"]
    # the real row's agreement, recounted from the saved models on the same 100 test images
    test = load_fashion_mnist(data).test_images
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:100]
    images = test[pick].float() / 255
    by_classifier = predict(load_classifier(root / "clf"), images)[0].argmax(1)
    by_judge = predict(load_judge(root / "judge"), images)[0].argmax(1)
    assert h["agreement"]["real test images"] == pytest.approx(float((by_classifier == by_judge).float().mean()))
    assert h["judge_rows"]["real test images"]["counts"] == torch.bincount(by_judge, minlength=10).tolist()
    assert (root / "hist" / "histograms.png").stat().st_size > 10_000


def test_histograms_measure_precision_recall_density_and_coverage_beside_a_calibration_row(graded):
    root, _ = graded
    fidelity = json.loads((root / "hist" / "histograms.json").read_text())["fidelity"]
    assert list(fidelity) == ["classifier", "judge"]
    for rows in fidelity.values():
        assert list(rows) == ["real train images", "gan", "cgan"]
        for row in rows.values():
            assert all(0 <= row[k] <= 1 for k in ("precision", "recall", "coverage")) and row["density"] >= 0
            assert len(row["coverage_per_class"]) == 10
        # real train images cover the real test images far better than a generator trained for one epoch
        assert rows["real train images"]["coverage"] > rows["gan"]["coverage"] + 0.3


def test_cgan_sample_prints_both_graders_on_a_draw_of_its_own(cli, graded, tmp_path):
    root, _ = graded
    r = cli("cgan-sample", "--generator", root / "cgan", "--samples", "2", "--classifier", root / "clf", "--judge",
            root / "judge", "--score-samples", "40", "--classes", "bag,pullover,bag", "--seed", "5",
            "--out", tmp_path / "grid.png")
    assert r.code == 0, r.err
    assert "classifier" in r.out and "judge" in r.out and "of 40 fresh samples of each class" in r.out
    # recounted: 40 samples of each distinct class (Pullover, Bag), taken in turn, from seed + 1
    generator, judge = load_generator(root / "cgan"), load_judge(root / "judge")
    labels = torch.tensor([2, 8] * 40)
    noise = torch.randn(80, generator.noise_dim, generator=torch.Generator().manual_seed(6))
    hits = predict(judge, sample(generator, noise, labels))[0].argmax(1) == labels
    pullover = int(hits[labels == 2].sum())
    low, high = share_interval(pullover, 40)
    row = next(line for line in r.out.splitlines() if "Pullover" in line)
    assert f"{100 * pullover / 40:.1f}% ({100 * low:.1f}-{100 * high:.1f})" in row
    assert sum("%" in line for line in r.out.splitlines()[2:]) == 3  # Pullover, Bag, all


def test_cgan_sample_scores_what_train_gan_scored_one_seed_on(cli, graded, tmp_path):
    """train-gan --seed S draws its class noise from S + 2, cgan-sample --seed S from S + 1: the same 10,000 samples."""
    root, _ = graded
    judged = json.loads((root / "cgan" / "metrics.json").read_text())["judge_quality"]
    r = cli("cgan-sample", "--generator", root / "cgan", "--judge", root / "judge", "--seed", "1", "--out",
            tmp_path / "grid.png")
    assert r.code == 0, r.err
    for name, share in judged["conditional_accuracy_per_class"].items():
        low, high = judged["conditional_accuracy_interval_per_class"][name]
        row = next(line for line in r.out.splitlines() if f" {name} " in line)
        assert f"{100 * share:.1f}% ({100 * low:.1f}-{100 * high:.1f})" in row, (name, row)


def test_share_intervals_are_wilsons():
    # Wilson's bounds are the shares p whose normal test does not reject the observed share h: (h - p)^2 equals
    # z^2 p (1 - p) / n at each bound (z = 1.96), and the interval holds h
    for hits, n in ((0, 10), (3, 10), (10, 10), (63, 100), (630, 1000), (1, 10_000)):
        low, high = share_interval(hits, n)
        h = hits / n
        assert 0 <= low <= h <= high <= 1
        for bound in (low, high):
            assert (h - bound) ** 2 == pytest.approx(1.96**2 * bound * (1 - bound) / n, abs=1e-12)
    assert share_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)  # the textbook value for 0 of 10
    # a share near 60% is known to about +-3 points from 1,000 samples, +-10 from 100
    assert share_interval(600, 1000)[1] - share_interval(600, 1000)[0] == pytest.approx(0.0604, abs=1e-3)
    assert share_interval(60, 100)[1] - share_interval(60, 100)[0] == pytest.approx(0.1880, abs=1e-3)


def test_mismatch_needs_a_conditional_gan_and_graders_need_images(cli, graded, tmp_path):
    root, data = graded
    assert_usage_error(cli("train-gan", "--data", data, "--mismatch", "--out", tmp_path / "a", *TINY_GAN),
                       "--conditional")
    assert_usage_error(cli("train-gan", "--dataset", "ring", "--judge", root / "judge", "--out", tmp_path / "b"),
                       "--dataset ring")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


class Recorder(Discriminator):
    """A discriminator that keeps every batch (and labels) it is shown."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def forward(self, images, labels=None):
        self.seen.append((images.detach().clone(), None if labels is None else labels.clone()))
        return super().forward(images, labels)


class Images:
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def epoch(self, batch_size, rng):
        yield self.images, self.labels

    def items_per_epoch(self, batch_size):
        return len(self.images)


@pytest.mark.parametrize("mismatch", [False, True])
def test_the_matching_aware_d_sees_real_images_under_wrong_labels_as_fakes(mismatch):
    torch.manual_seed(0)
    generator, discriminator = Generator(4, (8, 8, 8), classes=10), Recorder((8, 8, 8), classes=10)
    real, labels = torch.rand(6, 784) * 2 - 1, torch.tensor([0, 1, 2, 3, 9, 9])
    loss = make_loss("vanilla")
    list(gan_training(generator=generator, discriminator=discriminator, loss=loss, source=Images(real, labels),
                      config=GanConfig(epochs=1, batch_size=6, mismatch=mismatch, conditional=True),
                      optimizers=make_optimizers(generator, discriminator, loss.optimizer, 1e-3, 1e-3),
                      rng=torch.Generator().manual_seed(0), device=torch.device("cpu"), precision="fp32"))
    shown, shown_labels = discriminator.seen[0]  # the D step's one batch
    assert len(shown) == (18 if mismatch else 12)
    assert torch.equal(shown[:6], real) and torch.equal(shown_labels[:12], torch.cat([labels, labels]))
    if mismatch:
        assert torch.equal(shown[12:], real)  # the real images again...
        assert (shown_labels[12:] != labels).all() and shown_labels[12:].max() < 10  # ...under a wrong label


def test_the_report_gives_the_judges_numbers_and_where_the_graders_disagree(cli, tmp_path):
    art = tmp_path / "artifacts"

    def write(folder, experiment, metrics):
        (art / folder).mkdir(parents=True, exist_ok=True)
        (art / folder / "config.json").write_text(json.dumps({"experiment": experiment, "config": {},
                                                             "command": ["hw3cli", experiment]}))
        (art / folder / "metrics.json").write_text(json.dumps(metrics))

    classes = ["T-shirt/top", "Pullover", "Shirt"]
    write("gan/judge", "judge", {"test_accuracy": 0.9234, "epochs": [{"epoch": 1}], "confusion": [[1]],
                                 "per_class_accuracy": dict(zip(classes, (0.9, 0.88, 0.71)))})
    graded = {"kl_from_uniform": 0.1, "classes_over_5pct": 3, "inception_score": 2.0, "frechet_distance": 5.0}
    write("gan/cgan-vanilla", "train-gan", {
        "loss": "vanilla", "epochs": [{"epoch": 1, "g_loss": 1.0, "d_loss": 1.0, "real_score": 0.5,
                                       "fake_score": 0.5}], "sample_diversity": 0.2, "real_diversity": 0.3,
        "summary": "cgan ran",
        "quality": {**graded, "conditional_accuracy": 0.9,
                    "conditional_accuracy_per_class": dict(zip(classes, (0.95, 0.9, 0.85)))},
        "judge_quality": {**graded, "conditional_accuracy": 0.8,
                          "conditional_accuracy_per_class": dict(zip(classes, (0.9, 0.55, 0.95)))}})
    row = {**graded, "chi2_p_value": 0.5}
    (art / "gan" / "histograms").mkdir(parents=True)
    (art / "gan" / "histograms" / "histograms.json").write_text(json.dumps({
        "rows": {"real test images": row, "vanilla": row, "wgan-clip0.01": {**row, "kl_from_uniform": 0.4}},
        "judge_rows": {"real test images": row, "vanilla": {**row, "kl_from_uniform": 0.2},
                       "wgan-clip0.01": {**row, "kl_from_uniform": 0.3}},
        "agreement": {"real test images": 0.9, "vanilla": 0.8, "wgan-clip0.01": 0.6}}))
    (art / "gan" / "toy").mkdir(parents=True)
    (art / "gan" / "toy" / "summary.json").write_text(json.dumps({"ring": {"vanilla": {
        "modes": 8, "seeds": 3, "high_quality_fraction": 0.5, "reverse_kl": 0.1, "modes_recovered": 2.0}}}))
    r = cli("report", "--artifacts", art, "--out", art / "REPORT.md")
    assert r.code == 0, r.err
    text = (art / "REPORT.md").read_text()
    assert "Test accuracy 92.34% (lowest class: Shirt, 71.00%)" in text
    assert "| class | conditional accuracy (the judge) | conditional accuracy (the classifier) |" in text
    assert "| Pullover | 55.00% | 90.00% |" in text
    assert "By the judge: 80.00% of the samples show the class they were asked for; the lowest is Pullover at " \
           "55.00%; below 60%: Pullover." in text
    assert "By the classifier: 90.00%" in text and "every class is at least 60%" in text
    assert "disagree most on wgan-clip0.01: they put 40.00% of its samples in different classes (on real test " \
           "images: 10.00%)" in text
    assert "labelled by the judge, the class-histogram KL from uniform is 0.200 for the vanilla GAN; against it: " \
           "wgan-clip0.01 0.300 (not lower)" in text
    (art / "gan" / "histograms" / "histograms.json").write_text(json.dumps({
        "rows": {"real test images": row}, "judge_rows": {"real test images": {"counts": "many"}},
        "agreement": {"real test images": 0.9}}))
    assert_usage_error(cli("report", "--artifacts", art, "--out", art / "REPORT.md"), "histograms.json")
    (art / "gan" / "histograms" / "histograms.json").write_text(json.dumps({
        "rows": {"real test images": row}, "judge_rows": {"real test images": row},
        "agreement": {"real test images": 0.9}}))

    # with 95% intervals (recorded since there are 1,000 samples of each class): the words follow them, both ways
    def report_with(shares, intervals, samples=3000):
        cgan = json.loads((art / "gan" / "cgan-vanilla" / "metrics.json").read_text())
        cgan["judge_quality"] = {**graded, "conditional_accuracy": 0.9, "conditional_samples": samples,
                                 "conditional_accuracy_per_class": dict(zip(classes, shares)),
                                 "conditional_accuracy_interval_per_class": dict(zip(classes, intervals))}
        (art / "gan" / "cgan-vanilla" / "metrics.json").write_text(json.dumps(cgan))
        return cli("report", "--artifacts", art, "--out", art / "REPORT.md")

    def judge_sentence():
        return next(line for line in (art / "REPORT.md").read_text().splitlines() if line.startswith("By the judge"))

    assert report_with((0.95, 0.63, 0.61), ([0.94, 0.96], [0.60, 0.66], [0.58, 0.64])).code == 0
    assert judge_sentence() == (
        "By the judge: 90.00% of the samples show the class they were asked for; the lowest is Shirt at 61.00% (95% "
        "interval 58.00%-64.00%, from 1,000 samples of each class); every class is at least 60%, though the 95% "
        "interval of Shirt reaches below 60%.")
    assert report_with((0.95, 0.58, 0.61), ([0.94, 0.96], [0.55, 0.61], [0.58, 0.64])).code == 0
    assert judge_sentence().endswith(
        "the lowest is Pullover at 58.00% (95% interval 55.00%-61.00%, from 1,000 samples of each class); below 60%: "
        "Pullover, though the 95% interval of Pullover reaches 60% or more; the 95% interval of Shirt reaches below "
        "60%.")
    assert report_with((0.62, 0.63, 0.61), ([0.59, 0.65], [0.60, 0.66], [0.58, 0.64])).code == 0
    assert judge_sentence().endswith("every class is at least 60%, though the 95% intervals of T-shirt/top and Shirt "
                                     "reach below 60%.")
    assert report_with((0.95, 0.9, 0.8), ([0.94, 0.96], [0.89, 0.91], [0.79, 0.81])).code == 0
    assert judge_sentence().endswith("(95% interval 79.00%-81.00%, from 1,000 samples of each class); every class "
                                     "is at least 60%.")
    before = (art / "REPORT.md").read_bytes()
    for shares, intervals, samples, words in (
            ((0.95, 0.63, 0.61), ([0.94, 0.96], [0.60, "x"], [0.58, 0.64]), 3000,
             "judge_quality.conditional_accuracy_interval_per_class.Pullover[1]"),
            ((0.95, 0.63, 0.61), ([0.94, 0.96], [0.60, 0.66]), 3000, "conditional_accuracy_interval_per_class"),
            ((0.95, 0.63, 0.61), ([0.94, 0.96], [0.6], [0.58, 0.64]), 3000, "conditional_accuracy_interval_per_class"),
            ((0.95, 0.63, 0.61), ([0.94, 0.96], [0.70, 0.80], [0.58, 0.64]), 3000, "around its share"),
            ((0.95, float("nan"), 0.61), ([0.94, 0.96], [0.60, 0.66], [0.58, 0.64]), 3000, "between 0 and 1"),
            ((0.95, 0.63, 0.61), ([0.94, 0.96], [0.60, 0.66], [0.58, 0.64]), 2, "conditional_samples")):
        assert_usage_error(report_with(shares, intervals, samples), "cgan-vanilla", words)
        assert (art / "REPORT.md").read_bytes() == before


def test_with_the_class_loss_d_learns_to_read_the_class_from_the_image_alone(cli, graded, tmp_path):
    """AC-GAN: D's class logits see the image with its label input blanked, so they must come from the pixels."""
    root, data = graded
    run = tmp_path / "acgan"
    assert cli("train-gan", "--data", data, "--out", run, "--conditional", "--class-loss", "1", "--epochs", "6",
               "--lr", "1e-3", "--g-hidden", "8,16,32", "--d-hidden", "64,32,16", "--samples", "10").code == 0
    discriminator = load_discriminator(run)
    assert discriminator.args["outputs"] == 11
    fashion = load_fashion_mnist(data)
    with torch.no_grad():
        logits = discriminator.class_logits(fashion.test_images.reshape(-1, 784).float() / 127.5 - 1)
    assert float((logits.argmax(1) == fashion.test_labels).float().mean()) >= 0.9
    # the label input plays no part in the class logits
    d = Discriminator((8, 8, 8), classes=10, outputs=11)
    x = torch.rand(4, 784)
    assert torch.equal(d.class_logits(x), d.net(torch.cat([x, torch.zeros(4, 10)], 1))[:, 1:])
    assert_usage_error(cli("train-gan", "--data", data, "--class-loss", "1", "--out", tmp_path / "x", *TINY_GAN),
                       "--conditional")


def test_compare_gan_adds_each_graders_columns(cli, graded, tmp_path):
    root, _ = graded
    assert cli("compare-gan", root / "gan", root / "cgan", "--out", tmp_path / "cmp").code == 0
    table = (tmp_path / "cmp" / "comparison.md").read_text().splitlines()
    header = next(line for line in table if line.startswith("| run |"))
    assert header.endswith("| Frechet distance (judge) | class KL (judge) | coverage (judge) | density (judge) | "
                           "Frechet distance (classifier) | class KL (classifier) | coverage (classifier) | "
                           "density (classifier) |")
    judged = json.loads((root / "cgan" / "metrics.json").read_text())["judge_quality"]
    assert next(line for line in table if line.startswith("| gan |")).endswith(" |" + " - |" * 8)
    assert (f"| {judged['frechet_distance']:.2f} | {judged['kl_from_uniform']:.3f} | {judged['coverage']:.3f} | "
            f"{judged['density']:.3f} |") in next(line for line in table if line.startswith("| cgan |"))
    assert 0 <= judged["coverage"] <= 1 and len(judged["coverage_per_class"]) == 10


def test_ema_is_what_is_shown_and_saved_while_g_trains_as_before(cli, graded, tmp_path, monkeypatch):
    root, data = graded
    assert cli("train-gan", "--data", data, "--out", tmp_path / "plain", *TINY_GAN).code == 0
    original, weights = gan_experiment.gan_training, []

    def recorded(*, generator, **kwargs):  # G's own weights after every generator step
        for record in original(generator=generator, **kwargs):
            if record["event"] == "iteration":
                weights.append({k: v.detach().clone() for k, v in generator.state_dict().items()})
            yield record

    monkeypatch.setattr(gan_experiment, "gan_training", recorded)
    assert cli("train-gan", "--data", data, "--out", tmp_path / "ema", "--ema", "0.9", *TINY_GAN).code == 0
    plain, ema = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("plain", "ema"))
    assert ema["iterations"] == plain["iterations"]  # the average takes no part in training
    d_plain, d_ema = (load_file(tmp_path / r / "discriminator.safetensors") for r in ("plain", "ema"))
    assert all(torch.equal(d_plain[k], d_ema[k]) for k in d_plain)
    trained = load_file(tmp_path / "plain" / "generator.safetensors")  # what G itself became, without the average
    assert all(torch.equal(weights[-1][k], v) for k, v in trained.items())
    expected = dict(weights[0])  # the first step copies G; then e <- 0.9 e + 0.1 G
    for step in weights[1:]:
        expected = {k: 0.9 * expected[k] + 0.1 * step[k] for k in expected}
    saved = load_file(tmp_path / "ema" / "generator.safetensors")
    assert len(weights) > 3 and all(torch.allclose(saved[k], expected[k], atol=1e-6) for k in saved)
    assert not torch.equal(saved["net.0.weight"], weights[-1]["net.0.weight"])


def test_histogram_and_cgan_sample_take_a_device(cli, graded, tmp_path):
    root, data = graded
    r = cli("histogram", "--generator", root / "gan", "--generator", root / "cgan", "--classifier", root / "clf",
            "--judge", root / "judge", "--samples", "100", "--data", data, "--out", tmp_path / "hist", "--prdc-samples",
            "300", "--device", "cpu")
    assert r.code == 0, r.err
    assert (tmp_path / "hist" / "histograms.json").read_text() == (root / "hist" / "histograms.json").read_text()
    r = cli("cgan-sample", "--generator", root / "cgan", "--samples", "1", "--device", "cpu", "--out",
            tmp_path / "grid.png")
    assert r.code == 0, r.err
    if not torch.cuda.is_available():
        assert_usage_error(cli("cgan-sample", "--generator", root / "cgan", "--device", "cuda", "--out",
                               tmp_path / "gpu.png"), "cuda")
        assert not (tmp_path / "gpu.png").exists()


def test_the_report_shows_each_graders_fidelity_beside_its_calibration(cli, graded, tmp_path):
    import shutil

    root, _ = graded
    art = tmp_path / "artifacts"
    shutil.copytree(root / "hist", art / "gan" / "histograms")
    assert cli("report", "--artifacts", art, "--out", art / "REPORT.md").code == 0
    report = (art / "REPORT.md").read_text()
    fidelity = json.loads((root / "hist" / "histograms.json").read_text())["fidelity"]
    for grader in ("classifier", "judge"):
        assert f"Fidelity and diversity in the {grader}'s features" in report
        calibration = fidelity[grader]["real train images"]
        assert f"| real train images | {calibration['precision']:.3f} | {calibration['recall']:.3f} |" in report


def test_the_judge_and_the_classifier_name_the_precision_they_trained_in(cli, tmp_path):
    data = synthetic_fashion(tmp_path / "data", n_train=300, n_test=50)
    for command, extra in (("judge", ["--batch-size", "64"]), ("classify", ["--from-scratch"])):
        r = cli(command, "--data", data, "--out", tmp_path / command, "--epochs", "1", "--validation", "50", *extra)
        assert r.code == 0, r.err
        chosen = json.loads((tmp_path / command / "metrics.json").read_text())["precision"]
        assert f" s in {chosen} -> " in r.out, r.out
