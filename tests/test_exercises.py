"""Exercise checks: verdicts, partial credit, hints, single-source notebooks, and each question
on right and on typical wrong answers."""
import copy
import importlib
import json
from pathlib import Path

import nbformat
import pytest
import torch

from tlcourse.data import few_shot_subset
from tlcourse.exercises import CORRECT, INCORRECT, NOT_DONE, PARTIAL, EXERCISES, Mistake, Problem, Requirement, questions
from tlcourse.exercises import ex01, ex02, ex03, references
from tlcourse.exercises.notebooks import SolutionMarkerError, make_exercises, split_solution, to_exercise
from tlcourse.exercises.runner import CappedOutput, code_cells
from tlcourse.freeze import apply_bn_policy, param_groups, set_trainable, unfreeze
from tlcourse.models import SmallCNN, replace_head
from tlcourse.pretrain import load_pretrained_cnn
from tlcourse.train import fit, fit_linear_probe

ROOT = Path(__file__).resolve().parents[1]


def _positive(x):
    if x <= 0:
        raise Mistake("x should be positive")


def _even(x):
    if x % 2:
        raise Mistake("x should be even")


def toy(gate=False):
    return Problem(name="q9", exercise="99", title="toy", variables=("x",), points=2,
                   requirements=[Requirement("x is positive", _positive, gate=gate),
                                 Requirement("x is even", _even)],
                   hints=["think of 2", "x = 2"])


def test_statuses_and_partial_credit():
    problem = toy()
    assert problem.evaluate({"x": 2}).status == CORRECT
    verdict = problem.evaluate({"x": 3})
    assert (verdict.status, verdict.points, verdict.feedback) == (PARTIAL, 1.0, ["x should be even"])
    assert problem.evaluate({"x": -1}).points == 0 and problem.evaluate({"x": -1}).status == INCORRECT
    for blank in (None, ...):
        verdict = problem.evaluate({"x": blank})
        assert verdict.status == NOT_DONE and "`x` is not set yet" in verdict.feedback[0]


def test_gate_skips_later_requirements():
    verdict = toy(gate=True).evaluate({"x": -3})
    assert verdict.points == 0
    assert verdict.feedback == ["x should be positive", "1 further check(s) skipped until this is fixed."]


@pytest.fixture
def lenient(monkeypatch):
    """Checks print their verdict without raising, as in a learner's notebook."""
    monkeypatch.delenv("TLCOURSE_STRICT_CHECKS", raising=False)


def test_strict_checks_raise_on_anything_but_correct(monkeypatch, capsys):
    monkeypatch.setenv("TLCOURSE_STRICT_CHECKS", "1")
    toy().check(2)
    with pytest.raises(AssertionError, match="q9: Partly right"):
        toy().check(3)


def test_unexpected_errors_become_feedback_not_tracebacks(capsys, lenient):
    verdict = toy().evaluate({"x": "text"})  # "text" <= 0 raises TypeError inside the check
    assert verdict.status == INCORRECT
    assert verdict.feedback[0].startswith("could not check that x is positive: the answer raised TypeError")
    toy().check("text")
    out = capsys.readouterr().out
    assert "Traceback" not in out and "q9: Not yet right (0/2 points)" in out


def test_check_prints_verdict_and_wrong_arity_advice(capsys, lenient):
    problem = toy()
    problem.check(4)
    assert capsys.readouterr().out.startswith("q9: Correct (2/2 points)")
    problem.check()
    assert "call q9.check(x)" in capsys.readouterr().out


def test_hints_escalate_then_stay_on_the_last(capsys):
    problem = toy()
    problem.hint()
    problem.hint()
    problem.hint()
    problem.hint(7)
    out = capsys.readouterr().out
    assert "hint 1/2 (call hint() again" in out and out.count("hint 2/2:") == 2
    assert "q9 has hints 1 to 2." in out


def test_solution_comes_from_the_solutions_notebook(capsys):
    ex01.q2.solution()
    assert 'set_trainable(frozen_model, ["head"])' in capsys.readouterr().out


def test_split_solution_keeps_indentation_and_checks_markers():
    source = "# q1\nx = None\nif True:\n    ### BEGIN SOLUTION\n    x = 2\n    ### END SOLUTION\nprint(x)"
    exercise, solution = split_solution(source)
    assert solution == "x = 2"
    assert exercise.splitlines()[3:5] == ["    # YOUR CODE HERE", '    raise NotImplementedError('
                                          '"q1: replace this line with your answer, run the cell, '
                                          'then run the check below")']
    assert exercise.endswith("print(x)") and "x = 2" not in exercise
    for broken in ("### BEGIN SOLUTION\nx", "### END SOLUTION", "### BEGIN SOLUTION\n### BEGIN SOLUTION"):
        with pytest.raises(SolutionMarkerError):
            split_solution(broken)


