"""dlbasics.spiral 的测试：数据、模型、合并、网格预测与本章的结论。"""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch
from torch import nn

from conftest import bad_input
from dlbasics.spiral import (
    SpiralConfig,
    collapse_linear_layers,
    grid_lines,
    logit_plane,
    make_linear_model,
    make_spiral,
    make_splits,
    make_two_layer_net,
    predict_grid,
)
from dlbasics.training import evaluate, train_classifier
from dlbasics.utils import count_parameters


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------- 数据 ----------


def test_make_spiral_shapes_dtypes_and_balanced_labels():
    X, y = make_spiral(200, 4, 0.1, generator=gen(0))
    assert X.shape == (800, 2) and X.dtype == torch.float32
    assert y.shape == (800,) and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [200, 200, 200, 200]
    # 按类别依次排列
    assert torch.equal(y, torch.arange(4).repeat_interleave(200))


def test_make_spiral_is_deterministic_given_a_seed():
    a = make_spiral(100, 3, 0.2, generator=gen(7))
    b = make_spiral(100, 3, 0.2, generator=gen(7))
    c = make_spiral(100, 3, 0.2, generator=gen(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_make_spiral_radius_is_t_whatever_the_noise():
    # 噪声只加在角度上：第 i 个点到原点的距离恰好是 t = i / (n - 1)
    n = 51
    X, _ = make_spiral(n, 3, 0.7, generator=gen(1))
    radius = X.norm(dim=1).reshape(3, n)
    t = torch.linspace(0, 1, n)
    torch.testing.assert_close(radius, t.expand(3, n), atol=1e-6, rtol=0)


def test_make_spiral_without_noise_follows_the_formula():
    n, C = 11, 3
    X, _ = make_spiral(n, C, 0.0, generator=gen(0))
    X = X.reshape(C, n, 2)
    for c in range(C):
        end = 2 * math.pi / C * (c + 2)  # t = 1 时的角度
        expected = torch.tensor([math.sin(end), math.cos(end)])
        torch.testing.assert_close(X[c, -1], expected, atol=1e-6, rtol=0)
        assert X[c, 0].abs().max() == 0  # t = 0 时在原点


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_classes": 0}, "n_classes"),
        ({"n_classes": -2}, "n_classes"),
        ({"n_per_class": 0}, "n_per_class"),
        ({"n_per_class": 2.5}, "n_per_class"),
        ({"n_per_class": True}, "n_per_class"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
    ],
)
def test_make_spiral_rejects_bad_input(kwargs, message):
    with bad_input(message):
        make_spiral(**kwargs)


# ---------- 模型 ----------


def test_model_shapes_and_parameter_counts():
    x = torch.zeros(5, 2)
    assert make_linear_model(2, 3)(x).shape == (5, 3)
    net = make_two_layer_net(2, 100, 3)
    assert net(x).shape == (5, 3)
    # 2·3 + 3 = 9；(2·100 + 100) + (100·3 + 3) = 603
    assert count_parameters(make_linear_model(2, 3)) == 9
    assert count_parameters(net) == 603
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear]
    no_relu = make_two_layer_net(2, 100, 3, relu=False)
    assert [type(m) for m in no_relu] == [nn.Linear, nn.Linear]


def test_two_layer_net_rejects_zero_width():
    with pytest.raises(ValueError, match="num_hiddens"):
        make_two_layer_net(2, 0, 3)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_collapse_linear_layers_gives_the_same_outputs(depth):
    torch.manual_seed(0)
    sizes = [2, 7, 5, 6, 3][: depth + 1]
    model = nn.Sequential(*(nn.Linear(a, b) for a, b in pairwise(sizes)))
    merged = collapse_linear_layers(model)
    assert isinstance(merged, nn.Linear)
    assert merged.weight.shape == (sizes[-1], 2)
    x = torch.randn(64, 2)
    with torch.no_grad():
        torch.testing.assert_close(merged(x), model(x), atol=1e-5, rtol=1e-5)


def test_collapse_refuses_models_with_a_nonlinearity():
    with pytest.raises(ValueError, match="ReLU"):
        collapse_linear_layers(make_two_layer_net(2, 4, 3))
    with pytest.raises(ValueError, match="空模型"):
        collapse_linear_layers(nn.Sequential())


# ---------- 网格与 logit 平面 ----------


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


def test_logit_plane_ignores_a_common_shift_and_keeps_distances():
    torch.manual_seed(0)
    logits = torch.randn(10, 3)
    shifted = logits + torch.randn(10, 1)
    torch.testing.assert_close(logit_plane(logits), logit_plane(shifted))
    # 投影基是正交归一的：平面内的向量长度不变
    centered = logits - logits.mean(dim=1, keepdim=True)
    torch.testing.assert_close(
        logit_plane(logits).norm(dim=1), centered.norm(dim=1)
    )
    with pytest.raises(ValueError, match="3 类"):
        logit_plane(torch.zeros(2, 4))


def test_grid_lines_are_horizontal_then_vertical():
    lines = grid_lines(lim=1.0, n_lines=5, n_points=9)
    assert lines.shape == (10, 9, 2)
    horizontal, vertical = lines[:5], lines[5:]
    # 横线上 x2 不变，竖线上 x1 不变
    assert (horizontal[:, :, 1] == horizontal[:, :1, 1]).all()
    assert (vertical[:, :, 0] == vertical[:, :1, 0]).all()
    with pytest.raises(ValueError):
        grid_lines(n_lines=1)


