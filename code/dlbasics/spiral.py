"""螺旋数据、线性模型与两层网络。对应章节：book/spiral.md"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from torch import nn

from dlbasics.plotting import CLASS_COLORS, check_points, new_axes
from dlbasics.training import evaluate, predict_grid, train_classifier
from dlbasics.utils import seeded_splits
from dlbasics.validation import (
    MAX_WIDTH,
    check_count,
    check_float,
    check_generator,
    check_instance,
    check_int,
    check_labels,
    check_memory,
    check_positive_float,
    check_positive_int,
    check_tensor,
    validated_by,
)


def _check_spiral_config(cfg) -> None:
    """检查 ``SpiralConfig`` 的每个字段。"""
    check_count("n_per_class", cfg.n_per_class)
    check_count("num_classes", cfg.num_classes, maximum=MAX_WIDTH)
    check_float("noise", cfg.noise, low=0.0)
    for name in ("data_seed", "val_seed", "test_seed", "init_seed"):
        check_int(name, getattr(cfg, name), minimum=0)
    check_count("num_hiddens", cfg.num_hiddens, maximum=MAX_WIDTH)
    check_positive_float("lr", cfg.lr)
    check_count("num_steps", cfg.num_steps)
    check_positive_float("nyu_sgd_lr", cfg.nyu_sgd_lr)
    check_count("nyu_sgd_steps", cfg.nyu_sgd_steps)


@dataclass(frozen=True)
class SpiralConfig:
    """螺旋数据分类实验的全部设置；书中的数字都由这组设置算出。"""

    n_per_class: int = 1000  # 每类样本数
    num_classes: int = 3  # 类别数（螺旋臂数）
    noise: float = 0.2  # 角度噪声的标准差（弧度）
    data_seed: int = 12345  # 训练集的随机种子
    val_seed: int = 777  # 验证集的随机种子（同分布、另取一份）
    test_seed: int = 2024  # 测试集的随机种子（同分布、再取一份）
    init_seed: int = 0  # 模型初始化的随机种子
    num_hiddens: int = 100  # 隐藏层宽度
    lr: float = 0.01  # 学习率（两个模型相同）
    num_steps: int = 500  # 全批量训练步数（两个模型相同）
    nyu_sgd_lr: float = 1e-3  # NYU 笔记本训练线性模型时的 SGD 学习率
    nyu_sgd_steps: int = 1000  # NYU 笔记本的训练步数

    def __post_init__(self) -> None:
        _check_spiral_config(self)


def _check_make_spiral(n_per_class, num_classes, noise, *, generator):
    n_per_class = check_positive_int("n_per_class", n_per_class)
    num_classes = check_positive_int("num_classes", num_classes)
    check_float("noise（角度噪声的标准差）", noise, low=0.0)
    check_generator("generator", generator, required=False)
    # 实测峰值约每个点 51 字节（生成时的中间张量）
    check_memory("n_per_class × num_classes", n_per_class * num_classes * 16)


@validated_by(_check_make_spiral)
def make_spiral(
    n_per_class: int = 1000,
    num_classes: int = 3,
    noise: float = 0.2,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """生成 ``num_classes`` 条交错的二维螺旋臂。

    第 c 类的第 i 个点取 t = i / (n - 1)，再取
    θ = 2π/C · (c + 2t) + σε（ε ~ N(0, 1)），坐标 x = t · (sin θ, cos θ)。

    Args:
        n_per_class: 每类的点数 n，至少为 1。
        num_classes: 类别数 C，至少为 1。
        noise: 角度噪声的标准差 σ，不能为负。
        generator: 随机数生成器；为 ``None`` 时用 PyTorch 的全局生成器。

    Returns:
        ``(X, y)``：``X`` 形状 (n·C, 2)，float32；
        ``y`` 形状 (n·C,)，int64，取值 0 到 C-1，按类别依次排列。
    """
    t = torch.linspace(0.0, 1.0, n_per_class)
    xs, ys = [], []
    for c in range(num_classes):
        eps = torch.randn(n_per_class, generator=generator)
        theta = 2 * math.pi / num_classes * (c + 2 * t) + noise * eps
        xs.append(torch.stack([t * torch.sin(theta), t * torch.cos(theta)], 1))
        ys.append(torch.full((n_per_class,), c, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


def _check_make_linear_model(in_features, num_classes):
    in_features = check_positive_int("in_features", in_features)
    num_classes = check_positive_int("num_classes", num_classes)
    check_memory(  # 参数的 float32，留 25% 余量
        "in_features × num_classes", (in_features + 1) * num_classes, 5
    )


@validated_by(_check_make_linear_model)
def make_linear_model(in_features: int = 2, num_classes: int = 3) -> nn.Linear:
    """线性分类器 o = W x + b，形状 (N, in_features) -> (N, num_classes)。"""
    return nn.Linear(in_features, num_classes)


def _check_make_two_layer_net(in_features, num_hiddens, num_classes, *, relu):
    in_features = check_positive_int("in_features", in_features)
    num_hiddens = check_positive_int("num_hiddens", num_hiddens)
    num_classes = check_positive_int("num_classes", num_classes)
    # 参数各 4 字节，留 25% 余量
    params = num_hiddens * (in_features + num_classes + 2)
    check_memory("num_hiddens", params, bytes_per_element=5)


@validated_by(_check_make_two_layer_net)
def make_two_layer_net(
    in_features: int = 2,
    num_hiddens: int = 100,
    num_classes: int = 3,
    *,
    relu: bool = True,
) -> nn.Sequential:
    """两层全连接网络 Linear -> ReLU -> Linear。

    形状 (N, in_features) -> (N, num_hiddens) -> (N, num_classes)。
    ``relu=False`` 时去掉中间的 ReLU，两个线性层直接相连。
    """
    middle = [nn.ReLU()] if relu else []
    return nn.Sequential(
        nn.Linear(in_features, num_hiddens),
        *middle,
        nn.Linear(num_hiddens, num_classes),
    )


def _check_collapse_linear_layers(model):
    check_instance("model", model, nn.Sequential)
    layers = list(model)
    if not layers or not all(isinstance(m, nn.Linear) for m in layers):
        kinds = ", ".join(type(m).__name__ for m in layers) or "空模型"
        raise ValueError(
            f"model 只能由 nn.Linear 组成才能合并，这个模型含有 {kinds}"
        )
    for before, after in itertools.pairwise(layers):
        if after.in_features != before.out_features:
            raise ValueError(
                "model 的相邻两层接不上："
                f"上一层输出 {before.out_features} 维，"
                f"下一层输入 {after.in_features} 维"
            )


@validated_by(_check_collapse_linear_layers)
def collapse_linear_layers(model: nn.Sequential) -> nn.Linear:
    """把只含线性层的 ``nn.Sequential`` 合并成一个等价的 ``nn.Linear``。

    两层时 W = W2 W1，b = W2 b1 + b2，更多层依次类推。没有偏置的层
    （``bias=False``）当作偏置为 0。
    """
    layers = list(model)

    def bias_of(layer: nn.Linear) -> torch.Tensor:
        if layer.bias is None:
            return torch.zeros(layer.out_features, dtype=layer.weight.dtype)
        return layer.bias.detach()

    weight = layers[0].weight.detach().clone()
    bias = bias_of(layers[0]).clone()
    for layer in layers[1:]:
        weight = layer.weight.detach() @ weight
        bias = layer.weight.detach() @ bias + bias_of(layer)
    merged = nn.Linear(weight.shape[1], weight.shape[0], dtype=weight.dtype)
    with torch.no_grad():
        merged.weight.copy_(weight)
        merged.bias.copy_(bias)
    return merged


def _check_logit_plane(logits):
    check_tensor("logits", logits, ndim=tuple(range(1, 9)), floating=True)
    if logits.shape[-1] != 3:
        raise ValueError(
            f"logit_plane 只适用于 3 类，logits 最后一维是 {logits.shape[-1]}"
        )


@validated_by(_check_logit_plane)
def logit_plane(logits: torch.Tensor) -> torch.Tensor:
    """把三类的 logits 投影到与 (1, 1, 1) 正交的平面，(..., 3) -> (..., 2)。

    三个 logit 同加一个常数不改变预测，所以只有这个平面上的坐标有意义。
    平面里“哪一类 logit 最大”由互成 120° 的三条射线分开。
    """
    basis = torch.tensor(
        [
            [1 / math.sqrt(2), -1 / math.sqrt(2), 0.0],
            [1 / math.sqrt(6), 1 / math.sqrt(6), -2 / math.sqrt(6)],
        ],
        dtype=logits.dtype,
    )
    return logits @ basis.T


def grid_lines(
    lim: float = 1.0, n_lines: int = 11, n_points: int = 200
) -> torch.Tensor:
    """正方形 [-lim, lim]² 中的横线与竖线，形状 (2·n_lines, n_points, 2)。"""
    lim = check_positive_float("lim", lim)
    n_lines = check_int("n_lines", n_lines, minimum=2)
    n_points = check_int("n_points", n_points, minimum=2)
    # 实测峰值约每个点 8 个 float32
    check_memory("n_lines × n_points", n_lines * n_points * 10)
    if n_lines > 1000:
        raise ValueError(
            f"n_lines={n_lines} 太多：画出来只是一片灰色；请用不超过 1000 条"
        )
    ticks = torch.linspace(-lim, lim, n_lines)[:, None].expand(-1, n_points)
    along = torch.linspace(-lim, lim, n_points).expand(n_lines, -1)
    horizontal = torch.stack([along, ticks], dim=2)
    vertical = torch.stack([ticks, along], dim=2)
    return torch.cat([horizontal, vertical])


@dataclass(frozen=True)
class RegionSnapshot:
    """训练到第 ``step`` 步时模型在网格上预测的类别与训练准确率。"""

    step: int
    labels: np.ndarray  # 形状 (resolution, resolution)，见 predict_grid
    train_accuracy: float


def training_snapshots(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    steps: Sequence[int],
    lim: float = 1.1,
    resolution: int = 300,
) -> list[RegionSnapshot]:
    """用 ``train_classifier``（Adam、全批量）训练，在指定的步数记下决策区域。

    第 ``steps`` 中每一步（0 表示训练前）更新参数之前调用 ``predict_grid``，
    训练准确率取自 ``train_classifier`` 同一步的记录。原地更新 ``model``，
    共训练 ``max(steps)`` 步，结果与直接调用 ``train_classifier`` 逐位相同。
    """
    check_instance("model", model, nn.Module)
    check_tensor("X", X, ndim=2, floating=True, finite=True)
    check_labels("y", y, n=X.shape[0])
    check_positive_float("lr", lr)
    if not isinstance(steps, Sequence) or isinstance(steps, str):
        raise TypeError(
            f"steps 应是步数的列表，如 [0, 10, 100]，收到 {steps!r}"
        )
    steps = [check_int("steps 的每一项", s, minimum=0) for s in steps]
    if not steps or steps != sorted(set(steps)):
        raise ValueError(
            "steps 应是不重复、从小到大排列的步数，如 [0, 10, 100]，"
            f"收到 {steps}"
        )
    grids = {}

    def record(step: int, model: nn.Module) -> None:
        if step in steps:
            grid = predict_grid(model, lim=lim, resolution=resolution)
            grids[step] = grid[2]  # 每个网格点预测的类别

    accuracies = []
    if steps[-1] > 0:
        history = train_classifier(
            model, X, y, lr=lr, num_steps=steps[-1], on_step=record
        )
        accuracies = history.train_accuracies
    record(steps[-1], model)  # 最后一步之后的模型
    accuracies = [*accuracies, evaluate(model, X, y)]
    return [RegionSnapshot(s, grids[s], accuracies[s]) for s in steps]


def make_splits(
    cfg: SpiralConfig = SpiralConfig(),
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """同一分布的训练集、验证集与测试集，各用自己的种子生成。"""
    check_instance("cfg", cfg, SpiralConfig)
    return seeded_splits(
        lambda g: make_spiral(
            cfg.n_per_class, cfg.num_classes, cfg.noise, generator=g
        ),
        {"train": cfg.data_seed, "val": cfg.val_seed, "test": cfg.test_seed},
    )


def _check_plot_logit_plane(model, X, y, ax, *, n_lines):
    check_points(X, y)
    check_labels("y", y, num_classes=3)
    check_instance("model", model, nn.Module)
    # 不试着调用模型（那会改动 BatchNorm 之类的状态）：看最后一个全连接层
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linears and linears[-1].out_features != 3:
        raise ValueError(
            "model 应输出 3 个 logit（三分类），它的最后一个全连接层"
            f"输出 {linears[-1].out_features} 个"
        )


@validated_by(_check_plot_logit_plane)
@torch.no_grad()
def plot_logit_plane(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    ax: Axes | None = None,
    *,
    n_lines: int = 11,
) -> Axes:
    """把数据点和输入平面上的方格线一起映射到三分类模型的 logit 平面。

    在 logit 平面里，决策边界是从原点出发、互成 120° 的三条射线（虚线）。
    线性模型把方格线映射成仍然平行的直线；带 ReLU 的网络把它们折弯。
    """
    ax = new_axes(ax)
    lines = grid_lines(lim=1.0, n_lines=n_lines)
    mapped = logit_plane(model(lines.reshape(-1, 2))).reshape(
        lines.shape[0], lines.shape[1], 2
    )
    for line in mapped.numpy():
        ax.plot(line[:, 0], line[:, 1], color="0.6", lw=0.6, zorder=1)
    points = logit_plane(model(X))
    for c in range(int(y.max()) + 1):
        pts = points[y == c].numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=3, color=CLASS_COLORS[c], zorder=2)
    reach = float(points.abs().max()) * 1.05
    for k in range(3):
        # 三个 one-hot 方向的中间方向就是两类 logit 相等的边界
        direction = -logit_plane(torch.eye(3)[k])
        direction = direction / direction.norm()
        ax.plot(
            [0, reach * direction[0]],
            [0, reach * direction[1]],
            "k--",
            lw=1,
            zorder=3,
        )
    ax.set_aspect("equal")
    ax.set_xlabel("logit 平面坐标 1")
    ax.set_ylabel("logit 平面坐标 2")
    return ax
