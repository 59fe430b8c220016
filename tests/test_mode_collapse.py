import copy
import json
import math

import pytest
import torch

from hw3cli.metrics import chi2_sf, frechet_distance, histogram_stats, inception_score
from hw3cli.models.gan import Discriminator, Generator
from hw3cli.train.gan_losses import Vanilla
from hw3cli.train.optim import adam
from hw3cli.train.unroll import Lookahead, exact_g_loss, surrogate_g_loss
from tests.conftest import assert_usage_error, interrupt_after_epoch, run_ok, synthetic_fashion

TINY = ["--g-hidden", "16,32,64", "--d-hidden", "64,32,16"]


def test_histogram_metrics_known_values():
    one_class = histogram_stats(torch.tensor([3000, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
    assert one_class["kl_from_uniform"] == pytest.approx(math.log(10))
    assert one_class["classes_over_1pct"] == 1 and one_class["chi2_p_value"] < 1e-300
    uniform = histogram_stats(torch.full((10,), 300))
    assert uniform["kl_from_uniform"] == pytest.approx(0) and uniform["chi2"] == 0 and uniform["chi2_p_value"] == 1
    # Upper-tail critical values of chi-square with 9 degrees of freedom, from the standard table.
    assert chi2_sf(16.919, 9) == pytest.approx(0.05, abs=2e-4)
    assert chi2_sf(21.666, 9) == pytest.approx(0.01, abs=1e-4)
    assert chi2_sf(4.168, 9) == pytest.approx(0.90, abs=1e-3)


def test_frechet_distance_and_inception_score():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 8, generator=g)
    assert abs(frechet_distance(a, a)) < 1e-6
    shifted = a + 3.0
    assert frechet_distance(a, shifted) == pytest.approx(8 * 9.0, rel=1e-6)  # mean shift of 3 in 8 dimensions
    confident = torch.eye(10).repeat(100, 1)
    assert inception_score(confident) == pytest.approx(10, rel=1e-6)
    assert inception_score(torch.full((50, 10), 0.1)) == pytest.approx(1.0)


def tiny_gan(seed=0):
    torch.manual_seed(seed)
    return Generator(4, (6, 6, 6)), Discriminator((6, 6, 6))


def test_surrogate_unrolling_leaves_the_real_discriminator_and_optimizer_untouched():
    generator, discriminator = tiny_gan()
    opt = torch.optim.Adam(discriminator.parameters(), lr=1e-2, betas=(0.5, 0.999))
    loss = Vanilla()
    real, noise = torch.rand(8, 784) * 2 - 1, torch.randn(8, 4)
    d = loss.d_loss(discriminator(real), discriminator(generator(noise).detach()))
    d.backward()
    opt.step()  # give the optimizer some state
    weights = copy.deepcopy(discriminator.state_dict())
    state = copy.deepcopy(opt.state_dict())
    g = torch.Generator().manual_seed(1)
    draw = lambda: (torch.rand(8, 784, generator=g) * 2 - 1, torch.randn(8, 4, generator=g))  # noqa: E731
    discriminator.requires_grad_(False)
    g_loss = surrogate_g_loss(generator, Lookahead(discriminator, opt), loss, 5, draw, noise)
    g_loss.backward()
    for key, value in discriminator.state_dict().items():
        assert torch.equal(value, weights[key])
    after = opt.state_dict()
    for index, s in state["state"].items():
        for name, value in s.items():
            assert torch.equal(after["state"][index][name], value)
    assert all(p.grad is not None for p in generator.parameters())
    # and the look-ahead did change the objective G sees
    assert g_loss.item() != pytest.approx(loss.g_loss(discriminator(generator(noise))).item())


def surrogate_run(generator, lookahead, seed, steps=3, **autocast):
    """The surrogate's G loss and G's gradient from `seed`'s look-ahead batches, under autocast if asked."""
    g = torch.Generator().manual_seed(seed)
    draw = lambda: (torch.rand(8, 784, generator=g) * 2 - 1, torch.randn(8, 4, generator=g))  # noqa: E731
    noise = torch.randn(8, 4, generator=g)
    generator.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(autocast), **autocast):
        g_loss = surrogate_g_loss(generator, lookahead, Vanilla(), steps, draw, noise)
    g_loss.backward(inputs=list(generator.parameters()))
    return g_loss.detach(), [p.grad.clone() for p in generator.parameters()]


def test_surrogate_lookahead_steps_score_with_their_updated_weights_under_bf16_autocast():
    # G's step runs the look-ahead inside one autocast region, whose cache of bf16 weight copies does not see the
    # copy of D's in-place updates: every step would score with D's weights from before the first.
    generator, discriminator = tiny_gan(5)
    opt = torch.optim.Adam(discriminator.parameters(), lr=5e-2, betas=(0.5, 0.999))
    discriminator.requires_grad_(False)
    cached = surrogate_run(generator, Lookahead(discriminator, opt), 2, cache_enabled=True)
    uncached = surrogate_run(generator, Lookahead(discriminator, opt), 2, cache_enabled=False)
    assert torch.equal(cached[0], uncached[0])
    assert all(torch.equal(a, b) for a, b in zip(cached[1], uncached[1]))


class DeepCopied:
    """The look-ahead as a deep copy of D and of its optimizer's state_dict, made afresh for one G step."""

    def __init__(self, discriminator, optimizer):
        self.discriminator = copy.deepcopy(discriminator)
        self.optimizer = type(optimizer)(self.discriminator.parameters(), **optimizer.defaults)
        self.optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))

    def reset(self):
        pass


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_a_kept_lookahead_gives_what_a_fresh_copy_of_d_and_its_optimizer_gives(optimizer):
    generator, discriminator = tiny_gan(4)
    if optimizer == "adam":  # as the loops build it (fused on the CPU)
        opt = adam(discriminator.parameters(), lr=1e-2, betas=(0.5, 0.999))
    else:  # WGAN's
        opt = torch.optim.RMSprop(discriminator.parameters(), lr=1e-2)
    kept = Lookahead(discriminator, opt)

    def d_step(seed):
        g = torch.Generator().manual_seed(seed)
        real, noise = torch.rand(8, 784, generator=g) * 2 - 1, torch.randn(8, 4, generator=g)
        discriminator.requires_grad_(True)
        opt.zero_grad(set_to_none=True)
        Vanilla().d_loss(discriminator(real), discriminator(generator(noise).detach())).backward()
        opt.step()
        discriminator.requires_grad_(False)

    # after D's first step (the copy has no state yet), after more steps at a scaled learning rate, after D's
    # optimizer state is gone (as before D's first step)
    for seed, change in enumerate([lambda: d_step(10), lambda: (d_step(11), d_step(12)), lambda: opt.state.clear()]):
        change()
        if seed == 1:
            opt.param_groups[0]["lr"] *= 0.3
        weights = copy.deepcopy(discriminator.state_dict())
        loss_kept, grads_kept = surrogate_run(generator, kept, seed)
        loss_fresh, grads_fresh = surrogate_run(generator, DeepCopied(discriminator, opt), seed)
        assert torch.equal(loss_kept, loss_fresh)
        assert all(torch.equal(a, b) for a, b in zip(grads_kept, grads_fresh))
        assert all(torch.equal(v, weights[k]) for k, v in discriminator.state_dict().items())
    assert kept.optimizer.param_groups[0]["lr"] == pytest.approx(3e-3)


