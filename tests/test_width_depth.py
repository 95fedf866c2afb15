"""dlbasics.width_depth 的测试：参数预算、线性区域计数、有效秩，
以及本章实验结论在固定种子下成立。"""

from __future__ import annotations

import math

import pytest
import torch

from dlbasics.activations import DeepMLP
from dlbasics.utils import count_parameters
from dlbasics.width_depth import (
    WidthDepthConfig,
    activation_patterns,
    budget_experiment,
    count_regions,
    dead_units_per_layer,
    deep_training_experiment,
    effective_rank,
    last_hidden_features,
    logit_spread,
    longer_training,
    make_network,
    make_splits,
    max_rebound,
    mlp_param_count,
    net_with_lines,
    region_count_experiment,
    region_grid,
    width_for_budget,
    width_redundancy_experiment,
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


def test_net_with_lines_checks_its_shapes():
    net = net_with_lines([[1.0, 2.0], [0.0, 1.0]], [0.5, -1.0])
    assert net.hidden[0].weight.tolist() == [[1.0, 2.0], [0.0, 1.0]]
    assert net.hidden[0].bias.tolist() == [0.5, -1.0]
    with pytest.raises(ValueError, match="weights"):
        net_with_lines([1.0, 2.0], [0.5])
    with pytest.raises(ValueError, match="biases"):
        net_with_lines([[1.0, 2.0]], [0.5, 1.0])


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


def test_zero_bias_network_has_only_wedges_through_the_origin():
    """偏置全为 0 时区域都是扇形：一层宽 w 的网络最多 2w 个区域。"""
    cfg = WidthDepthConfig()
    for seed in range(3):
        net = make_network(1, 20, seed, cfg)
        with torch.no_grad():
            net.hidden[0].bias.zero_()
        assert count_regions(net, cfg) <= 2 * 20
        # 偏置不为 0（本章的约定）时，区域多得多
        assert count_regions(make_network(1, 20, seed, cfg), cfg) > 2 * 20


def test_make_network_uses_the_chapter_initialisation():
    cfg = WidthDepthConfig()
    a, b = make_network(2, 50, 0, cfg), make_network(2, 50, 0, cfg)
    assert all(
        torch.equal(p, q)
        for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )
    bias = a.hidden[1].bias
    assert bias.std().item() == pytest.approx(cfg.bias_std, rel=0.3)
    assert a.hidden[1].weight.var().item() == pytest.approx(2 / 50, rel=0.2)


def test_max_rebound():
    assert max_rebound([3.0, 2.0, 1.0]) == 1.0
    assert max_rebound([1.0, 0.1, 0.5, 0.2]) == pytest.approx(5.0)


def test_splits_are_disjoint_draws_of_the_same_distribution():
    splits = make_splits(WidthDepthConfig())
    assert [len(splits[k][0]) for k in ("train", "val", "test")] == [900] * 3
    assert not torch.equal(splits["train"][0], splits["val"][0])


# ---------- 本章实验的结论（固定种子） ----------


TINY = WidthDepthConfig(
    n_per_class=20, budget=40, depths=(1, 2), seeds=(0, 1),
    lr_grid=(0.01, 0.1), num_steps=5, region_resolution=20,
    region_neurons=(4, 8), region_depths=(1, 2), region_budget=40,
    region_budget_depths=(1, 2), deep_depth=3, deep_width=4, deep_steps=5,
    widths=(4, 8), long_checkpoints=(5, 8),
)  # fmt: skip


def mean(values):
    return sum(values) / len(values)


def test_budget_experiment_tunes_each_depth_on_validation():
    budget = budget_experiment(TINY)
    assert set(budget) == set(TINY.depths)
    for result in budget.values():
        scores = {lr: mean(a) for lr, a in result.val_by_lr.items()}
        assert scores[result.lr] == max(scores.values())
        assert len(result.models) == len(TINY.seeds)
        assert len(result.test_accuracies) == len(TINY.seeds)
    again = budget_experiment(TINY)
    assert again[2].test_accuracies == budget[2].test_accuracies


def test_longer_training_starts_as_experiment_one():
    budget = budget_experiment(TINY)
    for depth in TINY.depths:
        r = budget[depth]
        for i, seed in enumerate(TINY.seeds):
            accs = longer_training(depth, seed, r.lr, TINY)
            assert sorted(accs) == list(TINY.long_checkpoints)
            # 前 num_steps 步与实验一完全相同
            assert accs[TINY.num_steps] == r.val_by_lr[r.lr][i]


def test_dead_units_per_layer_counts_units_silent_on_every_input():
    model = DeepMLP(2, 3)
    with torch.no_grad():
        model.hidden[0].bias.fill_(-100.0)  # 第 1 层对 [-1, 1]² 全部输出 0
        model.hidden[1].bias.fill_(1.0)  # 第 2 层输入恒为 0，输出恒为 1
    X = torch.rand(50, 2) * 2 - 1
    assert dead_units_per_layer(model, X) == [3, 0]
    assert logit_spread(model, X) < 1e-6  # 输出与输入无关
    with pytest.raises(TypeError):
        dead_units_per_layer(torch.nn.Linear(2, 3), X)


def test_other_experiments_cover_their_grids():
    regions = region_count_experiment(TINY)
    assert (2, 4) in regions and (1, 8) in regions
    assert all(len(c) == len(TINY.seeds) for c in regions.values())
    deep = deep_training_experiment(TINY)
    for runs in deep.values():
        assert [len(losses) for losses, _, _ in runs] == [
            TINY.deep_steps
        ] * len(TINY.seeds)
        assert all(spread >= 0 for _, _, spread in runs)
    assert set(width_redundancy_experiment(TINY)) == set(TINY.widths)


# ---------- 本章的结论：断言在构建时 glue 的数字上 ----------
# 这些数字由本章用默认的 WidthDepthConfig 算出；Binder 测试在全新环境里
# 重新执行本章，核对它们逐位相同。


def ok_depths(budget):
    return [d for d, r in budget.items() if min(r["test"]) > 0.9]


def test_chapter_chose_each_rate_on_validation(page):
    for result in page["budget_runs"].values():
        scores = {lr: mean(a) for lr, a in result["val_by_lr"].items()}
        assert scores[result["lr"]] == max(scores.values())
        assert result["n_models"] == page["n_seeds"]


def test_shallow_depths_are_comparable_and_too_narrow_fails(page):
    b = page["budget_runs"]
    ok = ok_depths(b)
    assert ok == [1, 2, 3]
    means = [mean(b[d]["test"]) for d in ok]
    seed_spread = max(max(b[d]["test"]) - min(b[d]["test"]) for d in ok)
    # “不相上下”：深度之间的差别不比同一深度内种子之间的差别大
    assert max(means) - min(means) <= seed_spread
    failed = [a for d in (4, 6) for a in b[d]["test"] if a < 0.4]
    assert len(failed) >= 2
    # 在这个预算里，其余的也比浅网络差
    worst_ok = min(min(b[d]["test"]) for d in ok)
    assert all(a < worst_ok for d in (4, 6) for a in b[d]["test"])


def test_narrow_failures_split_into_dead_layers_and_slow_learning(page):
    b, runs = page["budget_runs"], page["followup_runs"]
    cfg = WidthDepthConfig()
    narrow = sorted({int(key.split("x")[0]) for key in runs})
    assert narrow == [d for d in cfg.depths if d not in ok_depths(b)]
    for key, (dead, accs) in runs.items():
        depth, seed = map(int, key.split("x"))
        width = width_for_budget(cfg.budget, depth)
        val = b[depth]["val_by_lr"][b[depth]["lr"]][cfg.seeds.index(seed)]
        # 整层死掉的，正是停在瞎猜的；没有死层的，都不在瞎猜
        assert (width in dead) == (val < 0.4), key
        if accs is not None:
            # 前 num_steps 步与实验一完全相同
            assert accs[cfg.num_steps] == val
    assert page["n_layer_died"] == page["n_failed_runs"]
    assert page["died_all_chance"] is True
    # 学得慢的：训练更久继续上升（每个检查点都比上一个高），接近浅网络
    assert page["grow_last_min"] > page["grow_first_max"]
    assert (
        page["grow_last_min"]
        < page["ok_val_min"]
        < page["grow_last_max"] + 0.03
    )
    for key, (_, accs) in runs.items():
        if accs is not None and key.startswith(f"{min(narrow)}x"):
            steps = sorted(accs, key=int)
            values = [accs[s] for s in steps]
            assert values == sorted(values) and len(set(values)) == len(values)
    assert page["n_grow"] == 2
    # 更深的那一次：几乎不动，有一层只剩一个活单元
    assert page["n_deep_alive"] == 1
    assert abs(page["stuck_last"] - page["stuck_first"]) < 0.05
    assert page["stuck_live_min"] == 1
    # 整层死掉时，所有隐藏层的权重梯度恰好为 0
    assert page["dead_grad_max"] == 0.0


def test_region_counts_follow_neurons_not_depth(page):
    cfg, regions = WidthDepthConfig(), page["region_runs"]
    n_max = max(cfg.region_neurons)
    at_max = [mean(regions[(d, n_max // d)]) for d in cfg.region_depths]
    assert max(at_max) / min(at_max) < 1.2
    shapes = {
        d: width_for_budget(cfg.region_budget, d)
        for d in cfg.region_budget_depths
    }
    shallow = mean(regions[(1, shapes[1])])
    deeper = [mean(regions[(d, w)]) for d, w in shapes.items() if d > 1]
    assert shallow > 2 * max(deeper)
    # 训练前后的区域数在同一个量级
    budget = page["budget_runs"]
    for d in ok_depths(budget):
        ratio = sum(budget[d]["trained_regions"]) / sum(
            budget[d]["init_regions"]
        )
        assert 0.5 < ratio < 2


def test_deep_networks_sigmoid_fails_relu_spikes_and_smaller_lr_fixes_it(
    page,
):
    for end in ["min", "max"]:  # 停在瞎猜的损失
        assert abs(page[f"deep_sigmoid_loss_{end}"] - math.log(3)) < 0.01
    assert page["deep_sigmoid_acc_max"] < 0.4
    # 停住的是输出：logits 在不同输入之间几乎没有差别
    assert page["deep_sigmoid_spread_max"] < 1e-4
    assert page["deep_relu_spread_min"] > 1
    assert page["deep_relu_rebound_min"] > 3
    assert page["deep_relu_small_rebound_max"] < 3
    assert page["deep_relu_small_acc_min"] > 0.99
    assert page["deep_residual_acc_min"] > 0.75


def test_extra_width_adds_few_new_directions(page):
    widths = page["width_runs"]
    ranks = [rank for rank, _ in widths.values()]
    assert max(ranks) < 20 < max(widths)
    assert all(acc > 0.97 for _, acc in widths.values())
