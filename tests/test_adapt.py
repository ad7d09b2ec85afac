"""Domain adaptation: AdaBN, gradient reversal, DANN, pseudo-labels, self-training, the proxy
A-distance and the notebook-05 runner, each checked against what it must do."""
import copy
import math

import pytest
import torch
from torch import nn

from tlcourse import get_profile
from tlcourse.adapt import (AdaptSettings, GradientReversal, adabn, dann_losses, domain_classifier,
                            ganin_schedule, project_2d, proxy_a_distance, pseudo_label, run_adaptation,
                            self_train, threshold_statistics, train_dann)
from tlcourse.experiments import Settings, run_one
from tlcourse.models import SmallCNN
from tlcourse.train import evaluate
from tlcourse.tasks import digits_task, fonts_to_handwriting_task

SMOKE = get_profile("smoke")


def toy_domain(n: int, shift: float, seed: int):
    """(n, 1, 16, 16) images whose class (0-2) is which third of the rows is bright, on a
    background of brightness ``shift``: two shifts make two domains with the same classes.
    (16 pixels, not fewer: the SmallCNN's last block then still has 2x2 values per channel, so
    BatchNorm can train on a last batch of one image.)"""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = shift + 0.1 * torch.rand(n, 1, 16, 16, generator=gen)
    for c in range(3):
        images[labels == c, :, 5 * c:5 * c + 4] += 0.5
    return images.clamp(0, 1), labels


def small_cnn(seed: int = 0) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(num_classes=3, width=4)


# --- AdaBN -------------------------------------------------------------------------------------

def one_bn_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, bias=False), nn.BatchNorm2d(3), nn.ReLU())


def test_adabn_sets_the_target_statistics_and_changes_no_weight():
    model = one_bn_model()
    weights = {k: v.clone() for k, v in model.named_parameters()}
    target = 0.5 + 0.3 * torch.rand(40, 1, 8, 8)
    with torch.no_grad():
        activations = model[0](target)  # what the BatchNorm layer sees
    adabn(model, target, batch_size=64)  # one batch: the statistics are exactly this batch's
    bn = model[1]
    torch.testing.assert_close(bn.running_mean, activations.mean((0, 2, 3)))
    torch.testing.assert_close(bn.running_var, activations.var((0, 2, 3), unbiased=True))
    assert all(torch.equal(p, weights[k]) for k, p in model.named_parameters()), "a weight changed"
    assert all(p.grad is None for p in model.parameters()), "AdaBN must not take a gradient step"
    assert not model.training and not bn.training
    assert bn.momentum == 0.1  # the layer's own momentum is given back


def test_adabn_averages_batches_with_equal_weight():
    model = one_bn_model()
    model[1].running_mean.fill_(5.0)  # stale source statistics: must not survive
    target = torch.rand(60, 1, 8, 8)
    adabn(model, target, batch_size=20)  # three equal batches: their mean is the overall mean
    with torch.no_grad():
        expected = model[0](target).mean((0, 2, 3))
    torch.testing.assert_close(model[1].running_mean, expected)
    assert model[1].num_batches_tracked.item() == 3


def test_adabn_variance_is_the_whole_sets_even_when_it_is_stored_class_by_class():
    model = one_bn_model()
    # 4 "classes" of 100 images each, stored one after the other, each at its own brightness:
    # batches taken in order would each hold one class and see almost no variance.
    target = torch.cat([level + 0.05 * torch.rand(100, 1, 8, 8) for level in (0.1, 0.4, 0.7, 1.0)])
    with torch.no_grad():
        whole = model[0](target).var((0, 2, 3), unbiased=True)
    adabn(model, target, batch_size=100)
    torch.testing.assert_close(model[1].running_var, whole, rtol=0.1, atol=1e-6)


def test_adabn_says_when_there_is_no_batchnorm():
    with pytest.raises(ValueError, match="no BatchNorm"):
        adabn(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), torch.rand(3, 1, 2, 2))


# --- Gradient reversal and DANN ----------------------------------------------------------------

def test_gradient_reversal_is_identity_forward_and_negates_scaled_gradients():
    x = torch.randn(5, 4, requires_grad=True)
    upstream = torch.randn(5, 4)
    y = GradientReversal(scale=0.3)(x)
    assert torch.equal(y, x)
    (grad,) = torch.autograd.grad(y, x, upstream)
    torch.testing.assert_close(grad, -0.3 * upstream)


def test_gradient_reversal_leaves_the_layers_after_it_alone():
    x, w = torch.randn(6, 3, requires_grad=True), torch.randn(3, requires_grad=True)
    plain_x, plain_w = torch.autograd.grad((x * w).sum() ** 2, (x, w))
    reversed_x, reversed_w = torch.autograd.grad((GradientReversal(2.0)(x) * w).sum() ** 2, (x, w))
    torch.testing.assert_close(reversed_w, plain_w)  # the domain classifier descends as usual
    torch.testing.assert_close(reversed_x, -2.0 * plain_x)  # the features climb


