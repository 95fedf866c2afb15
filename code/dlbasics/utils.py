"""各章共用的小工具。"""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> int:
    """模型中可训练参数（``requires_grad=True``）的元素总数。"""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_positive_int(name: str, value: object) -> None:
    """``value`` 不是正整数（bool 不算）时抛出带参数名的 ``ValueError``。"""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} 必须是正整数，收到 {value!r}")
