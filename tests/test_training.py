"""dlbasics.training 与 dlbasics.utils 的测试。"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import bad_input
from dlbasics.training import (
    History,
    accuracy,
    evaluate,
    predict_grid,
    train_classifier,
)
from dlbasics.utils import (
    check_positive_int,
    count_parameters,
    seeded_splits,
    square_grid,
)


def toy_data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 2, generator=g)
    y = (X[:, 0] > 0).long()  # 线性可分
    return X, y


def test_accuracy_counts_correct_argmax():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 1, 1])
    assert accuracy(logits, y) == 0.75


def test_accuracy_rejects_mismatched_shapes():
    with bad_input("y 有 4 个标签"):
        accuracy(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))


def test_train_classifier_records_every_step_and_learns():
    X, y = toy_data()
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    history = train_classifier(model, X, y, lr=0.1, num_steps=50)
    assert isinstance(history, History)
    assert len(history.train_losses) == len(history.train_accuracies) == 50
    assert history.final_loss == history.train_losses[-1]
    assert history.train_losses[-1] < 0.5 * history.train_losses[0]
    assert evaluate(model, X, y) > 0.95


def test_train_classifier_uses_the_given_optimizer():
    X, y = toy_data()
    torch.manual_seed(0)
    a = nn.Linear(2, 2)
    torch.manual_seed(0)
    b = nn.Linear(2, 2)
    train_classifier(a, X, y, lr=0.1, num_steps=3)
    train_classifier(
        b, X, y, lr=0.1, num_steps=3, optimizer_cls=torch.optim.SGD
    )
    assert not torch.allclose(a.weight, b.weight)
    # 手算一步 SGD：w <- w - lr * grad
    torch.manual_seed(0)
    c = nn.Linear(2, 2)
    w0 = c.weight.detach().clone()
    loss = nn.functional.cross_entropy(c(X), y)
    (grad,) = torch.autograd.grad(loss, c.weight)
    train_classifier(
        c, X, y, lr=0.1, num_steps=1, optimizer_cls=torch.optim.SGD
    )
    torch.testing.assert_close(c.weight.detach(), w0 - 0.1 * grad)


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "message"),
    [
        (torch.zeros(4, 2), torch.zeros(5, dtype=torch.long), {}, "y 有 5"),
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), {}, "X 应是2 阶"),
        (
            torch.zeros(4, 2, dtype=torch.long),
            torch.zeros(4, dtype=torch.long),
            {},
            "浮点",
        ),
        (torch.zeros(4, 2), torch.zeros(4), {}, "torch.long"),
        (
            torch.zeros(4, 2),
            torch.zeros(4, dtype=torch.long),
            {"lr": 0.0},
            "lr",
        ),
        (
            torch.zeros(4, 2),
            torch.zeros(4, dtype=torch.long),
            {"lr": -1.0},
            "lr",
        ),
        (
            torch.zeros(4, 2),
            torch.zeros(4, dtype=torch.long),
            {"num_steps": 0},
            "num_steps",
        ),
        (
            torch.zeros(4, 2),
            torch.zeros(4, dtype=torch.long),
            {"lr": float("inf")},
            "lr",
        ),
        (
            torch.full((4, 2), float("nan")),
            torch.zeros(4, dtype=torch.long),
            {},
            "NaN",
        ),
    ],
)
def test_train_classifier_rejects_bad_input(X, y, kwargs, message):
    args = {"lr": 0.1, "num_steps": 2, **kwargs}
    with bad_input(message):
        train_classifier(nn.Linear(2, 2), X, y, **args)


def test_count_parameters_skips_frozen_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    assert count_parameters(model) == 3 * 4 + 4 + 4 * 2 + 2
    model[0].weight.requires_grad_(False)
    assert count_parameters(model) == 4 + 4 * 2 + 2


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3"])
def test_check_positive_int_names_the_parameter(value):
    with bad_input("width"):
        check_positive_int("width", value)


def test_check_positive_int_accepts_numpy_integers():
    import numpy as np

    assert check_positive_int("width", np.int64(3)) == 3
    assert type(check_positive_int("width", np.int32(2))) is int


def test_train_minibatch_calls_back_before_and_after_each_epoch():
    from dlbasics.training import train_minibatch

    X, y = toy_data()
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    seen = []
    history = train_minibatch(
        model,
        X,
        y,
        X[:16],
        y[:16],
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        num_epochs=3,
        batch_size=16,
        generator=torch.Generator().manual_seed(0),
        val_every=2,
        callback=lambda epoch, m: seen.append((epoch, m.training)),
    )
    assert seen == [(0, True), (1, False), (2, False), (3, False)]
    assert len(history.train_losses) == len(history.train_accuracies) == 3
    assert len(history.val_accuracies) == 2  # 第 2 轮与最后一轮
    with pytest.raises(ValueError, match="val_every"):
        train_minibatch(
            model, X, y, X, y,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            num_epochs=1, batch_size=8,
            generator=torch.Generator().manual_seed(0), val_every=0,
        )  # fmt: skip


# ---------- 决策区域的网格 ----------


def test_predict_grid_labels_match_a_hand_built_model():
    # 手工构造的线性模型：x1 > 0 判为第 1 类，否则第 0 类
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        model.bias.zero_()
    xx, yy, labels = predict_grid(model, lim=1.0, resolution=21)
    assert xx.shape == yy.shape == labels.shape == (21, 21)
    assert ((labels == 1) == (xx > 0)).all()
    assert xx[0, 0] == -1.0 and yy[-1, 0] == 1.0  # 行对应 x2，列对应 x1
    with pytest.raises(ValueError, match="resolution"):
        predict_grid(model, resolution=1)


def test_square_grid_rows_follow_x2_and_points_flatten_the_grid():
    xx, yy, points = square_grid(2.0, 5)
    assert xx.shape == yy.shape == (5, 5) and points.shape == (25, 2)
    assert xx[0].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert yy[:, 0].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert points[6].tolist() == [xx[1, 1].item(), yy[1, 1].item()]
    assert square_grid(1.0, 3, dtype=torch.float64)[2].dtype == torch.float64
    with pytest.raises(ValueError, match="resolution"):
        square_grid(1.0, 1)
    with pytest.raises(ValueError, match="lim"):
        square_grid(0.0, 3)


def test_seeded_splits_draw_each_split_with_its_own_seed():
    def make(g):
        return torch.randn(4, generator=g)

    splits = seeded_splits(make, {"train": 0, "val": 1, "test": 0})
    assert list(splits) == ["train", "val", "test"]
    assert torch.equal(splits["train"], splits["test"])  # 同一个种子
    assert not torch.equal(splits["train"], splits["val"])
    assert torch.equal(
        splits["val"],
        torch.randn(4, generator=torch.Generator().manual_seed(1)),
    )
    with pytest.raises(ValueError, match="seeds\\['val'\\]"):
        seeded_splits(make, {"train": 0, "val": -1})
    with pytest.raises(TypeError, match="seeds"):
        seeded_splits(make, {})
    with pytest.raises(TypeError, match="make"):
        seeded_splits(None, {"train": 0})
