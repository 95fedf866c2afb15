"""Softmax、log-softmax 与交叉熵的从零实现，以及 softmax 回归。

对应章节：book/softmax.md。所有函数都沿最后一维计算，logits 形状 (..., C)。
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from dlbasics.training import accuracy
from dlbasics.validation import (
    check_count,
    check_float,
    check_floats,
    check_generator,
    check_instance,
    check_labels,
    check_memory,
    check_pair,
    check_positive_float,
    check_positive_int,
    check_seeds,
    check_tensor,
    validated_by,
)


def _check_logits(logits: object, name: str = "logits") -> torch.Tensor:
    return check_tensor(name, logits, ndim=tuple(range(1, 9)), floating=True)


def _check_softmax_input(logits):
    """softmax_naive、softmax、logsumexp 与 log_softmax 共用的检查。"""
    _check_logits(logits)


@validated_by(_check_softmax_input)
def softmax_naive(logits: torch.Tensor) -> torch.Tensor:
    """直接按定义计算 softmax(z)_k = exp(z_k) / Σ_j exp(z_j)。

    logits 较大时 exp 会上溢成 inf，结果变成 nan：这是反面教材。
    """
    e = torch.exp(logits)
    return e / e.sum(dim=-1, keepdim=True)


@validated_by(_check_softmax_input)
def softmax(logits: torch.Tensor) -> torch.Tensor:
    """数值稳定的 softmax：先减去每行的最大值 m，再按定义计算。

    softmax(z) = softmax(z - m)，而 z - m ≤ 0，exp 不会上溢。
    """
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    e = torch.exp(shifted)
    return e / e.sum(dim=-1, keepdim=True)


@validated_by(_check_softmax_input)
def logsumexp(logits: torch.Tensor) -> torch.Tensor:
    """logsumexp(z) = m + log Σ_j exp(z_j - m)，m 为最大值；形状 (...,)。

    一行全是 -inf 时 m 也是 -inf，z - m 会变成 nan；这时改用 0 来平移，
    结果是 -inf（与 torch.logsumexp 相同）。
    """
    m = logits.max(dim=-1, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (m + torch.log(torch.exp(logits - m).sum(dim=-1, keepdim=True)))[
        ..., 0
    ]


@validated_by(_check_softmax_input)
def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log softmax(z)_k = z_k - logsumexp(z)，不经过会下溢为 0 的概率。

    先算 s = z - m（m 为最大值）再减去 log Σ exp(s)：数值都在 0 附近，
    比先算出很大的 logsumexp 再相减更精确。
    """
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    return shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))


def _check_cross_entropy(logits, y):
    check_tensor("logits", logits, ndim=2, floating=True)
    check_labels("y", y, n=logits.shape[0], num_classes=logits.shape[1])


@validated_by(_check_cross_entropy)
def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """平均交叉熵 -1/N Σ_i log softmax(z_i)_{y_i}，同 ``F.cross_entropy``。

    Args:
        logits: 形状 (N, C)，未经 softmax 的分数。
        y: 形状 (N,)，int64 类别编号，取值 0 到 C-1。
    """
    picked = log_softmax(logits).gather(1, y[:, None])[:, 0]
    return -picked.mean()


