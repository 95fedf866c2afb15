"""Softmax、log-softmax 与交叉熵的从零实现，以及 softmax 回归。

对应章节：book/softmax.md。所有函数都沿最后一维计算，logits 形状 (..., C)。
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dlbasics.utils import check_positive_int


def softmax_naive(logits: torch.Tensor) -> torch.Tensor:
    """直接按定义计算 softmax(z)_k = exp(z_k) / Σ_j exp(z_j)。

    logits 较大时 exp 会上溢成 inf，结果变成 nan：这是反面教材。
    """
    e = torch.exp(logits)
    return e / e.sum(dim=-1, keepdim=True)


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """数值稳定的 softmax：先减去每行的最大值 m，再按定义计算。

    softmax(z) = softmax(z - m)，而 z - m ≤ 0，exp 不会上溢。
    """
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    e = torch.exp(shifted)
    return e / e.sum(dim=-1, keepdim=True)


def logsumexp(logits: torch.Tensor) -> torch.Tensor:
    """logsumexp(z) = m + log Σ_j exp(z_j - m)，m 为最大值；形状 (...,)。"""
    m = logits.max(dim=-1, keepdim=True).values
    return (m + torch.log(torch.exp(logits - m).sum(dim=-1, keepdim=True)))[
        ..., 0
    ]


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log softmax(z)_k = z_k - logsumexp(z)，不经过会下溢为 0 的概率。

    先算 s = z - m（m 为最大值）再减去 log Σ exp(s)：数值都在 0 附近，
    比先算出很大的 logsumexp 再相减更精确。
    """
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    return shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """平均交叉熵 -1/N Σ_i log softmax(z_i)_{y_i}，同 ``F.cross_entropy``。

    Args:
        logits: 形状 (N, C)，未经 softmax 的分数。
        y: 形状 (N,)，int64 类别编号，取值 0 到 C-1。
    """
    if logits.ndim != 2 or y.shape != (logits.shape[0],):
        raise ValueError(
            "logits 应为 (N, C)、y 应为 (N,)，"
            f"收到 {tuple(logits.shape)} 与 {tuple(y.shape)}"
        )
    if y.dtype != torch.long:
        raise ValueError(f"y 必须是 torch.long 类别编号，收到 {y.dtype}")
    if len(y) and (y.min() < 0 or y.max() >= logits.shape[1]):
        raise ValueError(f"类别编号必须在 0 到 {logits.shape[1] - 1} 之间")
    picked = log_softmax(logits).gather(1, y[:, None])[:, 0]
    return -picked.mean()


def softmax_with_temperature(
    logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """softmax(z / T)：T > 1 让分布更平，T < 1 让分布更尖。"""
    if not temperature > 0:
        raise ValueError(f"温度 T 必须为正，收到 {temperature!r}")
    return softmax(logits / temperature)


def make_blobs(
    n_per_class: int,
    centers: Sequence[tuple[float, float]],
    std: float,
    *,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """以 ``centers`` 为中心、标准差为 ``std`` 的二维高斯点团。

    每类 n_per_class 个点。

    Returns:
        ``(X, y)``：X 形状 (n·C, 2)、float32；y 形状 (n·C,)、int64。
    """
    check_positive_int("n_per_class", n_per_class)
    if not std > 0 or not math.isfinite(std):
        raise ValueError(f"std 必须为正，收到 {std!r}")
    if len(centers) < 2:
        raise ValueError("至少需要两个类别中心")
    xs, ys = [], []
    for c, center in enumerate(centers):
        noise = torch.randn(n_per_class, 2, generator=generator)
        xs.append(torch.tensor(center, dtype=torch.float32) + std * noise)
        ys.append(torch.full((n_per_class,), c, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


def softmax_regression_step(
    W: torch.Tensor,
    b: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    lr: float,
) -> float:
    """softmax 回归 o = X W^T + b 的一步梯度下降，原地更新 W、b，返回损失。

    交叉熵对 logits 的梯度是 (softmax(o) - onehot(y)) / N，于是
    ∂L/∂W = G^T X，∂L/∂b = G 按列求和，其中 G = (P - Y) / N。
    """
    logits = X @ W.T + b
    loss = cross_entropy(logits, y).item()
    G = softmax(logits)
    G[torch.arange(len(y)), y] -= 1
    G /= len(y)
    W -= lr * (G.T @ X)
    b -= lr * G.sum(dim=0)
    return loss
