"""dlbasics 在错误输入下的表现：公开函数给出带参数名的 ValueError/TypeError，
从前悄悄算错或崩溃的输入现在要么算对、要么清楚地拒绝。

上半部分是“探针”：对每个函数的每个参数换上一串坏值，逐个调用
（探针表在 ``tests/probes_common.py``，``test_probe`` 的覆盖测试也读它）。
下半部分是从前算错或崩溃的具体例子。
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from conftest import (
    INF,
    bad_input,
    gen,
)
from dlbasics import (
    activations,
    cnn,
    generalization,
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
from dlbasics.validation import (
    MAX_DEPTH,
    check_count,
    check_counts,
    check_floats,
    check_memory,
    check_positive_int,
    check_seeds,
    physical_memory_bytes,
    validated_by,
)
from probes_common import (
    DIGIT_LABELS,
    IMAGES,
    LINE_X,
    LINE_Y,
    PROBES,
    X2,
    Y2,
    assert_refused_naming_a_parameter,
)

CASES = [
    pytest.param(fn, valid, name, value, id=f"{fn.__name__}-{name}-{i}")
    for fn, valid, bad in PROBES
    for name, values in bad.items()
    for i, value in enumerate(values)
]


def test_there_are_hundreds_of_probes():
    assert len(CASES) > 300


@pytest.mark.parametrize(("fn", "valid", "name", "value"), CASES)
def test_bad_argument_gives_a_clear_error_naming_it(fn, valid, name, value):
    assert_refused_naming_a_parameter(fn, {**valid, name: value})


@pytest.mark.parametrize(("fn", "valid", "bad"), PROBES, ids=lambda x: "")
def test_the_valid_call_itself_works(fn, valid, bad):
    """探针的基准调用本身是合法的：出错只能来自换上的坏值。"""
    try:
        fn(**valid)
    finally:
        plt.close("all")


# ---------- 从前算错或崩溃的输入 ----------


def test_logsumexp_of_a_row_of_minus_infinity_is_minus_infinity():
    rows = torch.tensor([[-INF, -INF], [0.0, 1.0], [INF, 0.0]])
    torch.testing.assert_close(
        softmax.logsumexp(rows), torch.logsumexp(rows, dim=-1)
    )


def test_leaky_relu_derivative_refuses_integers_instead_of_slope_zero():
    with bad_input("浮点"):
        activations.derivative("leaky_relu", torch.tensor([-2, 3]))
    d = activations.derivative("leaky_relu", torch.tensor([-2.0, 3.0]))
    assert d.tolist() == pytest.approx([activations.LEAKY_SLOPE, 1.0])


def test_effective_rank_of_constant_features_is_zero():
    assert width_depth.effective_rank(torch.zeros(10, 4)) == 0
    assert width_depth.effective_rank(torch.ones(10, 4)) == 0


def test_non_square_kernels_are_described_as_they_are():
    model = nn.Sequential(
        nn.Conv2d(1, 4, (3, 5), stride=(1, 2)), nn.MaxPool2d((2, 3))
    )
    conv, pool = cnn.describe_blocks(model)
    assert conv[1] == "卷积 3×5，4 通道，步幅 1×2"
    assert pool[1] == "最大池化 2×3，步幅 2×3"


def test_negative_labels_are_refused_by_plots_not_silently_dropped():
    with bad_input("从 0 开始"):
        plotting.plot_spiral_data(X2, Y2 - 1)
    plt.close("all")


def test_infinite_learning_rate_is_refused():
    with bad_input("lr"):
        training.train_classifier(
            spiral.make_linear_model(), X2, Y2, lr=INF, num_steps=1
        )


def test_zero_or_negative_epochs_are_refused():
    for epochs in (0, -1, 0.0):
        with bad_input("num_epochs"):
            optimizers.fit_line(
                lambda p: optimizers.SGD(p, 0.1),
                LINE_X,
                LINE_Y,
                batch_size=5,
                num_epochs=epochs,
                generator=gen(),
            )


def test_a_flat_target_is_refused_instead_of_broadcast_to_n_by_n():
    with bad_input("reshape"):
        optimizers.fit_line(
            lambda p: optimizers.SGD(p, 0.1),
            LINE_X,
            LINE_Y[:, 0],
            batch_size=5,
            num_epochs=1,
            generator=gen(),
        )


def test_layers_without_bias_can_be_collapsed():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4, bias=False), nn.Linear(4, 3))
    merged = spiral.collapse_linear_layers(model)
    torch.testing.assert_close(merged(X2), model(X2))


def test_float64_inputs_work_with_float32_models():
    model = cnn.lenet_small("relu")
    images64 = IMAGES.double()
    acc32 = training.evaluate(model, IMAGES, DIGIT_LABELS)
    assert training.evaluate(model, images64, DIGIT_LABELS) == acc32
    rotated = cnn.random_rotate(images64, 10.0, generator=gen())
    assert rotated.dtype == torch.float64
    logits = torch.randn(5, 3, dtype=torch.float64, generator=gen())
    assert spiral.logit_plane(logits).dtype == torch.float64
    per_class = cnn.per_class_accuracy(model, images64, DIGIT_LABELS)
    assert len(per_class) == 10
    cnn.train_digits(
        cnn.lenet_small,
        (images64, DIGIT_LABELS, images64, DIGIT_LABELS),
        lr=0.01,
        num_epochs=1,
        batch_size=3,
        seed=0,
    )


def test_numpy_integers_work_as_sizes():
    X, _y = spiral.make_spiral(np.int64(4), np.int32(3), generator=gen())
    assert X.shape == (12, 2)
    net = activations.DeepMLP(np.int64(2), np.int64(5))
    assert len(net.hidden) == 2
    assert width_depth.width_for_budget(np.int64(100), np.int64(2)) == 7


def test_sizes_beyond_memory_are_refused_before_allocating():
    total = physical_memory_bytes()
    if total is None:
        pytest.skip("查不到本机的物理内存")
    with bad_input("GiB"):
        check_memory("n", total)  # 一个元素 4 字节，需要 4 倍的物理内存
    with bad_input("GiB"):
        spiral.make_spiral(10**11, generator=gen())
    check_memory("n", 1000)  # 小的不拦


def test_messages_say_what_to_do():
    with bad_input("X.float()"):
        training.train_classifier(
            spiral.make_linear_model(), X2.long(), Y2, lr=0.1, num_steps=1
        )
    with bad_input("y.long()"):
        training.accuracy(torch.zeros(len(Y2), 3), Y2.float())
    with bad_input("manual_seed"):
        spiral.make_spiral(3, generator=0)
    assert not math.isnan(1.0)


def test_broadcasting_a_length_one_dim_takes_the_other_length_even_zero():
    assert tensors.broadcast_shape((0,), (1,)) == (0,)
    lengths = (0, 1, 2, 3)
    shapes = [()]
    shapes += [(a,) for a in lengths]
    shapes += [(a, b) for a in lengths for b in lengths]
    shapes += [(a, 1, b) for a in (0, 1, 3) for b in (0, 1, 2)]
    for a in shapes:
        for b in shapes:
            try:
                want = tuple(torch.broadcast_shapes(a, b))
            except RuntimeError:
                with pytest.raises(ValueError, match="不能广播"):
                    tensors.broadcast_shape(a, b)
                continue
            assert tensors.broadcast_shape(a, b) == want, (a, b)


def test_gradients_of_different_shapes_are_not_broadcast_when_compared():
    from dlbasics import backprop

    a = {"w": torch.tensor([1.0, 2.0, 3.0])}
    b = {"w": torch.tensor([1.0])}
    with bad_input("'w'"):
        backprop.max_abs_difference(a, b)
    c = {"w": torch.tensor([1.0, 2.5, 3.0])}
    assert backprop.max_abs_difference(a, c) == 0.5


def test_a_column_target_is_refused_instead_of_broadcast_to_n_by_n():
    from dlbasics import generalization

    x = torch.linspace(-1, 1, 5, dtype=torch.float64)
    w = torch.tensor([0.0, 1.0], dtype=torch.float64)
    for y in (x[:, None], x[:3], x[None, :]):
        with bad_input("y"):
            generalization.poly_mse(w, x, y)
    assert generalization.poly_mse(w, x, x + 1) == pytest.approx(1.0)


def test_wide_single_layer_mlp_is_not_refused_as_too_big():
    net = activations.DeepMLP(1, 100_000)
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == 2 * 100_000 + 100_000 + 100_000 * 3 + 3


def test_unknown_and_nested_layers_are_described_not_dropped():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.Tanh(),
        nn.Sequential(nn.Conv2d(4, 8, 3), nn.GELU(), nn.MaxPool2d(2)),
        nn.BatchNorm2d(8),
        nn.Flatten(),
        nn.Linear(8, 10),
    )
    blocks = cnn.describe_blocks(model)
    assert blocks == [
        ("conv", "卷积 3×3，4 通道 + tanh"),
        ("conv", "卷积 3×3，8 通道 + GELU"),
        ("pool", "最大池化 2×2，步幅 2 + BatchNorm2d"),
        ("fc", "全连接 10"),
    ]
    first = cnn.describe_blocks(nn.Sequential(nn.Tanh(), nn.Linear(2, 3)))
    assert first == [("other", "tanh"), ("fc", "全连接 3")]
    cnn.plot_architecture(first)
    plt.close("all")


def test_every_grid_point_is_coloured_even_for_classes_the_data_lacks():
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 5.0]]))
        model.bias.zero_()
    X = torch.tensor([[0.5, -0.5], [-0.5, -0.5]])
    y = torch.tensor([0, 1])
    _, _, labels = plotting.predict_grid(model, lim=1.0, resolution=50)
    assert set(np.unique(labels)) == {0, 1, 2}  # 模型在上方预测第 2 类
    fig = plt.figure(figsize=(3, 3), dpi=50)
    ax = fig.add_axes((0, 0, 1, 1))
    plotting.plot_decision_regions(model, X, y, ax, lim=1.0, resolution=50)
    ax.axis("off")
    for artist in ax.collections[1:]:  # 只看底色，不看数据点
        artist.remove()
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[2:-2, 2:-2, :3]
    plt.close(fig)
    blank = (pixels == 255).all(axis=-1)
    assert not blank.any(), f"{blank.sum()} 个像素没有着色"


def test_a_string_is_refused_as_slider_values():
    fig = plt.figure()
    try:
        with bad_input("values"):
            slider.slider_figure(
                fig, lambda i: None, "abc", label="x", default=0, alt="a"
            )
    finally:
        plt.close("all")


def config_classes():
    """包里所有实验设置（名字以 Config 结尾的 dataclass）。"""
    import dataclasses

    import dlbasics

    found = []
    for info in pkgutil.iter_modules(dlbasics.__path__):
        module = importlib.import_module(f"dlbasics.{info.name}")
        for name, obj in vars(module).items():
            if (
                name.endswith("Config")
                and dataclasses.is_dataclass(obj)
                and obj.__module__ == module.__name__
            ):
                found.append(obj)
    return found


def test_float_or_empty_seeds_are_refused_by_every_config():
    import dataclasses

    classes = config_classes()
    assert len(classes) >= 8
    checked = 0
    for cls in classes:
        cls()  # 默认设置合法
        for field in dataclasses.fields(cls):
            if field.name.endswith("seeds"):
                for bad in ((0, 1.7), (), (0, True), (-1,), "012"):
                    with bad_input(field.name):
                        cls(**{field.name: bad})
                checked += 1
            elif field.name.endswith("seed"):
                for bad in (1.7, True, -1, "0"):
                    with bad_input(field.name):
                        cls(**{field.name: bad})
                checked += 1
    assert checked >= 15


def test_square_grid_refuses_integer_dtypes():
    with bad_input("dtype"):
        utils.square_grid(1.0, 3, dtype=torch.long)
    xx, _, _ = utils.square_grid(1.0, 3, dtype=torch.float64)
    assert xx.dtype == torch.float64


def test_a_step_too_small_to_move_x_is_refused_not_a_zero_derivative():
    from dlbasics import backprop

    x = torch.tensor([1.0, 2.0])
    with bad_input("步长太小"):
        tensors.central_difference(torch.sin, x, h=1e-20)
    with bad_input("步长太小"):
        tensors.central_difference(torch.sin, x.double(), h=1e-20)
    d = tensors.central_difference(torch.sin, x.double(), h=1e-5)
    torch.testing.assert_close(d, torch.cos(x.double()))
    params, x0, t = backprop.example()
    with bad_input("步长太小"):
        backprop.finite_difference_gradients(params, x0, t, eps=1e-20)
    grads, _ = backprop.finite_difference_gradients(params, x0, t)
    exact = backprop.autograd_gradients(params, x0, t)
    assert backprop.max_abs_difference(grads, exact) < 1e-8


def test_line_data_ranges_that_overflow_float32_are_refused():
    for x_range in ((0.0, 1e39), (-1e39, 0.0), (-3e38, 3e38)):
        with bad_input("x_range"):
            optimizers.make_line_data(x_range=x_range, generator=gen())
    with bad_input("w"):
        optimizers.make_line_data(w=1e38, x_range=(0.0, 10.0), generator=gen())
    X, y = optimizers.make_line_data(x_range=(0.0, 1e6), generator=gen())
    assert torch.isfinite(X).all() and torch.isfinite(y).all()


MEMORY_PROBES = {  # 名字（见 tests/memory_probe.py）: 被把关的函数
    "make_spiral": spiral.make_spiral,
    "make_two_layer_net": spiral.make_two_layer_net,
    "grid_lines": spiral.grid_lines,
    "make_blobs": softmax.make_blobs,
    "make_line_data": optimizers.make_line_data,
    "mse_surface": optimizers.mse_surface,
    "square_grid": utils.square_grid,
    "square_grid_float64": utils.square_grid,
    "region_grid": width_depth.region_grid,
    "DeepMLP": activations.DeepMLP,
    "DeepMLP_wide": activations.DeepMLP,
    "matrix_product_norms": activations.matrix_product_norms,
    "layer_table": cnn.layer_table,
    "count_macs": cnn.count_macs,
    "preactivation_rms": activations.preactivation_rms,
    "random_shift": cnn.random_shift,
    "make_data": generalization.make_data,
    "poly_features": generalization.poly_features,
    "make_mlp": generalization.make_mlp,
    "make_linear_model": spiral.make_linear_model,
    "TinyMLP": tensors.TinyMLP,
    "NoisyLineDataset": tensors.NoisyLineDataset,
}


def test_every_memory_guard_has_a_probe():
    """每个调用 check_memory 的地方都在下面实测内存的探针里。"""
    package = Path(activations.__file__).parent
    sites = sum(
        path.read_text(encoding="utf-8").count("check_memory(")
        for path in package.glob("*.py")
        if path.name != "validation.py"
    )
    distinct = {id(fn) for fn in MEMORY_PROBES.values()}
    assert sites == len(distinct) == 20, "新的 check_memory 调用处要加进探针"


@pytest.mark.slow  # 子进程里按几百 MB 的规模逐个实测：约 7 s
@pytest.mark.skipif(
    not Path("/proc/self/statm").exists(), reason="要读 Linux 的 /proc"
)
def test_memory_guards_count_the_measured_peak():
    """每个用 check_memory 把关的函数：估计的字节数不少于实测的峰值增长，
    也不超过它的 3 倍（既不漏看，也不无故拒绝）。"""
    import json
    import subprocess
    import sys

    script = Path(__file__).with_name("memory_probe.py")
    out = subprocess.run(
        [sys.executable, str(script), *MEMORY_PROBES],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = json.loads(out.stdout)
    for label, result in results.items():
        assert isinstance(result, list), f"{label}: {result}"
        counted, peak = result
        assert peak > 40 * 2**20, f"{label}: 规模太小，量不准"
        assert peak <= counted <= 3 * peak, (
            f"{label}: 估计 {counted / 2**20:.0f} MiB，"
            f"实测峰值 {peak / 2**20:.0f} MiB"
        )


CONFIGS = [
    activations.GradientConfig,
    cnn.DigitsConfig,
    generalization.GeneralizationConfig,
    optimizers.OptimizerConfig,
    softmax.DoubleSoftmaxConfig,
    softmax.LossChoiceConfig,
    spiral.SpiralConfig,
    tensors.HistogramDemo,
    width_depth.WidthDepthConfig,
]


# 大于数据量的批量就是全批量、大于步数的评估间隔只在开头评估：不必设上限
UNCAPPED = {"batch_size", "small_batch_size", "eval_every"}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_configs_keep_the_chapter_defaults_and_refuse_huge_counts(config):
    """各章用默认设置：检查不改变任何默认值（字段与类里写的完全相同）。"""
    cfg = config()
    for f in dataclasses.fields(config):
        assert getattr(cfg, f.name) == f.default, f.name
        assert type(getattr(cfg, f.name)) is type(f.default), f.name
    counts = [
        f.name
        for f in dataclasses.fields(config)
        if type(f.default) is int
        and not f.name.endswith("seed")
        and f.name not in UNCAPPED
    ]
    assert counts
    for name in counts:
        with bad_input(f"{name}.*上限"):
            config(**{name: 10**12})


def test_config_sequences_are_checked_and_lists_become_tuples():
    cfg = width_depth.WidthDepthConfig(seeds=[0, 1], depths=[1, 2])
    assert cfg.seeds == (0, 1) and cfg.depths == (1, 2)
    hash(cfg)  # 冻结的配置对象仍然可以做字典的键
    with bad_input("seeds 应是元组"):
        width_depth.WidthDepthConfig(seeds=range(10**6))
    with bad_input("seeds.*1000"):
        width_depth.WidthDepthConfig(seeds=tuple(range(10**6)))
    with bad_input("lr_grid 是空的"):
        width_depth.WidthDepthConfig(lr_grid=[])
    with bad_input("weight_decays 中的值"):
        generalization.GeneralizationConfig(weight_decays=(0.0, -1.0))
    with bad_input("scale_methods"):
        optimizers.OptimizerConfig(scale_methods=("Adam（批量 7）",))


def test_shared_count_checks_name_the_parameter_and_the_limit():
    assert check_count("n", 10**6) == 10**6
    with bad_input("n=1,000,001 太大.*1,000,000"):
        check_count("n", 10**6 + 1)
    assert check_counts("d", [0, 3], minimum=0) == (0, 3)
    with bad_input("d 中的值"):
        check_counts("d", (1, 10**9), maximum=MAX_DEPTH)
    assert check_seeds("s", [3]) == (3,)
    with bad_input("s 中的种子"):
        check_seeds("s", (0, -1))
    with bad_input("s 应是元组"):
        check_seeds("s", "012")
    assert check_floats("w", (0.0, 2), positive=False) == (0.0, 2)
    with bad_input("w 中的值"):
        check_floats("w", (0.0,))


# ---------- validated_by：参数检查放在展示的函数体之外 ----------


def test_validated_by_checks_with_the_defaults_filled_in():
    seen = []

    def _check_scale(x, factor, *, shift):
        seen.append((x, factor, shift))
        if factor <= 0:
            raise ValueError("factor 应为正")

    @validated_by(_check_scale)
    def scale(x, factor=2.0, *, shift=0.0):
        """把 x 放大 factor 倍再平移。"""
        return x * factor + shift

    assert scale(3, shift=1.0) == 7.0
    assert seen == [(3, 2.0, 1.0)]  # 检查函数收到补上默认值的全部参数
    with pytest.raises(ValueError, match="factor"):
        scale(3, -1.0, shift=0.0)
    with pytest.raises(TypeError):
        scale()  # 参数个数不对：与直接调用一样是 TypeError
    assert scale.__name__ == "scale" and scale.__doc__.startswith("把 x")
    assert scale.checker is _check_scale
    with pytest.raises(TypeError, match="checker"):
        validated_by("not a function")


def test_validated_by_on_a_constructor_passes_self():
    def _check_box(self, width):
        assert isinstance(self, Box)
        check_positive_int("width", width)

    class Box:
        @validated_by(_check_box)
        def __init__(self, width):
            self.width = width

    assert Box(3).width == 3
    with bad_input("width"):
        Box(0)


def checked_functions():
    """包里所有用 ``@validated_by`` 接上检查的函数与方法。"""
    import inspect

    import dlbasics

    modules = [
        importlib.import_module(f"dlbasics.{info.name}")
        for info in pkgutil.iter_modules(dlbasics.__path__)
    ]
    found = {}
    for module in modules:
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            members = [(name, obj)]
            if inspect.isclass(obj):
                members = [(f"{name}.{k}", v) for k, v in vars(obj).items()]
            for label, fn in members:
                if callable(fn) and hasattr(fn, "checker"):
                    found[f"{module.__name__}.{label}"] = fn
    return found


def test_every_checker_takes_the_same_parameters_as_its_function():
    """检查函数与被检查的函数参数相同（名字、顺序、仅限关键字）。"""
    import inspect

    def shape(fn):
        return [
            (p.name, p.kind) for p in inspect.signature(fn).parameters.values()
        ]

    functions = checked_functions()
    assert len(functions) >= 55  # 章节展示的函数大多有检查
    for label, fn in functions.items():
        assert shape(fn.checker) == shape(fn.__wrapped__), label
