"""Answers handed out of the notebook's process as data (tlcourse.exercises.answers): what crosses,
what is refused, and that a crafted file runs no code."""
import io
import pickle

import numpy as np
import pandas as pd
import torch
from torch import nn

from tlcourse.exercises.answers import (FunctionRecord, NotSent, decode, encode, load_answers, round_trip,
                                        answer_file)
from tlcourse.exercises.ex01 import q1
from tlcourse.models import SmallCNN


class OwnModel(nn.Module):  # a class the checks cannot rebuild: it is not torch's or the course's
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)


def test_models_tables_numbers_and_optimizers_cross_as_the_same_things():
    model = SmallCNN(num_classes=10).eval()
    model.head.requires_grad_(False)
    optimizer = torch.optim.AdamW([{"params": model.stem.parameters(), "lr": 1e-4},
                                   {"params": model.block3.parameters(), "lr": 1e-3}], weight_decay=0.1)
    table = pd.DataFrame({"strategy": ["probe", "scratch"], "accuracy": np.array([0.7, 0.5])})
    back = round_trip({"model": model, "optimizer": optimizer, "table": table, "x": np.float64(0.25),
                       "same": model, "f": len, "path": __import__("pathlib").Path("a/b")})
    assert isinstance(back["model"], SmallCNN) and not back["model"].training
    assert not back["model"].head.weight.requires_grad and back["model"].stem[0].weight.requires_grad
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(back["model"](x), model(x))
    assert back["same"] is back["model"]
    rates = {id(p): g["lr"] for g in back["optimizer"].param_groups for p in g["params"]}
    assert rates[id(back["model"].stem[0].weight)] == 1e-4 and rates[id(back["model"].block3[0].weight)] == 1e-3
    assert back["optimizer"].param_groups[0]["weight_decay"] == 0.1
    assert back["table"].equals(table)
    assert back["x"] == 0.25 and type(back["x"]) is float
    assert isinstance(back["f"], FunctionRecord) and back["f"].name == "len"
    assert back["path"] == "a/b"


def test_a_model_of_a_class_the_notebook_defined_is_refused_with_the_reason():
    back = round_trip({"model": OwnModel(), "n": 3})
    assert isinstance(back["model"], NotSent) and "OwnModel" in back["model"].reason and back["n"] == 3
    verdict = q1.evaluate({"digit_model": OwnModel()})
    assert verdict.points == 0 and "could not be handed to the checks" in verdict.feedback[0]


def test_a_crafted_answer_file_is_refused_and_runs_nothing(tmp_path):
    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(ran), "w"))

    buffer = io.BytesIO()
    torch.save({"digit_model": pickle.dumps(Payload())}, buffer)
    path = answer_file(tmp_path, q1)
    path.write_bytes(buffer.getvalue())
    assert isinstance(load_answers(path)["digit_model"], NotSent) and not ran.exists()
    path.write_bytes(pickle.dumps({"digit_model": Payload()}))  # not even the outer layer is unpickled
    try:
        load_answers(path)
    except Exception:
        pass
    assert not ran.exists()
    link = tmp_path / "q2.pt"
    link.symlink_to(path)
    try:
        load_answers(link)
        raise AssertionError("a link was followed")
    except OSError:
        pass


def test_each_variable_is_saved_on_its_own():
    data = encode({"good": torch.ones(2), "bad": OwnModel()})
    values = decode(data)
    assert torch.equal(values["good"], torch.ones(2)) and isinstance(values["bad"], NotSent)