def stepped_adam(discriminator, generator, steps=2):
    """D's Adam after a few real steps: moment estimates and a step count to unroll from."""
    opt = torch.optim.Adam(discriminator.parameters(), lr=1e-2, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(7)
    for _ in range(steps):
        real = torch.rand(6, 784, generator=g, dtype=torch.float64) * 2 - 1
        noise = torch.randn(6, 4, generator=g, dtype=torch.float64)
        opt.zero_grad()
        Vanilla().d_loss(discriminator(real), discriminator(generator(noise).detach())).backward()
        opt.step()
    return opt


@pytest.mark.parametrize("unroll_optimizer", ["sgd", "adam"])
def test_exact_unrolling_gradient_differs_from_k0_and_matches_finite_differences(unroll_optimizer):
    generator, discriminator = tiny_gan(3)
    generator.double()
    discriminator.double()
    opt = stepped_adam(discriminator, generator) if unroll_optimizer == "adam" else None
    loss = Vanilla()
    batches = [(torch.rand(6, 784, dtype=torch.float64) * 2 - 1, torch.randn(6, 4, dtype=torch.float64))
               for _ in range(3)]
    noise = torch.randn(6, 4, dtype=torch.float64)

    def objective(k):
        it = iter(batches)
        return exact_g_loss(generator, discriminator, loss, k, 0.5, lambda: next(it), noise, optimizer=opt)

    weight = generator.net[0].weight
    grad_k3 = torch.autograd.grad(objective(3), weight)[0]
    grad_k0 = torch.autograd.grad(objective(0), weight)[0]
    assert (grad_k3 - grad_k0).abs().max() > 1e-6
    eps = 1e-6
    for (i, j) in [(0, 0), (2, 1), (5, 3)]:
        with torch.no_grad():
            weight[i, j] += eps
        up = objective(3).item()
        with torch.no_grad():
            weight[i, j] -= 2 * eps
        down = objective(3).item()
        with torch.no_grad():
            weight[i, j] += eps
        assert grad_k3[i, j].item() == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-9)