def test_solution_cells_must_name_their_question(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")])
    with pytest.raises(SolutionMarkerError, match="'# qN' line"):
        to_exercise(nb, tmp_path / "01_x.ipynb")


def test_exercises_are_in_sync_with_solutions():
    stale = make_exercises(ROOT / "solutions", ROOT / "exercises", check=True)
    assert stale == [], f"run `tlcourse make-exercises` (out of date: {stale})"


def test_make_exercises_writes_then_reports_in_sync(tmp_path):
    stored = tmp_path / "solutions.json"
    written = make_exercises(ROOT / "solutions", tmp_path / "ex", solutions_file=stored)
    assert len(written) == len(EXERCISES) + 1
    assert make_exercises(ROOT / "solutions", tmp_path / "ex", check=True, solutions_file=stored) == []
    (tmp_path / "ex" / "01_pretraining.ipynb").write_text("{}")
    assert make_exercises(ROOT / "solutions", tmp_path / "ex", check=True, solutions_file=stored) == [
        str(tmp_path / "ex" / "01_pretraining.ipynb")]


def test_every_solutions_notebook_is_a_known_exercise_with_all_questions():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        exercise_nb, solutions = to_exercise(nb, path)
        exercise = nb.metadata["tlcourse"]["exercise"]
        names = [q.name for q in questions(exercise)]
        assert sorted(solutions) == sorted(names) and len(names) >= 3, path.name
        assert all(c.outputs == [] for c in exercise_nb.cells if c.cell_type == "code")
        sources = "\n".join(c.source for c in exercise_nb.cells if c.cell_type == "code")
        assert "BEGIN SOLUTION" not in sources and sources.count("raise NotImplementedError") == len(names)
        for name in names:  # every question is checked in the notebook
            assert f"{name}.check(" in sources and f"{name}.hint()" in sources
    assert json.loads((ROOT / "tlcourse/exercises/solutions.json").read_text()).keys() == EXERCISES.keys()


def test_capped_output_keeps_the_start_and_counts_the_rest():
    out = CappedOutput(cap=10)
    out.write("0123456789abc")
    out.write("more")
    assert out.text() == "0123456789\n[... 7 more characters not kept]"


def test_the_runner_reads_code_cells_as_jupyter_saves_them_and_converts_old_notebooks(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"),
                                         nbformat.v4.new_code_cell("x = 1\nprint(x)"),
                                         nbformat.v4.new_code_cell("")])
    nbformat.write(nb, tmp_path / "v4.ipynb")  # sources on disk as lists of lines
    assert '"x = 1\\n",' in (tmp_path / "v4.ipynb").read_text()
    assert code_cells(tmp_path / "v4.ipynb") == [(1, "x = 1\nprint(x)"), (2, "")]
    old = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[
        nbformat.v3.new_text_cell("markdown", source="# Title"), nbformat.v3.new_code_cell(input="y = 2")])])
    (tmp_path / "v3.ipynb").write_text(nbformat.v3.writes_json(old))
    assert code_cells(tmp_path / "v3.ipynb") == [(1, "y = 2")]


# Each question on the reference answer and on the mistakes learners make.

def pretrained_digit_model():
    model, _ = load_pretrained_cnn()
    replace_head(model, 10)
    return model


def test_ex01_q1_and_q2_find_the_typical_mistakes():
    assert ex01.q1.evaluate({"digit_model": pretrained_digit_model()}).status == CORRECT
    letters_head, _ = load_pretrained_cnn()
    verdict = ex01.q1.evaluate({"digit_model": letters_head})
    assert verdict.status == PARTIAL and "still predicts the 26 source classes" in verdict.feedback[0]
    verdict = ex01.q1.evaluate({"digit_model": SmallCNN(num_classes=10)})
    assert verdict.feedback[0].startswith("stem, block1, block2, block3 no longer hold(s) the pretrained")
    half_frozen = set_trainable(pretrained_digit_model(), ["block3", "head"])
    verdict = ex01.q2.evaluate({"frozen_model": half_frozen})
    assert verdict.points == 1.5 and verdict.feedback == [
        "block3 is still trainable: the exercise asks to freeze everything but the head. "
        "Use set_trainable(model, ['head'])."]
    assert ex01.q2.evaluate({"frozen_model": set_trainable(pretrained_digit_model(), ["head"])}).status == CORRECT


def q3_answers() -> dict:
    """Exercise 01 q3 answered as the solution does: the two probes and their own test accuracies."""
    from tlcourse.data import few_shot_indices
    from tlcourse.train import fit_linear_probe

    task = references.digits()
    labelled = few_shot_indices(task.pool, 1, seed=0)
    answers = {}
    for kind, pretrained in (("pretrained", True), ("random", False)):
        pool, test = task.features(pretrained=pretrained)
        probe = fit_linear_probe(pool[labelled], task.pool.labels[labelled], num_classes=10)
        answers[f"{kind}_probe"] = probe
        answers[f"{kind}_accuracy"] = (probe(test).argmax(1) == task.test.labels).float().mean().item()
    return answers


def test_ex01_q3_measures_the_learners_probes_again():
    answers = q3_answers()
    assert ex01.q3.evaluate(answers).status == CORRECT
    verdict = ex01.q3.evaluate({**answers, "pretrained_accuracy": answers["pretrained_accuracy"] * 100})
    assert verdict.status == INCORRECT and "divide by 100" in verdict.feedback[0]
    # the reference numbers typed in, with the probes swapped: the typed numbers earn nothing
    swapped = {**answers, "pretrained_probe": answers["random_probe"], "random_probe": answers["pretrained_probe"]}
    verdict = ex01.q3.evaluate(swapped)
    assert verdict.points < 1.5 and any("compute it from the probe" in f for f in verdict.feedback)


def test_a_check_leaves_the_learners_random_state_alone(capsys, lenient):
    """A check's reference run seeds every generator; the learner's next draws must not notice."""
    import random

    import numpy as np

    from tlcourse.config import seed_everything

    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    answers = tuple(q3_answers()[name] for name in ex01.q3.variables)
    seed_everything(11)
    draw()
    expected = draw()
    references.digits_accuracy.cache_clear()  # so the check runs its reference measurements again
    seed_everything(11)
    draw()
    ex01.q3.check(*answers)
    assert "q3: Correct" in capsys.readouterr().out
    assert draw() == expected