def test_ganin_schedule_ramps_from_zero_to_one():
    assert ganin_schedule(0.0) == 0.0
    assert ganin_schedule(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert ganin_schedule(1.0) == pytest.approx(1.0, abs=1e-4)
    values = [ganin_schedule(p / 10) for p in range(11)]
    assert values == sorted(values)


def test_dann_reverses_the_domain_gradient_into_the_features_only():
    xs, ys = toy_domain(6, 0.0, 0)
    xt, _ = toy_domain(6, 0.4, 1)
    grads = {}
    for scale in (1.0, -1.0):  # -1: a plain (not reversed) gradient through the same graph
        model = small_cnn().eval()
        torch.manual_seed(0)
        disc = domain_classifier(model.num_features, hidden=8)
        _, domain_loss, _ = dann_losses(model, disc, GradientReversal(scale), xs, ys, xt)
        domain_loss.backward()
        grads[scale] = (model.stem[0].weight.grad.clone(), disc[0].weight.grad.clone())
    torch.testing.assert_close(grads[1.0][0], -grads[-1.0][0])
    torch.testing.assert_close(grads[1.0][1], grads[-1.0][1])


def test_dann_label_loss_reads_only_source_labels():
    model = small_cnn().eval()  # eval: BatchNorm does not mix the two batches' statistics
    disc, reversal = domain_classifier(model.num_features, 8), GradientReversal(1.0)
    xs, ys = toy_domain(6, 0.0, 0)
    label_loss, _, accuracy = dann_losses(model, disc, reversal, xs, ys, toy_domain(4, 0.4, 1)[0])
    other, _, _ = dann_losses(model, disc, reversal, xs, ys, toy_domain(9, 0.9, 2)[0])
    expected = nn.functional.cross_entropy(model(xs), ys)
    torch.testing.assert_close(label_loss, expected)
    torch.testing.assert_close(other, expected)
    assert 0 <= accuracy.item() <= 1


def test_train_dann_follows_the_schedule_learns_and_repeats():
    xs, ys = toy_domain(60, 0.0, 0)
    xt, _ = toy_domain(60, 0.4, 1)
    runs = []
    for _ in range(2):
        model = small_cnn()
        before = copy.deepcopy(model.state_dict())
        history = train_dann(model, (xs, ys), xt, steps=30, batch_size=16, lr=3e-3, hidden=16, seed=1)
        runs.append((model, history))
    model, history = runs[0]
    assert list(history["scale"]) == pytest.approx([ganin_schedule(s / 30) for s in range(30)])
    assert history["label_loss"].iloc[-5:].mean() < history["label_loss"].iloc[:5].mean()
    assert history["domain_accuracy"].between(0, 1).all()
    assert not model.training
    assert not torch.equal(model.stem[0].weight, before["stem.0.weight"])
    assert history.equals(runs[1][1])  # one seed, one run


# --- Pseudo-labels and self-training -----------------------------------------------------------

class Logits(nn.Module):
    """A "model" whose logits are the three pixels of a 1x1x3 image, so confidences are known."""

    def forward(self, x):
        return x.flatten(1)


def test_pseudo_label_keeps_confident_predictions_only():
    images = torch.tensor([[0.9, 0.0, 0.0], [0.1, 0.2, 0.3], [0.0, 0.0, 1.0]]).view(3, 1, 1, 3) * 5
    probabilities = images.flatten(1).softmax(1)
    threshold = 0.9
    indices, labels, confidence = pseudo_label(Logits(), images, threshold)
    expected = torch.nonzero(probabilities.max(1).values >= threshold).flatten()
    assert indices.tolist() == expected.tolist() == [0, 2]
    assert labels.tolist() == [0, 2]
    torch.testing.assert_close(confidence, probabilities.max(1).values[expected])


def test_threshold_statistics_agree_with_pseudo_label():
    images = torch.rand(50, 1, 1, 3) * 4
    table = threshold_statistics(Logits(), images, [0.0, 0.5, 0.7, 0.9])
    for threshold, kept in zip(table["threshold"], table["kept"]):
        assert kept == pytest.approx(len(pseudo_label(Logits(), images, threshold)[0]) / 50)
    assert table["kept"].iloc[0] == 1.0 and table["kept"].is_monotonic_decreasing


def test_self_train_reports_rounds_and_never_trains_on_true_labels():
    xs, ys = toy_domain(45, 0.0, 0)
    xt, yt = toy_domain(30, 0.3, 1)
    results = []
    for reported in (yt, yt[torch.randperm(30, generator=torch.Generator().manual_seed(0))]):
        model = adabn(small_cnn(), xt)
        first = len(pseudo_label(model, xt, 0.4)[0])
        rows = self_train(model, (xs, ys), xt, rounds=2, threshold=0.4, steps_per_round=3,
                          batch_size=16, seed=0, target_labels=reported, test=(xt, yt))
        results.append((model, rows, first))
    (model_a, rows, first), (model_b, _, _) = results
    assert rows["round"].tolist() == [0, 1, 2]
    assert rows["pseudo_labelled"].iloc[1] == first
    assert rows["test_accuracy"].between(0, 1).all()
    assert all(torch.equal(a, b) for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values())), \
        "the labels given for reporting changed the training"
    stats = model_a.stem[1].running_mean.clone()
    torch.testing.assert_close(adabn(model_a, xt).stem[1].running_mean, stats)  # ends on target statistics


