"""dlbasics.width_depth 的测试：参数预算、线性区域计数、有效秩，
以及本章实验结论在固定种子下成立。"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from dlbasics.activations import DeepMLP, init_weights
from dlbasics.spiral import make_spiral
from dlbasics.training import evaluate, train_classifier
from dlbasics.utils import count_parameters
from dlbasics.width_depth import (
    WidthDepthConfig,
    activation_patterns,
    effective_rank,
    last_hidden_features,
    mlp_param_count,
    region_grid,
    width_for_budget,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("width", "depth"), [(1, 1), (16, 1), (7, 2), (5, 6)])
def test_param_count_formula_matches_the_model(width, depth):
    assert mlp_param_count(width, depth) == count_parameters(
        DeepMLP(depth, width)
    )


@pytest.mark.parametrize("budget", [100, 400, 1000, 5000])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 8])
def test_width_for_budget_lands_within_a_few_percent(budget, depth):
    width = width_for_budget(budget, depth)
    count = mlp_param_count(width, depth)
    # 宽度只能取整数；预算足够时误差在几个百分点以内，且是最优的整数
    if width >= 10:
        assert abs(count - budget) / budget < 0.05
    for other in (width - 1, width + 1):
        if other >= 1:
            assert abs(count - budget) <= abs(
                mlp_param_count(other, depth) - budget
            )


def test_budget_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="budget"):
        width_for_budget(0, 2)
    with pytest.raises(ValueError, match="depth"):
        mlp_param_count(4, 0)


def net_with_lines(weights, biases):
    net = DeepMLP(1, len(biases))
    with torch.no_grad():
        net.hidden[0].weight.copy_(torch.tensor(weights))
        net.hidden[0].bias.copy_(torch.tensor(biases))
    return net


def test_region_counts_on_hand_checkable_networks():
    assert region_grid(net_with_lines([[1.0, 0.0]], [0.0]))[1] == 2
    crossing = net_with_lines([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    assert region_grid(crossing)[1] == 4
    parallel = net_with_lines([[1.0, 0.0], [1.0, 0.0]], [0.0, -0.5])
    assert region_grid(parallel)[1] == 3
    # 折线落在网格之外：整块区域只有一种激活模式
    assert region_grid(net_with_lines([[1.0, 0.0]], [5.0]))[1] == 1
    # 三条一般位置的直线把平面分成 7 块
    three = net_with_lines(
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.1, -0.2, 0.5]
    )
    assert region_grid(three)[1] == 7


def test_region_labels_follow_the_grid_layout():
    labels, n = region_grid(net_with_lines([[1.0, 0.0]], [0.0]), resolution=10)
    assert labels.shape == (10, 10) and n == 2
    # 折线是 x1 = 0：左右两半各是一个区域
    assert (labels[:, :5] == labels[0, 0]).all()
    assert (labels[:, 5:] != labels[0, 0]).all()


def test_activation_patterns_need_relu():
    pts = torch.zeros(4, 2)
    assert activation_patterns(DeepMLP(2, 3), pts).shape == (4, 6)
    with pytest.raises(ValueError, match="ReLU"):
        activation_patterns(DeepMLP(2, 3, activation="tanh"), pts)


def test_effective_rank_counts_independent_directions():
    g = gen(0)
    base = torch.randn(500, 3, generator=g)
    mix = torch.randn(3, 40, generator=g)
    assert effective_rank(base @ mix) == 3  # 40 列，但只有 3 个独立方向
    assert effective_rank(torch.randn(500, 5, generator=g)) == 5
    with pytest.raises(ValueError, match="energy"):
        effective_rank(base, energy=0.0)


def test_last_hidden_features_shape():
    model = DeepMLP(3, 8)
    assert last_hidden_features(model, torch.zeros(5, 2)).shape == (5, 8)


# ---------- 本章实验的结论（固定种子） ----------


@functools.cache
def chapter_results() -> dict:
    cfg = WidthDepthConfig()
    X, y = make_spiral(generator=gen(12345))
    Xt, yt = make_spiral(generator=gen(2024))
    budget = {}
    for depth in cfg.depths:
        width = width_for_budget(cfg.budget, depth)
        runs = []
        for seed in cfg.seeds:
            torch.manual_seed(seed)
            model = DeepMLP(depth, width, activation="relu")
            train_classifier(model, X, y, lr=cfg.lr, num_steps=cfg.num_steps)
            runs.append((model, evaluate(model, Xt, yt)))
        budget[depth] = (width, runs)
    regions = {}
    for depth in cfg.region_depths:
        width = width_for_budget(cfg.region_budget, depth)
        regions[depth] = [
            region_grid(
                init_weights(DeepMLP(depth, width), "he", generator=gen(s)),
                lim=cfg.region_lim,
                resolution=cfg.region_resolution,
            )[1]
            for s in cfg.seeds
        ]
    deep = {}
    for label, (act, scheme, residual) in {
        "sigmoid": ("sigmoid", "default", False),
        "relu": ("relu", "he", False),
        "residual": ("sigmoid", "default", True),
    }.items():
        model = DeepMLP(
            cfg.deep_depth, cfg.deep_width, activation=act, residual=residual
        )
        init_weights(model, scheme, generator=gen(0))
        history = train_classifier(
            model, X, y, lr=cfg.lr, num_steps=cfg.deep_steps
        )
        deep[label] = (history, evaluate(model, Xt, yt))
    widths = {}
    for w in cfg.widths:
        model = init_weights(DeepMLP(1, w), "default", generator=gen(0))
        train_classifier(model, X, y, lr=cfg.lr, num_steps=cfg.num_steps)
        feats = last_hidden_features(model, X)
        widths[w] = (effective_rank(feats), evaluate(model, Xt, yt))
    return {"cfg": cfg, "X": X, "budget": budget, "regions": regions,
            "deep": deep, "widths": widths}  # fmt: skip


def mean_acc(runs):
    return sum(acc for _, acc in runs) / len(runs)


@pytest.mark.slow
def test_two_layers_beat_one_and_too_narrow_fails():
    b = chapter_results()["budget"]
    acc = {d: mean_acc(runs) for d, (_, runs) in b.items()}
    assert max(acc, key=acc.get) == 2
    assert acc[2] > 0.99 and acc[1] > 0.95
    assert acc[max(b)] < 0.6  # 最深最窄的网络训练失败


@pytest.mark.slow
def test_random_deep_networks_do_not_have_more_regions():
    regions = chapter_results()["regions"]
    mean = {d: sum(c) / len(c) for d, c in regions.items()}
    assert mean[1] > max(v for d, v in mean.items() if d > 1)


@pytest.mark.slow
def test_plain_deep_sigmoid_fails_where_relu_and_residual_train():
    deep = chapter_results()["deep"]
    history, acc = deep["sigmoid"]
    assert abs(history.final_loss - math.log(3)) < 0.01  # 停在瞎猜的损失
    assert acc < 0.4
    assert deep["relu"][1] > 0.95 and deep["residual"][1] > 0.95


@pytest.mark.slow
def test_extra_width_adds_few_new_directions():
    widths = chapter_results()["widths"]
    ranks = [r for r, _ in widths.values()]
    assert max(ranks) < 20 < max(widths)
    assert all(acc > 0.97 for _, acc in widths.values())


# ---------- 正文中的数字（tests/test_book.py 与页面比对） ----------


def book_numbers() -> dict[str, float]:
    """按 book/width_depth.md 的步骤独立重算正文引用的每个数字。"""
    r = chapter_results()
    cfg = r["cfg"]
    b = r["budget"]
    acc = {d: mean_acc(runs) for d, (_, runs) in b.items()}
    best = max(acc, key=acc.get)
    depth_mid = sorted(cfg.depths)[-2]
    region_mean = {d: sum(c) / len(c) for d, c in r["regions"].items()}
    model2 = b[2][1][0][0]
    torch.manual_seed(cfg.seeds[0])
    init2 = DeepMLP(2, b[2][0])
    grid = {"lim": cfg.region_lim, "resolution": cfg.region_resolution}
    w_min, w_max = min(cfg.widths), max(cfg.widths)
    return {
        "budget": cfg.budget,
        "depth_min": min(cfg.depths),
        "depth_max": max(cfg.depths),
        "lr": cfg.lr,
        "num_steps": cfg.num_steps,
        "n_seeds": len(cfg.seeds),
        "best_depth": best,
        "best_width": b[best][0],
        "best_acc": acc[best],
        "shallow_width": b[1][0],
        "shallow_acc": acc[1],
        "shallow_min": min(a for _, a in b[1][1]),
        "deep_fail_depth": max(cfg.depths),
        "deep_fail_width": b[max(cfg.depths)][0],
        "deep_fail_acc": acc[max(cfg.depths)],
        "depth_mid": depth_mid,
        "depth4_width": b[depth_mid][0],
        "depth4_acc": acc[depth_mid],
        "chance_acc": 1 / 3,
        "region_budget": cfg.region_budget,
        "region_lim": cfg.region_lim,
        "regions_shallow": region_mean[1],
        "regions_deep_max": max(v for d, v in region_mean.items() if d > 1),
        "trained_regions_2": region_grid(model2, **grid)[1],
        "init_regions_2": region_grid(init2, **grid)[1],
        "deep_depth": cfg.deep_depth,
        "deep_width": cfg.deep_width,
        "deep_steps": cfg.deep_steps,
        "deep_sigmoid_acc": r["deep"]["sigmoid"][1],
        "deep_sigmoid_loss": r["deep"]["sigmoid"][0].final_loss,
        "deep_relu_acc": r["deep"]["relu"][1],
        "deep_residual_acc": r["deep"]["residual"][1],
        "chance_loss": math.log(3),
        "width_min": w_min,
        "width_max": w_max,
        "rank_energy": 0.99,
        "rank_min_width": r["widths"][w_min][0],
        "rank_max_width": r["widths"][w_max][0],
        "acc_max_width": r["widths"][w_max][1],
        "acc_min_width": r["widths"][w_min][1],
    }