def test_ex02_q1_requires_the_cache_file(tmp_path):
    features = references.digits().features(pretrained=True)[0]
    verdict = ex02.q1.evaluate({"feature_file": tmp_path / "none.pt", "pool_features": features})
    assert verdict.points == pytest.approx(0.67) and "there is no file" in verdict.feedback[0]
    torch.save(features, tmp_path / "f.pt")
    assert ex02.q1.evaluate({"feature_file": tmp_path / "f.pt", "pool_features": features}).status == CORRECT
    wrong = references.digits().features(pretrained=False)[0]
    torch.save(wrong, tmp_path / "w.pt")
    verdict = ex02.q1.evaluate({"feature_file": tmp_path / "w.pt", "pool_features": wrong})
    assert "not the pretrained backbone's features" in verdict.feedback[0]


def test_ex02_q2_accepts_the_course_probe_and_rejects_an_mlp():
    def course_probe(features, labels, num_classes):
        return fit_linear_probe(features, labels, num_classes)

    def mlp(features, labels, num_classes):
        return torch.nn.Sequential(torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, num_classes))

    assert ex02.q2.evaluate({"train_probe": course_probe}).status == CORRECT
    verdict = ex02.q2.evaluate({"train_probe": mlp})
    assert "a linear probe has one weight per feature" in verdict.feedback[0]
    assert ex02.q2.evaluate({"train_probe": 3}).feedback[0].startswith("`train_probe` should be a function")


def test_ex02_q3_checks_the_choice_against_the_learners_own_table():
    import pandas as pd
    name = references.digits_validation().name
    assert name.endswith("(validation)")
    runs = {s: references.digits_validation_accuracy(s, 1, 0) for s in ("scratch", "linear_probe")}
    table = pd.DataFrame([{"task": name, "strategy": s, "labels_per_class": 1, "seed": 0, "accuracy": a}
                          for s, a in runs.items()])
    best, worst = sorted(runs, key=runs.get, reverse=True)
    assert ex02.q3.evaluate({"results": table, "best_strategy": best}).status == CORRECT
    verdict = ex02.q3.evaluate({"results": table, "best_strategy": worst})
    assert verdict.status == PARTIAL and f"your own table says {best} is better" in verdict.feedback[0]
    verdict = ex02.q3.evaluate({"results": table[table.strategy == "scratch"], "best_strategy": "scratch"})
    assert "0 run(s) of linear_probe" in verdict.feedback[0]
    # chosen on the test set: nothing more is checked until it is measured on a validation split
    on_test = table.assign(task=references.digits().name)
    verdict = ex02.q3.evaluate({"results": on_test, "best_strategy": best})
    assert verdict.status == INCORRECT and "validation_task" in verdict.feedback[0]
    # a table typed to favour the other strategy: the choice follows it, the repeat does not
    typed = table.assign(accuracy=[1.0 if s == worst else 0.0 for s in table["strategy"]])
    verdict = ex02.q3.evaluate({"results": typed, "best_strategy": worst})
    assert verdict.status == PARTIAL and "the check ran" in verdict.feedback[0]


def test_ex03_checks_blocks_rates_and_batchnorm():
    digits = references.digits()
    model = set_trainable(digits.make_model(True), ["block2", "block3", "head"])
    verdict = ex03.q1.evaluate({"partial_model": model})
    assert verdict.status == PARTIAL and verdict.feedback[0].startswith("block2 is still trainable")

    ft_model = unfreeze(digits.make_model(True))
    good = torch.optim.AdamW(param_groups(ft_model, lr=1e-3, decay=0.3))
    assert ex03.q2.evaluate({"ft_model": ft_model, "optimizer": good}).status == CORRECT
    one_rate = torch.optim.AdamW(ft_model.parameters(), lr=1e-3)
    verdict = ex03.q2.evaluate({"ft_model": ft_model, "optimizer": one_rate})
    assert verdict.feedback == ["block3 learns at 0.001; with lr=0.001 for the head and decay=0.3 per "
                                "block towards the input it should learn at 0.0003."]
    head_only = torch.optim.AdamW(param_groups(set_trainable(digits.make_model(True), ["head"]), 1e-3))
    assert "misses" in ex03.q2.evaluate({"ft_model": ft_model, "optimizer": head_only}).feedback[0]

    bn_model = set_trainable(digits.make_model(True), ["head"]).train()
    verdict = ex03.q3.evaluate({"bn_model": bn_model})
    assert verdict.status == PARTIAL and "stem, block1, block2, block3 are in training mode" in verdict.feedback[0]
    assert ex03.q3.evaluate({"bn_model": apply_bn_policy(bn_model, "frozen_eval")}).status == CORRECT
    assert "eval mode" in ex03.q3.evaluate({"bn_model": bn_model.eval()}).feedback[0]


def test_ex03_q4_notices_frozen_batchnorm_statistics_that_drifted():
    digits = references.digits()
    train_5 = few_shot_subset(digits.pool, 5, seed=0)
    model = set_trainable(digits.make_model(True), ["block3", "head"])
    fit(model, train_5, epochs=3, lr=1e-3, batch_size=32, bn_policy="train_all", progress=False)
    verdict = ex03.q4.evaluate({"finetuned_model": model})
    assert "stem, block1, block2 no longer hold(s) the pretrained weights" in verdict.feedback[0]


