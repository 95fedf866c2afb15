"""从零实现的 SGD（含动量）、RMSProp 与 Adam，以及一元线性回归的实验工具。

对应章节：book/optimizers.md。优化器继承 ``torch.optim.Optimizer``，用法与
``torch.optim`` 中的同名类相同，测试逐步核对两者的结果。
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from dlbasics.utils import check_positive_int


def _check_lr(lr: float) -> None:
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr >= 0):
        raise ValueError(f"学习率 lr 必须是非负有限数，收到 {lr!r}")


class SGD(torch.optim.Optimizer):
    """随机梯度下降，可带动量。

    无动量：θ ← θ - η g；有动量 μ：v ← μ v + g（第一步 v = g），θ ← θ - η v。
    """

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.0):
        _check_lr(lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum 应在 [0, 1) 内，收到 {momentum!r}")
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["momentum"] > 0:
                    state = self.state[p]
                    if "velocity" not in state:
                        state["velocity"] = g.clone()
                    else:
                        state["velocity"].mul_(group["momentum"]).add_(g)
                    g = state["velocity"]
                p.add_(g, alpha=-group["lr"])


class RMSProp(torch.optim.Optimizer):
    """RMSProp：用梯度平方的指数加权平均给每个参数单独缩放步长。

    s ← α s + (1 - α) g²，θ ← θ - η g / (√s + ε)。
    """

    def __init__(
        self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps=1e-8
    ):
        _check_lr(lr)
        if not 0 <= alpha < 1:
            raise ValueError(f"alpha 应在 [0, 1) 内，收到 {alpha!r}")
        if not eps >= 0:
            raise ValueError(f"eps 不能为负，收到 {eps!r}")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "square_avg" not in state:
                    state["square_avg"] = torch.zeros_like(p)
                s = state["square_avg"]
                s.mul_(group["alpha"]).addcmul_(
                    p.grad, p.grad, value=1 - group["alpha"]
                )
                p.addcdiv_(
                    p.grad, s.sqrt().add_(group["eps"]), value=-group["lr"]
                )


class Adam(torch.optim.Optimizer):
    """Adam（Kingma 与 Ba，2015）：动量加 RMSProp，再做偏差修正。

    m ← β₁ m + (1 - β₁) g，v ← β₂ v + (1 - β₂) g²，
    m̂ = m / (1 - β₁ᵗ)，v̂ = v / (1 - β₂ᵗ)，θ ← θ - η m̂ / (√v̂ + ε)。
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        _check_lr(lr)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas 的两个数都应在 [0, 1) 内，收到 {betas!r}")
        if not eps >= 0:
            raise ValueError(f"eps 不能为负，收到 {eps!r}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["t"] += 1
                t, m, v = state["t"], state["m"], state["v"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                p.addcdiv_(
                    m_hat, v_hat.sqrt().add_(group["eps"]), value=-group["lr"]
                )


# ---------- 一元线性回归的实验 ----------


def make_line_data(
    n: int = 100,
    w: float = 3.0,
    b: float = 1.0,
    noise: float = 0.5,
    x_range: tuple[float, float] = (0.0, 2.0),
    *,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """y = w x + b + ε，x ~ U(x_range)，ε ~ N(0, noise²)。

    Returns:
        ``(X, y)``，形状都是 (n, 1)。
    """
    check_positive_int("n", n)
    if not noise >= 0:
        raise ValueError(f"noise 不能为负，收到 {noise!r}")
    lo, hi = x_range
    if not hi > lo:
        raise ValueError(f"x_range 的上界应大于下界，收到 {x_range!r}")
    x = lo + (hi - lo) * torch.rand(n, 1, generator=generator)
    y = w * x + b + noise * torch.randn(n, 1, generator=generator)
    return x, y


@dataclass
class RegressionRun:
    """一次训练的记录：每次更新后的全数据损失、(w, b) 与已处理的 epoch 数。"""

    losses: list[float] = field(default_factory=list)
    path: list[tuple[float, float]] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)


def fit_line(
    make_optimizer: Callable[[Iterable], torch.optim.Optimizer],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    num_epochs: float,
    init: tuple[float, float] = (0.0, 0.0),
    generator: torch.Generator,
) -> tuple[nn.Linear, RegressionRun]:
    """用均方误差训练 ``nn.Linear(1, 1)``，参数从 ``init = (w, b)`` 开始。

    每个 epoch 按 ``generator`` 打乱后分批更新，共处理 ``num_epochs`` 遍数据
    （可以是小数）。每次更新后记录全数据上的损失，便于按“处理的样本数”比较。
    """
    check_positive_int("batch_size", batch_size)
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(init[0])
        model.bias.fill_(init[1])
    optimizer = make_optimizer(model.parameters())
    n = len(X)
    total_steps = math.ceil(num_epochs * n / batch_size)
    run = RegressionRun()

    def record(samples_seen: int) -> None:
        with torch.no_grad():
            run.losses.append(nn.functional.mse_loss(model(X), y).item())
        run.path.append((model.weight.item(), model.bias.item()))
        run.epochs.append(samples_seen / n)

    record(0)
    order, position, seen = torch.randperm(n, generator=generator), 0, 0
    for _ in range(total_steps):
        if position >= n:
            order, position = torch.randperm(n, generator=generator), 0
        idx = order[position : position + batch_size]
        position += batch_size
        loss = nn.functional.mse_loss(model(X[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(idx)
        record(seen)
    return model, run


def mse_surface(
    X: torch.Tensor, y: torch.Tensor, ws: torch.Tensor, bs: torch.Tensor
) -> torch.Tensor:
    """均方误差 L(w, b) 在网格 ws × bs 上的值，形状 (len(bs), len(ws))。"""
    pred = ws[None, :, None] * X[:, 0][None, None, :] + bs[:, None, None]
    return ((pred - y[:, 0][None, None, :]) ** 2).mean(dim=-1)