def test_exact_adam_unrolling_looks_ahead_exactly_as_d_will_step_and_leaves_d_untouched():
    """The unrolled D is the D that K real Adam steps (on the same batches, from the same moments) would give:
    G is trained against D's actual next weights, not an SGD stand-in. D and its optimizer do not move."""
    generator, discriminator = tiny_gan(5)
    generator.double()
    discriminator.double()
    opt = stepped_adam(discriminator, generator, steps=3)
    weights, state = copy.deepcopy(discriminator.state_dict()), copy.deepcopy(opt.state_dict())
    batches = [(torch.rand(6, 784, dtype=torch.float64) * 2 - 1, torch.randn(6, 4, dtype=torch.float64))
               for _ in range(4)]
    noise = torch.randn(6, 4, dtype=torch.float64)
    it = iter(batches)
    unrolled = exact_g_loss(generator, discriminator, Vanilla(), 4, 0.5, lambda: next(it), noise, optimizer=opt)
    for key, value in discriminator.state_dict().items():
        assert torch.equal(value, weights[key])
    for index, s in opt.state_dict()["state"].items():
        assert all(torch.equal(v, state["state"][index][name]) for name, v in s.items())
    ahead = copy.deepcopy(discriminator)
    ahead_opt = torch.optim.Adam(ahead.parameters(), lr=1e-2, betas=(0.5, 0.999))
    ahead_opt.load_state_dict(state)
    for real, z in batches:  # the same batches, G's samples fed as they are in the unrolled steps
        ahead_opt.zero_grad()
        Vanilla().d_loss(ahead(real), ahead(generator(z).detach())).backward()
        ahead_opt.step()
    expected = Vanilla().g_loss(ahead(generator(noise)))
    assert unrolled.item() == pytest.approx(expected.item(), rel=1e-10)
    # the look-ahead did move D: G's loss against D as it is now differs
    assert Vanilla().g_loss(discriminator(generator(noise))).item() != pytest.approx(expected.item(), rel=1e-6)


