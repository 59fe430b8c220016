"""Precision, recall, density and coverage (hw3cli.metrics.prdc) against their definitions: a brute-force reference
on small cases, identical distributions, a generator limited to some classes, and one repeated point."""

import pytest
import torch

from hw3cli import metrics
from hw3cli.errors import Hw3Error
from hw3cli.metrics import prdc


def brute_force(real: torch.Tensor, fake: torch.Tensor, k_pr: int = 3, k_dc: int = 5) -> dict:
    """The definitions, written out point by point (clovaai/generative-evaluation-prdc)."""
    def radius(points, i, k):
        return sorted(float((points[i] - p).norm()) for p in points)[k]  # the k-th neighbour; index 0 is itself

    real_pr = [radius(real, i, k_pr) for i in range(len(real))]
    real_dc = [radius(real, i, k_dc) for i in range(len(real))]
    fake_pr = [radius(fake, j, k_pr) for j in range(len(fake))]
    d = [[float((r - f).norm()) for f in fake] for r in real]
    precision = sum(any(d[i][j] < real_pr[i] for i in range(len(real))) for j in range(len(fake))) / len(fake)
    recall = sum(any(d[i][j] < fake_pr[j] for j in range(len(fake))) for i in range(len(real))) / len(real)
    density = sum(d[i][j] < real_dc[i] for i in range(len(real)) for j in range(len(fake))) / (k_dc * len(fake))
    coverage = sum(min(d[i]) < real_dc[i] for i in range(len(real))) / len(real)
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_small_cases_match_the_definitions_whatever_the_block(monkeypatch, seed):
    g = torch.Generator().manual_seed(seed)
    real, fake = torch.randn(40, 3, generator=g, dtype=torch.float64), torch.randn(33, 3, generator=g) * 1.3 + 0.4
    expected = brute_force(real, fake.double())
    for block_bytes in (8 * 40, 8 * 40 * 7, 2**26):  # one row a block, a few rows, all at once
        monkeypatch.setattr(metrics, "PRDC_BLOCK_BYTES", block_bytes)
        got = prdc(real, fake)
        assert got == pytest.approx(expected, abs=1e-12)


def test_identical_distributions_cover_1_minus_2_to_the_minus_k():
    """Two samples of one distribution: coverage near 1 - 2^-k (0.969 for k = 5) and density near 1, as the
    published calibration (1000-D Gaussians, 10k a side: 0.974 and 1.056)."""
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(3000, 32, generator=g), torch.randn(3000, 32, generator=g)
    got = prdc(real, fake)
    assert got["coverage"] == pytest.approx(1 - 2**-5, abs=0.02)
    assert got["density"] == pytest.approx(1.0, abs=0.08)
    assert got["precision"] == pytest.approx(got["recall"], abs=0.05) and 0.6 < got["precision"] < 1


@pytest.mark.parametrize("m", [1, 3, 7])
def test_a_generator_of_m_of_10_classes_covers_about_m_tenths(m):
    g = torch.Generator().manual_seed(m)
    centres = torch.randn(10, 16, generator=g) * 20
    labels = torch.arange(2000) % 10
    real = centres[labels] + torch.randn(2000, 16, generator=g)
    calibration = prdc(real, centres[labels] + torch.randn(2000, 16, generator=g), labels, [str(c) for c in range(10)])
    fake_labels = torch.arange(2000) % m
    got = prdc(real, centres[fake_labels] + torch.randn(2000, 16, generator=g), labels, [str(c) for c in range(10)])
    assert got["coverage"] == pytest.approx(m / 10 * calibration["coverage"], abs=0.03)
    assert got["density"] == pytest.approx(calibration["density"], rel=0.15)  # the samples are as real as before
    per_class = got["coverage_per_class"]
    assert all(per_class[str(c)] > 0.85 for c in range(m)) and all(per_class[str(c)] == 0 for c in range(m, 10))


def test_a_generator_collapsed_to_one_point_has_no_recall():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(1000, 8, generator=g)
    got = prdc(real, real[:1].repeat(1000, 1))
    assert got["recall"] < 0.01 and got["coverage"] < 0.02


def test_too_many_or_too_few_points_is_one_line():
    with pytest.raises(Hw3Error, match="points a side"):
        prdc(torch.zeros(3, 2), torch.zeros(10, 2))
    with pytest.raises(Hw3Error, match="100,000"):
        prdc(torch.zeros(metrics.PRDC_MAX + 1, 1), torch.zeros(10, 1))
