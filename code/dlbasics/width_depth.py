"""宽度与深度：相同参数预算下的网络、线性区域计数、隐藏特征的冗余。

对应章节：book/width_depth.md。网络本身用 ``dlbasics.activations.DeepMLP``。
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dlbasics.activations import DeepMLP
from dlbasics.utils import check_positive_int


@dataclass(frozen=True)
class WidthDepthConfig:
    """本章实验的设置；正文中的数字都由这组设置算出。"""

    budget: int = 100  # 实验一：每个网络的参数预算
    depths: tuple[int, ...] = (1, 2, 3, 4, 6)
    seeds: tuple[int, ...] = (0, 1, 2)
    lr: float = 0.02
    num_steps: int = 500
    region_budget: int = 400  # 实验二：数线性区域时的参数预算
    region_depths: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
    region_resolution: int = 160
    region_lim: float = 1.5
    deep_depth: int = 12  # 实验三：很深的网络
    deep_width: int = 16
    deep_steps: int = 300
    widths: tuple[int, ...] = (16, 64, 256)  # 实验四：只有一个隐藏层时的宽度


def mlp_param_count(
    width: int, depth: int, in_features: int = 2, out_features: int = 3
) -> int:
    """depth 个宽度为 width 的隐藏层（含偏置）加输出层的参数个数。

    (d_in + 1)·w + (depth - 1)·(w + 1)·w + (w + 1)·d_out
    """
    check_positive_int("width", width)
    check_positive_int("depth", depth)
    return (
        (in_features + 1) * width
        + (depth - 1) * (width + 1) * width
        + (width + 1) * out_features
    )


def width_for_budget(
    budget: int, depth: int, in_features: int = 2, out_features: int = 3
) -> int:
    """参数个数最接近 ``budget`` 的宽度（深度固定）。

    depth = 1 时参数量是宽度的一次函数，否则是二次函数；先解出实数解，
    再比较它两侧的整数。
    """
    check_positive_int("budget", budget)
    check_positive_int("depth", depth)
    a = depth - 1
    b = in_features + 1 + (depth - 1) + out_features
    c = out_features - budget
    if a == 0:
        w = -c / b
    else:
        w = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    candidates = {max(1, math.floor(w)), max(1, math.ceil(w))}
    best = min(
        candidates,
        key=lambda n: abs(
            mlp_param_count(n, depth, in_features, out_features) - budget
        ),
    )
    return best


@torch.no_grad()
def activation_patterns(model: DeepMLP, points: torch.Tensor) -> torch.Tensor:
    """每个点上所有隐藏 ReLU 单元是否激活，形状 (N, 隐藏单元总数)，bool。

    激活模式相同的点，网络在它们上面是同一个仿射函数：同一个线性区域。
    """
    if model.activation != "relu":
        raise ValueError(
            "只有 ReLU 网络才是分段线性的，才能按激活模式划分区域"
        )
    states = model.hidden_states(points)
    return torch.cat([z > 0 for z, _ in states], dim=1)


def region_grid(
    model: DeepMLP, *, lim: float = 1.5, resolution: int = 400
) -> tuple[torch.Tensor, int]:
    """在 [-lim, lim]² 的网格上给每个点标出它所在线性区域的编号。

    Returns:
        ``(labels, n_regions)``：labels 形状 (resolution, resolution)，
        第 i 行对应 x2 的第 i 个取值；n_regions 是网格上看到的区域数
        （比网格间距还小的区域可能被漏掉，所以这是下界）。
    """
    if resolution < 2:
        raise ValueError(f"resolution 至少为 2，收到 {resolution!r}")
    axis = torch.linspace(-lim, lim, resolution)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    patterns = activation_patterns(model, points)
    _, labels = torch.unique(patterns, dim=0, return_inverse=True)
    return labels.reshape(resolution, resolution), int(labels.max()) + 1


@torch.no_grad()
def effective_rank(features: torch.Tensor, energy: float = 0.99) -> int:
    """特征矩阵 (N, W) 中，解释 ``energy`` 比例方差所需的主成分个数。

    先把每列减去均值，再看奇异值平方的累计占比。远小于 W 说明很多
    特征是彼此的线性组合：宽度被浪费了。
    """
    if not 0 < energy <= 1:
        raise ValueError(f"energy 应在 (0, 1] 内，收到 {energy!r}")
    centered = features - features.mean(dim=0)
    s = torch.linalg.svdvals(centered.double())
    share = (s**2).cumsum(0) / (s**2).sum()
    return int((share < energy - 1e-12).sum()) + 1


@torch.no_grad()
def last_hidden_features(model: DeepMLP, X: torch.Tensor) -> torch.Tensor:
    """最后一个隐藏层的输出（送进输出层之前的特征），形状 (N, width)。"""
    return model.hidden_states(X)[-1][1]