def test_the_adam_unroll_refuses_an_optimizer_it_would_unroll_wrongly():
    generator, discriminator = tiny_gan()
    noise = torch.randn(4, 4)
    draw = lambda: (torch.rand(4, 784) * 2 - 1, torch.randn(4, 4))  # noqa: E731
    for optimizer in (torch.optim.AdamW(discriminator.parameters()), torch.optim.Adam(discriminator.parameters(),
                      amsgrad=True), torch.optim.Adam(discriminator.parameters(), weight_decay=1e-4)):
        with pytest.raises(ValueError, match="plain Adam"):
            exact_g_loss(generator, discriminator, Vanilla(), 1, 1e-3, draw, noise, optimizer=optimizer)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny vanilla GAN and a tiny classifier initialised from its D, on the synthetic bar images."""
    root = tmp_path_factory.mktemp("trained")
    data = synthetic_fashion(root / "data", n_train=1200, n_test=300)
    run_ok("train-gan", "--data", data, "--out", root / "gan", "--epochs", "2", *TINY)
    # No shifts: the synthetic classes are bars two rows apart.
    run_ok("classify", "--data", data, "--init-from", root / "gan", "--out", root / "clf", "--epochs", "8",
           "--validation", "200", "--batch-size", "64", "--dropout", "0", "--shift", "0", "--lr", "5e-3")
    return root, data


def test_classifier_learns_the_synthetic_task_from_the_gan_discriminator(trained):
    root, _ = trained
    metrics = json.loads((root / "clf" / "metrics.json").read_text())
    assert metrics["layers_copied"] == 3 and metrics["test_accuracy"] >= 0.95
    for name in ("accuracy.png", "confusion.png", "classifier.safetensors"):
        assert (root / "clf" / name).exists()


def test_histogram_end_to_end(cli, trained, tmp_path):
    root, data = trained
    r = cli("histogram", "--generator", root / "gan", "--classifier", root / "clf", "--samples", "200", "--data", data,
            "--out", tmp_path / "h")
    assert r.code == 0, r.err
    result = json.loads((tmp_path / "h" / "histograms.json").read_text())
    assert set(result["rows"]) == {"real test images", "gan"}
    assert sum(result["rows"]["gan"]["counts"]) == 200
    assert result["rows"]["real test images"]["classes_over_5pct"] >= 8
    assert (tmp_path / "h" / "histograms.png").stat().st_size > 10_000


def test_train_gan_records_quality_with_a_classifier(cli, trained, tmp_path):
    root, data = trained
    r = cli("train-gan", "--data", data, "--out", tmp_path / "g", "--epochs", "2", "--eval-every", "1",
            "--classifier", root / "clf", *TINY)
    assert r.code == 0, r.err
    metrics = json.loads((tmp_path / "g" / "metrics.json").read_text())
    assert all("quality" in e for e in metrics["epochs"])
    assert 1 <= metrics["quality"]["inception_score"] <= 10 and metrics["quality"]["frechet_distance"] >= 0


@pytest.mark.parametrize("mode", ["surrogate", "exact"])
def test_unrolled_runs(cli, trained, tmp_path, mode):
    _, data = trained
    r = cli("train-gan", "--data", data, "--out", tmp_path / mode, "--epochs", "1", "--unroll", "2",
            "--unroll-mode", mode, "--limit", "256", *TINY)
    assert r.code == 0, r.err
    assert json.loads((tmp_path / mode / "config.json").read_text())["config"]["unroll_mode"] == mode
    out = r.out.replace("\n", " ")
    assert f"vanilla, 1 epoch (unrolled {mode}, k = 2):" in out  # the summary names the variant, not only the loss
    assert " 1 epoch in " in out and "epochs" not in out


def test_bad_inputs(cli, trained, tmp_path):
    root, data = trained
    assert_usage_error(cli("histogram", "--generator", root / "clf", "--classifier", root / "clf", "--data", data),
                       "not a train-gan run")
    assert_usage_error(cli("histogram", "--generator", root / "gan", "--classifier", root / "gan", "--data", data),
                       "not a classify run")
    assert_usage_error(cli("histogram", "--generator", root / "gan", "--classifier", root / "clf", "--samples", "0"),
                       "--samples")
    from hw3cli.core.checkpoint import save_checkpoint
    from hw3cli.models.gan import Classifier

    other = tmp_path / "five"
    other.mkdir()
    five = Classifier((8, 8, 8), classes=5)
    save_checkpoint(other / "classifier.safetensors", five.state_dict(), Classifier.kind, five.args)
    assert_usage_error(cli("histogram", "--generator", root / "gan", "--classifier", other, "--data", data),
                       "5 classes")
    assert_usage_error(cli("train-gan", "--data", data, "--unroll", "0"), "--unroll")
    assert_usage_error(cli("train-gan", "--data", data, "--loss", "wgan", "--unroll", "3", "--unroll-mode",
                           "exact"), "exact")
    assert_usage_error(cli("train-gan", "--data", data, "--loss", "mse", "--unroll", "3"), "discriminator")
    assert_usage_error(cli("classify", "--data", data, "--init-from", root / "clf", "--out", tmp_path / "c"),
                       "no discriminator")
    assert cli("train-gan", "--data", data, "--out", tmp_path / "cgan", "--conditional", "--epochs", "1",
               *TINY).code == 0
    assert_usage_error(cli("classify", "--data", data, "--init-from", tmp_path / "cgan", "--out", tmp_path / "c",
                           "--validation", "200"), "does not fit a classifier")


def test_classify_resumes_to_the_same_model(cli, trained, tmp_path, monkeypatch):

    from safetensors.torch import load_file

    import hw3cli.experiments.classify as classify_experiment

    root, data = trained
    args = ("classify", "--data", data, "--init-from", root / "gan", "--epochs", "3", "--validation", "200",
            "--batch-size", "64", "--flip")
    assert cli(*args, "--out", tmp_path / "straight").code == 0
    original = classify_experiment.train_fashion_classifier

    monkeypatch.setattr(classify_experiment, "train_fashion_classifier", interrupt_after_epoch(original, 1))
    assert cli(*args, "--out", tmp_path / "resumed").code == 130
    monkeypatch.setattr(classify_experiment, "train_fashion_classifier", original)
    assert cli(*args, "--out", tmp_path / "resumed", "--resume").code == 0

    assert (tmp_path / "resumed" / "metrics.json").read_bytes() == (tmp_path / "straight" / "metrics.json").read_bytes()
    a = load_file(tmp_path / "resumed" / "classifier.safetensors")
    b = load_file(tmp_path / "straight" / "classifier.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
