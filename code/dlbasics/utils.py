"""各章共用的小工具。参数检查见 ``dlbasics.validation``。"""

from __future__ import annotations

from torch import nn

from dlbasics.validation import check_instance, check_positive_int

__all__ = ["check_positive_int", "count_parameters"]


def count_parameters(model: nn.Module) -> int:
    """模型中可训练参数（``requires_grad=True``）的元素总数。"""
    check_instance("model", model, nn.Module)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
