"""dlbasics.cnn 的测试：参数量与形状（与独立推导的数字比对）、增强函数、
以及本章实验结论在固定种子下成立。"""

from __future__ import annotations

import functools

import pytest
import torch

from dlbasics.cnn import (
    ALEXNET_PAPER,
    DigitsConfig,
    alexnet,
    alexnet_small,
    describe_blocks,
    epochs_to_reach,
    format_layer_table,
    layer_table,
    lenet,
    lenet_small,
    load_digits_split,
    make_augment,
    random_rotate,
    random_shift,
    train_digits,
)
from dlbasics.training import evaluate
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
    # 224 → 55 → 27 → 13 → 6：卷积 11×11/4（填充 2）后三次 3×3/2 汇聚
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


def test_digits_split_is_seeded_disjoint_and_scaled():
    X, y, Xt, _ = load_digits_split(1000, generator=gen(0))
    assert X.shape == (1000, 1, 8, 8) and Xt.shape == (797, 1, 8, 8)
    assert X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= X.min() and X.max() <= 1
    X2, y2, _, _ = load_digits_split(1000, generator=gen(0))
    assert torch.equal(X, X2) and torch.equal(y, y2)
    # 训练集与测试集没有重复的图片
    train_rows = {tuple(r.tolist()) for r in X.flatten(1)}
    assert not any(
        tuple(r.tolist()) in train_rows for r in Xt.flatten(1)[:200]
    )
    with pytest.raises(ValueError, match="n_train"):
        load_digits_split(0, generator=gen(0))


def test_augmentations_keep_shapes_and_labels():
    X, _, _, _ = load_digits_split(200, generator=gen(0))
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
    data = load_digits_split(100, generator=gen(0))
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    train_digits(
        lenet_small, data, lr=1e-2, num_epochs=1, batch_size=50, seed=0
    )
    assert torch.equal(torch.rand(3), before)


# ---------- 本章实验的结论（固定种子；这些测试较慢） ----------


@functools.cache
def chapter_results() -> dict:
    """按 book/cnn.md 的步骤跑一遍三个实验，结果缓存供多个测试共用。"""
    cfg = DigitsConfig()
    data = load_digits_split(cfg.n_train, generator=gen(cfg.split_seed))
    lenet_runs = {
        act: [
            train_digits(
                lambda act=act: lenet_small(act),
                data,
                lr=cfg.lenet_lr,
                num_epochs=cfg.lenet_epochs,
                batch_size=cfg.batch_size,
                seed=s,
            )[1]
            for s in cfg.seeds
        ]
        for act in ["sigmoid", "relu"]
    }
    alex_runs = [
        train_digits(
            alexnet_small,
            data,
            lr=cfg.alex_lr,
            num_epochs=cfg.alex_epochs,
            batch_size=cfg.batch_size,
            seed=s,
        )[1]
        for s in cfg.seeds
    ]
    small = load_digits_split(cfg.small_n_train, generator=gen(cfg.split_seed))
    regular = {}
    for dropout in [0.0, 0.5]:
        for augment_on in [False, True]:
            train_accs, test_accs = [], []
            for s in cfg.seeds:
                model, h = train_digits(
                    lambda dropout=dropout: lenet_small(
                        "relu", dropout=dropout
                    ),
                    small,
                    lr=cfg.small_lr,
                    num_epochs=cfg.small_epochs,
                    batch_size=cfg.small_batch_size,
                    seed=s,
                    augment=augment_on,
                    max_shift=cfg.max_shift,
                    max_degrees=cfg.max_degrees,
                    test_every=cfg.small_epochs,
                )
                train_accs.append(evaluate(model, small[0], small[1]))
                test_accs.append(h.test_acc[-1])
            regular[(dropout > 0, augment_on)] = (
                torch.tensor(train_accs),
                torch.tensor(test_accs),
            )
    return {
        "cfg": cfg,
        "data": data,
        "lenet": lenet_runs,
        "alex": alex_runs,
        "regular": regular,
    }


@pytest.mark.slow
def test_relu_trains_much_faster_than_sigmoid():
    r = chapter_results()
    cfg = r["cfg"]
    reach = {
        act: [epochs_to_reach(h.train_acc, cfg.target_acc) for h in runs]
        for act, runs in r["lenet"].items()
    }
    assert None not in reach["relu"] and None not in reach["sigmoid"]
    assert max(reach["relu"]) * 3 < min(reach["sigmoid"])


@pytest.mark.slow
def test_deeper_wider_network_is_more_accurate():
    r = chapter_results()
    epoch = r["cfg"].alex_epochs
    lenet_acc = torch.tensor(
        [h.test_acc[epoch - 1] for h in r["lenet"]["relu"]]
    )
    alex_acc = torch.tensor([h.test_acc[-1] for h in r["alex"]])
    assert alex_acc.mean() > lenet_acc.mean()
    assert count_parameters(alexnet_small()) > 4 * count_parameters(
        lenet_small()
    )


