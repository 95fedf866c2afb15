"""几章共用的绘图工具：中文字体与配色、二维分类数据、决策区域、训练曲线。

本书的规则：这里只放不属于某一章主题的通用绘图函数，且不导入任何一章的
模块；画某一章特有对象的图放在那一章自己的模块里（如
``spiral.plot_logit_plane``、``tensors.plot_broadcast``、
``cnn.plot_architecture``），用这里的 ``new_axes``、``check_points``
与 ``CLASS_COLORS``。

本包中只有这个模块与 ``slider``（渲染完关闭图）导入 matplotlib.pyplot。
每个绘图函数接收并返回 ``Axes``，从不调用 ``plt.show()``，也不写文件。
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
from torch import nn

from dlbasics.training import History, predict_grid
from dlbasics.validation import (
    check_instance,
    check_labels,
    check_positive_float,
    check_positive_int,
    check_tensor,
    validated_by,
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


def _check_class_cmap(num_classes):
    num_classes = check_positive_int("num_classes", num_classes)
    if num_classes > len(CLASS_COLORS):
        raise ValueError(
            f"num_classes 应在 1 到 {len(CLASS_COLORS)} 之间，"
            f"收到 {num_classes}"
        )


@validated_by(_check_class_cmap)
def class_cmap(num_classes: int) -> ListedColormap:
    """前 ``num_classes`` 种类别颜色组成的色表。"""
    return ListedColormap(CLASS_COLORS[:num_classes])


def new_axes(ax: Axes | None) -> Axes:
    """检查 ``ax``；为 None 时新建一张图并返回它的 Axes。"""
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(
            f"ax 应是 matplotlib 的 Axes 或 None，收到 {type(ax).__name__}"
        )
    return plt.subplots()[1] if ax is None else ax


def check_points(X: object, y: object) -> None:
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
    check_points(X, y)
    check_positive_float("size", size)
    ax = new_axes(ax)
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
    """用浅色画出模型在平面上各处预测的类别，再叠加数据点。

    网格上的每一点都按预测的类别着色，包括数据里没有的类别。
    """
    check_points(X, y)
    ax = new_axes(ax)
    xx, yy, labels = predict_grid(model, lim=lim, resolution=resolution)
    num_classes = max(int(y.max()), int(labels.max())) + 1
    levels = np.arange(num_classes + 1) - 0.5
    ax.contourf(
        xx, yy, labels, levels=levels, cmap=class_cmap(num_classes), alpha=0.25
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
    ax = new_axes(ax)
    for label, history in histories.items():
        values = (
            history.train_losses
            if metric == "loss"
            else history.train_accuracies
        )
        ax.plot(np.arange(len(values)), values, label=label)
    ax.set_xlabel("训练步数")
    ax.set_ylabel("交叉熵损失" if metric == "loss" else "训练准确率")
    ax.legend()
    return ax