def test_self_train_learns_from_its_pseudo_labels():
    xs, ys = toy_domain(30, 0.0, 0)
    xt, _ = toy_domain(30, 0.3, 1)
    states = []
    for threshold in (0.0, 1.01):  # every target image pseudo-labelled, or none
        model = small_cnn()
        rows = self_train(model, (xs, ys), xt, rounds=1, threshold=threshold, steps_per_round=2,
                          batch_size=16, seed=0)
        states.append(model.stem[0].weight.clone())
        assert rows["pseudo_labelled"].iloc[1] == (30 if threshold == 0.0 else 0)
    assert not torch.equal(*states), "pseudo-labelled target images did not change the training"


# --- Measuring the gap -------------------------------------------------------------------------

def test_proxy_a_distance_is_two_for_separate_domains_and_near_zero_for_one():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 5, generator=gen), torch.randn(400, 5, generator=gen)
    assert abs(proxy_a_distance(a, b, seed=0)) < 0.4
    shifted = b.clone()
    shifted[:, 0] += 10.0
    assert proxy_a_distance(a, shifted, seed=0) == pytest.approx(2.0)


def test_project_2d_finds_the_directions_of_largest_spread():
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(300, 6, generator=gen) * torch.tensor([10.0, 4.0, 0.1, 0.1, 0.1, 0.1])
    source, target = project_2d(base[:200], base[200:] + torch.tensor([20.0, 0, 0, 0, 0, 0]))
    assert source.shape == (200, 2) and target.shape == (100, 2)
    both = torch.cat([source, target])
    shifted = torch.cat([base[:200], base[200:] + torch.tensor([20.0, 0, 0, 0, 0, 0])])
    correlation = torch.corrcoef(torch.stack([both[:, 0], shifted[:, 0]]))[0, 1]
    assert abs(correlation) > 0.99
    assert abs(target[:, 0].mean() - source[:, 0].mean()) > 15  # one set of axes for both


# --- The task and the runner -------------------------------------------------------------------

@pytest.fixture(scope="module")
def task():
    return fonts_to_handwriting_task(SMOKE)


def test_task_targets_the_digits_of_notebooks_02_03(task):
    digits = digits_task(SMOKE)
    assert task.source.classes == task.pool.classes == [str(d) for d in range(10)]
    assert torch.equal(task.pool.images, digits.pool.images)
    assert torch.equal(task.test.images, digits.test.images)
    assert len(task.source) + len(task.source_val) == SMOKE.adapt_source_samples
    assert task.source.card.name == "glyphs" and task.pool.card.name == "mnist5k"


def test_settings_defaults_are_the_cpu_profile():
    assert AdaptSettings.for_profile(get_profile("cpu")) == AdaptSettings()


def test_run_adaptation_table(task):
    settings = AdaptSettings.for_profile(SMOKE)
    results = run_adaptation(task, [0], settings, labels_per_class=(1,), progress=False)
    runs = results.runs.set_index("strategy")
    assert list(runs.index) == ["source_only", "adabn", "dann", "self_training", "self_training+labels",
                                "scratch", "finetune_all", "oracle"]
    assert runs["accuracy"].between(0, 1).all()
    assert (runs.loc[["source_only", "adabn", "dann", "self_training"], "labels"] == 0).all()
    assert runs.loc["oracle", "labels"] == len(task.pool)
    assert runs.loc["adabn", "trainable_parameters"] == 0
    same = run_one(task.letters, "scratch", 1, 0, Settings(steps=settings.few_shot_steps))
    assert runs.loc["scratch", "accuracy"] == same["accuracy"]  # the runner of notebooks 02-03
    assert results.rounds["round"].tolist() == list(range(settings.rounds + 1))
    assert set(results.distances["representation"]) == {"source_only", "adabn", "dann", "self_training"}
    assert results.distances["proxy_a_distance"].between(-2, 2).all()
    assert set(results.models) == {"source_only", "adabn", "dann", "self_training"}
    assert evaluate(results.models["adabn"], task.test)["accuracy"] == runs.loc["adabn", "accuracy"]


def test_domain_scatter_draws_both_domains():
    from tlcourse.plots import domain_scatter

    source, target = project_2d(torch.randn(20, 4), torch.randn(10, 4) + 3)
    ax = domain_scatter(source, target, title="before")
    assert [c.get_offsets().shape[0] for c in ax.collections] == [20, 10]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["source", "target"]