@pytest.mark.slow
def test_dropout_and_augmentation_shrink_the_overfitting_gap():
    reg = chapter_results()["regular"]

    def gap(key):
        train, test = reg[key]
        return (train - test).mean().item()

    none = (False, False)
    assert reg[none][0].mean() == 1.0  # 不加正则化时把训练集完全背下
    for key in [(True, False), (False, True), (True, True)]:
        assert gap(key) < gap(none)
    # 单独使用时，测试准确率的提升超过种子间的标准差
    for key in [(True, False), (False, True)]:
        gain = reg[key][1].mean() - reg[none][1].mean()
        assert gain > reg[key][1].std()
    # 正文的说法：两者都用时差距最小，但测试准确率不比单用一种好，
    # 训练准确率也明显低于 100%（还没学充分）
    both = (True, True)
    assert gap(both) == min(gap(k) for k in reg)
    assert reg[both][1].mean() <= max(
        reg[(True, False)][1].mean(), reg[(False, True)][1].mean()
    )
    assert reg[both][0].mean() < 0.97


# ---------- 正文中的数字（tests/test_book.py 与页面比对） ----------


def book_numbers() -> dict[str, float]:
    """按 book/cnn.md 的步骤独立重算正文引用的每个数字。"""
    r = chapter_results()
    cfg = r["cfg"]
    X_train, y_train, X_test, _ = r["data"]
    n_lenet = count_parameters(lenet())
    n_alex = count_parameters(alexnet())
    alex_rows = layer_table(alexnet(), (3, 224, 224))
    fc = sum(row.num_params for row in alex_rows if row.name == "Linear")
    out = {f"paper_{k}": v for k, v in ALEXNET_PAPER.items()}
    out |= {
        "paper_top5": ALEXNET_PAPER["top5_error"],
        "paper_runner_up": ALEXNET_PAPER["runner_up_top5_error"],
        "n_seeds": len(cfg.seeds),
        "n_lenet": n_lenet,
        "n_alex": n_alex,
        "n_alex_grouped": count_parameters(alexnet(groups=2)),
        "n_alex_d2l": count_parameters(alexnet(1, 10, conv1_padding=1)),
        "alex_over_lenet": n_alex / n_lenet,
        "alex_fc_share": fc / n_alex,
        "alex_conv1_side": alex_rows[0].output_shape[-1],
        "n_train": len(X_train),
        "n_digits": len(X_train) + len(X_test),
        "n_digit_classes": int(y_train.max()) + 1,
        "chance_acc": 1 / (int(y_train.max()) + 1),
        "n_lenet_small": count_parameters(lenet_small("relu")),
        "n_alex_small": count_parameters(alexnet_small()),
        "n_test": len(X_test),
        "lenet_lr": cfg.lenet_lr,
        "lenet_epochs": cfg.lenet_epochs,
        "target_acc": cfg.target_acc,
        "alex_epochs": cfg.alex_epochs,
        "small_n_train": cfg.small_n_train,
        "max_shift": cfg.max_shift,
        "max_degrees": cfg.max_degrees,
    }
    reach = {
        act: [epochs_to_reach(h.train_acc, cfg.target_acc) for h in runs]
        for act, runs in r["lenet"].items()
    }
    mean_reach = {act: sum(v) / len(v) for act, v in reach.items()}
    out["reach_relu"] = mean_reach["relu"]
    out["reach_sigmoid"] = mean_reach["sigmoid"]
    out["reach_ratio"] = mean_reach["sigmoid"] / mean_reach["relu"]
    for act in ["relu", "sigmoid"]:
        final = torch.tensor([h.test_acc[-1] for h in r["lenet"][act]])
        out[f"lenet_{act}_test"] = final.mean().item()
    lenet_acc = torch.tensor(
        [h.test_acc[cfg.alex_epochs - 1] for h in r["lenet"]["relu"]]
    )
    alex_acc = torch.tensor([h.test_acc[-1] for h in r["alex"]])
    out |= {
        "cap_lenet_mean": lenet_acc.mean().item(),
        "cap_lenet_std": lenet_acc.std().item(),
        "cap_alex_mean": alex_acc.mean().item(),
        "cap_alex_std": alex_acc.std().item(),
    }
    names = {
        (False, False): "none",
        (True, False): "drop",
        (False, True): "aug",
        (True, True): "both",
    }
    for key, tag in names.items():
        train, test = r["regular"][key]
        out[f"reg_{tag}_train"] = train.mean().item()
        out[f"reg_{tag}_test"] = test.mean().item()
        out[f"reg_{tag}_test_std"] = test.std().item()
        out[f"reg_{tag}_gap"] = (train - test).mean().item()
    return out
