"""Exercise 03 · fine-tuning: which blocks learn, at which rate, and what BatchNorm does.

q1 train only the last two blocks, q2 build the discriminative-learning-rate optimizer,
q3 put frozen BatchNorm layers in eval mode, q4 fine-tune and keep the frozen blocks intact,
q5 advise how much of a network to fine-tune, in words from the q1 and q4 numbers (a
judgement question, graded by the instructor).
"""
from __future__ import annotations

from functools import partial

import torch

from ..freeze import frozen_batchnorms_in_train_mode, named_blocks
from ..models import SmallCNN
from ..train import evaluate
from . import checks, references
from .core import Judgement, Mistake, Problem, Requirement

LR, DECAY = 1e-3, 0.3  # the rates q2 asks for
BUDGET = 5  # labelled digits per class in q4


def _is_small_cnn(model) -> None:
    checks.expect_type(model, "your model", SmallCNN, "the SmallCNN made by digits.make_model(True)")
    checks.expect_head(model, 10, 26)


def _pretrained_blocks(model, blocks=("stem", "block1", "block2")) -> None:
    checks.expect_unchanged(model, references.digits().make_model(True), blocks,
                            "start from digits.make_model(True), and keep frozen blocks frozen "
                            "(BatchNorm included) while training.")


q1 = Problem(
    name="q1", exercise="03", title="Train only the last two blocks",
    variables=("partial_model",), points=1,
    requirements=[
        Requirement("the answer is a SmallCNN for 10 digits", _is_small_cnn, gate=True),
        Requirement("only block3 and the head are trainable", partial(
            checks.expect_trainable, wanted=["block3", "head"],
            task="train only the last two blocks (block3 and the head)")),
        Requirement("the blocks are the pretrained ones", _pretrained_blocks),
    ],
    hints=[
        "last_blocks(model, 2) names the last two blocks; the head counts as one.",
        "partial_model = digits.make_model(True); set_trainable(partial_model, last_blocks(partial_model, 2))",
    ],
)


def _optimizer_type(ft_model, optimizer) -> None:
    _is_small_cnn(ft_model)
    checks.expect_type(optimizer, "`optimizer`", torch.optim.Optimizer,
                       "a torch optimizer, e.g. torch.optim.AdamW(param_groups(...))")


def _holds_trainable(ft_model, optimizer) -> None:
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    trainable = [p for p in ft_model.parameters() if p.requires_grad]
    frozen_held = sum(1 for p in ft_model.parameters() if not p.requires_grad and id(p) in held)
    missing = sum(1 for p in trainable if id(p) not in held)
    if len(trainable) != len(list(ft_model.parameters())):
        raise Mistake("some blocks of `ft_model` are frozen; this exercise fine-tunes every block: "
                      "call unfreeze(ft_model) before building the optimizer.")
    if missing or frozen_held:
        raise Mistake(f"the optimizer misses {missing} trainable tensor(s) of ft_model (and holds "
                      f"{frozen_held} frozen one(s)): build it from param_groups(ft_model, ...) "
                      f"of this same model.")


def _discriminative_rates(ft_model, optimizer) -> None:
    rates = checks.learning_rates(ft_model, optimizer)
    names = list(named_blocks(ft_model))
    for depth, name in enumerate(reversed(names)):
        want = LR * DECAY ** depth
        got = rates.get(name)
        if got is None or abs(got - want) > 1e-3 * want:
            raise Mistake(f"{name} learns at {got if got is None else f'{got:.3g}'}; with lr={LR:g} "
                          f"for the head and decay={DECAY:g} per block towards the input it should "
                          f"learn at {want:.3g}.")


q2 = Problem(
    name="q2", exercise="03", title="Discriminative learning rates",
    variables=("ft_model", "optimizer"), points=2,
    requirements=[
        Requirement("the answers are a SmallCNN and an optimizer", _optimizer_type, gate=True),
        Requirement("the optimizer holds exactly the trainable parameters", _holds_trainable),
        Requirement("each block gets decay x the rate of the block after it", _discriminative_rates),
    ],
    hints=[
        "An optimizer takes parameter groups: a list of dicts, each with its own 'params' and 'lr'.",
        "tlcourse.freeze.param_groups(model, lr, decay) builds one group per trainable block.",
        f"optimizer = torch.optim.AdamW(param_groups(ft_model, lr={LR:g}, decay={DECAY:g}))",
    ],
)