def test_ex04_checks_transformer_layers_embeddings_and_the_choice():
    import pandas as pd
    from tlcourse.data import few_shot_indices
    from tlcourse.exercises import ex04
    from tlcourse.nlp import text_settings

    task = references.tweets()
    model = set_trainable(task.make_model(True), ["layer3", "layer4", "layer5", "head"])
    verdict = ex04.q1.evaluate({"top_model": model})
    assert verdict.status == PARTIAL and verdict.feedback[0].startswith("layer3 is still trainable")
    assert ex04.q1.evaluate({"top_model": set_trainable(model, ["layer4", "layer5", "head"])}).status == CORRECT

    pool, test = task.embeddings()
    labelled = few_shot_indices(task.pool, 50, seed=0)

    def answer(C=text_settings().C, embeddings=pool, typed=None):
        probe = fit_linear_probe(pool[labelled], task.pool.labels[labelled], C=C)
        measured = (probe(test).argmax(1) == task.test.labels).float().mean().item()
        return {"pool_embeddings": embeddings, "probe": probe, "probe_accuracy": measured if typed is None else typed}

    probe = references.tweets_accuracy("linear_probe", 50)
    right = answer()
    assert right["probe_accuracy"] == pytest.approx(probe, abs=1e-6)  # the solution is the reference run
    assert ex04.q2.evaluate(right).status == CORRECT
    verdict = ex04.q2.evaluate(answer(embeddings=pool * 2))
    assert verdict.status == PARTIAL and "not unit-length" in verdict.feedback[0]
    verdict = ex04.q2.evaluate(answer(embeddings=pool[:5]))
    assert verdict.status == INCORRECT and "has shape (5, 384)" in verdict.feedback[0]
    verdict = ex04.q2.evaluate(answer(typed=0.99))  # a typed number is not the probe's accuracy
    assert verdict.status == PARTIAL and "your probe classifies" in verdict.feedback[0]
    verdict = ex04.q2.evaluate(answer() | {"probe": torch.nn.Linear(384, 3)})
    assert verdict.status == PARTIAL and "expected (3, 2)" in verdict.feedback[0]

    name = references.tweets_validation().name
    runs = {s: references.tweets_validation_accuracy(s, 50, 0) for s in ("tfidf_logreg", "linear_probe")}
    table = pd.DataFrame([{"task": name, "strategy": s, "labels": 100, "seed": 0, "accuracy": a}
                          for s, a in runs.items()])
    best = max(runs, key=runs.get)
    assert ex04.q3.evaluate({"results": table, "best_strategy": best}).status == CORRECT
    other = ({"tfidf_logreg", "linear_probe"} - {best}).pop()
    assert "your own table says" in ex04.q3.evaluate({"results": table, "best_strategy": other}).feedback[0]
    verdict = ex04.q3.evaluate({"results": table.assign(task=task.name), "best_strategy": best})
    assert verdict.status == INCORRECT and "validation_task" in verdict.feedback[0]


# Exercise 05: AdaBN, the gradient-reversal layer and the pseudo-label threshold, on a source
# model trained with the smoke profile's steps (under a second).

@pytest.fixture(scope="module")
def source_model():
    from tlcourse import get_profile
    from tlcourse.adapt import AdaptSettings, train_source_only

    task = references.fonts_to_handwriting()
    return train_source_only(task, seed=0, settings=AdaptSettings.for_profile(get_profile()))


def adabn_by_hand(source_model, reset=True, momentum=None, batch_size=256):
    """AdaBN as a learner writes it, with the usual mistakes as options; left in eval mode."""
    model = copy.deepcopy(source_model)
    for layer in model.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            if reset:
                layer.reset_running_stats()
            layer.momentum = momentum
    model.train()
    images = references.fonts_to_handwriting().pool.images
    with torch.no_grad():
        for idx in torch.randperm(len(images), generator=torch.Generator().manual_seed(1)).split(batch_size):
            model(images[idx])
    return model.eval()


def test_ex05_q1_names_each_adabn_mistake(source_model):
    from tlcourse.adapt import adabn
    from tlcourse.exercises import ex05

    def verdict(model):
        return ex05.q1.evaluate({"source_model": source_model, "adabn_model": model})

    assert verdict(adabn_by_hand(source_model)).status == CORRECT
    images = references.fonts_to_handwriting().pool.images
    assert verdict(adabn(copy.deepcopy(source_model), images)).status == CORRECT
    for model, message in [(adabn_by_hand(source_model, reset=False, momentum=0.1), "were not reset"),
                           (adabn_by_hand(source_model, momentum=0.1), "default momentum=0.1"),
                           (adabn_by_hand(source_model, batch_size=64), "counted 4 batch(es)"),
                           (adabn_by_hand(source_model).train(), "still in training mode")]:
        result = verdict(model)
        assert (result.status, result.points) == (PARTIAL, 1.5) and message in result.feedback[0], result.feedback

    stepped = adabn_by_hand(source_model)  # one gradient step, in eval mode so only weights move
    torch.optim.SGD(stepped.parameters(), lr=0.1).zero_grad()
    stepped(images[:8]).logsumexp(1).mean().backward()
    torch.optim.SGD(stepped.parameters(), lr=0.1).step()
    result = verdict(stepped)
    assert result.status == PARTIAL and "weight tensor(s) changed" in result.feedback[0]

    result = verdict(source_model)
    assert result.status == INCORRECT and "is `source_model` itself" in result.feedback[0]
    adapted_in_place = adabn_by_hand(source_model)  # then copied: the source model is gone
    result = ex05.q1.evaluate({"source_model": adapted_in_place, "adabn_model": copy.deepcopy(adapted_in_place)})
    assert result.status == INCORRECT and "itself now holds the target's statistics" in result.feedback[0]
    assert verdict(None).status == NOT_DONE


def reversal(backward, forward=lambda x, scale: x.view_as(x)):
    """A learner's grad_reverse whose autograd Function has the given forward and backward."""
    class Reverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.scale = scale
            return forward(x, scale)

        @staticmethod
        def backward(ctx, grad):
            return backward(ctx, grad)

    return lambda x, scale: Reverse.apply(x, scale)


