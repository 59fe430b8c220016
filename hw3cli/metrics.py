"""Sample-quality numbers for generators, measured with a trained Fashion-MNIST classifier: the assignment's
(fine-tuned from a GAN's discriminator) or the judge (a CNN trained from scratch, models/judge.py).

- class histogram statistics: KL divergence of the predicted-class distribution from uniform (0 perfect,
  ln 10 total collapse onto one class), chi-square against uniform with its p-value, classes holding >= 1%
  and >= 5% of the samples;
- Frechet distance between Gaussian fits of classifier features (FID with our classifier instead of
  Inception: comparable across our runs, not with published FIDs);
- classifier-based inception score exp(E_x KL(p(y|x) || p(y))): 1 for one class, 10 for confident, balanced;
- for a conditional generator, the share of samples classified as the class they were asked for, per class with
  Wilson's 95% interval, on a draw of its own (CONDITIONAL_PER_CLASS samples of each class);
- improved precision and recall, density and coverage (prdc) of the grader's features: fidelity (are the samples
  like real ones?) apart from diversity (are all real kinds reached?), with coverage per class.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from hw3cli.errors import Hw3Error
from hw3cli.models.gan import Generator, load_classifier
from hw3cli.models.judge import load_judge
from hw3cli.train.fashion_classifier import predict
from hw3cli.train.gan_loop import sample


def histogram_stats(counts: torch.Tensor) -> dict:
    counts = counts.double()
    n, k = counts.sum(), len(counts)
    p = counts / n
    nonzero = p > 0
    kl = float((p[nonzero] * (p[nonzero] * k).log()).sum())
    expected = n / k
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    return {
        "counts": [int(c) for c in counts.tolist()],
        "kl_from_uniform": kl,
        "chi2": chi2,
        "chi2_p_value": chi2_sf(chi2, k - 1),
        "classes_over_1pct": int((p >= 0.01).sum()),
        "classes_over_5pct": int((p >= 0.05).sum()),
    }


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for a chi-square variable with `dof` degrees of freedom (upper regularised gamma)."""
    return float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64),
                                         torch.tensor(statistic / 2, dtype=torch.float64)))


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussian fits of two feature sets."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    w, v = torch.linalg.eigh(cov_a)
    root_a = v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T
    # Tr((S_a S_b)^(1/2)) = sum of square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2) (symmetric PSD).
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * middle)


def inception_score(probabilities: torch.Tensor) -> float:
    p = probabilities.double().clamp(min=1e-12)
    marginal = p.mean(0, keepdim=True)
    return float(math.exp((p * (p.log() - marginal.log())).sum(1).mean()))


def measure_predictions(probs: torch.Tensor, features: torch.Tensor, real_features: torch.Tensor | None) -> dict:
    """Histogram statistics and inception score from a grader's class probabilities of images, and the Frechet
    distance of their features (see predict) to `real_features`."""
    stats = histogram_stats(torch.bincount(probs.argmax(1), minlength=probs.shape[1]))
    stats["inception_score"] = inception_score(probs)
    if real_features is not None:
        stats["frechet_distance"] = frechet_distance(features, real_features)
    return stats


T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}  # Student's t


def mean_interval(values: list[float]) -> tuple[float, float | None, float | None]:
    """Mean and 95% interval (Student's t) over seeds; no interval from one seed."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None, None
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = T95.get(len(values) - 1, 1.96) * spread / math.sqrt(len(values))
    return mean, mean - half, mean + half


PRDC_BLOCK_BYTES = 64 * 2**20  # the largest block of distances held at once
PRDC_MAX = 100_000  # points a side: the distances grow with the square, and 10,000 already separate the variants


def _radii(features: torch.Tensor, k: int, rows: int) -> torch.Tensor:
    """Each point's distance to its k-th nearest neighbour among the others (the radius of its ball)."""
    return torch.cat([torch.cdist(block, features).topk(k + 1, dim=1, largest=False).values[:, k]
                      for block in features.split(rows)])


