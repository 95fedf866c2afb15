"""全批量训练循环与准确率。多章共用，首次出现于 book/spiral.md"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from dlbasics.utils import check_positive_int


@dataclass
class History:
    """训练记录：每一步（更新参数之前）的损失与训练准确率。"""

    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        """最后一步的损失。"""
        return self.losses[-1]


def _check_xy(X: torch.Tensor, y: torch.Tensor) -> None:
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(
            "X 应为 (N, d)、y 应为 (N,)，且 N 相同；"
            f"收到 {tuple(X.shape)} 与 {tuple(y.shape)}"
        )


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """argmax 预测等于标签的比例。logits 形状 (N, C)，y 形状 (N,)。"""
    _check_xy(logits, y)
    return (logits.argmax(dim=1) == y).float().mean().item()


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """模型在 (X, y) 上的准确率，不记录梯度。"""
    return accuracy(model(X), y)


def train_classifier(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    num_steps: int,
    optimizer_cls: type[torch.optim.Optimizer] = torch.optim.Adam,
) -> History:
    """用交叉熵损失做 ``num_steps`` 步全批量训练，原地更新 ``model``。

    Args:
        model: 把 (N, d) 的输入映射为 (N, C) 的 logits。
        X: 输入，形状 (N, d)，浮点型。
        y: 类别标签，形状 (N,)，int64，取值 0 到 C-1。
        lr: 学习率，必须为正。
        num_steps: 参数更新的步数，正整数。
        optimizer_cls: ``torch.optim`` 中的优化器类，默认 Adam。

    Returns:
        每一步的损失与训练准确率。
    """
    _check_xy(X, y)
    if not X.is_floating_point():
        raise ValueError(f"X 必须是浮点张量，收到 {X.dtype}；可用 X.float()")
    if y.dtype != torch.long:
        raise ValueError(f"y 必须是 torch.long，收到 {y.dtype}；可用 y.long()")
    if not lr > 0:
        raise ValueError(f"学习率 lr 必须为正，收到 {lr!r}")
    check_positive_int("num_steps", num_steps)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optimizer_cls(model.parameters(), lr=lr)
    history = History()
    for _ in range(num_steps):
        logits = model(X)  # 前向：(N, C)
        loss = loss_fn(logits, y)
        history.losses.append(loss.item())
        history.accuracies.append(accuracy(logits.detach(), y))
        optimizer.zero_grad()
        loss.backward()  # 反向传播：求每个参数的梯度
        optimizer.step()  # 按梯度更新参数
    return history