def test_ex05_q2_names_each_gradient_reversal_mistake():
    from tlcourse.exercises import ex05

    right = reversal(lambda ctx, grad: (-ctx.scale * grad, None))
    assert ex05.q2.evaluate({"grad_reverse": right}).status == CORRECT
    cases = {
        "the minus is missing": reversal(lambda ctx, grad: (ctx.scale * grad, None)),
        "the scale is ignored": reversal(lambda ctx, grad: (-grad, None)),
        "returns the very tensor it was given": lambda x, scale: x,
        "no gradient flows back": lambda x, scale: x.detach(),
        "in place": reversal(lambda ctx, grad: (grad.mul_(-ctx.scale), None)),
        "one gradient per input of forward": reversal(lambda ctx, grad: -ctx.scale * grad),
        "the forward pass multiplies by -scale": lambda x, scale: -scale * x,
    }
    for message, answer in cases.items():
        result = ex05.q2.evaluate({"grad_reverse": answer})
        assert result.status == PARTIAL and any(message in f for f in result.feedback), (message, result.feedback)
    assert ex05.q2.evaluate({"grad_reverse": 3}).status == INCORRECT


def test_ex05_q3_recomputes_the_table_and_applies_the_rule(source_model):
    from tlcourse.adapt import adabn, threshold_statistics
    from tlcourse.exercises import ex05

    task = references.fonts_to_handwriting()
    model = adabn(copy.deepcopy(source_model), task.pool.images)
    table = threshold_statistics(model, task.pool.images, ex05.THRESHOLDS, task.source_val)
    rule = ex05.choose_threshold(table)

    def verdict(table, threshold, model=model):
        return ex05.q3.evaluate({"adabn_model": model, "threshold_table": table, "threshold": threshold})

    assert verdict(table, rule).status == CORRECT
    result = verdict(table, 0.5 if rule != 0.5 else 0.6)
    assert (result.status, result.points) == (PARTIAL, 2.0)
    assert "your model's table says" in result.feedback[0] or "the rule says threshold = 1" in result.feedback[0]
    result = verdict(threshold_statistics(source_model, task.pool.images, ex05.THRESHOLDS, task.source_val), rule)
    assert result.status == PARTIAL and "measure adabn_model" in result.feedback[0]
    result = verdict(threshold_statistics(model, task.pool.images, ex05.THRESHOLDS), rule)
    assert result.status == INCORRECT and "lacks the column(s) ['source_accuracy_kept']" in result.feedback[0]
    assert "not one of the candidates" in verdict(table, 0.85).feedback[0]


def test_ex05_q3_rule_takes_the_highest_safe_threshold(monkeypatch):
    import pandas as pd
    from tlcourse.exercises import ex05

    table = pd.DataFrame({"threshold": ex05.THRESHOLDS,
                          "kept": [0.87, 0.79, 0.70, 0.61, 0.48, 0.38, 0.23],
                          "smallest_class": [0.063, 0.055, 0.050, 0.042, 0.024, 0.013, 0.0],
                          "source_accuracy_kept": [0.94, 0.96, 0.997, 0.998, 0.998, 1.0, 1.0]})
    assert ex05.choose_threshold(table) == 0.9
    assert ex05.choose_threshold(table.assign(kept=0.1)) == ex05.NO_THRESHOLD
    monkeypatch.setattr(ex05, "measured_table", lambda model: table)  # the learner's model measures `table`

    def feedback(threshold):
        return ex05.q3.evaluate({"adabn_model": torch.nn.Linear(1, 1), "threshold_table": table,
                                 "threshold": threshold}).feedback

    assert feedback(0.9) == []
    assert feedback(0.95) == ["at 0.95 only 38% of the pool gets a pseudo-label (at least 40%): your "
                              "model's table says 0.9."]
    assert "but so is a higher candidate" in feedback(0.7)[0]
    assert feedback(0.5)[0].startswith("at 0.5 only 94.0% of the held-out source images that confident "
                                       "are right (at least 95%)")
    assert feedback(0.99)[0].startswith("at 0.99 only 23% of the pool")


# Exercise 06: the log-mel spectrogram by hand, Lite0 frozen for spectrograms, near or far source.

