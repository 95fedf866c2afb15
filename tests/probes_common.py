"""第一张坏值探针表（``tests/test_validation.py`` 用它逐个试坏值）。

``tests/test_probe.py`` 的覆盖测试也读它：两张表合起来要覆盖包里每个
公开函数与类。放在这个不是测试的模块里，测试模块之间就不必互相导入。
"""

from __future__ import annotations

import contextlib
import signal
import threading

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
    cnn,
    optimizers,
    plotting,
    slider,
    softmax,
    spiral,
    tensors,
    training,
    utils,
    width_depth,
)

# 每次探针调用的时限（秒）：超过就算失败（两张表都用它）
SECONDS = 20


class TookTooLong(BaseException):
    """继承 BaseException：不会被被测函数里的 ``except Exception`` 吞掉。"""


@contextlib.contextmanager
def time_limit(seconds: float = SECONDS):
    """超过 ``seconds`` 秒就打断调用（只在主线程里有效）。"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise TookTooLong(f"调用超过 {seconds} 秒")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def assert_refused_naming_a_parameter(fn, kwargs: dict, accepted=False):
    """在 SECONDS 秒内调用 ``fn(**kwargs)``：应抛出 ValueError/TypeError，
    信息里提到某个参数名（``accepted=True`` 时应正常返回）。"""
    try:
        with time_limit():
            if accepted:
                fn(**kwargs)
                return
            with pytest.raises((ValueError, TypeError)) as caught:
                fn(**kwargs)
    except TookTooLong:
        shown = ", ".join(f"{k}={v!r:.40}" for k, v in kwargs.items())
        pytest.fail(f"调用超过 {SECONDS} 秒：{fn.__qualname__}({shown})")
    finally:
        plt.close("all")
    message = str(caught.value)
    # 信息要指出是哪个参数（多个张量参数一起出错时，也可能指出另一个）
    mentioned = [key for key in kwargs if key in message]
    assert mentioned, f"信息没有提到任何参数：{message}"
    assert len(message) > 10


def spiral_xy(n=5):
    return spiral.make_spiral(n, generator=gen())


def small_mlp():
    return activations.DeepMLP(2, 4)


X2, Y2 = spiral_xy()
LINE_X, LINE_Y = optimizers.make_line_data(20, generator=gen())
IMAGES = torch.rand(6, 1, 8, 8, generator=gen())
DIGIT_LABELS = torch.arange(6) % 3

# (函数, 合法的关键字参数, {参数名: [坏值, ...]})
PROBES = [
    (
        spiral.make_spiral,
        {"n_per_class": 5, "num_classes": 3, "noise": 0.1, "generator": gen()},
        {
            "n_per_class": [*BAD_COUNTS, 10**12],
            "num_classes": BAD_COUNTS,
            "noise": BAD_NONNEGATIVE,
            "generator": [0, "seed"],
        },
    ),
    (
        spiral.make_two_layer_net,
        {"in_features": 2, "num_hiddens": 4, "num_classes": 3},
        {
            "in_features": BAD_COUNTS,
            "num_hiddens": [*BAD_COUNTS, 10**10],
            "num_classes": BAD_COUNTS,
        },
    ),
    (
        utils.square_grid,
        {"lim": 1.0, "resolution": 3},
        {"lim": BAD_POSITIVE, "resolution": [1, 0, 2.5, None, 10**7]},
    ),
    (
        training.predict_grid,
        {"model": spiral.make_linear_model(), "lim": 1.0, "resolution": 5},
        {
            "model": [None, "linear"],
            "lim": BAD_POSITIVE,
            "resolution": [1, 0, 2.5, None, 10**7],
        },
    ),
    (
        spiral.logit_plane,
        {"logits": torch.zeros(4, 3)},
        {"logits": [*bad_tensors((4, 3)), torch.zeros(4, 5)]},
    ),
    (
        spiral.grid_lines,
        {"lim": 1.0, "n_lines": 3, "n_points": 4},
        {
            "lim": BAD_POSITIVE,
            "n_lines": [1, 0, 2.5, None],
            "n_points": [1, None, 10**12],
        },
    ),
    (
        spiral.collapse_linear_layers,
        {"model": nn.Sequential(nn.Linear(2, 3))},
        {
            "model": [
                None,
                nn.Linear(2, 3),
                nn.Sequential(nn.Linear(2, 3), nn.ReLU()),
                nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 1)),
            ]
        },
    ),
    (
        training.accuracy,
        {"logits": torch.zeros(4, 3), "y": torch.zeros(4, dtype=torch.long)},
        {"logits": [None, torch.zeros(4)], "y": bad_labels(4)},
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
        {
            "model": [None, "model"],
            "X": [
                *bad_tensors(tuple(X2.shape)),
                torch.full(tuple(X2.shape), NAN),
            ],
            "y": bad_labels(len(X2)),
            "lr": BAD_POSITIVE,
            "num_steps": BAD_COUNTS,
            "optimizer_cls": [None, 3],
            "on_step": [3, "record"],
        },
    ),
    (
        activations.derivative,
        {"name": "relu", "x": torch.zeros(3)},
        {
            "name": [None, 3, "swish"],
            "x": [None, [1.0], torch.zeros(3, dtype=torch.long)],
        },
    ),
    (
        activations.DeepMLP,
        {"depth": 2, "width": 3},
        {
            "depth": BAD_COUNTS,
            "width": [*BAD_COUNTS, 10**7],
            "activation": [None, "swish"],
            "in_features": BAD_COUNTS,
            "out_features": BAD_COUNTS,
        },
    ),
    (
        activations.init_weights,
        {"model": small_mlp(), "scheme": "he", "generator": gen()},
        {
            "model": [None, nn.Linear(2, 2)],
            "scheme": [None, "orthogonal"],
            "generator": BAD_GENERATOR,
            "gain": BAD_POSITIVE,
            "bias_std": BAD_NONNEGATIVE,
        },
    ),
    (
        activations.layer_grad_norms,
        {"model": small_mlp(), "X": X2, "y": Y2},
        {
            "model": [None],
            "X": [*bad_tensors(tuple(X2.shape)), torch.zeros(len(X2), 5)],
            "y": [
                *bad_labels(len(X2)),
                torch.full((len(X2),), 7, dtype=torch.long),
            ],
        },
    ),
    (
        activations.matrix_product_norms,
        {"num_matrices": 2, "size": 3, "std": 1.0, "generator": gen()},
        {
            "num_matrices": BAD_COUNTS,
            "size": [*BAD_COUNTS, 10**7],
            "std": BAD_POSITIVE,
            "generator": BAD_GENERATOR,
        },
    ),
    (
        softmax.softmax,
        {"logits": torch.zeros(2, 3)},
        {"logits": [None, [0.0], torch.zeros(2, 3, dtype=torch.long)]},
    ),
    (
        softmax.logsumexp,
        {"logits": torch.zeros(2, 3)},
        {"logits": [None, torch.zeros(0, dtype=torch.float32)]},
    ),
    (
        softmax.cross_entropy,
        {"logits": torch.zeros(3, 4), "y": torch.zeros(3, dtype=torch.long)},
        {
            "logits": bad_tensors((3, 4)),
            "y": [*bad_labels(3), torch.full((3,), 4, dtype=torch.long)],
        },
    ),
    (
        softmax.softmax_with_temperature,
        {"logits": torch.zeros(3), "temperature": 1.0},
        {"temperature": BAD_POSITIVE, "logits": [None, [1.0]]},
    ),
    (
        softmax.make_blobs,
        {
            "n_per_class": 3,
            "centers": [(0.0, 0.0), (1.0, 1.0)],
            "std": 0.5,
            "generator": gen(),
        },
        {
            "n_per_class": [*BAD_COUNTS, 10**12],
            "centers": [None, [(0.0, 0.0)], [(0.0,), (1.0, 1.0)]],
            "std": BAD_POSITIVE,
            "generator": BAD_GENERATOR,
        },
    ),
    (
        softmax.softmax_regression_step,
        {
            "W": torch.zeros(3, 2),
            "b": torch.zeros(3),
            "X": X2,
            "y": Y2,
            "lr": 0.1,
        },
        {
            "W": [
                None,
                torch.zeros(3, 5),
                torch.zeros(3, 2, dtype=torch.long),
            ],
            "b": [None, torch.zeros(4)],
            "X": bad_tensors(tuple(X2.shape)),
            "y": bad_labels(len(X2)),
            "lr": BAD_POSITIVE,
        },
    ),
    (
        tensors.broadcast_shape,
        {"a": (3, 1), "b": (1, 4)},
        {"a": [None, "31", (3, -1), (3, 1.5)], "b": [(1, True), 5]},
    ),
    (
        tensors.svd_reconstruction_error,
        {"A": torch.zeros(3, 2)},
        {"A": bad_tensors((3, 2))},
    ),
    (
        tensors.sample_mean_var,
        {"x": torch.zeros(5)},
        {"x": [None, torch.zeros(1), torch.zeros(5, dtype=torch.long)]},
    ),
    (
        tensors.normal_pdf,
        {"x": torch.zeros(3)},
        {"x": [None], "mean": [NAN, "0"], "std": BAD_POSITIVE},
    ),
    (
        tensors.central_difference,
        {"f": torch.sin, "x": torch.zeros(3)},
        {
            "f": [None, 3],
            "x": [None, torch.zeros(3, dtype=torch.long)],
            "h": BAD_POSITIVE,
        },
    ),
    (
        optimizers.make_line_data,
        {"n": 5, "generator": gen()},
        {
            "n": [*BAD_COUNTS, 10**12],
            "w": [NAN, "3"],
            "noise": BAD_NONNEGATIVE,
            "x_range": [None, (1.0,), (2.0, 1.0), (0.0, INF)],
            "generator": BAD_GENERATOR,
        },
    ),
    (
        optimizers.fit_line,
        {
            "make_optimizer": lambda p: optimizers.SGD(p, 0.1),
            "X": LINE_X,
            "y": LINE_Y,
            "batch_size": 5,
            "num_epochs": 1,
            "generator": gen(),
        },
        {
            "make_optimizer": [None],
            "X": [None, LINE_X[:, 0], LINE_X[:5], LINE_X.long()],
            "y": [LINE_Y[:, 0], LINE_Y[:3], torch.full_like(LINE_Y, NAN)],
            "batch_size": BAD_COUNTS,
            "num_epochs": BAD_POSITIVE,
            "init": [None, (0.0,), (NAN, 0.0)],
            "generator": BAD_GENERATOR,
            "val": [LINE_X, (LINE_X, LINE_Y[:, 0])],
        },
    ),
    (
        optimizers.SGD,
        {"params": [torch.zeros(2, requires_grad=True)], "lr": 0.1},
        {"lr": [-0.1, NAN, INF, "0.1", None], "momentum": [1.0, -0.1, NAN]},
    ),
    (
        optimizers.Adam,
        {"params": [torch.zeros(2, requires_grad=True)]},
        {
            "lr": [-1.0, INF],
            "betas": [None, (0.9,), (1.0, 0.9), (0.9, NAN)],
            "eps": [-1e-8, NAN],
        },
    ),
    (
        optimizers.mse_surface,
        {
            "X": LINE_X,
            "y": LINE_Y,
            "ws": torch.zeros(3),
            "bs": torch.zeros(4),
        },
        {
            "X": [None, LINE_X[:, 0]],
            "y": [LINE_Y[:5]],
            "ws": [None, torch.zeros(3, 1)],
            "bs": [torch.zeros(0)],
        },
    ),
    (
        optimizers.Method,
        {"optimizer": "sgd", "batch_size": 1},
        {
            "optimizer": ["rmsprop", None],
            "batch_size": [0, 2.5],
            "momentum": [1.0, NAN],
        },
    ),
    (
        width_depth.width_for_budget,
        {"budget": 100, "depth": 2},
        {"budget": [*BAD_COUNTS, 3], "depth": BAD_COUNTS},
    ),
    (
        width_depth.region_grid,
        {"model": small_mlp(), "lim": 1.0, "resolution": 4},
        {
            "model": [None, nn.Linear(2, 2)],
            "lim": BAD_POSITIVE,
            "resolution": [1, 2.5, None, 10**6],
        },
    ),
    (
        width_depth.effective_rank,
        {"features": torch.randn(5, 3, generator=gen())},
        {
            "features": [*bad_tensors((5, 3)), torch.full((5, 3), NAN)],
            "energy": [0.0, 1.5, NAN, "0.9"],
        },
    ),
    (
        width_depth.max_rebound,
        {"losses": [1.0, 0.5]},
        {"losses": [[], [1.0, NAN], [1.0, -1.0], ["1"]]},
    ),
    (
        cnn.alexnet,
        {"device": "meta"},
        {
            "in_channels": BAD_COUNTS,
            "num_classes": BAD_COUNTS,
            "groups": [3, 0, None],
            "conv1_padding": [-1, 1.5, None],
        },
    ),
    (
        cnn.layer_table,
        {"model": cnn.lenet(), "input_shape": (1, 28, 28)},
        {
            "model": [None, nn.Linear(2, 2)],
            "input_shape": [None, (), (1, 0, 28), (1, 28.5, 28), (10**6,) * 3],
        },
    ),
    (
        cnn.lenet_small,
        {},
        {"activation": ["tanh", None], "dropout": [1.0, -0.1, NAN, "0.5"]},
    ),
    (
        cnn.random_shift,
        {"x": IMAGES, "max_shift": 1, "generator": gen()},
        {
            "x": bad_tensors((6, 1, 8, 8)),
            "max_shift": [-1, 1.5, None],
            "generator": BAD_GENERATOR,
        },
    ),
    (
        cnn.random_rotate,
        {"x": IMAGES, "max_degrees": 10.0, "generator": gen()},
        {
            "x": [None, IMAGES[0]],
            "max_degrees": [-1.0, NAN, 720.0, None],
            "generator": BAD_GENERATOR,
        },
    ),
    (
        cnn.make_augment,
        {"generator": gen()},
        {
            "max_shift": BAD_COUNTS,
            "max_degrees": [-5.0, NAN],
            "generator": BAD_GENERATOR,
        },
    ),
    (
        cnn.load_digits_splits,
        {"n_train": 100, "n_val": 50, "generator": gen()},
        {
            "n_train": [*BAD_COUNTS, 1790],
            "n_val": BAD_COUNTS,
            "generator": BAD_GENERATOR,
        },
    ),
    (
        cnn.train_digits,
        {
            "make_model": cnn.lenet_small,
            "data": (IMAGES, DIGIT_LABELS, IMAGES, DIGIT_LABELS),
            "lr": 0.01,
            "num_epochs": 1,
            "batch_size": 3,
            "seed": 0,
        },
        {
            "make_model": [None],
            "data": [None, (IMAGES, DIGIT_LABELS)],
            "lr": BAD_POSITIVE,
            "num_epochs": BAD_COUNTS,
            "batch_size": BAD_COUNTS,
            "seed": [-1, 1.5, None],
            "augment": ["mixup", True],
        },
    ),
    (
        cnn.per_class_accuracy,
        {"model": cnn.lenet_small(), "X": IMAGES, "y": DIGIT_LABELS},
        {
            "model": [None],
            "X": [None, IMAGES.long()],
            "y": bad_labels(len(IMAGES)),
            "num_classes": [*BAD_COUNTS, 2],
        },
    ),
    (
        cnn.count_macs,
        {"model": cnn.lenet_small(), "input_shape": (1, 8, 8)},
        {"model": [None], "input_shape": [(1, 0, 8), (1, 8.5, 8)]},
    ),
    (
        plotting.plot_spiral_data,
        {"X": X2, "y": Y2},
        {
            "X": [None, X2[:, :1], X2.long()],
            "y": [
                *bad_labels(len(X2)),
                torch.full((len(X2),), 99, dtype=torch.long),
            ],
            "ax": ["axes"],
            "size": BAD_POSITIVE,
        },
    ),
    (
        tensors.plot_histogram_with_density,
        {"sample": torch.randn(20, generator=gen()), "bins": 5},
        {
            "sample": [None, torch.zeros(0), torch.full((5,), NAN)],
            "bins": BAD_COUNTS,
        },
    ),
    (
        tensors.plot_broadcast,
        {"shape_a": (3, 1), "shape_b": (1, 4)},
        {"shape_a": [None, (3,), (0, 1), (100, 100)], "shape_b": [(1, 2.5)]},
    ),
    (
        plotting.plot_history,
        {"histories": {"a": training.History([1.0], [0.5])}},
        {"histories": [None, {}, {"a": [1.0]}], "metric": ["acc"]},
    ),
]

PROBES += [
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
            "model": [None, "linear"],
            "X": bad_tensors(tuple(X2.shape)),
            "y": bad_labels(len(X2)),
            "lr": BAD_POSITIVE,
            "steps": [None, "0, 2", [], [2, 1], [1, 1], [-1], [0.5], 3],
        },
    ),
    (
        activations.gradient_norms_by_gain,
        {
            "gains": (0.5, 1.0),
            "cfg": activations.GradientConfig(
                depth=3, width=4, n_per_class=5, seeds=(0,)
            ),
        },
        {
            "gains": [None, (), [1.0], (0.0,), (-1.0,), (NAN,), ("1",)],
            "cfg": [None, "cfg"],
        },
    ),
    (
        slider.slider_figure,
        {
            "fig": plt.figure(),
            "update": lambda i: None,
            "values": ["a = 1", "a = 2"],
            "label": "a",
            "default": 0,
            "alt": "空白的图",
            "dpi": 20,
        },
        {
            "fig": [None, "fig"],
            "update": [None, 3],
            "values": [["a = 1"], ["a = 1", ""], ["a = 1", 2], ["x"] * 41],
            "label": ["", " ", None],
            "default": [-1, 2, 0.5, None, True],
            "alt": ["", None],
            "dpi": BAD_POSITIVE,
        },
    ),
]