def softmax_with_temperature(
    logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """softmax(z / T)：T > 1 让分布更平，T < 1 让分布更尖。"""
    check_positive_float("temperature", temperature)
    _check_logits(logits)
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
    n_per_class = check_positive_int("n_per_class", n_per_class)
    check_positive_float("std", std)
    check_generator("generator", generator)
    if not isinstance(centers, Sequence) or len(centers) < 2:
        raise ValueError(
            f"centers 应是至少两个 (x, y) 中心组成的列表，收到 {centers!r}"
        )
    for center in centers:
        for value in check_pair("centers 的每一项", center, "(x, y)"):
            check_float("centers 中的坐标", value)
    # 实测峰值约每个点 40 字节：各类的噪声、平移后的点、拼接后的 X 与标签
    check_memory("n_per_class × 类别数", n_per_class * len(centers) * 12)
    xs, ys = [], []
    for c, center in enumerate(centers):
        noise = torch.randn(n_per_class, 2, generator=generator)
        xs.append(torch.tensor(center, dtype=torch.float32) + std * noise)
        ys.append(torch.full((n_per_class,), c, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


def _check_softmax_regression_step(W, b, X, y, lr):
    check_tensor("X", X, ndim=2, floating=True)
    check_tensor("W", W, ndim=2, floating=True)
    check_tensor("b", b, ndim=1, floating=True)
    if W.shape[1] != X.shape[1] or b.shape != (W.shape[0],):
        raise ValueError(
            f"形状不匹配：X {tuple(X.shape)}、W {tuple(W.shape)}、"
            f"b {tuple(b.shape)}；应为 X (N, d)、W (C, d)、b (C,)"
        )
    if not (X.dtype == W.dtype == b.dtype):
        raise TypeError(
            f"X、W、b 的数据类型应相同，收到 {X.dtype}、{W.dtype}、{b.dtype}"
        )
    check_labels("y", y, n=X.shape[0], num_classes=W.shape[0])
    check_positive_float("lr", lr)


@validated_by(_check_softmax_regression_step)
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


def _check_double_softmax_config(cfg) -> None:
    """检查 ``DoubleSoftmaxConfig`` 的每个字段；列表规范成元组。"""
    check_positive_float("lr", cfg.lr)
    check_count("num_steps", cfg.num_steps)
    object.__setattr__(
        cfg, "init_seeds", check_seeds("init_seeds", cfg.init_seeds)
    )


@dataclass(frozen=True)
class DoubleSoftmaxConfig:
    """“先 softmax 再交给 nn.CrossEntropyLoss”实验的设置。"""

    lr: float = 0.5  # SGD 的学习率
    num_steps: int = 200  # 全批量训练的步数
    init_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # 初始化的种子，两种做法相同

    def __post_init__(self) -> None:
        _check_double_softmax_config(self)


@dataclass
class LossTrace:
    """一次训练的记录：每一步报告的损失、真正的交叉熵、权重梯度的范数。"""

    reported: list[float] = field(default_factory=list)
    true_ce: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    train_accuracy: float = 0.0  # 训练结束时的训练准确率


def _check_double_softmax_experiment(X, y, cfg):
    check_tensor("X", X, ndim=2, floating=True, finite=True)
    check_labels("y", y, n=X.shape[0])
    check_instance("cfg", cfg, DoubleSoftmaxConfig)
    check_positive_float("cfg.lr", cfg.lr)
    check_positive_int("cfg.num_steps", cfg.num_steps)
    if not cfg.init_seeds:
        raise ValueError("cfg.init_seeds 至少要有一个种子")


@validated_by(_check_double_softmax_experiment)
def double_softmax_experiment(
    X: torch.Tensor,
    y: torch.Tensor,
    cfg: DoubleSoftmaxConfig = DoubleSoftmaxConfig(),
) -> dict[str, list[LossTrace]]:
    """同一个线性模型训练两次：直接把 logits 交给损失，或先做一次 softmax。

    每个初始化种子各训练一次（两种做法用同样的初始参数）。

    Returns:
        ``{"正确：直接传 logits": [各种子的记录], "错误：先 softmax": …}``。
    """
    num_classes = int(y.max()) + 1
    traces: dict[str, list[LossTrace]] = {
        "正确：直接传 logits": [],
        "错误：先 softmax": [],
    }
    for seed in cfg.init_seeds:
        for label, extra_softmax in zip(traces, (False, True), strict=True):
            torch.manual_seed(seed)
            model = nn.Linear(X.shape[1], num_classes)
            optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
            trace = LossTrace()
            for _ in range(cfg.num_steps):
                logits = model(X)
                # 错误的做法：nn.CrossEntropyLoss 内部还会再做一次 log-softmax
                inputs = torch.softmax(logits, -1) if extra_softmax else logits
                loss = nn.CrossEntropyLoss()(inputs, y)
                optimizer.zero_grad()
                loss.backward()
                trace.grad_norms.append(model.weight.grad.norm().item())
                optimizer.step()
                trace.reported.append(loss.item())
                true_ce = nn.functional.cross_entropy(logits.detach(), y)
                trace.true_ce.append(true_ce.item())
            with torch.no_grad():
                trace.train_accuracy = accuracy(model(X), y)
            traces[label].append(trace)
    return traces


def _check_mse_on_probabilities(logits, y):
    check_tensor("logits", logits, ndim=2, floating=True)
    check_labels("y", y, n=logits.shape[0], num_classes=logits.shape[1])


@validated_by(_check_mse_on_probabilities)
def mse_on_probabilities(
    logits: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """把 softmax 输出当作预测、独热标签当作目标的均方误差。

    1/N Σ_i ‖softmax(o_i) - e_{y_i}‖²；用来说明分类为什么不用它。
    """
    onehot = nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
    return ((softmax(logits) - onehot) ** 2).sum(dim=1).mean()


def _check_loss_choice_config(cfg) -> None:
    """检查 ``LossChoiceConfig`` 的每个字段；列表规范成元组。"""
    check_positive_float("init_scale", cfg.init_scale)
    object.__setattr__(cfg, "lrs", check_floats("lrs", cfg.lrs))
    check_count("num_steps", cfg.num_steps)
    object.__setattr__(
        cfg, "init_seeds", check_seeds("init_seeds", cfg.init_seeds)
    )
    check_float("target_acc", cfg.target_acc, low=0.0, high=1.0)


@dataclass(frozen=True)
class LossChoiceConfig:
    """“交叉熵还是均方误差”实验的设置。"""

    init_scale: float = 8.0  # 初始参数放大的倍数：输出一开始就饱和
    lrs: tuple[float, ...] = (3.0, 10.0, 30.0, 100.0)  # 每种损失各自挑
    num_steps: int = 100  # 全批量 SGD 的步数
    init_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    target_acc: float = 0.9  # 验证准确率达到它所需的步数

    def __post_init__(self) -> None:
        _check_loss_choice_config(self)


@dataclass(frozen=True)
class LossChoice:
    """一种损失的结果：挑出的学习率，以及它在每个种子上的表现。"""

    lr: float
    steps: list[int | None]  # 验证准确率首次达到目标的步数；None 表示没达到
    steps_by_lr: dict[float, list[int | None]]  # 挑学习率时看的全部结果
    final_val_acc: list[float]


LOSSES = {"交叉熵": cross_entropy, "均方误差": mse_on_probabilities}


def _steps_to_target(
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    loss_fn,
    lr: float,
    seed: int,
    cfg: LossChoiceConfig,
) -> tuple[int | None, float]:
    (X, y), (X_val, y_val) = train, val
    torch.manual_seed(seed)
    model = nn.Linear(X.shape[1], int(y.max()) + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(cfg.init_scale)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    reached = None
    for step in range(1, cfg.num_steps + 1):
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            val_acc = accuracy(model(X_val), y_val)
        if reached is None and val_acc >= cfg.target_acc:
            reached = step
    return reached, val_acc


def _check_loss_choice_experiment(train, val, cfg):
    for name, data in (("train", train), ("val", val)):
        X, y = check_pair(name, data, "(X, y)")
        check_tensor(f"{name}[0]", X, ndim=2, floating=True, finite=True)
        check_labels(f"{name}[1]", y, n=X.shape[0])
    check_instance("cfg", cfg, LossChoiceConfig)


@validated_by(_check_loss_choice_experiment)
def loss_choice_experiment(
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    cfg: LossChoiceConfig = LossChoiceConfig(),
) -> dict[str, LossChoice]:
    """同一个线性分类器，分别用交叉熵和均方误差训练（全批量 SGD）。

    初始参数放大 ``cfg.init_scale`` 倍，使 softmax 一开始就饱和。每种
    损失在 ``cfg.lrs`` 中各自挑学习率：验证准确率达到 ``cfg.target_acc``
    所需步数（对种子平均，没达到按 num_steps + 1 计）最少的那个。
    """
    results = {}
    for name, loss_fn in LOSSES.items():
        by_lr, final = {}, {}
        for lr in cfg.lrs:
            runs = [
                _steps_to_target(train, val, loss_fn, lr, seed, cfg)
                for seed in cfg.init_seeds
            ]
            by_lr[lr] = [steps for steps, _ in runs]
            final[lr] = [acc for _, acc in runs]

        def cost(lr: float, by_lr=by_lr) -> float:
            steps = [cfg.num_steps + 1 if s is None else s for s in by_lr[lr]]
            return sum(steps) / len(steps)

        best = min(cfg.lrs, key=cost)
        results[name] = LossChoice(best, by_lr[best], by_lr, final[best])
    return results