def prdc(real: torch.Tensor, fake: torch.Tensor, real_labels: torch.Tensor | None = None, class_names=(),
         k_pr: int = 3, k_dc: int = 5) -> dict:
    """Fidelity and diversity of `fake` features against `real` ones, as PyTorch-StudioGAN and the reference code
    (clovaai/generative-evaluation-prdc) compute them: improved precision and recall (Kynkaanniemi et al. 2019,
    each point's ball reaching its k_pr-th neighbour) and density and coverage (Naeem et al. 2020, k_dc). Coverage
    is the share of real points whose ball holds a generated one; given the real points' labels, also per class (a
    continuous "modes covered"). Distances are taken in blocks of at most PRDC_BLOCK_BYTES, never all at once."""
    if not (k_dc < len(real) <= PRDC_MAX and k_pr < len(fake) <= PRDC_MAX):
        raise Hw3Error(f"precision, recall, density and coverage take {max(k_pr, k_dc) + 1:,} to {PRDC_MAX:,} "
                       f"points a side, not {len(real):,} real and {len(fake):,} generated")
    dtype = torch.promote_types(torch.promote_types(real.dtype, fake.dtype), torch.float32)
    real, fake = real.to(dtype), fake.to(dtype)
    rows = max(1, PRDC_BLOCK_BYTES // (real.element_size() * max(len(real), len(fake))))
    real_pr, real_dc, fake_pr = _radii(real, k_pr, rows), _radii(real, k_dc, rows), _radii(fake, k_pr, rows)
    fake_in_real = torch.zeros(len(fake), dtype=torch.bool)
    fake_balls = torch.zeros(len(fake), dtype=torch.int64)
    real_in_fake, covered = [], []
    for start in range(0, len(real), rows):
        distance = torch.cdist(real[start:start + rows], fake)
        fake_in_real |= (distance < real_pr[start:start + rows, None]).any(0)
        fake_balls += (distance < real_dc[start:start + rows, None]).sum(0)
        real_in_fake.append((distance < fake_pr[None, :]).any(1))
        covered.append(distance.min(1).values < real_dc[start:start + rows])
    covered = torch.cat(covered)
    result = {"precision": float(fake_in_real.double().mean()),
              "recall": float(torch.cat(real_in_fake).double().mean()),
              "density": int(fake_balls.sum()) / (k_dc * len(fake)), "coverage": float(covered.double().mean())}
    if real_labels is not None:
        result["coverage_per_class"] = {name: float(covered[real_labels == c].double().mean())
                                        for c, name in enumerate(class_names) if (real_labels == c).any()}
    return result


def load_graders(classifier_dir: Path | None, judge_dir: Path | None) -> dict:
    """The graders given: {"classifier": the assignment's classifier, "judge": the judge}, each only if its run
    folder is given."""
    return {name: load(folder) for name, folder, load in (("classifier", classifier_dir, load_classifier),
                                                          ("judge", judge_dir, load_judge)) if folder is not None}


# Samples of each class behind a conditional accuracy. A class's share near 60% is then known to about +-3 points
# (95%); with 100 it was +-10, and three fresh draws of 100 of one generator's Pullovers read 55%, 65% and 69%.
CONDITIONAL_PER_CLASS = 1000


def share_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's interval (95% for z = 1.96) for a share of hits out of n: it stays inside [0, 1], and is not empty
    at 0 or n hits, where the normal approximation is."""
    p, z2 = hits / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def class_draw(classes: torch.Tensor, per_class: int, noise_dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise and labels a conditional accuracy is measured on: `per_class` samples of each of `classes`, the
    classes taken in turn, the noise drawn from `seed`."""
    labels = classes[torch.arange(per_class * len(classes)) % len(classes)]
    return torch.randn(len(labels), noise_dim, generator=torch.Generator().manual_seed(seed)), labels


def conditional_accuracy(classifier, images01: torch.Tensor, labels: torch.Tensor, class_names) -> dict:
    """The share of samples the classifier assigns to the class they were asked for, overall and per class, with
    each class's 95% interval and the number of samples behind it all."""
    probs, _ = predict(classifier, images01)
    labels = labels.cpu()
    hit = probs.argmax(1).cpu() == labels
    per_class, interval = {}, {}
    for c in labels.unique().tolist():
        hits, n = int(hit[labels == c].sum()), int((labels == c).sum())
        per_class[class_names[c]] = hits / n
        interval[class_names[c]] = list(share_interval(hits, n))
    return {"conditional_accuracy": int(hit.sum()) / len(hit), "conditional_accuracy_per_class": per_class,
            "conditional_accuracy_interval_per_class": interval, "conditional_samples": len(labels)}


def describe_conditional(q: dict) -> str:
    """'95.5% (lowest: Pullover 63.0%, 95% interval 60.0-65.9%, from 1,000 samples of each class)', from
    conditional_accuracy's numbers."""
    per_class = q["conditional_accuracy_per_class"]
    worst = min(per_class, key=per_class.get)
    low, high = q["conditional_accuracy_interval_per_class"][worst]
    return (f"{100 * q['conditional_accuracy']:.1f}% (lowest: {worst} {100 * per_class[worst]:.1f}%, 95% interval "
            f"{100 * low:.1f}-{100 * high:.1f}%, from {q['conditional_samples'] // len(per_class):,} samples of each "
            "class)")


class SampleQuality:
    """Quality of a generator's samples as `grader` (the classifier or the judge) sees them, against its features
    of `n` real test images; the noise is fixed (seed + 1; seed + 2 for a conditional G's accuracy), so every
    measurement of a run compares like with like, and every grader of a run sees the same samples."""

    def __init__(self, grader, data, noise_dim: int, seed: int, class_names, n: int = 1000,
                 per_class: int = CONDITIONAL_PER_CLASS):
        self.grader, self.class_names = grader, class_names
        self.noise = torch.randn(n, noise_dim, generator=torch.Generator().manual_seed(seed + 1))
        # a conditional G's accuracy comes from a larger draw of its own, `per_class` samples of each class
        self.class_noise, self.class_labels = class_draw(torch.arange(len(class_names)), per_class, noise_dim,
                                                         seed + 2)
        _, self.real_features = predict(self.grader, data.test_images[:n].float() / 255)
        self.real_labels = data.test_labels[:n]
        _, train_features = predict(self.grader, data.train_images[:n].float() / 255)
        self.floor = {"frechet_distance_train_vs_test": frechet_distance(train_features, self.real_features),
                      "fidelity_train_vs_test": self.fidelity(train_features)}

    def fidelity(self, features: torch.Tensor) -> dict:
        """Precision, recall, density and coverage (per class too) against the real test images."""
        return prdc(self.real_features, features, self.real_labels, self.class_names)

    def measure(self, generator: Generator) -> dict:
        device = next(generator.parameters()).device
        labels = torch.arange(len(self.noise)) % generator.classes if generator.classes else None
        images = sample(generator, self.noise.to(device), labels.to(device) if labels is not None else None)
        probs, features = predict(self.grader, images)
        stats = {**measure_predictions(probs, features, self.real_features), **self.fidelity(features)}
        if generator.classes:
            images = sample(generator, self.class_noise.to(device), self.class_labels.to(device))
            stats.update(conditional_accuracy(self.grader, images, self.class_labels, self.class_names))
        return stats
