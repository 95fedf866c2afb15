"""绘图工具：中文字体、螺旋数据、决策区域、训练曲线。

本包中只有这个模块导入 matplotlib.pyplot。每个函数接收并返回 ``Axes``，
从不调用 ``plt.show()``，也不写文件。
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.patches import FancyBboxPatch, Rectangle
from torch import nn

from dlbasics.spiral import grid_lines, logit_plane, predict_grid
from dlbasics.tensors import broadcast_shape, normal_pdf
from dlbasics.training import History
from dlbasics.validation import (
    check_instance,
    check_int,
    check_labels,
    check_pair,
    check_positive_float,
    check_positive_int,
    check_tensor,
)

FONT_PATH = Path(__file__).with_name("fonts") / "NotoSansSC-Subset.otf"
FONT_FAMILY = "Noto Sans SC DLBasics"

# Okabe-Ito 配色：色盲读者也能区分
CLASS_COLORS = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
)


def use_book_style() -> str:
    """注册随包附带的中文字体并设置全书统一的绘图风格，返回字体名。

    字体文件随 ``pip install`` 安装，不依赖系统字体，所以在新机器和 Binder
    上中文也不会变成方框。可以重复调用。
    """
    if FONT_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(FONT_PATH))
    mpl.rcParams.update(
        {
            "font.family": "sans-serif",
            "font.sans-serif": [FONT_FAMILY, "DejaVu Sans"],
            "font.size": 10,
            "figure.dpi": 120,
            "savefig.dpi": 120,
            "figure.figsize": (6.0, 4.0),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": False,
            "lines.linewidth": 2,
        }
    )
    return FONT_FAMILY


def class_cmap(n_classes: int) -> ListedColormap:
    """前 ``n_classes`` 种类别颜色组成的色表。"""
    if not 1 <= n_classes <= len(CLASS_COLORS):
        raise ValueError(
            f"n_classes 应在 1 到 {len(CLASS_COLORS)} 之间，收到 {n_classes}"
        )
    return ListedColormap(CLASS_COLORS[:n_classes])


def _new_axes(ax: Axes | None) -> Axes:
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(
            f"ax 应是 matplotlib 的 Axes 或 None，收到 {type(ax).__name__}"
        )
    return plt.subplots()[1] if ax is None else ax


def _check_points(X: object, y: object) -> None:
    """二维点 X (N, 2) 与类别编号 y (N,)，编号从 0 开始、不超过配色数。"""
    check_tensor("X", X, ndim=2, floating=True)
    if X.shape[1] != 2:
        raise ValueError(f"X 应为 (N, 2)，收到 {tuple(X.shape)}")
    check_labels("y", y, n=X.shape[0], num_classes=len(CLASS_COLORS))


def plot_spiral_data(
    X: torch.Tensor,
    y: torch.Tensor,
    ax: Axes | None = None,
    *,
    size: float = 6,
) -> Axes:
    """按类别着色画出二维点集，坐标轴等比例。X 形状 (N, 2)，y 形状 (N,)。"""
    _check_points(X, y)
    check_positive_float("size", size)
    ax = _new_axes(ax)
    for c in sorted(set(y.tolist())):
        pts = X[y == c].detach().cpu().numpy()
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=size,
            color=CLASS_COLORS[c],
            label=f"第 {c} 类",
        )
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax


def plot_decision_regions(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    ax: Axes | None = None,
    *,
    lim: float = 1.1,
    resolution: int = 300,
) -> Axes:
    """用浅色画出模型在平面上各处预测的类别，再叠加数据点。"""
    _check_points(X, y)
    ax = _new_axes(ax)
    n_classes = int(y.max()) + 1
    xx, yy, labels = predict_grid(model, lim=lim, resolution=resolution)
    levels = np.arange(n_classes + 1) - 0.5
    ax.contourf(
        xx, yy, labels, levels=levels, cmap=class_cmap(n_classes), alpha=0.25
    )
    plot_spiral_data(X, y, ax, size=3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    return ax


def plot_history(
    histories: Mapping[str, History],
    ax: Axes | None = None,
    *,
    metric: str = "loss",
) -> Axes:
    """把几次训练的损失（``metric="loss"``）或准确率（``"accuracy"``）画在同一张图上。"""
    if metric not in ("loss", "accuracy"):
        raise ValueError(
            f"metric 只能是 'loss' 或 'accuracy'，收到 {metric!r}"
        )
    if not isinstance(histories, Mapping) or not histories:
        raise TypeError("histories 应是非空的 {名字: History} 字典")
    for history in histories.values():
        check_instance("histories 的值", history, History)
    ax = _new_axes(ax)
    for label, history in histories.items():
        values = history.losses if metric == "loss" else history.accuracies
        ax.plot(np.arange(len(values)), values, label=label)
    ax.set_xlabel("训练步数")
    ax.set_ylabel("交叉熵损失" if metric == "loss" else "训练准确率")
    ax.legend()
    return ax


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
    _check_points(X, y)
    ax = _new_axes(ax)
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


def plot_histogram_with_density(
    sample: torch.Tensor, bins: int, ax: Axes | None = None
) -> Axes:
    """样本的密度直方图（面积和为 1），叠加标准正态分布的密度曲线。"""
    check_tensor("sample", sample, ndim=1, floating=True, finite=True)
    bins = check_positive_int("bins", bins)
    ax = _new_axes(ax)
    values = sample.detach().cpu().numpy()
    ax.hist(
        values,
        bins=bins,
        density=True,
        color=CLASS_COLORS[0],
        alpha=0.6,
        label=f"{len(values)} 个样本的直方图",
    )
    grid = torch.linspace(
        float(values.min()) - 0.5, float(values.max()) + 0.5, 400
    )
    ax.plot(
        grid.numpy(),
        normal_pdf(grid).numpy(),
        color=CLASS_COLORS[1],
        label="N(0, 1) 的密度",
    )
    ax.set_xlabel("$x$")
    ax.set_ylabel("概率密度")
    ax.legend()
    return ax


def plot_broadcast(
    shape_a: tuple[int, int], shape_b: tuple[int, int], ax: Axes | None = None
) -> Axes:
    """画出两个二维形状广播成结果形状的过程：实格是原有元素，虚格是复制出来的。"""
    for name, shape in (("shape_a", shape_a), ("shape_b", shape_b)):
        for length in check_pair(name, shape, "(3, 1)"):
            check_int(name, length, minimum=1)
    try:
        out = broadcast_shape(shape_a, shape_b)
    except ValueError as err:
        raise ValueError(f"shape_a 与 shape_b 不能广播：{err}") from err
    if out[0] * out[1] > 400:
        raise ValueError(
            f"结果形状 {out} 太大，画出来看不清；请用小一点的形状"
        )
    ax = _new_axes(ax)
    x0 = 0.0
    panels = [(shape_a, "a"), (shape_b, "b"), (out, "结果")]
    for k, (shape, name) in enumerate(panels):
        rows, cols = out
        for i in range(rows):
            for j in range(cols):
                real = k == 2 or (i < shape[0] and j < shape[1])
                ax.add_patch(
                    Rectangle(
                        (x0 + j, -i - 1),
                        1,
                        1,
                        facecolor=CLASS_COLORS[k] if real else "white",
                        edgecolor=CLASS_COLORS[k],
                        alpha=0.8 if real else 1.0,
                        linestyle="-" if real else "--",
                        linewidth=1.2,
                    )
                )
        ax.text(
            x0 + cols / 2,
            0.4,
            f"{name} {tuple(shape)}",
            ha="center",
            va="bottom",
        )
        if k < 2:
            ax.text(
                x0 + cols + 0.6,
                -rows / 2,
                "+" if k == 0 else "=",
                ha="center",
                va="center",
                fontsize=16,
            )
        x0 += cols + 1.2
    ax.set_xlim(-0.2, x0 - 1.0)
    ax.set_ylim(-out[0] - 0.3, 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def plot_architecture(
    blocks: list[tuple[str, str]],
    ax: Axes | None = None,
    *,
    title: str = "",
    n_rows: int | None = None,
) -> Axes:
    """把网络画成自下而上的一列方块：卷积、汇聚、全连接用不同颜色。

    ``blocks`` 来自 ``dlbasics.cnn.describe_blocks``；最下面是输入端。
    并排画两个网络时，给两者相同的 ``n_rows``，方块就一样大。
    """
    colors = {
        "conv": CLASS_COLORS[0],
        "pool": CLASS_COLORS[2],
        "fc": CLASS_COLORS[1],
    }
    ax = _new_axes(ax)
    for i, (kind, text) in enumerate(blocks):
        if kind not in colors:
            raise ValueError(f"未知的方块种类 {kind!r}，应为 conv、pool 或 fc")
        ax.add_patch(
            FancyBboxPatch(
                (0.05, i + 0.12), 0.9, 0.76, boxstyle="round,pad=0.02",
                facecolor=colors[kind], alpha=0.25, edgecolor=colors[kind],
            )
        )  # fmt: skip
        ax.text(0.5, i + 0.5, text, ha="center", va="center", fontsize=8)
        if i > 0:
            arrow = {"arrowstyle": "->", "color": "0.5"}
            ax.annotate("", (0.5, i + 0.1), (0.5, i - 0.1), arrowprops=arrow)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.1, max(len(blocks), n_rows or 0) + 0.1)
    ax.set_title(title)
    ax.axis("off")
    return ax
