"""各章共用的小工具。参数检查见 ``dlbasics.validation``。"""

from __future__ import annotations

import torch
from torch import nn

from dlbasics.validation import (
    check_instance,
    check_int,
    check_memory,
    check_positive_float,
    check_positive_int,
)

__all__ = ["check_positive_int", "count_parameters", "square_grid"]


def count_parameters(model: nn.Module) -> int:
    """模型中可训练参数（``requires_grad=True``）的元素总数。"""
    check_instance("model", model, nn.Module)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def square_grid(
    lim: float, resolution: int, *, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """正方形 [-lim, lim]² 上均匀的 resolution × resolution 个网格点。

    Returns:
        ``(xx, yy, points)``：xx、yy 形状 (resolution, resolution)，
        第 i 行对应 x2 的第 i 个取值；points 是展平后的 (resolution², 2)。
    """
    lim = check_positive_float("lim", lim)
    resolution = check_int("resolution", resolution, minimum=2)
    check_memory("resolution²", resolution * resolution * 8)
    axis = torch.linspace(-lim, lim, resolution, dtype=dtype)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    return xx, yy, points
