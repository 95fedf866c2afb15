"""dlbasics.cnn 的测试：参数量与形状（与独立推导的数字比对）、增强函数、
以及本章实验结论在固定种子下成立。"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from dlbasics.cnn import (
    ALEXNET_PAPER,
    DigitsConfig,
    PlateauProbe,
    activation_experiment,
    alexnet,
    alexnet_small,
    capacity_experiment,
    count_macs,
    describe_blocks,
    digits_data,
    epochs_to_reach,
    format_layer_table,
    layer_table,
    lenet,
    lenet_small,
    load_digits_splits,
    make_augment,
    per_class_accuracy,
    plateau_end,
    plot_architecture,
    random_hflip,
    random_rotate,
    random_shift,
    regularization_experiment,
    select_and_train,
    train_digits,
)
from dlbasics.utils import count_parameters


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def conv_params(c_in, c_out, k, groups=1):
    return c_out * (c_in // groups * k * k + 1)


def fc_params(n_in, n_out):
    return n_out * (n_in + 1)


def test_lenet_parameter_count_and_shapes_by_hand():
    expected = (
        conv_params(1, 6, 5)
        + conv_params(6, 16, 5)
        + fc_params(16 * 5 * 5, 120)
        + fc_params(120, 84)
        + fc_params(84, 10)
    )
    assert expected == 61_706
    assert count_parameters(lenet()) == expected
    rows = layer_table(lenet(), (1, 28, 28))
    shapes = [
        r.output_shape for r in rows if r.name in ("Conv2d", "AvgPool2d")
    ]
    assert shapes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5)]
    assert lenet()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("groups", [1, 2])
def test_alexnet_parameter_count_by_hand(groups):
    # 224 → 55 → 27 → 13 → 6：卷积 11×11/4（填充 2）后三次 3×3/2 池化
    expected = (
        conv_params(3, 96, 11)
        + conv_params(96, 256, 5, groups)
        + conv_params(256, 384, 3)
        + conv_params(384, 384, 3, groups)
        + conv_params(384, 256, 3, groups)
        + fc_params(256 * 6 * 6, 4096)
        + fc_params(4096, 4096)
        + fc_params(4096, 1000)
    )
    assert count_parameters(alexnet(groups=groups)) == expected
    # 分组版本与论文的 “60 million” 相差不到 2%
    paper = ALEXNET_PAPER["params_wan"] * 10_000
    if groups == 2:
        assert abs(expected - paper) / paper < 0.02


def test_alexnet_feature_map_sizes():
    rows = layer_table(alexnet(), (3, 224, 224))
    sides = [
        r.output_shape[-1] for r in rows if r.name in ("Conv2d", "MaxPool2d")
    ]
    assert sides == [55, 27, 27, 13, 13, 13, 13, 6]
    assert rows[-1].output_shape == (1000,)
    # d2l 版本：单通道、10 类、第一层填充 1
    d2l = layer_table(alexnet(1, 10, conv1_padding=1), (1, 224, 224))
    assert [r.output_shape for r in d2l if r.name == "Flatten"] == [(6400,)]
    with pytest.raises(ValueError, match="groups"):
        alexnet(groups=3)


def test_meta_alexnet_has_the_same_table_without_allocating():
    real = layer_table(alexnet(groups=2), (3, 224, 224))
    meta_model = alexnet(groups=2, device="meta")
    assert next(meta_model.parameters()).is_meta
    assert layer_table(meta_model, (3, 224, 224)) == real


def test_layer_table_formats_as_markdown_with_total():
    table = format_layer_table(layer_table(lenet(), (1, 28, 28)))
    assert table.splitlines()[0] == "| 层 | 输出形状 | 参数个数 |"
    assert table.splitlines()[-1] == "| **合计** | | **61,706** |"


def test_describe_blocks_merges_activations():
    blocks = describe_blocks(lenet())
    assert [k for k, _ in blocks] == [
        "conv",
        "pool",
        "conv",
        "pool",
        "fc",
        "fc",
        "fc",
    ]
    assert blocks[0][1] == "卷积 5×5，6 通道 + sigmoid"
    alex = describe_blocks(alexnet())
    assert alex[0][1] == "卷积 11×11，96 通道，步幅 4 + ReLU"
    assert alex[-2][1] == "全连接 4096 + ReLU + dropout"


def test_small_networks_on_digits_shapes():
    x = torch.zeros(4, 1, 8, 8)
    assert lenet_small()(x).shape == (4, 10)
    assert alexnet_small()(x).shape == (4, 10)
    net = alexnet_small(dropout=0.5).train()  # dropout 生效时形状不变
    assert net(x).shape == (4, 10)
    with pytest.raises(ValueError, match="activation"):
        lenet_small("tanh")
    with pytest.raises(ValueError, match="dropout"):
        alexnet_small(dropout=1.0)


def splits_of(n_train=1000, n_val=300, seed=0):
    return load_digits_splits(n_train, n_val, generator=gen(seed))


def test_digits_splits_are_seeded_disjoint_and_scaled():
    splits = splits_of()
    (X, y), (Xv, _), (Xt, _) = splits["train"], splits["val"], splits["test"]
    assert X.shape == (1000, 1, 8, 8) and Xv.shape == (300, 1, 8, 8)
    assert Xt.shape == (497, 1, 8, 8)
    assert X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= X.min() and X.max() <= 1
    again = splits_of()
    assert torch.equal(X, again["train"][0])
    assert torch.equal(y, again["train"][1])
    # 三份之间没有重复的图片（数据集里本身没有重复图片的部分）
    train_rows = {tuple(r.tolist()) for r in X.flatten(1)}
    for other in (Xv, Xt):
        rows = [tuple(r.tolist()) for r in other.flatten(1)]
        assert sum(r in train_rows for r in rows) < 5
    with pytest.raises(ValueError, match="n_train"):
        load_digits_splits(0, 10, generator=gen(0))
    with pytest.raises(ValueError, match="n_val"):
        load_digits_splits(1700, 97, generator=gen(0))


def test_digits_data_takes_a_prefix_of_the_training_set():
    splits = splits_of()
    X, _, Xv, yv = digits_data(splits, 100)
    assert torch.equal(X, splits["train"][0][:100])
    assert torch.equal(yv, splits["val"][1]) and len(Xv) == 300


def test_augmentations_keep_shapes_and_labels():
    X = splits_of()["train"][0][:200]
    augment = make_augment(generator=gen(1))
    out = augment(X)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert not torch.equal(out, X)
    # 逐张处理、顺序不变（标签因此仍然对应）：第 i 张图中间有一块亮度为
    # i 的方块，小幅平移和旋转后，各图的总亮度仍按原顺序排列
    blobs = torch.zeros(20, 1, 8, 8)
    blobs[:, 0, 3:5, 3:5] = torch.arange(1.0, 21.0)[:, None, None]
    moved = augment(blobs)
    assert not torch.equal(moved, blobs)
    assert torch.equal(moved.sum(dim=(1, 2, 3)).argsort(), torch.arange(20))
    assert torch.equal(random_shift(X, 0, generator=gen(0)), X)
    torch.testing.assert_close(
        random_rotate(X, 0.0, generator=gen(0)), X, atol=1e-6, rtol=0
    )
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(X, -1, generator=gen(0))


def test_random_shift_equals_cropping_each_padded_image():
    x = torch.rand(30, 2, 8, 8, generator=gen(3))
    for shift in (1, 2):
        out = random_shift(x, shift, generator=gen(5))
        padded = torch.nn.functional.pad(x, (shift,) * 4)
        offsets = torch.randint(0, 2 * shift + 1, (30, 2), generator=gen(5))
        crops = [
            padded[i, :, dy : dy + 8, dx : dx + 8]
            for i, (dy, dx) in enumerate(offsets.tolist())
        ]
        assert torch.equal(out, torch.stack(crops)) and out.is_contiguous()


def test_random_hflip_flips_about_half_the_images():
    x = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(200, 1, 1, 1)
    out = random_hflip(x, generator=gen(0))
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (flipped ^ kept).all()
    assert 70 < flipped.sum().item() < 130


def test_random_shift_moves_content_by_at_most_the_limit():
    x = torch.zeros(50, 1, 8, 8)
    x[:, 0, 4, 4] = 1.0  # 中间一个亮点
    shifted = random_shift(x, 1, generator=gen(0))
    rows, cols = (shifted[:, 0] == 1).nonzero()[:, 1:].T
    assert ((rows - 4).abs() <= 1).all() and ((cols - 4).abs() <= 1).all()
    assert shifted.sum() == 50  # 亮点没有被移出图外
    assert (
        len(
            {(r, c) for r, c in zip(rows.tolist(), cols.tolist(), strict=True)}
        )
        > 1
    )


def test_epochs_to_reach():
    assert epochs_to_reach([0.1, 0.5, 0.8, 0.9], 0.75) == 3
    assert epochs_to_reach([0.1, 0.2], 0.75) is None


def test_train_digits_does_not_touch_the_global_rng():
    data = digits_data(splits_of(), 100)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    train_digits(
        lenet_small, data, lr=1e-2, num_epochs=1, batch_size=50, seed=0
    )
    assert torch.equal(torch.rand(3), before)
    with pytest.raises(ValueError, match="augment"):
        train_digits(
            lenet_small, data, lr=1e-2, num_epochs=1, batch_size=50, seed=0,
            augment="mixup",
        )  # fmt: skip


def test_plateau_probe_records_movement_and_output_spread():
    torch.manual_seed(0)
    model = lenet_small("relu")
    X = splits_of()["train"][0][:50]
    probe = PlateauProbe(X)
    probe(0, model)
    assert probe.movement == [0.0] and probe.logit_spread[0] > 0
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    probe(1, model)
    assert probe.movement[1] == pytest.approx(1.0, rel=1e-5)
    # 输出与输入无关的网络：各样本的 logits 完全一样，差异为 0
    constant = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        constant[1].weight.zero_()
    flat = PlateauProbe(X)
    flat(0, constant)
    assert flat.logit_spread[0] < 1e-6


def test_plateau_end_and_per_class_accuracy():
    assert plateau_end([0.1, 0.12, 0.3, 0.9], 0.2) == 3
    assert plateau_end([0.1, 0.1], 0.2) == 2
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([0.0, 1.0, 0.0]))  # 总是猜 1
    X = torch.zeros(4, 1, 2, 2)
    acc = per_class_accuracy(model, X, torch.tensor([0, 1, 1, 2]), 4)
    assert acc[:3] == [0.0, 1.0, 0.0] and math.isnan(acc[3])


def test_count_macs_by_hand():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),  # 8×8×4 个输出，每个 1×9 次乘加
        torch.nn.Flatten(),
        torch.nn.Linear(256, 10),
    )
    assert count_macs(net, (1, 8, 8)) == 8 * 8 * 4 * 9 + 256 * 10
    grouped = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, groups=2))
    assert count_macs(grouped, (4, 5, 5)) == 3 * 3 * 4 * 2 * 9


# ---------- 实验函数本身（极小的设置，几秒钟） ----------


TINY = DigitsConfig(
    n_train=60, n_val=40, seeds=(0, 1), batch_size=30,
    lenet_epochs=2, long_epochs=3, lenet_lr_grid=(1e-3, 1e-2),
    alex_epochs=2, alex_lr_grid=(1e-3, 1e-2),
    small_n_train=30, small_epochs=2, small_batch_size=30,
)  # fmt: skip


@functools.cache
def tiny_results() -> dict:
    splits = load_digits_splits(
        TINY.n_train, TINY.n_val, generator=gen(TINY.split_seed)
    )
    return {
        "act": activation_experiment(TINY, splits),
        "alex": capacity_experiment(TINY, splits),
        "regular": regularization_experiment(TINY, splits),
    }


def test_experiments_choose_the_rate_on_validation_and_repeat_each_seed():
    r = tiny_results()
    assert set(r["act"]["sigmoid"]) == {TINY.lenet_epochs, TINY.long_epochs}
    assert set(r["act"]["relu"]) == {TINY.lenet_epochs}
    selections = [
        (budget, sel)
        for by_budget in r["act"].values()
        for budget, sel in by_budget.items()
    ] + [(TINY.alex_epochs, r["alex"])]
    for budget, sel in selections:
        assert sel.val_by_lr[sel.lr] == max(sel.val_by_lr.values())
        assert len(sel.histories) == len(sel.models) == len(TINY.seeds)
        for history in sel.histories:  # 每个预算只看到它自己的轮数
            assert len(history.val_accuracies) == budget
        for probe in sel.probes:
            assert probe is None or len(probe.logit_spread) == budget + 1
    assert r["alex"].probes == [None, None]
    assert set(r["regular"]) == {
        "都不用", "dropout", "数据增强", "两者都用", "水平翻转",
    }  # fmt: skip
    for result in r["regular"].values():
        assert len(result.val_accuracies) == len(TINY.seeds)


def test_experiments_are_reproducible_from_their_seeds():
    again = activation_experiment(
        TINY,
        load_digits_splits(
            TINY.n_train, TINY.n_val, generator=gen(TINY.split_seed)
        ),
    )
    first = tiny_results()["act"]
    for act in ("sigmoid", "relu"):
        for budget, sel in first[act].items():
            assert [
                h.val_accuracies for h in again[act][budget].histories
            ] == [h.val_accuracies for h in sel.histories]


def test_a_shorter_budget_read_mid_run_equals_training_only_that_long():
    """select_and_train 从较长的训练中途读出较短预算的结果：模型与记录
    都和只训练那么多轮完全相同，所以同一次训练可以服务两个预算。"""
    data = digits_data(splits_of(60, 40), 60)
    both = select_and_train(
        lambda: lenet_small("sigmoid"), data, lr_grid=(1e-2, 3e-2),
        budgets=(2, 3), cfg=TINY,
    )  # fmt: skip
    short = select_and_train(
        lambda: lenet_small("sigmoid"), data, lr_grid=(1e-2, 3e-2),
        budgets=(2,), cfg=TINY,
    )[2]  # fmt: skip
    assert both[2].lr == short.lr and both[2].val_by_lr == short.val_by_lr
    for a, b in zip(both[2].models, short.models, strict=True):
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.equal(p, q)
    for a, b in zip(both[2].histories, short.histories, strict=True):
        assert a.val_accuracies == b.val_accuracies
        assert a.train_losses == b.train_losses
    assert all(len(h.val_accuracies) == 3 for h in both[3].histories)


# ---------- 本章的结论：断言在构建时 glue 的数字上 ----------
# 这些数字由本章用默认的 DigitsConfig 算出；Binder 测试在全新环境里
# 重新执行本章，核对它们逐位相同。


def test_relu_trains_much_faster_than_sigmoid(page):
    assert page["relu_n_reached"] == page["n_seeds_total"]
    # 正文：sigmoid 的每个种子都比 ReLU 最慢的种子慢 5 倍以上
    # （没有达到目标的种子按总轮数算）
    assert page["reach_ratio_min"] >= 5
    assert page["sigmoid_reach_min"] >= 5 * page["relu_reach_max"]


def test_sigmoid_plateau_moves_parameters_but_not_outputs(page):
    assert page["plateau_end_min"] >= 10  # 确实有一段平台期
    # 参数走出了超过自身大小的距离……
    assert page["plateau_move_min"] > 1.0
    # ……网络输出却几乎不随输入变化，直到平台期后半段
    assert page["sig_spread_half"] < 2e-3
    assert page["sig_spread_final_min"] > 1.0
    # 训练两轮后，ReLU 网络的差异是 sigmoid 网络的 100 倍以上
    assert page["relu_spread_ep2_min"] > 100 * page["sig_spread_ep2_max"]


def test_sigmoid_is_mostly_slow_not_unable_to_learn(page):
    # 60 轮：sigmoid 的每个种子都远低于 ReLU 的每个种子
    assert page["sigmoid_val_max"] < page["relu_val_min"] - 0.1
    # 100 轮（学习率按第 100 轮的验证准确率选）：与 ReLU 第 60 轮的范围重叠
    assert page["sig_long_val_max"] >= page["relu_val_min"]
    assert page["sig_long_val_min"] <= page["relu_val_max"]
    # 单独一轮有波动：最后 10 轮的平均也重叠
    last10 = page["last10_val"]
    assert max(last10["sig_long"]) >= min(last10["relu"])
    # ReLU 网络已经不再上升
    assert page["relu_val_mean"] <= page["relu_val_at_check"] + 0.005
    # 平均差距：十几个百分点，多训练 40 轮后只剩一两个
    assert page["gap_short_pts"] >= 10
    assert page["gap_long_pts"] < 2
    assert page["extra_epochs"] == page["long_epochs"] - page["lenet_epochs"]


def test_the_budget_decides_which_learning_rate_wins(page):
    """按第 60 轮与第 100 轮挑，选中的学习率不同：各自是那个预算内最好的。"""
    assert page["sig_long_lr"] != page["sigmoid_lr"]
    assert page["lr_short_at_short"] > page["lr_long_at_short"]
    assert page["lr_long_at_long"] > page["lr_short_at_long"]


def test_test_set_agrees_in_the_large_and_resolves_the_detail(page):
    assert page["test_sigmoid_max"] < page["test_lenet_min"]
    assert page["test_gap_short_pts"] > 5 * page["test_gap_long_pts"] > 0
    # 测试集上 100 轮的 sigmoid 与 ReLU 的范围不重叠（正文如此说）
    assert page["test_sigmoid_long_max"] < page["test_lenet_min"]
    # ReLU 的 LeNet 式网络与 AlexNet 式网络重叠
    assert page["test_lenet_min"] <= page["test_alex_max"]
    assert page["test_alex_min"] <= page["test_lenet_max"]
    assert page["one_val_image"] == pytest.approx(100 / page["n_val"])


def test_flipped_digits_split_as_the_solution_lists(page):
    plain = torch.tensor(page["flip_plain"])
    flipped = torch.tensor(page["flip_flipped"])
    assert plain.shape == flipped.shape == (page["n_seeds"], 10)
    assert plain.min().item() == pytest.approx(page["flip_plain_min"])
    assert page["flip_plain_min"] >= page["flip_high"]  # 原图都认得

    def digits(text):
        return [int(d) for d in text.split("、")] if text else []

    lost, kept = digits(page["flip_lost"]), digits(page["flip_kept"])
    middle = digits(page["flip_middle"])
    assert sorted(lost + kept + middle) == list(range(10))
    assert len(lost) == page["flip_n_lost"] >= 4
    for d in lost:
        assert flipped[:, d].max() < page["flip_low"]
    for d in kept:
        assert flipped[:, d].min() >= page["flip_high"]
    for d in middle:
        assert not flipped[:, d].max() < page["flip_low"]
        assert not flipped[:, d].min() >= page["flip_high"]


def test_bigger_network_learns_faster_but_the_small_one_catches_up(page):
    # 早期：AlexNet 式网络的每个种子都领先
    assert page["cap_alex_early_min"] > page["cap_lenet_early_max"]
    # 收敛时：两组的范围重叠（“不相上下”）
    assert page["cap_alex_final_min"] <= page["cap_lenet_final_max"]
    assert page["cap_lenet_final_min"] <= page["cap_alex_final_max"]
    assert page["macs_ratio"] > 10
    assert page["macs_ratio"] == pytest.approx(
        count_macs(alexnet_small(), (1, 8, 8))
        / count_macs(lenet_small(), (1, 8, 8))
    )


def test_dropout_and_augmentation_shrink_the_overfitting_gap(page):
    labels = {
        "none": "都不用", "drop": "dropout", "aug": "数据增强",
        "both": "两者都用", "flip": "水平翻转",
    }  # fmt: skip

    def gap(key):
        return page[f"reg_{key}_gap"]

    assert page["reg_none_train_min"] == 1.0  # 把训练集完全背下
    for key in ["drop", "aug", "both"]:
        assert gap(key) < gap("none"), labels[key]
    # 单独使用时，每个种子都比“都不用”的每个种子好
    for key in ["drop", "aug"]:
        assert page[f"reg_{key}_val_min"] > page["reg_none_val_max"]
    # 两者都用：差距最小，但验证准确率不比单用一种好，训练集也没学全
    assert gap("both") == min(gap(key) for key in labels)
    assert page["reg_both_val_mean"] < page["reg_aug_val_mean"]
    assert page["reg_both_train_max"] < 0.99
    # 水平翻转与不增强相当（范围重叠），不如平移加旋转
    assert page["reg_flip_val_min"] <= page["reg_none_val_max"]
    assert page["reg_none_val_min"] <= page["reg_flip_val_max"]
    assert page["reg_flip_val_max"] < page["reg_aug_val_min"]


# ---------- 本章的图 ----------


def test_plot_architecture_draws_one_box_per_block():
    import matplotlib.pyplot as plt

    blocks = describe_blocks(lenet())
    ax = plot_architecture(blocks, title="LeNet", n_rows=len(blocks) + 2)
    assert len(ax.patches) == len(blocks)
    assert ax.get_ylim()[1] == pytest.approx(len(blocks) + 2.1)
    with pytest.raises(ValueError, match="conv、pool、fc 或 other"):
        plot_architecture([("dense", "x")])
    plt.close("all")
