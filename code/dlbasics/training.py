"""全批量训练循环与准确率。多章共用，首次出现于 book/spiral.md"""

from __future__ import annotations

from collections.abc import Callable
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


@dataclass
class EpochHistory:
    """小批量训练的记录，每轮（epoch）一项。

    训练损失与训练准确率是这一轮里各个小批量的平均（训练模式下、
    数据增强之后）；验证准确率在这一轮结束时用评估模式计算。
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)


def train_minibatch(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    optimizer: torch.optim.Optimizer,
    num_epochs: int,
    batch_size: int,
    generator: torch.Generator,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    val_every: int = 1,
    callback: Callable[[int, nn.Module], None] | None = None,
) -> EpochHistory:
    """小批量训练分类模型：每轮按 ``generator`` 打乱样本、逐批更新。

    ``augment`` 若给出，只作用于训练批（验证集保持原样）。验证准确率每
    ``val_every`` 轮（以及最后一轮）计算一次，节省时间。``callback`` 若给出，
    在训练开始前以 ``(0, model)``、之后每轮结束时以 ``(轮次, model)``
    调用一次，用来记录训练过程中的量。
    """
    _check_xy(X.flatten(1), y)
    _check_xy(X_val.flatten(1), y_val)
    check_positive_int("num_epochs", num_epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_int("val_every", val_every)
    history = EpochHistory()
    if callback is not None:
        callback(0, model)
    for epoch in range(1, num_epochs + 1):
        model.train()
        order = torch.randperm(len(X), generator=generator)
        total_loss, total_correct = 0.0, 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            xb = X[idx] if augment is None else augment(X[idx])
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx)
            total_correct += accuracy(logits.detach(), y[idx]) * len(idx)
        history.train_loss.append(total_loss / len(X))
        history.train_acc.append(total_correct / len(X))
        model.eval()
        if epoch % val_every == 0 or epoch == num_epochs:
            history.val_acc.append(evaluate(model, X_val, y_val))
        if callback is not None:
            callback(epoch, model)
    return history
