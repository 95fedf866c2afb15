"""全批量训练循环与准确率。多章共用，首次出现于 book/spiral.md"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from dlbasics.utils import square_grid
from dlbasics.validation import (
    PYTHON_STEP,
    check_generator,
    check_instance,
    check_labels,
    check_positive_float,
    check_positive_int,
    check_tensor,
    check_work,
    validated_by,
)


@dataclass
class History:
    """训练记录：每一步（更新参数之前）的损失与训练准确率。"""

    train_losses: list[float] = field(default_factory=list)
    train_accuracies: list[float] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        """最后一步的损失。"""
        return self.train_losses[-1]


def _check_xy(X: object, y: object, x_name: str = "X", y_name: str = "y"):
    """输入 X（至少二阶，第一维是样本）与标签 y（一阶、long、长度 N）。"""
    check_tensor(x_name, X, ndim=tuple(range(2, 9)))
    check_labels(y_name, y, n=X.shape[0])


def _check_model(model: object) -> None:
    check_instance("model", model, nn.Module)


def _step_work(model: nn.Module, n_samples: int) -> int:
    """一次前向加反向传播的乘加次数的粗略估计：样本数 × 参数个数 × 3。"""
    n_params = sum(p.numel() for p in model.parameters())
    return 3 * n_samples * n_params + PYTHON_STEP


def _as_model_input(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """把浮点输入转成模型参数的类型（例如 float64 图片喂给 float32 模型）。"""
    for parameter in model.parameters():
        if X.is_floating_point() and parameter.dtype != X.dtype:
            return X.to(parameter.dtype)
        break
    return X


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """argmax 预测等于标签的比例。logits 形状 (N, C)，y 形状 (N,)。"""
    check_tensor("logits", logits, ndim=2)
    check_labels("y", y, n=logits.shape[0])
    return (logits.argmax(dim=1) == y).float().mean().item()


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """模型在 (X, y) 上的准确率，不记录梯度。"""
    _check_model(model)
    _check_xy(X, y)
    return accuracy(model(_as_model_input(model, X)), y)


def _check_train_classifier(
    model, X, y, *, lr, num_steps, optimizer_cls, on_step
):
    _check_model(model)
    check_tensor("X", X, ndim=2, floating=True, finite=True)
    check_labels("y", y, n=X.shape[0])
    check_positive_float("lr", lr)
    num_steps = check_positive_int("num_steps", num_steps)
    check_work("num_steps", num_steps, num_steps * _step_work(model, len(X)))
    if not callable(optimizer_cls):
        raise TypeError("optimizer_cls 应是优化器类，例如 torch.optim.Adam")
    if on_step is not None and not callable(on_step):
        raise TypeError("on_step 应是函数 on_step(step, model)，或者不传")


@validated_by(_check_train_classifier)
def train_classifier(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    num_steps: int,
    optimizer_cls: type[torch.optim.Optimizer] = torch.optim.Adam,
    on_step: Callable[[int, nn.Module], object] | None = None,
) -> History:
    """用交叉熵损失做 ``num_steps`` 步全批量训练，原地更新 ``model``。

    Args:
        model: 把 (N, d) 的输入映射为 (N, C) 的 logits。
        X: 输入，形状 (N, d)，浮点型。
        y: 类别标签，形状 (N,)，int64，取值 0 到 C-1。
        lr: 学习率，必须为正。
        num_steps: 参数更新的步数，正整数。
        optimizer_cls: ``torch.optim`` 中的优化器类，默认 Adam。
        on_step: 可选；第 step 步更新参数之前调用 ``on_step(step, model)``
            （step 从 0 起），例如在训练中途记下决策区域。

    Returns:
        每一步的损失与训练准确率。
    """
    X = _as_model_input(model, X)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optimizer_cls(model.parameters(), lr=lr)
    history = History()
    for step in range(num_steps):
        if on_step is not None:
            on_step(step, model)
        logits = model(X)  # 前向：(N, C)
        loss = loss_fn(logits, y)
        history.train_losses.append(loss.item())
        history.train_accuracies.append(accuracy(logits.detach(), y))
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

    train_losses: list[float] = field(default_factory=list)
    train_accuracies: list[float] = field(default_factory=list)
    val_accuracies: list[float] = field(default_factory=list)


def _check_train_minibatch(
    model, X, y, X_val, y_val, *, optimizer, num_epochs, batch_size,
    generator, augment, val_every, callback,
):  # fmt: skip
    _check_model(model)
    _check_xy(X, y)
    _check_xy(X_val, y_val, "X_val", "y_val")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            "optimizer 应是已经建好的优化器，例如 "
            "torch.optim.Adam(model.parameters(), lr=1e-3)"
        )
    num_epochs = check_positive_int("num_epochs", num_epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    val_every = check_positive_int("val_every", val_every)
    check_generator("generator", generator)
    for name, fn in [("augment", augment), ("callback", callback)]:
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} 应是函数或 None，收到 {fn!r}")
    batches = -(-len(X) // batch_size)
    per_epoch = _step_work(model, len(X)) + batches * PYTHON_STEP
    check_work("num_epochs", num_epochs, num_epochs * per_epoch)


@validated_by(_check_train_minibatch)
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
    X, X_val = _as_model_input(model, X), _as_model_input(model, X_val)
    history = EpochHistory()
    if callback is not None:
        callback(0, model)
    for epoch in range(1, num_epochs + 1):
        if not model.training:  # 上一轮为了验证切到了评估模式
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
        history.train_losses.append(total_loss / len(X))
        history.train_accuracies.append(total_correct / len(X))
        validate = epoch % val_every == 0 or epoch == num_epochs
        if validate or callback is not None:
            model.eval()  # 验证与 callback 都在评估模式下进行
        if validate:
            history.val_accuracies.append(evaluate(model, X_val, y_val))
        if callback is not None:
            callback(epoch, model)
    return history


def _model_dtype(model: nn.Module) -> torch.dtype:
    """模型参数的浮点类型（没有参数时用默认类型）。"""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.get_default_dtype()


def _check_predict_grid(model, *, lim, resolution):
    check_instance("model", model, nn.Module)


@torch.no_grad()
@validated_by(_check_predict_grid)
def predict_grid(
    model: nn.Module, *, lim: float = 1.1, resolution: int = 300
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """在正方形 [-lim, lim]² 的网格上预测类别，用来画决策区域。

    Returns:
        ``(xx, yy, labels)``，形状都是 (resolution, resolution) 的数组。
    """
    xx, yy, points = square_grid(lim, resolution, dtype=_model_dtype(model))
    labels = model(points).argmax(dim=1).reshape(resolution, resolution)
    return xx.numpy(), yy.numpy(), labels.numpy()