def log_mel_as_written(power=2, window="hann", log=torch.log, hop_ms=32.0, centre=True, transpose=False, eps=1e-6):
    """q1's answer as a learner writes it, with the usual slips as options."""
    from tlcourse.data.audio import mel_filterbank

    def log_mel_by_hand(waveform):
        n_fft, hop = 1024, round(16_000 * hop_ms / 1000)
        x = torch.nn.functional.pad(waveform, (n_fft // 2, n_fft // 2)) if centre else waveform
        windows = {"hann": torch.hann_window(n_fft), "none": torch.ones(n_fft),
                   "symmetric": torch.hann_window(n_fft, periodic=False)}
        spectrum = torch.fft.rfft(x.unfold(0, n_fft, hop) * windows[window]).abs() ** power
        mel = log(mel_filterbank(32, n_fft, 16_000) @ spectrum.T + eps)
        return mel.T if transpose else mel

    return log_mel_by_hand


def test_ex06_q1_matches_the_library_and_names_each_slip():
    from tlcourse.data import log_mel
    from tlcourse.exercises import ex06

    def verdict(function):
        return ex06.q1.evaluate({"log_mel_by_hand": function})

    assert verdict(log_mel_as_written()).status == CORRECT
    library = lambda w: log_mel(w[None], 16_000, **ex06.SETTINGS)[0, 0]  # noqa: E731
    assert verdict(library).status == CORRECT  # the reference it is compared with
    slips = {"*amplitude*": log_mel_as_written(power=1), "this is log10": log_mel_as_written(log=torch.log10),
             "no window was applied": log_mel_as_written(window="none"),
             "the symmetric one": log_mel_as_written(window="symmetric"),
             "transposed": log_mel_as_written(transpose=True),
             "the silent cells differ": log_mel_as_written(eps=1e-10)}
    for message, function in slips.items():
        result = verdict(function)
        assert (result.status, result.points) == (PARTIAL, round(2 / 3, 2)) and message in result.feedback[0], \
            (message, result.feedback)
    for function, message in [(log_mel_as_written(hop_ms=64), "the hop is a whole window"),
                              (log_mel_as_written(centre=False), "not centred"),
                              (log_mel_as_written(hop_ms=16), "512 samples at 16000 Hz"),
                              (lambda w: library(w)[None], "squeeze"), (42, "should be a function")]:
        result = verdict(function)
        assert result.status == INCORRECT and message in result.feedback[0], (message, result.feedback)
    clip = references.speech().audio.pool.waveforms[0]
    hard_coded = verdict(lambda w: library(clip))  # right on the notebook's clip only
    assert hard_coded.status == PARTIAL and "on a digit spoken by another voice" in hard_coded.feedback[0]


def test_ex06_q2_checks_names_batchnorm_and_runs_its_own_fit():
    from tlcourse.exercises import ex06
    from tlcourse.models import pretrained, replace_head

    make = references.speech().imagenet.make_model

    def verdict(model):
        return ex06.q2.evaluate({"lite0_model": model})

    def prepared(model, blocks=("head",), policy="frozen_eval"):
        set_trainable(model, list(blocks)).train()
        return apply_bn_policy(model, policy)

    right = prepared(make(True))
    before = copy.deepcopy(right.state_dict())
    assert verdict(right).status == CORRECT
    assert all(torch.equal(v, right.state_dict()[k]) for k, v in before.items())  # the fit ran on a copy
    result = verdict(prepared(make(True), policy="train_all"))
    assert result.status == PARTIAL and "are in training mode" in result.feedback[0]
    assert "pretrained tensor(s) changed (" in result.feedback[1] and "running_mean" in result.feedback[1]
    result = verdict(prepared(make(True), blocks=("stage7", "neck", "head")))
    assert result.status == PARTIAL
    assert "backbone parameter(s) still learn (blocks.6.0.conv_pw.weight" in result.feedback[0]
    assert "pretrained tensor(s) changed" in result.feedback[-1]
    result = verdict(prepared(make(True)).eval())
    assert (result.status, result.points) == (PARTIAL, 1.5) and "is in eval mode" in result.feedback[0]
    frozen_head = prepared(make(True))
    frozen_head.classifier.requires_grad_(False)
    result = verdict(frozen_head)
    assert "the head is frozen too" in result.feedback[0] and "head did not change" in result.feedback[1]
    result = verdict(prepared(make(False)))
    assert (result.status, result.points) == (PARTIAL, 1.5) and "pretrained tensor(s) changed" in result.feedback[0]
    imagenet_head = pretrained("efficientnet_lite0")
    result = verdict(imagenet_head)
    assert result.status == INCORRECT and "still predicts the 1000" in result.feedback[0]
    replace_head(imagenet_head, 10)
    assert verdict(prepared(imagenet_head)).status == CORRECT


@pytest.mark.slow  # the Lite0 features of pool and test: 4-10 s on 2 busy cores
def test_ex06_q3_re_measures_the_table_and_the_choice():
    import pandas as pd
    from tlcourse import get_profile
    from tlcourse.exercises import ex06
    from tlcourse.experiments import Settings, compare, validation_task

    speech, profile = references.speech(), get_profile()
    words, imagenet = validation_task(speech.words), validation_task(speech.imagenet)
    assert {name for name, _ in ex06.ARMS.values()} == {words.name, imagenet.name}
    settings = Settings.for_profile(profile)
    results = pd.concat([compare(task, strategies, [5], profile.seeds, settings, progress=False)
                         for task, strategies in [(words, ["scratch", "linear_probe"]),
                                                  (imagenet, ["linear_probe"])]])
    means = results.groupby(["task", "strategy"])["accuracy"].mean()
    best = max(ex06.ARMS, key=lambda arm: means[ex06.ARMS[arm]])

    def verdict(table, choice):
        return ex06.q3.evaluate({"results": table, "best_source": choice})

    assert verdict(results, best).status == CORRECT
    worst = min(ex06.ARMS, key=lambda arm: means[ex06.ARMS[arm]])
    result = verdict(results, worst)
    assert (result.status, result.points) == (PARTIAL, 1.5) and "the measurement says" in result.feedback[0]
    typed = results.assign(accuracy=[1.0 if (t, s) == ex06.ARMS[worst] else 0.0
                                     for t, s in zip(results["task"], results["strategy"])])
    result = verdict(typed, worst)  # a table typed to favour the worst arm earns nothing
    assert result.status == INCORRECT and "the same run here scores" in result.feedback[0]
    result = verdict(results[results["task"] != imagenet.name], best)
    assert result.status == INCORRECT and "no linear_probe run on imagenet->digits" in result.feedback[0]
    assert "should be one of" in verdict(results, "scratch").feedback[0]
    assert verdict(results[results["strategy"] != "scratch"], best).status == CORRECT  # scratch is for scale
    result = verdict(results.assign(task=results["task"].str.replace(" (validation)", "")), best)
    assert result.status == INCORRECT and "validation_task" in result.feedback[0]


def _course_table():
    """A small course results table (as course_results returns it) with known answers: the near
    source gains 40, 20, then 3 points at 1, 5 and 50 labels per class; the far source's probe is
    fast and gains 2 points at 20, its fine-tuning slow and gains 8."""
    import pandas as pd

    def runs(notebook, task, strategy, budgets, accuracies, seconds=1.0):
        return [{"task": task, "strategy": strategy, "labels_per_class": b, "labels": 10 * b, "seed": 0,
                 "accuracy": a, "seconds": seconds, "trainable_parameters": 10, "notebook": notebook,
                 "origin": "saved"} for b, a in zip(budgets, accuracies)]

    return pd.DataFrame(
        runs("02_feature_extraction", "letters->digits", "scratch", (1, 5, 50), (0.2, 0.6, 0.9))
        + runs("02_feature_extraction", "letters->digits", "linear_probe", (1, 5, 50), (0.6, 0.8, 0.93))
        + runs("05_domain_adaptation", "imagenet->solar_cells", "small_scratch", (20,), (0.6,))
        + runs("05_domain_adaptation", "imagenet->solar_cells", "linear_probe", (20,), (0.62,))
        + runs("05_domain_adaptation", "imagenet->solar_cells", "finetune_last_k", (20,), (0.68,), seconds=300))


def test_ex08_q1_reads_the_first_budget_under_the_threshold():
    from tlcourse.exercises import ex08

    table = _course_table()
    assert ex08.near_budget_below(table) == 50
    assert ex08.q1.evaluate({"results": table, "budget_below": 50}).status == CORRECT
    wrong = ex08.q1.evaluate({"results": table, "budget_below": 5})
    assert wrong.status == PARTIAL and "best near-source gain per budget is {1: 40.0, 5: 20.0, 50: 3.0}" in wrong.feedback[0]
    typed = ex08.q1.evaluate({"results": table.drop(columns="notebook"), "budget_below": 50})
    assert typed.status == INCORRECT and "course_results(profile)" in typed.feedback[0]
    generous = table.assign(accuracy=table["accuracy"].where(table["strategy"] != "linear_probe", 1.0))
    assert ex08.near_budget_below(generous) == ex08.NONE_BELOW


def test_ex08_q2_measures_the_folder_and_the_choice(tmp_path):
    from tlcourse import get_profile
    from tlcourse.data import load_image_folder
    from tlcourse.exercises import ex08
    from tlcourse.experiments import Settings, compare
    from tlcourse.tasks import own_task

    folder = ex08.write_folder(tmp_path / "digits")
    assert sorted(p.name for p in folder.iterdir()) == ["0", "1", "2"]
    data = load_image_folder(folder, size=32)
    assert len(data) == ex08.CLASSES * ex08.PER_CLASS
    profile = get_profile()
    results = compare(own_task(data, "letters", profile), list(ex08.STRATEGIES), [ex08.BUDGET], profile.seeds,
                      Settings.for_profile(profile), progress=False)
    means = results.groupby("strategy")["accuracy"].mean()
    best, worst = means.idxmax(), means.idxmin()
    assert ex08.q2.evaluate({"folder_results": results, "best_strategy": best}).status == CORRECT
    if best != worst:
        verdict = ex08.q2.evaluate({"folder_results": results, "best_strategy": worst})
        assert verdict.status == PARTIAL and "should follow the measurement" in verdict.feedback[0]
    typed = results.assign(accuracy=results["accuracy"] + 0.2)  # not what these runs measure
    assert "in `folder_results`" in ex08.q2.evaluate({"folder_results": typed, "best_strategy": best}).feedback[0]
    imagenet = results.assign(task="imagenet->digits")
    assert "own_task(data, 'letters')" in ex08.q2.evaluate({"folder_results": imagenet, "best_strategy": best}).feedback[0]


def test_ex08_q3_wants_the_affordable_nearest_rows_and_their_choice(monkeypatch):
    from tlcourse.evidence import evidence, nearest_rows
    from tlcourse.exercises import ex08

    table = _course_table()
    rows = evidence(table)
    support = nearest_rows(rows, 20, "far")
    cheap = support[support["seconds"] <= 60]
    assert ex08.q3.evaluate({"results": table, "choice": "probe", "support": cheap}).status == CORRECT
    slow = ex08.q3.evaluate({"results": table, "choice": "partial fine-tune", "support": support})
    assert slow.status == PARTIAL and "more than 60 s a run" in slow.feedback[0]
    assert "the rule picks the highest" in slow.feedback[1]
    stray = ex08.q3.evaluate({"results": table, "choice": "probe", "support": rows[rows["similarity"] == "near"]})
    assert "not among the rows nearest the project" in stray.feedback[0]
    monkeypatch.setitem(ex08.PROJECT, "compute", "GPU")
    assert ex08.q3.evaluate({"results": table, "choice": "partial fine-tune", "support": support}).status == CORRECT


def test_a_judgement_question_is_complete_with_words_and_a_number_and_earns_no_automatic_points():
    from tlcourse.exercises import NOT_DONE, WRITTEN, Judgement

    q = Judgement(name="q9", exercise="02", title="Would you advise it?", variables=("advice",),
                  requirements=(), hints=("Quote your own numbers.",), min_words=8)
    assert q.evaluate({"advice": None}).status == NOT_DONE
    assert q.evaluate({"advice": "   "}).status == NOT_DONE
    assert "string of words" in q.evaluate({"advice": 0.9}).feedback[0]
    short = q.evaluate({"advice": "Use the probe: 74%."})
    assert short.status == INCORRECT and "write at least 8" in short.feedback[0]
    vague = q.evaluate({"advice": "The probe is better because pretrained features are good for this task."})
    assert vague.status == INCORRECT and "quote at least one number" in vague.feedback[0]
    text = "The probe reached 74.4% with 50 labels, 6 points above TF-IDF, so I would use it."
    verdict = q.evaluate({"advice": text})
    assert (verdict.status, verdict.points, verdict.max_points) == (WRITTEN, 0.0, 0.0)
    assert verdict.feedback == [f"for the instructor (2 points): {text}"]
    assert "instructor grades it" in verdict.text()


ADVICE = ("Start from the pretrained features: with one label per class the probe reached 74.4% against "
          "31.0% for scratch, a gain of 43 points over 3 seeds. It measured one budget on digits, not the "
          "colleague's images, so I would run the same comparison on theirs before deciding for good.")


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_each_exercise_ends_with_a_judgement_question_whose_answer_reaches_the_gradebook(exercise):
    from tlcourse.exercises import Judgement
    from tlcourse.exercises.core import solution_code
    from tlcourse.exercises.grader import gradebook_row

    module = importlib.import_module(f"tlcourse.exercises.{EXERCISES[exercise]}")
    *measured, judgement = questions(exercise)
    assert isinstance(judgement, Judgement) and not any(isinstance(q, Judgement) for q in measured)
    assert judgement.name == f"q{len(measured) + 1}" and judgement.name in module.__doc__
    assert (judgement.variables, judgement.points, judgement.instructor_points) == (("advice",), 0, 2)
    assert judgement.min_words >= 40 and 2 <= len(judgement.hints) <= 3
    assert "advice = (" in solution_code(exercise, judgement.name)  # the notebook's own numbers, in words
    # graded as `tlcourse grade` does (handed over, checked, then the gradebook row), on a namespace holding only the advice
    verdicts = [q.grade({"advice": ADVICE}) for q in questions(exercise)]
    report = {"student": "alice", "exercise": exercise, "status": "completed", "isolation": "none",
              "integrity": [], "cell_errors": [], "questions": [v.as_dict() for v in verdicts]}
    row = gradebook_row(f"alice_ex{exercise}.ipynb", report)
    assert row[f"{judgement.name} feedback"] == f"for the instructor (2 points): {ADVICE}"
    assert (row[f"{judgement.name} points"], row["points"]) == (0.0, 0.0)  # the other questions are not done
    assert row["max_points"] == sum(q.points for q in measured)  # automatic totals unchanged


# Exercise 07: the curves of a badly fine-tuned run, forgetting measured, L2-SP by hand.

def _l2sp_as_written(scale=0.5, root=False, with_head=False, detach=False):
    """L2-SP as a learner might write it: right (the defaults) or with one usual slip."""
    def l2sp_by_hand(model, start, alpha):
        terms = []
        for name, p in model.named_parameters():
            p = p.detach() if detach else p
            if name in start:
                terms.append((p - start[name]).pow(2).sum())
            elif with_head:
                terms.append(p.pow(2).sum() * 0 + (p - p.detach()).pow(2).sum() + 1.0)
        squared = torch.stack(terms).sum()
        return scale * alpha * (squared.sqrt() if root else squared)

    return l2sp_by_hand


def test_ex07_q3_matches_the_library_and_names_each_slip():
    from tlcourse.exercises import ex07

    def verdict(function):
        return ex07.q3.evaluate({"l2sp_by_hand": function})

    assert verdict(_l2sp_as_written()).status == CORRECT
    assert "twice" in " ".join(verdict(_l2sp_as_written(scale=1.0)).feedback)
    assert "not its square" in " ".join(verdict(_l2sp_as_written(root=True)).feedback)
    detached = verdict(_l2sp_as_written(detach=True))
    assert detached.status == PARTIAL and "no gradient" in " ".join(detached.feedback)
    assert verdict(_l2sp_as_written(with_head=True)).status == INCORRECT  # not 0 at the start: the gate
    assert verdict("not a function").status == INCORRECT


def test_ex07_q1_and_q2_recompute_the_run_and_the_scoring():
    from tlcourse.exercises import ex07
    from tlcourse.experiments import Settings, train_network
    from tlcourse.limits import with_source_head
    from tlcourse.train import evaluate

    frame = ex07._curves()
    memorised = int(frame.loc[frame["train_accuracy"] >= 1, "epoch"].min())
    last = frame.dropna(subset=["val_accuracy"]).iloc[-1]
    gap = float(last["train_accuracy"] - last["val_accuracy"])
    assert ex07.q1.evaluate({"memorised_at": memorised, "final_gap": gap}).status == CORRECT
    wrong = ex07.q1.evaluate({"memorised_at": memorised + 1, "final_gap": -gap if gap else 0.5})
    assert wrong.status == INCORRECT, wrong.feedback

    model = train_network(ex07._digits(), "finetune_all", ex07.BUDGET, 0, Settings.for_profile(ex07.get_profile()))
    kept = evaluate(with_source_head(model, ex07._source()), ex07._letters())["accuracy"]
    assert ex07.q2.evaluate({"digit_model": model, "letters_kept": kept}).status == CORRECT
    before = evaluate(ex07._source(), ex07._letters())["accuracy"]
    if abs(before - kept) > ex07.LETTERS_TOLERANCE:
        feedback = " ".join(ex07.q2.evaluate({"digit_model": model, "letters_kept": before}).feedback)
        assert "*before* fine-tuning" in feedback
    untouched = ex07.q2.evaluate({"digit_model": ex07._digits().make_model(True), "letters_kept": kept})
    assert untouched.status != CORRECT and "finetune_all" in " ".join(untouched.feedback)
