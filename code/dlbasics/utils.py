"""各章共用的小工具。参数检查见 ``dlbasics.validation``。"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import torch
from torch import nn

from dlbasics.validation import (
    check_instance,
    check_int,
    check_memory,
    check_positive_float,
    check_positive_int,
    validated_by,
)

__all__ = [
    "check_positive_int",
    "count_parameters",
    "seeded_splits",
    "square_grid",
]

T = TypeVar("T")


def count_parameters(model: nn.Module) -> int:
    """模型中可训练参数（``requires_grad=True``）的元素总数。"""
    check_instance("model", model, nn.Module)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _check_square_grid(lim, resolution, *, dtype):
    check_positive_float("lim", lim)
    resolution = check_int("resolution", resolution, minimum=2)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"dtype 应是浮点类型（如 torch.float32），收到 {dtype!r}；"
            "整数类型的网格只有整数坐标"
        )
    # 实测峰值约 4 个 resolution² 大小的张量
    size = resolution * resolution * 5
    check_memory("resolution²", size, bytes_per_element=dtype.itemsize)


@validated_by(_check_square_grid)
def square_grid(
    lim: float, resolution: int, *, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """正方形 [-lim, lim]² 上均匀的 resolution × resolution 个网格点。

    Returns:
        ``(xx, yy, points)``：xx、yy 形状 (resolution, resolution)，
        第 i 行对应 x2 的第 i 个取值；points 是展平后的 (resolution², 2)。
    """
    axis = torch.linspace(-lim, lim, resolution, dtype=dtype)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    return xx, yy, points


def seeded_splits(
    make: Callable[[torch.Generator], T], seeds: Mapping[str, int]
) -> dict[str, T]:
    """按 ``{名字: 种子}`` 各生成一份数据：``make(generator)``。

    用于训练集、验证集、测试集：同一分布，各用自己的种子独立抽样。
    """
    if not callable(make):
        raise TypeError("make 应是“给生成器、返回数据”的函数")
    if not isinstance(seeds, Mapping) or not seeds:
        raise TypeError("seeds 应是非空的 {名字: 种子} 字典")
    return {
        name: make(
            torch.Generator().manual_seed(
                check_int(f"seeds[{name!r}]", seed, minimum=0)
            )
        )
        for name, seed in seeds.items()
    }