def _train_mode(bn_model) -> None:
    _is_small_cnn(bn_model)
    if not bn_model.training:
        raise Mistake("`bn_model` is in eval mode: call bn_model.train() first (the head trains), "
                      "then apply the BatchNorm policy.")


def _frozen_bn_eval(bn_model) -> None:
    drifting = frozen_batchnorms_in_train_mode(bn_model)
    if drifting:
        raise Mistake(f"the frozen BatchNorm layers of {', '.join(drifting)} are in training mode: "
                      f"their running statistics would drift towards the new data although their "
                      f"weights are frozen. apply_bn_policy(bn_model, 'frozen_eval') puts them in eval mode.")


q3 = Problem(
    name="q3", exercise="03", title="BatchNorm in frozen blocks",
    variables=("bn_model",), points=2,
    requirements=[
        Requirement("the model is a SmallCNN in training mode", _train_mode, gate=True),
        Requirement("only the head is trainable", partial(
            checks.expect_trainable, wanted=["head"], task="train only the head")),
        Requirement("frozen BatchNorm layers are in eval mode", _frozen_bn_eval),
    ],
    hints=[
        "model.train() puts *every* module in training mode, BatchNorm layers of frozen blocks "
        "included: in training mode they update their running mean and variance.",
        "After set_trainable(model, ['head']) and model.train(), call "
        "apply_bn_policy(model, 'frozen_eval').",
    ],
)


def _finetuned_accuracy(finetuned_model) -> None:
    accuracy = evaluate(finetuned_model, references.digits().test)["accuracy"]
    checks.expect_close(accuracy, references.digits_accuracy("finetune_last_k", BUDGET), 0.05,
                        "your fine-tuned model's test accuracy",
                        "fine-tune block3 and the head on few_shot_subset(digits.pool, 5, seed=0) "
                        "with fit(..., lr=1e-3) for about 150 steps.")


def _block3_trained(finetuned_model) -> None:
    if not checks.changed_blocks(finetuned_model, references.digits().make_model(True), ["block3"]):
        raise Mistake("block3 still holds its pretrained weights: it should have been trained.")


q4 = Problem(
    name="q4", exercise="03", title="Fine-tune the last two blocks with 5 labels per class",
    variables=("finetuned_model",), points=3,
    requirements=[
        Requirement("the answer is a SmallCNN for 10 digits", _is_small_cnn, gate=True),
        Requirement("the frozen blocks are unchanged", _pretrained_blocks),
        Requirement("block3 was trained", _block3_trained),
        Requirement("the accuracy matches the reference", _finetuned_accuracy),
    ],
    hints=[
        "Start from q1: digits.make_model(True) with only block3 and the head trainable.",
        "fit(model, few_shot_subset(digits.pool, 5, seed=0), epochs=..., lr=1e-3) trains only the "
        "trainable blocks and keeps frozen BatchNorm layers in eval mode.",
        "50 images in batches of 32 is 2 steps per epoch: 75 epochs give about 150 steps.",
    ],
)

q5 = Judgement(
    name="q5", exercise="03", title="Advise a colleague: how much of the network to fine-tune?",
    variables=("advice",), requirements=(), min_words=40, instructor_points=2,
    hints=[
        "Start with a recommendation: the head only, block3 and the head (as in q4), or every "
        "block with discriminative learning rates (as in q2).",
        "Support it with your numbers: how many parameters your q1 model trains out of how many, "
        "and the test accuracy of your q4 model.",
        "Say what one fine-tuning run cannot tell you: you measured no alternative here, on one "
        "seed, so the accuracy alone does not show that it beats the others.",
    ],
)

QUESTIONS = (q1, q2, q3, q4, q5)
