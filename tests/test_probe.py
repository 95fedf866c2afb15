"""坏值探针的第二张表：第一张表（``probes_common.PROBES``）之外的每个公开
函数与类。

每个参数换上一串坏值（类型不对、NaN/inf、负数、空张量、整数当浮点……），
大小、个数、步数类的参数还换上一个“合法但大得离谱”的值（10⁶ 到 10¹²）。
每次调用都要在 20 秒内结束：要么抛出指名参数的 ValueError/TypeError，
要么（``Accepted`` 包着的值）正常返回。超过 20 秒由 SIGALRM 打断，测试失败。

``test_every_public_callable_is_probed_or_exempt`` 保证包里的每个公开函数与类
都在这两张表里，或者在 ``EXEMPT`` 里写明了原因。
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from conftest import (
    BAD_COUNTS,
    BAD_GENERATOR,
    BAD_NONNEGATIVE,
    BAD_POSITIVE,
    INF,
    NAN,
    bad_labels,
    bad_tensors,
    gen,
)
from dlbasics import (
    activations,
    backprop,
    cnn,
    conv,
    generalization,
    optimizers,
    plotting,
    softmax,
    spiral,
    tensors,
    training,
    utils,
    width_depth,
)
from probes_common import (
    DIGIT_LABELS,
    IMAGES,
    LINE_X,
    LINE_Y,
    X2,
    Y2,
    TookTooLong,
    assert_refused_naming_a_parameter,
    time_limit,
)
from probes_common import PROBES as FIRST_PROBES


@dataclass(frozen=True)
class Accepted:
    """合法的值（通常是很大的数）：调用应在 20 秒内正常返回。"""

    value: object


def huge(*dims: int) -> torch.Tensor:
    """一个很大、却不占内存的张量（全 0 的广播视图）。"""
    return torch.zeros(1).expand(*dims)


X1 = torch.linspace(-1, 1, 6, dtype=torch.float64)
Y1 = torch.sin(X1)
DIGITS = (IMAGES, DIGIT_LABELS, IMAGES, DIGIT_LABELS)
SPLITS = {"train": (IMAGES, DIGIT_LABELS), "val": (IMAGES, DIGIT_LABELS)}
BP_PARAMS, BP_X, BP_T = backprop.example()
TINY_DIGITS = cnn.DigitsConfig(
    n_train=6, n_val=6, seeds=(0,), batch_size=6, lenet_epochs=1,
    long_epochs=2, lenet_lr_grid=(0.01,), alex_epochs=1, alex_lr_grid=(0.01,),
    early_epoch=1, small_n_train=6, small_epochs=1, small_batch_size=6,
)  # fmt: skip
TINY_GEN = generalization.GeneralizationConfig(
    n_train=5, n_val=5, n_test=5, data_seeds=(0,), degrees=(0, 2),
    high_degree=3, weight_decays=(0.0, 0.1), num_hiddens=4, num_steps=2,
    eval_every=1,
)  # fmt: skip
TINY_OPT = optimizers.OptimizerConfig(
    n_points=6, budget_epochs=1, lr_grid=(0.1,), order_seeds=(1,),
    sens_steps=2, sweep_lrs=(0.1,), scale_sizes=(6,),
)  # fmt: skip
TINY_WD = width_depth.WidthDepthConfig(
    n_per_class=5, depths=(1, 2), seeds=(0,), lr_grid=(0.1,), num_steps=2,
    long_checkpoints=(2, 3), region_resolution=8, region_neurons=(4,),
    region_depths=(1, 2), region_budget=60, region_budget_depths=(1,),
    deep_depth=2, deep_width=3, deep_steps=2, widths=(3,),
)  # fmt: skip
TINY_GRAD = activations.GradientConfig(
    depth=2, width=3, n_per_class=3, seeds=(0,)
)
TINY_DOUBLE = softmax.DoubleSoftmaxConfig(num_steps=2, init_seeds=(0,))
TINY_CHOICE = softmax.LossChoiceConfig(
    lrs=(1.0,), num_steps=2, init_seeds=(0,)
)
BIG = [10**12]

# (函数或类, 合法的关键字参数, {参数名: [坏值, ...]})
PROBES = [
    # ---------- activations ----------
    (
        activations.autograd_derivative,
        {"fn": torch.tanh, "x": torch.zeros(3)},
        {
            "fn": [None, 3],
            "x": [None, [1.0], torch.zeros(3, dtype=torch.long)],
        },
    ),
    (
        activations.GradientConfig,
        {},
        {
            "depth": [*BAD_COUNTS, 10**9],
            "width": [*BAD_COUNTS, 10**7],
            "n_per_class": [*BAD_COUNTS, 10**12],
            "data_seed": [-1, 1.5, None],
            "seeds": [None, (), (-1,), (0.5,), tuple(range(10**6))],
        },
    ),
    (
        activations.gradient_norms_by_setting,
        {"cfg": TINY_GRAD},
        {"cfg": [None, "cfg"]},
    ),
    (
        activations.first_to_last_ratio,
        {"norms": torch.ones(2, 3)},
        {"norms": bad_tensors((2, 3))},
    ),
    (
        activations.geometric_mean,
        {"values": torch.ones(3)},
        {
            "values": [
                *bad_tensors((3,)),
                torch.tensor([1.0, 0.0]),
                torch.tensor([1.0, NAN]),
            ]
        },
    ),
    (
        activations.preactivation_rms,
        {
            "activation": "relu",
            "scheme": "he",
            "depth": 2,
            "width": 3,
            "n_samples": 4,
            "generator": gen(),
        },
        {
            "activation": [None, "swish"],
            "scheme": [None, "orthogonal"],
            "depth": [*BAD_COUNTS, 10**9],
            "width": [*BAD_COUNTS, 10**7],
            "n_samples": [*BAD_COUNTS, 10**12],
            "generator": BAD_GENERATOR,
        },
    ),
    # ---------- backprop ----------
    *[
        (
            fn,
            {"params": BP_PARAMS, "x": BP_X, "t": BP_T},
            {
                "params": [None, {}, {**BP_PARAMS, "W1": torch.zeros(2, 3)}],
                "x": [None, torch.zeros(3), BP_X.long()],
                "t": [NAN, INF, "1", None],
            },
        )
        for fn in (
            backprop.forward,
            backprop.backward,
            backprop.autograd_gradients,
        )
    ],
    (
        backprop.finite_difference_gradients,
        {"params": BP_PARAMS, "x": BP_X, "t": BP_T},
        {
            "params": [None, {}],
            "x": [None, torch.zeros(3)],
            "t": [NAN, "1"],
            "eps": [0.0, -1.0, NAN, INF, "0.1", None, 2.0],
        },
    ),
    (
        backprop.max_abs_difference,
        {"a": {"w": torch.zeros(2)}, "b": {"w": torch.ones(2)}},
        {"a": [None, [1.0]], "b": [None, {"v": torch.zeros(2)}]},
    ),
    (
        backprop.graph_functions,
        {"tensor": (torch.ones(2, requires_grad=True) * 2).sum()},
        {"tensor": [None, torch.zeros(2)]},
    ),
    (
        backprop.plot_graph,
        {
            "values": {
                **BP_PARAMS,
                "x": BP_X,
                **backprop.forward(*backprop.example()),
            }
        },
        {"values": [None, {}, {"x": BP_X}], "grads": [3, "x"], "ax": ["axes"]},
    ),
    # ---------- cnn ----------
    (
        cnn.DigitsConfig,
        {},
        {
            "n_train": [*BAD_COUNTS, 10**12],
            "n_val": [*BAD_COUNTS, 10**12],
            "seeds": [None, (), (-1,), tuple(range(10**6))],
            "batch_size": [*BAD_COUNTS, Accepted(10**12)],
            "lenet_epochs": [*BAD_COUNTS, 10**12],
            "long_epochs": [*BAD_COUNTS, 10**12],
            "lenet_lr_grid": [None, (), (0.0,), (NAN,)],
            "alex_epochs": [*BAD_COUNTS, 10**12],
            "target_acc": [NAN, 1.5],
            "small_epochs": [*BAD_COUNTS, 10**12],
            "small_lr": BAD_POSITIVE,
            "max_shift": [-1, 1.5, 10**12],
            "max_degrees": [NAN, -1.0, 720.0],
        },
    ),
    (
        cnn.alexnet_small,
        {},
        {"activation": ["tanh", None], "dropout": [1.0, -0.1, NAN, "0.5"]},
    ),
    (
        cnn.random_hflip,
        {"x": IMAGES, "generator": gen()},
        {"x": bad_tensors((6, 1, 8, 8)), "generator": BAD_GENERATOR},
    ),
    (
        cnn.random_shift,
        {"x": IMAGES, "max_shift": 1, "generator": gen()},
        {"max_shift": [10**6, 10**12]},
    ),
    (
        cnn.format_layer_table,
        {"rows": cnn.layer_table(cnn.lenet(), (1, 28, 28))},
        {"rows": [None, "rows", [1, 2]]},
    ),
    (
        cnn.describe_blocks,
        {"model": cnn.lenet_small()},
        {"model": [None, nn.Linear(2, 2)]},
    ),
    (
        cnn.epochs_to_reach,
        {"accuracies": [0.1, 0.5], "target": 0.4},
        {"accuracies": [None, "0.5", [NAN]], "target": [NAN, 1.5, -0.1, None]},
    ),
    (
        cnn.PlateauProbe,
        {"X_probe": IMAGES},
        {"X_probe": [None, torch.zeros(3), IMAGES.long(), IMAGES[:0]]},
    ),
    (
        cnn.select_and_train,
        {
            "make_model": cnn.lenet_small,
            "data": DIGITS,
            "lr_grid": (0.01,),
            "budgets": (1,),
            "cfg": TINY_DIGITS,
        },
        {
            "make_model": [None, 3],
            "data": [None, DIGITS[:2]],
            "lr_grid": [None, (), (0.0,), (NAN,), 0.01],
            "budgets": [None, (), (0,), (1.5,), (10**9,)],
            "cfg": [None, "cfg"],
            "probe_inputs": ["x", IMAGES.long(), torch.zeros(3)],
        },
    ),
    (
        cnn.digits_data,
        {"splits": SPLITS},
        {
            "splits": [None, {}, {"train": 1}],
            # None 是 n_train 的默认值（整个训练集），不算坏值
            "n_train": [v for v in BAD_COUNTS if v is not None],
        },
    ),
    *[
        (
            fn,
            {"cfg": TINY_DIGITS, "splits": SPLITS},
            {"cfg": [None, "cfg"], "splits": [None, {}]},
        )
        for fn in (
            cnn.activation_experiment,
            cnn.capacity_experiment,
            cnn.regularization_experiment,
        )
    ],
    (
        cnn.plateau_end,
        {"train_acc": [0.1, 0.5], "threshold": 0.2},
        {"train_acc": [None, [], "0.5"], "threshold": [NAN, 1.5, None]},
    ),
    (
        cnn.plot_architecture,
        {"blocks": cnn.describe_blocks(cnn.lenet_small())},
        {
            "blocks": [None, [("x", "y")], [("conv",)]],
            "ax": ["axes"],
            "n_rows": [-1, "3", Accepted(10**12)],
        },
    ),
    (
        cnn.train_digits,
        {
            "make_model": cnn.lenet_small,
            "data": DIGITS,
            "lr": 0.01,
            "num_epochs": 1,
            "batch_size": 3,
            "seed": 0,
        },
        {
            "num_epochs": [10**9, 10**12],
            "batch_size": [Accepted(10**12)],
            "max_shift": [-1, 1.5, 10**12],
            "max_degrees": [NAN, 720.0],
            "val_every": [*BAD_COUNTS, Accepted(10**12)],
            "callback": [3, "record"],
        },
    ),
    # ---------- conv ----------
    (
        conv.corr2d,
        {"X": torch.zeros(4, 4), "K": torch.ones(2, 2)},
        {
            "X": [*bad_tensors((4, 4)), huge(10**5, 10**5)],
            "K": [None, torch.zeros(5, 5), torch.ones(2, 2).long()],
        },
    ),
    (
        conv.conv_output_size,
        {"n": 8, "k": 3},
        {
            "n": [*BAD_COUNTS, Accepted(10**12)],
            "k": [*BAD_COUNTS, 100],
            "padding": [-1, 1.5, None, Accepted(10**12)],
            "stride": [*BAD_COUNTS, Accepted(10**12)],
        },
    ),
    (
        conv.corr2d_multi_in,
        {"X": torch.zeros(2, 4, 4), "K": torch.ones(2, 2, 2)},
        {
            "X": [*bad_tensors((2, 4, 4)), huge(10**6, 10**3, 10**3)],
            "K": [None, torch.zeros(3, 2, 2)],
        },
    ),
    (
        conv.corr2d_multi_in_out,
        {"X": torch.zeros(2, 4, 4), "K": torch.ones(3, 2, 2, 2)},
        {
            "X": [None, torch.zeros(4, 4), torch.zeros(3, 4, 4)],
            "K": [None, torch.zeros(2, 2, 2), huge(10**6, 2, 2, 2)],
        },
    ),
    (
        conv.pool2d,
        {"X": torch.zeros(4, 4), "size": 2},
        {
            "X": [*bad_tensors((4, 4)), huge(10**5, 10**5)],
            "size": [*BAD_COUNTS, 5, 10**12],
            "stride": [0, 1.5, "2"],
            "mode": [None, "min"],
        },
    ),
    (
        conv.conv_vs_dense_params,
        {"height": 8, "width": 8, "in_channels": 1, "out_channels": 2, "k": 3},
        {
            "height": [*BAD_COUNTS, Accepted(10**12)],
            "width": BAD_COUNTS,
            "in_channels": BAD_COUNTS,
            "out_channels": [*BAD_COUNTS, Accepted(10**12)],
            "k": [*BAD_COUNTS, 2],
        },
    ),
    (
        conv.learn_kernel,
        {
            "X": torch.zeros(4, 4),
            "Y": torch.zeros(4, 3),
            "kernel_shape": (1, 2),
            "lr": 0.1,
            "num_steps": 2,
            "generator": gen(),
        },
        {
            "X": [*bad_tensors((4, 4)), torch.full((4, 4), NAN)],
            "Y": [None, torch.zeros(3, 3)],
            "kernel_shape": [None, (1,), (0, 2), "12"],
            "lr": BAD_POSITIVE,
            "num_steps": [*BAD_COUNTS, 10**12],
            "generator": BAD_GENERATOR,
        },
    ),
    (
        conv.plot_matrix,
        {"M": torch.eye(3)},
        {
            "M": [None, torch.zeros(3), torch.zeros(0, 3), huge(10**4, 10**4)],
            "ax": ["axes"],
            "highlight": ["x", (1, 2), (0, 0, -1, 1)],
            "fmt": [3, None],
        },
    ),
    (
        conv.receptive_field,
        {"kernel_sizes": [3, 3], "strides": [1, 2]},
        {
            "kernel_sizes": [None, [3], [0, 3], [3.5, 3], "33"],
            "strides": [None, [1, 0], [1, "2"]],
        },
    ),
    # ---------- generalization ----------
    (
        generalization.GeneralizationConfig,
        {},
        {
            "n_train": [*BAD_COUNTS, 10**12],
            "n_val": [*BAD_COUNTS, 10**12],
            "noise": BAD_NONNEGATIVE,
            "data_seeds": [None, (), (-1,), tuple(range(10**6))],
            "degrees": [None, (), (-1,), (10**9,)],
            "high_degree": [-1, 1.5, 10**9],
            "weight_decays": [None, (), (-1.0,), (NAN,)],
            "num_hiddens": [*BAD_COUNTS, 10**7],
            "lr": BAD_POSITIVE,
            "num_steps": [*BAD_COUNTS, 10**12],
            "eval_every": BAD_COUNTS,
            "dropout": [1.0, -0.1, NAN],
            "input_jitter": BAD_NONNEGATIVE,
        },
    ),
    (
        generalization.target_function,
        {"x": X1},
        {"x": [None, [1.0], X1.long(), X1[:0]]},
    ),
    (
        generalization.make_data,
        {"n": 4, "noise": 0.1, "generator": gen()},
        {
            "n": [*BAD_COUNTS, 10**12],
            "noise": BAD_NONNEGATIVE,
            "generator": BAD_GENERATOR,
        },
    ),
    (
        generalization.make_splits,
        {"cfg": TINY_GEN, "data_seed": 0},
        {"cfg": [None, "cfg"], "data_seed": [-1, 1.5, None]},
    ),
    (
        generalization.poly_features,
        {"x": X1, "degree": 2},
        {
            "x": [None, X1[:, None], X1.long()],
            "degree": [-1, 1.5, None, 10**9],
        },
    ),
    (
        generalization.fit_polynomial,
        {"x": X1, "y": Y1, "degree": 2},
        {
            "x": [None, X1[:3], X1.long(), torch.full_like(X1, NAN)],
            "y": [None, Y1[:, None], torch.full_like(Y1, INF)],
            "degree": [-1, 1.5, None, 10**9],
            "weight_decay": BAD_NONNEGATIVE,
        },
    ),
    (
        generalization.poly_mse,
        {"w": torch.ones(3, dtype=torch.float64), "x": X1, "y": Y1},
        {"w": [None, torch.ones(3, dtype=torch.long)], "x": [None]},
    ),
    *[
        (fn, {"cfg": TINY_GEN}, {"cfg": [None, "cfg"]})
        for fn in (
            generalization.degree_sweep,
            generalization.weight_decay_sweep,
            generalization.regularization_runs,
            generalization.noise_floor,
        )
    ],
    (
        generalization.make_mlp,
        {"num_hiddens": 3},
        {"num_hiddens": [*BAD_COUNTS, 10**7], "dropout": [1.0, -0.1, NAN]},
    ),
    (
        generalization.train_mlp,
        {
            "data": generalization.make_splits(TINY_GEN, 0),
            "cfg": TINY_GEN,
            "seed": 0,
        },
        {
            "data": [None, {}, {"train": (X1, Y1)}],
            "cfg": [None, "cfg"],
            "weight_decay": BAD_NONNEGATIVE,
            "dropout": [1.0, -0.1, NAN],
            "input_jitter": BAD_NONNEGATIVE,
            "seed": [-1, 1.5, None],
        },
    ),
    (
        generalization.plot_sweep,
        {"result": generalization.degree_sweep(TINY_GEN), "xlabel": "次数"},
        {
            "result": [None, "result"],
            "ax": ["axes"],
            "xlabel": [None, 3],
            "floor": [NAN, -1.0, "0.1"],
        },
    ),
    (
        generalization.plot_curves,
        {"curves": generalization.regularization_runs(TINY_GEN)["暂退法"]},
        {"curves": [None, [], [1]], "ax": ["axes"]},
    ),
]

PROBES += [
    # ---------- optimizers ----------
    (
        optimizers.RMSProp,
        {"params": [torch.zeros(2, requires_grad=True)]},
        {
            "lr": [-0.1, NAN, INF, "0.1", None],
            "alpha": [1.0, -0.1, NAN],
            "eps": [-1e-8, NAN],
        },
    ),
    (
        optimizers.line_mse,
        {"X": LINE_X, "y": LINE_Y, "w": 1.0, "b": 0.0},
        {
            "X": [None, LINE_X[:, 0], LINE_X.long()],
            "y": [LINE_Y[:3], torch.full_like(LINE_Y, NAN)],
            "w": [NAN, "1"],
            "b": [INF, None],
        },
    ),
    (
        optimizers.least_squares,
        {"X": LINE_X, "y": LINE_Y},
        {"X": [None, LINE_X[:, 0], LINE_X[:0]], "y": [LINE_Y[:3], None]},
    ),
    (
        optimizers.OptimizerConfig,
        {},
        {
            "n_points": [*BAD_COUNTS, 10**12],
            "noise": BAD_NONNEGATIVE,
            "x_range": [None, (1.0,), (2.0, 1.0)],
            "train_seed": [-1, 1.5],
            "notes_steps": [*BAD_COUNTS, 10**12],
            "budget_epochs": [*BAD_COUNTS, 10**12],
            "lr_grid": [None, (), (0.0,), (NAN,)],
            "order_seeds": [None, (), (-1,), tuple(range(10**6))],
            "sens_steps": [*BAD_COUNTS, 10**12],
            "sweep_lrs": [None, (), (-1.0,)],
            "scale_sizes": [None, (), (0,), (10**12,)],
            "scale_tolerance": BAD_POSITIVE,
        },
    ),
    (
        optimizers.make_splits,
        {"cfg": TINY_OPT},
        {"cfg": [None, "cfg"], "x_range": [(1.0,), (2.0, 1.0), "01"]},
    ),
    (
        optimizers.last_epoch_mean,
        {"values": [1.0, 0.5], "n": 4, "batch_size": 2},
        {
            "values": [None, [], "1"],
            "n": [*BAD_COUNTS, Accepted(10**12)],
            "batch_size": [*BAD_COUNTS, Accepted(10**12)],
        },
    ),
    *[
        (fn, {"cfg": TINY_OPT}, {"cfg": [None, "cfg"]})
        for fn in (
            optimizers.budget_experiment,
            optimizers.sensitivity_experiment,
        )
    ],
    (
        optimizers.gd_lr_bound,
        {"X": LINE_X},
        {
            "X": [
                None,
                LINE_X[:, 0],
                LINE_X.long(),
                torch.full_like(LINE_X, NAN),
            ]
        },
    ),
    (
        optimizers.samples_to_reach,
        {
            "method": optimizers.Method("sgd", 2),
            "lr": 0.1,
            "X": LINE_X,
            "y": LINE_Y,
            "target": 10.0,
            "max_samples": 20,
            "generator": gen(),
        },
        {
            "method": [None, "sgd"],
            "lr": [-0.1, NAN, None],
            "X": [None, LINE_X[:, 0]],
            "y": [LINE_Y[:3]],
            "target": [NAN, "1", None],
            "max_samples": [*BAD_COUNTS, 10**12],
            "generator": BAD_GENERATOR,
        },
    ),
    (
        optimizers.scale_experiment,
        {"cfg": TINY_OPT, "lrs": {"SGD（批量 1）": 0.1}},
        {
            "cfg": [None, "cfg"],
            "lrs": [None, {"adam": 0.1}, {"SGD（批量 1）": -1.0}, "sgd"],
        },
    ),
    (
        optimizers.epochs_to_reach,
        {
            "run": optimizers.RegressionRun([1.0, 0.5], [(0, 0)] * 2, [0, 1]),
            "target": 0.6,
        },
        {"run": [None, "run"], "target": [NAN, None]},
    ),
    # ---------- plotting ----------
    (
        plotting.class_cmap,
        {"num_classes": 3},
        {"num_classes": [0, 7, "3", None, 2.5, True]},
    ),
    (plotting.new_axes, {"ax": None}, {"ax": ["axes", 3]}),
    (
        plotting.check_points,
        {"X": X2, "y": Y2},
        {
            "X": [None, X2[:, :1], X2.long()],
            "y": [*bad_labels(len(X2)), torch.full((len(X2),), 99)],
        },
    ),
    (
        plotting.plot_decision_regions,
        {
            "model": spiral.make_linear_model(),
            "X": X2,
            "y": Y2,
            "resolution": 5,
        },
        {
            "model": [None, "model"],
            "X": [None, X2[:, :1]],
            "y": bad_labels(len(X2)),
            "ax": ["axes"],
            "lim": BAD_POSITIVE,
            "resolution": [1, 2.5, None, 10**6],
        },
    ),
    # ---------- softmax ----------
    *[
        (
            fn,
            {"logits": torch.zeros(2, 3)},
            {
                "logits": [
                    None,
                    [0.0],
                    torch.zeros(2, 3, dtype=torch.long),
                    torch.zeros(2, 0),
                ]
            },
        )
        for fn in (softmax.softmax_naive, softmax.log_softmax)
    ],
    (
        softmax.DoubleSoftmaxConfig,
        {},
        {
            "lr": BAD_POSITIVE,
            "num_steps": [*BAD_COUNTS, 10**12],
            "init_seeds": [None, (), (-1,), tuple(range(10**6))],
        },
    ),
    (
        softmax.double_softmax_experiment,
        {"X": X2, "y": Y2, "cfg": TINY_DOUBLE},
        {
            "X": [*bad_tensors(tuple(X2.shape)), torch.full_like(X2, NAN)],
            "y": bad_labels(len(X2)),
            "cfg": [None, "cfg"],
        },
    ),
    (
        softmax.mse_on_probabilities,
        {"logits": torch.zeros(3, 4), "y": torch.zeros(3, dtype=torch.long)},
        {
            "logits": bad_tensors((3, 4)),
            "y": [*bad_labels(3), torch.full((3,), 4, dtype=torch.long)],
        },
    ),
    (
        softmax.LossChoiceConfig,
        {},
        {
            "init_scale": BAD_POSITIVE,
            "lrs": [None, (), (0.0,), (NAN,)],
            "num_steps": [*BAD_COUNTS, 10**12],
            "init_seeds": [None, (), (-1,), tuple(range(10**6))],
            "target_acc": [NAN, 1.5, -0.1],
        },
    ),
    (
        softmax.loss_choice_experiment,
        {"train": (X2, Y2), "val": (X2, Y2), "cfg": TINY_CHOICE},
        {
            "train": [None, (X2,), (X2.long(), Y2), (X2, Y2[:3])],
            "val": [None, (X2, Y2.float())],
            "cfg": [None, "cfg"],
        },
    ),
    # ---------- spiral ----------
    (
        spiral.SpiralConfig,
        {},
        {
            "n_per_class": [*BAD_COUNTS, 10**12],
            "num_classes": [*BAD_COUNTS, 10**12],
            "noise": BAD_NONNEGATIVE,
            "data_seed": [-1, 1.5, None],
            "num_hiddens": [*BAD_COUNTS, 10**12],
            "lr": BAD_POSITIVE,
            "num_steps": [*BAD_COUNTS, 10**12],
            "nyu_sgd_steps": [*BAD_COUNTS, 10**12],
        },
    ),
    (
        spiral.make_linear_model,
        {},
        {
            "in_features": [*BAD_COUNTS, 10**12],
            "num_classes": [*BAD_COUNTS, 10**12],
        },
    ),
    (
        spiral.make_splits,
        {"cfg": spiral.SpiralConfig(n_per_class=4)},
        {"cfg": [None, "cfg"]},
    ),
    (
        spiral.plot_logit_plane,
        {"model": spiral.make_linear_model(), "X": X2, "y": Y2, "n_lines": 3},
        {
            "model": [None, "model", nn.Linear(2, 4)],
            "X": [None, X2[:, :1]],
            "y": bad_labels(len(X2)),
            "ax": ["axes"],
            "n_lines": [1, 2.5, None, 10**6],
        },
    ),
    (
        spiral.training_snapshots,
        {
            "model": spiral.make_linear_model(),
            "X": X2,
            "y": Y2,
            "lr": 0.1,
            "steps": [0, 2],
            "resolution": 4,
        },
        {
            "steps": [[0, 10**12]],
            "lim": BAD_POSITIVE,
            "resolution": [1, 2.5, 10**6],
        },
    ),
    # ---------- tensors ----------
    (
        tensors.HistogramDemo,
        {},
        {
            "n": [*BAD_COUNTS, 10**12],
            "bins": [*BAD_COUNTS, 10**12],
            "seed": [-1, 1.5, None],
        },
    ),
    (tensors.describe, {"x": torch.zeros(2)}, {"x": [None, [1.0], 3]}),
    (
        tensors.associativity_gap,
        {"A": torch.ones(2, 3), "B": torch.ones(3, 4), "C": torch.ones(4, 2)},
        {
            "A": [None, torch.ones(2, 2), torch.ones(2, 3).long()],
            "B": [None, torch.ones(3)],
            "C": [torch.ones(4, 2).double(), torch.ones(3, 2)],
        },
    ),
    (
        tensors.TinyMLP,
        {"in_features": 2, "num_hiddens": 3, "out_features": 1},
        {
            "in_features": [*BAD_COUNTS, 10**12],
            "num_hiddens": [*BAD_COUNTS, 10**12],
            "out_features": [*BAD_COUNTS, 10**12],
            "dropout": [1.0, -0.1, NAN, "0.5"],
        },
    ),
    (
        tensors.NoisyLineDataset,
        {"n": 4, "generator": gen()},
        {"n": [*BAD_COUNTS, 10**12], "generator": BAD_GENERATOR},
    ),
    (
        tensors.make_loader,
        {
            "dataset": tensors.NoisyLineDataset(4, generator=gen()),
            "batch_size": 2,
            "seed": 0,
        },
        {
            "dataset": [None, [1, 2]],
            "batch_size": [*BAD_COUNTS, Accepted(10**12)],
            "seed": [-1, 1.5, None],
        },
    ),
    (tensors.choose_device, {"prefer": "cpu"}, {"prefer": [None, "tpu", 3]}),
    (
        tensors.plot_histogram_with_density,
        {"sample": torch.randn(20, generator=gen()), "bins": 5},
        {"bins": [10**7, 10**12], "ax": ["axes"]},
    ),
    # ---------- training ----------
    (
        training.evaluate,
        {"model": spiral.make_linear_model(), "X": X2, "y": Y2},
        {
            "model": [None, "model"],
            "X": [None, X2[:, 0], X2[:0]],
            "y": bad_labels(len(X2)),
        },
    ),
    (
        training.train_classifier,
        {
            "model": spiral.make_linear_model(),
            "X": X2,
            "y": Y2,
            "lr": 0.1,
            "num_steps": 1,
        },
        {"num_steps": [10**9, 10**12]},
    ),
    (
        training.train_minibatch,
        {
            "model": cnn.lenet_small(),
            "X": IMAGES,
            "y": DIGIT_LABELS,
            "X_val": IMAGES,
            "y_val": DIGIT_LABELS,
            "optimizer": torch.optim.SGD(
                [torch.zeros(1, requires_grad=True)], 0.1
            ),
            "num_epochs": 1,
            "batch_size": 3,
            "generator": gen(),
        },
        {
            "model": [None, "model"],
            "X": [None, IMAGES[:0], IMAGES[:, 0, 0, 0]],
            "y": bad_labels(len(IMAGES)),
            "X_val": [None],
            "y_val": [DIGIT_LABELS[:2]],
            "optimizer": [None, torch.optim.SGD],
            "num_epochs": [*BAD_COUNTS, 10**9, 10**12],
            "batch_size": [*BAD_COUNTS, Accepted(10**12)],
            "generator": BAD_GENERATOR,
            "augment": [3],
            "val_every": [*BAD_COUNTS, Accepted(10**12)],
            "callback": ["f"],
        },
    ),
    # ---------- utils ----------
    (
        utils.count_parameters,
        {"model": nn.Linear(2, 3)},
        {"model": [None, "model", [nn.Linear(2, 3)]]},
    ),
    (
        utils.seeded_splits,
        {"make": lambda g: torch.rand(2, generator=g), "seeds": {"train": 0}},
        {
            "make": [None, 3],
            "seeds": [None, {}, {"train": -1}, {"train": 1.5}, [0, 1]],
        },
    ),
    # ---------- width_depth ----------
    (
        width_depth.WidthDepthConfig,
        {},
        {
            "n_per_class": [*BAD_COUNTS, 10**12],
            "bias_std": BAD_NONNEGATIVE,
            "budget": [*BAD_COUNTS, 10**12],
            "depths": [None, (), (0,), (10**9,)],
            "seeds": [None, (), (-1,), tuple(range(10**6))],
            "lr_grid": [None, (), (0.0,)],
            "num_steps": [*BAD_COUNTS, 10**12],
            "long_checkpoints": [None, (), (0,), (10**12,)],
            "region_resolution": [1, 2.5, 10**6],
            "region_neurons": [(0,), (10**9,)],
            "deep_depth": [*BAD_COUNTS, 10**9],
            "deep_width": [*BAD_COUNTS, 10**7],
            "deep_steps": [*BAD_COUNTS, 10**12],
            "widths": [None, (), (0,), (10**9,)],
        },
    ),
    (
        width_depth.mlp_param_count,
        {"width": 3, "depth": 2},
        {
            "width": [*BAD_COUNTS, Accepted(10**12)],
            "depth": [*BAD_COUNTS, Accepted(10**12)],
            "in_features": BAD_COUNTS,
            "out_features": BAD_COUNTS,
        },
    ),
    (
        width_depth.activation_patterns,
        {"model": activations.DeepMLP(2, 3), "points": X2},
        {
            "model": [None, activations.DeepMLP(2, 3, activation="tanh")],
            "points": [*bad_tensors(tuple(X2.shape)), torch.zeros(3, 5)],
        },
    ),
    (
        width_depth.net_with_lines,
        {"weights": [[1.0, 0.0]], "biases": [0.0]},
        {
            "weights": [None, [], [[1.0]], "ab", [[NAN, 0.0]]],
            "biases": [None, [0.0, 1.0], [INF]],
        },
    ),
    *[
        (
            fn,
            {"model": activations.DeepMLP(2, 3), "X": X2},
            {
                "model": [None, nn.Linear(2, 3)],
                "X": [*bad_tensors(tuple(X2.shape)), torch.zeros(3, 5)],
            },
        )
        for fn in (
            width_depth.last_hidden_features,
            width_depth.dead_units_per_layer,
        )
    ],
    (
        width_depth.make_network,
        {"depth": 2, "width": 3, "seed": 0, "cfg": TINY_WD},
        {
            "depth": [*BAD_COUNTS, 10**9],
            "width": [*BAD_COUNTS, 10**7],
            "seed": [-1, 1.5, None],
            "cfg": [None, "cfg"],
        },
    ),
    (
        width_depth.count_regions,
        {"model": activations.DeepMLP(2, 3), "cfg": TINY_WD},
        {"model": [None], "cfg": [None, "cfg"]},
    ),
    *[
        (fn, {"cfg": TINY_WD}, {"cfg": [None, "cfg"]})
        for fn in (
            width_depth.make_splits,
            width_depth.budget_experiment,
            width_depth.region_count_experiment,
            width_depth.deep_training_experiment,
            width_depth.width_redundancy_experiment,
        )
    ],
    (
        width_depth.longer_training,
        {"depth": 1, "seed": 0, "lr": 0.1, "cfg": TINY_WD},
        {
            "depth": [*BAD_COUNTS, 10**9],
            "seed": [-1, 1.5, None],
            "lr": BAD_POSITIVE,
            "cfg": [None, "cfg"],
        },
    ),
    (
        width_depth.logit_spread,
        {"model": activations.DeepMLP(2, 3), "X": X2},
        {"model": [None, "model"], "X": bad_tensors(tuple(X2.shape))},
    ),
    (
        width_depth.region_grid,
        {"model": activations.DeepMLP(2, 3), "resolution": 4},
        {"resolution": [10**5]},
    ),
    (
        activations.DeepMLP,
        {"depth": 2, "width": 3},
        {"depth": [10**7, 10**12], "width": [10**12]},
    ),
    (
        activations.matrix_product_norms,
        {"num_matrices": 2, "size": 3, "std": 1.0, "generator": gen()},
        {"num_matrices": [10**9, 10**12], "size": [10**4]},
    ),
    (
        optimizers.fit_line,
        {
            "make_optimizer": lambda p: optimizers.SGD(p, 0.1),
            "X": LINE_X,
            "y": LINE_Y,
            "batch_size": 2,
            "num_epochs": 1,
            "generator": gen(),
        },
        {"num_epochs": [1e9, 1e12], "batch_size": [Accepted(10**12)]},
    ),
]

# 不在探针里的公开函数与类，每个一句原因
EXEMPT = {
    "backprop.example": "没有参数",
    "cnn.lenet": "没有参数",
    "plotting.use_book_style": "没有参数",
    "check.args_seed": "检查器内部用的小函数，参数由检查器自己给出",
    # 只保存结果的数据类：由实验函数填写，读者不会自己构造
    "cnn.LayerInfo": "只保存结果",
    "cnn.Selection": "只保存结果",
    "cnn.RegularizationResult": "只保存结果",
    "generalization.SweepResult": "只保存结果",
    "generalization.Curve": "只保存结果",
    "optimizers.RegressionRun": "只保存结果",
    "optimizers.MethodResult": "只保存结果",
    "optimizers.SweepResult": "只保存结果",
    "softmax.LossTrace": "只保存结果",
    "softmax.LossChoice": "只保存结果",
    "spiral.RegionSnapshot": "只保存结果",
    "training.History": "只保存结果",
    "training.EpochHistory": "只保存结果",
    "width_depth.DepthResult": "只保存结果",
    "slider.SliderFigure": "只保存 slider_figure 渲染好的帧（由它检查参数）",
}
# 检查器的框架与参数检查本身各有自己的测试
EXEMPT_MODULES = {
    "checker": "检查器的框架，tests/test_check.py 逐项测试（含错误的输入）",
    "validation": "参数检查本身，tests/test_validation.py 逐项测试",
}


def public_callables() -> list[str]:
    """包里每个模块自己定义的公开函数与类，写成 ``模块.名字``。"""
    import dlbasics

    names = []
    for info in pkgutil.iter_modules(dlbasics.__path__):
        module = importlib.import_module(f"dlbasics.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != (
                module.__name__
            ):
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                names.append(f"{info.name}.{name}")
    return names


def label(fn) -> str:
    return f"{fn.__module__.removeprefix('dlbasics.')}.{fn.__qualname__}"


def test_every_public_callable_is_probed_or_exempt():
    probed = {label(fn) for fn, _, _ in [*FIRST_PROBES, *PROBES]}
    exempt = set(EXEMPT) | {
        name
        for name in public_callables()
        if name.split(".")[0] in EXEMPT_MODULES
    }
    missing = sorted(set(public_callables()) - probed - exempt)
    assert not missing, (
        f"这些公开函数既没有探针也没有写明豁免的原因：{missing}"
    )
    stale = sorted(set(EXEMPT) - set(public_callables()))
    assert not stale, f"豁免表里的名字已经不存在：{stale}"
    assert not set(EXEMPT) & probed, "既有探针又被豁免"


def case(fn, valid, name, i, value):
    return pytest.param(fn, valid, name, value, id=f"{label(fn)}-{name}-{i}")


CASES = [
    case(fn, valid, name, i, value)
    for fn, valid, bad in PROBES
    for name, values in bad.items()
    for i, value in enumerate(values)
]


@pytest.mark.parametrize(("fn", "valid", "name", "value"), CASES)
def test_bad_or_huge_argument_is_refused_quickly(fn, valid, name, value):
    """坏值：20 秒内抛出指名参数的错误；``Accepted`` 的值：20 秒内算完。"""
    accepted = isinstance(value, Accepted)
    kwargs = {**valid, name: value.value if accepted else value}
    assert_refused_naming_a_parameter(fn, kwargs, accepted=accepted)


@pytest.mark.parametrize(
    ("fn", "valid"),
    [pytest.param(fn, valid, id=label(fn)) for fn, valid, _ in PROBES],
)
def test_the_valid_call_itself_works(fn, valid):
    """探针的基准调用本身是合法的，而且很快：出错只能来自换上的坏值。"""
    try:
        with time_limit(5):
            fn(**valid)
    finally:
        plt.close("all")


def test_time_limit_stops_a_call_that_never_returns():
    with pytest.raises(TookTooLong, match="超过"), time_limit(0.2):
        while True:
            pass
