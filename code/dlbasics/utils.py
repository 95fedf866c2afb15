"""各章共用的小工具。参数检查见 ``dlbasics.validation``。"""

from __future__ import annotations

from torch import nn

from dlbasics.validation import check_positive_int

__all__ = ["check_positive_int", "count_parameters"]


def count_parameters(model: nn.Module) -> int:
    """模型中可训练参数（``requires_grad=True``）的元素总数。"""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model 必须是 torch.nn.Module，收到 {type(model).__name__}"
        )
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
