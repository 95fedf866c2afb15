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
    plot_logit_plane,
    training_snapshots,
)
from dlbasics.training import predict_grid, train_classifier
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
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": -2}, "num_classes"),
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


# ---------- 本章的结论：对构建时 glue 的数字断言 ----------


def test_splits_are_three_different_draws():
    splits = make_splits(SpiralConfig())
    assert set(splits) == {"train", "val", "test"}
    xs = [splits[k][0] for k in ("train", "val", "test")]
    assert all(x.shape == (3000, 2) for x in xs)
    assert not torch.equal(xs[0], xs[1]) and not torch.equal(xs[1], xs[2])
    assert torch.equal(splits["train"][1], splits["test"][1])  # 标签顺序相同


def test_linear_model_stays_near_chance_and_two_layer_net_learns(page):
    assert page["linear_val_acc"] < 0.6
    assert page["norelu_val_acc"] < 0.6
    assert page["mlp_val_acc"] > 0.95
    assert page["mlp_test_acc"] > 0.95
    # “学到的是形状而不是死记”：验证与训练准确率相差不到 2 个百分点
    assert abs(page["mlp_train_acc"] - page["mlp_val_acc"]) < 0.02


def test_linear_model_has_converged_at_its_ceiling(page):
    # 线性模型不是没训练好：后半程损失几乎不再下降
    assert page["linear_loss_at_half"] - page["linear_final_loss"] < 0.03
    assert page["mlp_final_loss"] < page["linear_final_loss"] / 5


def test_the_plain_loop_and_the_library_loop_agree(page):
    assert page["plain_loop_matches"] is True


def test_without_relu_the_two_layers_collapse_to_one(page):
    assert page["collapse_max_diff"] < 1e-4
    assert abs(page["merged_val_acc"] - page["norelu_val_acc"]) < 0.01
    # “和线性模型一样”
    assert abs(page["norelu_val_acc"] - page["linear_val_acc"]) < 0.02


def test_the_nyu_sgd_setting_does_not_learn_in_its_budget(page):
    # “和线性模型差不多”
    assert abs(page["mlp_sgd_val_acc"] - page["linear_val_acc"]) < 0.03
    # 几乎没动的是隐藏层；输出层动得多得多
    assert page["sgd_moved_0"] < 0.05
    assert page["sgd_moved_2"] > 5 * page["sgd_moved_0"]


def test_training_is_reproducible():
    X, y = make_spiral(30, 3, 0.2, generator=torch.Generator().manual_seed(0))
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = make_two_layer_net(2, 16, 3)
        runs.append(train_classifier(model, X, y, lr=0.01, num_steps=20))
    assert runs[0].train_losses == runs[1].train_losses


# ---------- 本章的图 ----------


def test_plot_logit_plane_draws_grid_points_and_three_boundaries():
    X, y = make_spiral(20, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    ax = plot_logit_plane(make_two_layer_net(), X, y, n_lines=5)
    assert len(ax.get_lines()) == 2 * 5 + 3
    assert len(ax.collections) == 3


# ---------- 训练过程中的决策区域（滑块图） ----------


def test_snapshots_replay_train_classifier_bit_for_bit():
    X, y = make_spiral(30, generator=gen(0))
    torch.manual_seed(3)
    trained = make_two_layer_net(2, 8, 3)
    torch.manual_seed(3)
    replay = make_two_layer_net(2, 8, 3)
    history = train_classifier(trained, X, y, lr=0.05, num_steps=12)
    snaps = training_snapshots(
        replay, X, y, lr=0.05, steps=[0, 5, 12], resolution=20
    )
    assert [s.step for s in snaps] == [0, 5, 12]
    for a, b in zip(trained.parameters(), replay.parameters(), strict=True):
        assert torch.equal(a, b)
    # 训练准确率与 train_classifier 记下的同一步一致（它记的是更新前的）
    assert snaps[1].train_accuracy == history.train_accuracies[5]
    assert snaps[0].train_accuracy == history.train_accuracies[0]
    _, _, labels = predict_grid(trained, resolution=20)
    assert (snaps[-1].labels == labels).all()
    assert snaps[0].labels.shape == (20, 20)
    assert not (snaps[0].labels == snaps[-1].labels).all()


def test_snapshot_steps_must_be_increasing():
    X, y = make_spiral(5, generator=gen(0))
    with bad_input("不重复、从小到大"):
        training_snapshots(make_linear_model(), X, y, lr=0.1, steps=[3, 1])
    with bad_input("steps 应是步数的列表"):
        training_snapshots(make_linear_model(), X, y, lr=0.1, steps=5)


def test_decision_regions_grow_as_the_page_says(page):
    assert page["replay_matches_mlp"] is True
    accs = page["snap_acc_by_step"]
    assert accs[0] == page["snap_acc_0"]
    # “不比瞎猜（三分之一）好”
    assert page["snap_acc_0"] <= 1 / 3
    # “第一次达到 90% 以上”
    first = page["snap_first_90"]
    target = page["snap_target"]
    assert accs[first] >= target > max(a for s, a in accs.items() if s < first)
    assert accs[max(accs)] == page["mlp_train_acc"]
    assert page["snap_major_share"] > 0.5