# ---------- 本章的结论（固定种子下的阈值） ----------


def train(model_fn, cfg: SpiralConfig, X, y):
    torch.manual_seed(cfg.init_seed)
    model = model_fn()
    history = train_classifier(model, X, y, lr=cfg.lr, num_steps=cfg.num_steps)
    return model, history


@pytest.fixture(scope="module")
def chapter_results():
    cfg = SpiralConfig()
    splits = make_splits(cfg)
    models = {
        "linear": lambda: make_linear_model(2, cfg.n_classes),
        "mlp": lambda: make_two_layer_net(2, cfg.num_hiddens, cfg.n_classes),
        "no_relu": lambda: make_two_layer_net(
            2, cfg.num_hiddens, cfg.n_classes, relu=False
        ),
    }
    out = {}
    for name, fn in models.items():
        model, history = train(fn, cfg, *splits["train"])
        out[name] = (evaluate(model, *splits["val"]), history)
    return out


def test_splits_are_three_different_draws():
    splits = make_splits(SpiralConfig())
    assert set(splits) == {"train", "val", "test"}
    xs = [splits[k][0] for k in ("train", "val", "test")]
    assert all(x.shape == (3000, 2) for x in xs)
    assert not torch.equal(xs[0], xs[1]) and not torch.equal(xs[1], xs[2])
    assert torch.equal(splits["train"][1], splits["test"][1])  # 标签顺序相同


def test_linear_model_stays_near_chance_and_two_layer_net_learns(
    chapter_results,
):
    assert chapter_results["linear"][0] < 0.6
    assert chapter_results["no_relu"][0] < 0.6
    assert chapter_results["mlp"][0] > 0.95


def test_linear_model_has_converged_at_its_ceiling(chapter_results):
    # 线性模型不是没训练好：后半程损失几乎不再下降
    losses = chapter_results["linear"][1].losses
    half = len(losses) // 2
    assert losses[half] - losses[-1] < 0.03


def test_training_is_reproducible(chapter_results):
    cfg = SpiralConfig()
    X, y = make_splits(cfg)["train"]
    _, history = train(lambda: make_linear_model(2, cfg.n_classes), cfg, X, y)
    assert history.losses == chapter_results["linear"][1].losses


# ---------- 正文中的数字（tests/test_book.py 与页面比对） ----------


def book_numbers() -> dict[str, float]:
    """按本章的步骤，用 dlbasics 重算正文引用的每个数字。"""
    cfg = SpiralConfig()
    splits = make_splits(cfg)
    X, y = splits["train"]
    val, test = splits["val"], splits["test"]

    def trained(make, **kwargs):
        torch.manual_seed(cfg.init_seed)
        model = make()
        args = {"lr": cfg.lr, "num_steps": cfg.num_steps, **kwargs}
        return model, train_classifier(model, X, y, **args)

    linear, h_lin = trained(lambda: make_linear_model(2, cfg.n_classes))
    mlp, h_mlp = trained(
        lambda: make_two_layer_net(2, cfg.num_hiddens, cfg.n_classes)
    )
    no_relu, _ = trained(
        lambda: make_two_layer_net(
            2, cfg.num_hiddens, cfg.n_classes, relu=False
        )
    )
    merged = collapse_linear_layers(no_relu)
    with torch.no_grad():
        max_diff = (no_relu(X) - merged(X)).abs().max().item()
    mlp_sgd, _ = trained(
        lambda: make_two_layer_net(2, cfg.num_hiddens, cfg.n_classes),
        lr=cfg.nyu_sgd_lr,
        num_steps=cfg.nyu_sgd_steps,
        optimizer_cls=torch.optim.SGD,
    )
    return {
        "n_per_class": cfg.n_per_class,
        "n_classes": cfg.n_classes,
        "n_total": cfg.n_per_class * cfg.n_classes,
        "noise": cfg.noise,
        "num_hiddens": cfg.num_hiddens,
        "lr": cfg.lr,
        "num_steps": cfg.num_steps,
        "nyu_sgd_lr": cfg.nyu_sgd_lr,
        "nyu_sgd_steps": cfg.nyu_sgd_steps,
        "linear_params": count_parameters(linear),
        "mlp_params": count_parameters(mlp),
        "norelu_params": count_parameters(no_relu),
        "linear_train_acc": evaluate(linear, X, y),
        "linear_val_acc": evaluate(linear, *val),
        "mlp_train_acc": evaluate(mlp, X, y),
        "mlp_val_acc": evaluate(mlp, *val),
        "mlp_test_acc": evaluate(mlp, *test),
        "linear_final_loss": h_lin.final_loss,
        "linear_loss_at_half": h_lin.losses[cfg.num_steps // 2],
        "mlp_final_loss": h_mlp.final_loss,
        "half_steps": cfg.num_steps // 2,
        "norelu_val_acc": evaluate(no_relu, *val),
        "merged_val_acc": evaluate(merged, *val),
        "collapse_max_diff": max_diff,
        "mlp_sgd_val_acc": evaluate(mlp_sgd, *val),
    }
