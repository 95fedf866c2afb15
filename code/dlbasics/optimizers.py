"""从零实现的 SGD（含动量）、RMSProp 与 Adam，以及一元线性回归的实验工具。

对应章节：book/optimizers.md。优化器继承 ``torch.optim.Optimizer``，用法与
``torch.optim`` 中的同名类相同，测试逐步核对两者的结果。
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from dlbasics.utils import seeded_splits
from dlbasics.validation import (
    PYTHON_STEP,
    check_count,
    check_counts,
    check_float,
    check_float32_range,
    check_floats,
    check_generator,
    check_instance,
    check_int,
    check_memory,
    check_pair,
    check_positive_float,
    check_positive_int,
    check_seeds,
    check_sequence,
    check_tensor,
    check_work,
    validated_by,
)


def _check_lr(lr: float) -> None:
    check_float("lr（学习率）", lr, low=0.0)


def _check_column(name: str, value: object) -> torch.Tensor:
    """一元线性回归的数据：形状 (n, 1) 的浮点张量。"""
    if isinstance(value, torch.Tensor) and value.ndim == 1:
        raise ValueError(
            f"{name} 应是形状 (n, 1) 的列，收到一维的 {tuple(value.shape)}；"
            f"可以写 {name}.reshape(-1, 1)（一维的目标会与模型输出 (n, 1) "
            "广播成 (n, n)，损失就悄悄算错了）"
        )
    check_tensor(name, value, ndim=2, floating=True, finite=True)
    if value.shape[1] != 1:
        raise ValueError(
            f"{name} 应是形状 (n, 1) 的列，收到 {tuple(value.shape)}；"
            f"一维的数据可以写 {name}.reshape(-1, 1)"
        )
    return value


def _check_xy(X: object, y: object, x: str = "X", t: str = "y") -> None:
    """X、y 都是 (n, 1) 的列，且行数相同。

    y 若是 (n,)，与模型输出 (n, 1) 相减会广播成 (n, n)，损失悄悄算错，
    所以这里直接拒绝。
    """
    _check_column(x, X)
    _check_column(t, y)
    if len(X) != len(y):
        raise ValueError(f"{x} 有 {len(X)} 行而 {t} 有 {len(y)} 行，应相同")


def _check_sgd(self, params, lr, momentum):
    _check_lr(lr)
    check_float("momentum", momentum, low=0.0, high=1.0, high_open=True)


class SGD(torch.optim.Optimizer):
    """随机梯度下降，可带动量。

    无动量：θ ← θ - η g；有动量 μ：v ← μ v + g（第一步 v = g），θ ← θ - η v。
    """

    @validated_by(_check_sgd)
    def __init__(self, params: Iterable, lr: float, momentum: float = 0.0):
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


def _check_rms_prop(self, params, lr, alpha, eps):
    _check_lr(lr)
    check_float("alpha", alpha, low=0.0, high=1.0, high_open=True)
    check_float("eps", eps, low=0.0)


class RMSProp(torch.optim.Optimizer):
    """RMSProp：用梯度平方的指数加权平均给每个参数单独缩放步长。

    s ← α s + (1 - α) g²，θ ← θ - η g / (√s + ε)。
    """

    @validated_by(_check_rms_prop)
    def __init__(
        self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps=1e-8
    ):
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


def _check_adam(self, params, lr, betas, eps):
    _check_lr(lr)
    check_pair("betas", betas, "(0.9, 0.999)")
    for beta in betas:
        check_float("betas", beta, low=0.0, high=1.0, high_open=True)
    check_float("eps", eps, low=0.0)


class Adam(torch.optim.Optimizer):
    """Adam（Kingma 与 Ba，2015）：动量加 RMSProp，再做偏差修正。

    m ← β₁ m + (1 - β₁) g，v ← β₂ v + (1 - β₂) g²，
    m̂ = m / (1 - β₁ᵗ)，v̂ = v / (1 - β₂ᵗ)，θ ← θ - η m̂ / (√v̂ + ε)。
    """

    @validated_by(_check_adam)
    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
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
    n = check_positive_int("n", n)
    check_float("w", w)
    check_float("b", b)
    check_float("noise", noise, low=0.0)
    check_generator("generator", generator)
    check_pair("x_range", x_range, "(0.0, 2.0)")
    lo, hi = (check_float("x_range", v) for v in x_range)
    if not hi > lo:
        raise ValueError(f"x_range 的上界应大于下界，收到 {x_range!r}")
    check_float32_range("x_range 的宽度 hi - lo", hi - lo)
    largest = max(abs(lo), abs(hi))
    check_float32_range("w × x（w 乘 x_range 的端点）", abs(w) * largest)
    check_float32_range("w × x + b", abs(w) * largest + abs(b))
    check_memory("n", n * 8)  # 实测峰值约每个样本 6 个 float32
    x = lo + (hi - lo) * torch.rand(n, 1, generator=generator)
    y = w * x + b + noise * torch.randn(n, 1, generator=generator)
    return x, y


@dataclass
class RegressionRun:
    """一次训练的记录：每次更新后的全数据损失、(w, b) 与已处理的轮数。

    ``val_losses`` 只在给出验证集时记录。
    """

    train_losses: list[float] = field(default_factory=list)
    path: list[tuple[float, float]] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)


def _line_mse_fn(
    X: torch.Tensor, y: torch.Tensor
) -> Callable[[float, float], float]:
    """返回 (w, b) ↦ 均方误差 的函数，用预先算好的样本矩（float64）计算。

    L(w, b) = w²·E[x²] + 2wb·E[x] + b² − 2w·E[xy] − 2b·E[y] + E[y²]，
    每次只需几次乘加，不必再遍历数据；训练中每一步都要记录损失时快得多。
    """
    x, t = X[:, 0].double(), y[:, 0].double()
    xx, x1, xy = (x * x).mean().item(), x.mean().item(), (x * t).mean().item()
    t1, tt = t.mean().item(), (t * t).mean().item()

    def mse(w: float, b: float) -> float:
        if not (math.isfinite(w) and math.isfinite(b)):
            return math.inf
        value = w * w * xx + 2 * w * b * x1 + b * b - 2 * w * xy - 2 * b * t1
        return value + tt

    return mse


def _line_model(w: float, b: float) -> nn.Linear:
    """``nn.Linear(1, 1)``，权重为 w、偏置为 b。"""
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(w)
        model.bias.fill_(b)
    return model


def _minibatches(
    n: int, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """无穷无尽地给出小批量的下标：每轮重新打乱一次，最后一批可以不满。"""
    while True:
        order = torch.randperm(n, generator=generator)
        yield from order.split(batch_size)


def _mse_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
) -> None:
    """在 (X, y) 上用均方误差做一步：前向、清零梯度、反向传播、更新。"""
    loss = nn.functional.mse_loss(model(X), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _check_fit_line(
    make_optimizer, X, y, *, batch_size, num_epochs, init, generator, val
):
    if not callable(make_optimizer):
        raise TypeError("make_optimizer 应是“给参数、建优化器”的函数")
    _check_xy(X, y)
    if val is not None:
        check_pair("val", val, "(X_val, y_val)")
        _check_xy(*val, "val[0]", "val[1]")
    batch_size = check_positive_int("batch_size", batch_size)
    num_epochs = check_positive_float("num_epochs", num_epochs)
    check_pair("init", init, "(w, b)")
    for value in init:
        check_float("init", value)
    check_generator("generator", generator)
    # 每次更新是一次 Python 循环（模型只有两个参数）
    steps = math.ceil(num_epochs * len(X) / batch_size)
    per_step = PYTHON_STEP + min(batch_size, len(X))
    check_work("num_epochs", num_epochs, steps * per_step)


@validated_by(_check_fit_line)
def fit_line(
    make_optimizer: Callable[[Iterable], torch.optim.Optimizer],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    num_epochs: float,
    init: tuple[float, float] = (0.0, 0.0),
    generator: torch.Generator,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[nn.Linear, RegressionRun]:
    """用均方误差训练 ``nn.Linear(1, 1)``，参数从 ``init = (w, b)`` 开始。

    每轮按 ``generator`` 打乱后分批更新，共处理 ``num_epochs`` 遍数据
    （可以是小数）。每次更新后记录全部训练数据上的损失（以及 ``val`` 上的
    损失），便于按“处理的样本数”比较。损失变成 inf 或 nan（发散）时提前停止。
    """
    model = _line_model(*init)
    optimizer = make_optimizer(model.parameters())
    n = len(X)
    total_steps = math.ceil(num_epochs * n / batch_size)
    run = RegressionRun()

    train_mse = _line_mse_fn(X, y)
    val_mse = None if val is None else _line_mse_fn(*val)

    def record(samples_seen: int) -> None:
        w, b = model.weight.item(), model.bias.item()
        run.train_losses.append(train_mse(w, b))
        if val_mse is not None:
            run.val_losses.append(val_mse(w, b))
        run.path.append((w, b))
        run.epochs.append(samples_seen / n)

    record(0)
    batches, seen = _minibatches(n, batch_size, generator), 0
    for _ in range(total_steps):
        idx = next(batches)
        _mse_step(model, optimizer, X[idx], y[idx])
        seen += len(idx)
        record(seen)
        if not math.isfinite(run.train_losses[-1]):
            break  # 已经发散：再算下去也只是 inf 或 nan
    return model, run


def mse_surface(
    X: torch.Tensor, y: torch.Tensor, ws: torch.Tensor, bs: torch.Tensor
) -> torch.Tensor:
    """均方误差 L(w, b) 在网格 ws × bs 上的值，形状 (len(bs), len(ws))。"""
    _check_xy(X, y)
    check_tensor("ws", ws, ndim=1, floating=True)
    check_tensor("bs", bs, ndim=1, floating=True)
    check_memory(  # 实测峰值约 3 个这么大的张量：预测、误差、误差平方
        "len(ws) × len(bs) × n", len(ws) * len(bs) * len(X) * 4
    )
    pred = ws[None, :, None] * X[:, 0][None, None, :] + bs[:, None, None]
    return ((pred - y[:, 0][None, None, :]) ** 2).mean(dim=-1)


def line_mse(X: torch.Tensor, y: torch.Tensor, w: float, b: float) -> float:
    """直线 y = w x + b 在数据 (X, y) 上的均方误差。"""
    _check_xy(X, y)
    check_float("w", w)
    check_float("b", b)
    return ((w * X + b - y) ** 2).mean().item()


def least_squares(X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """最小二乘解 (w*, b*)：均方误差的精确最小点。X、y 形状 (n, 1)。

    用 float64 求解：不同的 BLAS/LAPACK 实现在 float32 下会差在第 7 位，
    float64 下的差别远小于之后要用到的 float32 精度，各种环境算出同样的数。
    """
    _check_xy(X, y)
    X, y = X.double(), y.double()
    A = torch.cat([X, torch.ones_like(X)], dim=1)
    w, b = torch.linalg.lstsq(A, y).solution[:, 0].tolist()
    return w, b


# ---------- 本章的实验 ----------


def _check_optimizer_config(cfg) -> None:
    """检查 ``OptimizerConfig`` 的每个字段；列表规范成元组。"""
    check_count("n_points", cfg.n_points)
    check_float("w", cfg.w)
    check_float("b", cfg.b)
    check_float("noise", cfg.noise, low=0.0)
    for name in ("x_range", "wide_range"):
        low, high = check_pair(name, getattr(cfg, name), "(0.0, 2.0)")
        check_float(f"{name}[0]", low)
        check_float(f"{name}[1]", high, low=low, low_open=True)
        object.__setattr__(cfg, name, (low, high))
    for name in ("train_seed", "val_seed", "test_seed"):
        check_int(name, getattr(cfg, name), minimum=0)
    check_positive_float("notes_lr", cfg.notes_lr)
    for name in ("notes_steps", "budget_epochs", "sens_steps"):
        check_count(name, getattr(cfg, name))
    for name in ("lr_grid", "sweep_lrs"):
        object.__setattr__(cfg, name, check_floats(name, getattr(cfg, name)))
    seeds = check_seeds("order_seeds", cfg.order_seeds)
    object.__setattr__(cfg, "order_seeds", seeds)
    check_float("sens_tolerance", cfg.sens_tolerance, low=0.0)
    object.__setattr__(
        cfg, "scale_sizes", check_counts("scale_sizes", cfg.scale_sizes)
    )
    check_positive_float("scale_tolerance", cfg.scale_tolerance)
    methods = check_sequence(
        "scale_methods", cfg.scale_methods, "('GD（全批量）',)"
    )
    for method in methods:
        if method not in METHODS:
            raise ValueError(
                f"scale_methods 里的 {method!r} 不是已知的方法，"
                f"应取自 {tuple(METHODS)}"
            )
    object.__setattr__(cfg, "scale_methods", methods)


@dataclass(frozen=True)
class OptimizerConfig:
    """本章实验的全部设置；正文中的数字都由这组设置算出。"""

    n_points: int = 100  # 笔记中的数据：y = 3x + 1 + 噪声
    w: float = 3.0
    b: float = 1.0
    noise: float = 0.5
    x_range: tuple[float, float] = (0.0, 2.0)
    wide_range: tuple[float, float] = (0.0, 10.0)  # 实验二：放大输入的尺度
    train_seed: int = 0  # 训练集、验证集、测试集来自同一分布的三个种子
    val_seed: int = 1
    test_seed: int = 2
    notes_lr: float = 0.1  # 笔记的设置：Adam、全批量
    notes_steps: int = 100
    budget_epochs: int = 20  # 实验一：每种方法都处理 20 轮数据
    lr_grid: tuple[float, ...] = tuple(10 ** (k / 2) for k in range(-5, 1))
    order_seeds: tuple[int, ...] = (1, 2, 3)  # 打乱样本顺序的种子
    sens_steps: int = 100  # 实验二：全批量训练的步数
    sens_tolerance: float = 0.1  # 实验二：损失在最小值的 1.1 倍以内算“好用”
    sweep_lrs: tuple[float, ...] = tuple(10 ** (k / 4) for k in range(-12, 5))
    scale_sizes: tuple[int, ...] = (100, 1000, 10000)  # 实验四：训练集大小
    scale_tolerance: float = 0.05  # 损失降到最小值的 1.05 倍以内算“到达”
    scale_methods: tuple[str, ...] = (  # 实验四比较的方法
        "GD（全批量）",
        "SGD（批量 1）",
        "小批量 SGD（批量 10）",
    )

    def __post_init__(self) -> None:
        _check_optimizer_config(self)


def make_splits(
    cfg: OptimizerConfig, x_range: tuple[float, float] | None = None
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """同一分布的训练集、验证集与测试集，各 ``cfg.n_points`` 个点。"""
    check_instance("cfg", cfg, OptimizerConfig)
    x_range = cfg.x_range if x_range is None else x_range
    return seeded_splits(
        lambda g: make_line_data(
            cfg.n_points, cfg.w, cfg.b, cfg.noise, x_range, generator=g
        ),
        {"train": cfg.train_seed, "val": cfg.val_seed, "test": cfg.test_seed},
    )


@dataclass(frozen=True)
class Method:
    """实验一比较的一种方法：优化器与批量大小（None 表示全批量）。"""

    optimizer: str  # "sgd" 或 "adam"
    batch_size: int | None
    momentum: float = 0.0

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(
                f"optimizer 只能是 'sgd' 或 'adam'，收到 {self.optimizer!r}"
            )
        if self.batch_size is not None:
            check_positive_int("batch_size", self.batch_size)
        check_float(
            "momentum", self.momentum, low=0.0, high=1.0, high_open=True
        )

    def make(self, lr: float) -> Callable[[Iterable], torch.optim.Optimizer]:
        """返回“给参数、建优化器”的函数，传给 ``fit_line``。"""
        if self.optimizer == "adam":
            return lambda params: Adam(params, lr)
        return lambda params: SGD(params, lr, momentum=self.momentum)


METHODS: dict[str, Method] = {
    "GD（全批量）": Method("sgd", None),
    "SGD（批量 1）": Method("sgd", 1),
    "小批量 SGD（批量 10）": Method("sgd", 10),
    "GD + 动量 0.9": Method("sgd", None, momentum=0.9),
    "Adam（全批量）": Method("adam", None),
}


def last_epoch_mean(values: list[float], n: int, batch_size: int) -> float:
    """最后一轮里各次更新之后的平均值（一轮有 ⌈n / batch_size⌉ 次更新）。

    随机方法的损失在最优点附近跳动，只看最后一次更新是一次随机抽样；
    对最后一轮取平均更能代表它停在哪里。
    """
    if not values:
        raise ValueError("values 是空的，没有可以平均的损失")
    per_epoch = math.ceil(
        check_positive_int("n", n)
        / check_positive_int("batch_size", batch_size)
    )
    tail = values[-per_epoch:]
    return sum(tail) / len(tail)


@dataclass
class MethodResult:
    """一种方法在实验一中的结果。"""

    lr: float  # 在验证集上选出的学习率
    val_by_lr: dict[float, float]  # 每个候选学习率的验证损失（种子平均）
    runs: list[RegressionRun]  # 选出的学习率下，每个打乱种子一次
    train_last_epoch: list[float]  # 每个种子最后一轮的平均训练损失
    test_losses: list[float]  # 每个种子训练结束时的测试损失


def budget_experiment(
    cfg: OptimizerConfig = OptimizerConfig(),
) -> dict[str, MethodResult]:
    """实验一：每种方法处理同样多的样本，学习率在验证集上选。

    对每个候选学习率、每个打乱种子训练一次，用“最后一轮验证损失的平均”
    再对种子取平均作为选择标准；全批量方法没有随机性，只运行一次。
    """
    data = make_splits(cfg)
    (X, y), n = data["train"], cfg.n_points
    results = {}
    for name, method in METHODS.items():
        batch = method.batch_size or n
        seeds = cfg.order_seeds if method.batch_size else cfg.order_seeds[:1]
        runs_by_lr, val_by_lr = {}, {}
        for lr in cfg.lr_grid:
            runs = [
                fit_line(
                    method.make(lr), X, y, batch_size=batch,
                    num_epochs=cfg.budget_epochs, val=data["val"],
                    generator=torch.Generator().manual_seed(seed),
                )[1]
                for seed in seeds
            ]  # fmt: skip
            scores = [last_epoch_mean(r.val_losses, n, batch) for r in runs]
            score = sum(scores) / len(scores)
            val_by_lr[lr] = score if math.isfinite(score) else math.inf
            runs_by_lr[lr] = runs
        best = min(val_by_lr, key=val_by_lr.get)
        runs = runs_by_lr[best]
        results[name] = MethodResult(
            lr=best,
            val_by_lr=val_by_lr,
            runs=runs,
            train_last_epoch=[
                last_epoch_mean(r.train_losses, n, batch) for r in runs
            ],
            test_losses=[line_mse(*data["test"], *r.path[-1]) for r in runs],
        )
    return results


@dataclass
class SweepResult:
    """实验二：全批量训练若干步后的损失随学习率的变化。"""

    lrs: list[float]
    train: list[float]  # 训练结束时的训练损失（发散时为 inf 或 nan）
    val: list[float]  # 训练结束时的验证损失
    start: float  # 参数为 (0, 0) 时的训练损失
    loss_min: float  # 训练集上的最小损失（最小二乘解）

    def best_lr(self) -> float:
        """验证损失最低的学习率。"""
        finite = [
            (v, lr)
            for lr, v in zip(self.lrs, self.val, strict=True)
            if math.isfinite(v)
        ]
        return min(finite)[1]

    def near_optimal_lrs(self, tolerance: float) -> list[float]:
        """训练损失不超过最小损失的 1 + tolerance 倍的那些学习率。"""
        check_float("tolerance", tolerance, low=0.0)
        limit = self.loss_min * (1 + tolerance)
        return [
            lr
            for lr, t in zip(self.lrs, self.train, strict=True)
            if math.isfinite(t) and t <= limit
        ]

    def largest_stable_lr(self) -> float:
        """训练后损失仍低于起点（没有发散）的最大学习率。"""
        return max(
            lr
            for lr, t in zip(self.lrs, self.train, strict=True)
            if math.isfinite(t) and t < self.start
        )


def _check_sensitivity_experiment(cfg):
    check_instance("cfg", cfg, OptimizerConfig)


@validated_by(_check_sensitivity_experiment)
def sensitivity_experiment(
    cfg: OptimizerConfig = OptimizerConfig(),
) -> dict[tuple[str, str], SweepResult]:
    """实验二：GD 与 Adam 在两种输入尺度下的学习率扫描。

    返回 ``{(方法, 尺度): SweepResult}``，方法是 "GD" 或 "Adam"，
    尺度是 "narrow"（x ∈ x_range）或 "wide"（x ∈ wide_range）。
    """
    factories = {"GD": Method("sgd", None), "Adam": Method("adam", None)}
    results = {}
    for scale, x_range in [("narrow", cfg.x_range), ("wide", cfg.wide_range)]:
        data = make_splits(cfg, x_range)
        X, y = data["train"]
        for name, method in factories.items():
            train, val = [], []
            for lr in cfg.sweep_lrs:
                _, run = fit_line(
                    method.make(lr), X, y, batch_size=len(X),
                    num_epochs=cfg.sens_steps, val=data["val"],
                    generator=torch.Generator().manual_seed(cfg.order_seeds[0]),
                )  # fmt: skip
                train.append(run.train_losses[-1])
                val.append(run.val_losses[-1])
            results[(name, scale)] = SweepResult(
                lrs=list(cfg.sweep_lrs),
                train=train,
                val=val,
                start=(y**2).mean().item(),
                loss_min=line_mse(X, y, *least_squares(X, y)),
            )
    return results


def _check_gd_lr_bound(X):
    _check_column("X", X)


@validated_by(_check_gd_lr_bound)
def gd_lr_bound(X: torch.Tensor) -> float:
    """全批量梯度下降在均方误差上不发散的学习率上界 2/λ_max(H)。

    H = (2/n) Σ [x_i, 1]ᵀ[x_i, 1] 是损失对 (w, b) 的黑塞矩阵（与 y 无关）。
    """
    X = X.double()  # 与 least_squares 一样用 float64，结果不随 LAPACK 实现变化
    A = torch.cat([X, torch.ones_like(X)], dim=1)
    hessian = 2 * (A.T @ A) / len(X)
    return 2 / torch.linalg.eigvalsh(hessian).max().item()


def _check_samples_to_reach(
    method, lr, X, y, *, target, max_samples, generator
):
    check_instance("method", method, Method)
    _check_lr(lr)
    _check_xy(X, y)
    check_float("target", target)
    max_samples = check_positive_int("max_samples", max_samples)
    check_generator("generator", generator)
    # 每次更新之后都在全部 n 个样本上算一次损失
    batch = method.batch_size or len(X)
    updates = -(-max_samples // batch)
    check_work("max_samples", max_samples, updates * (PYTHON_STEP + len(X)))


@validated_by(_check_samples_to_reach)
def samples_to_reach(
    method: Method,
    lr: float,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    target: float,
    max_samples: int,
    generator: torch.Generator,
) -> int | None:
    """训练到全数据损失不超过 ``target`` 时一共用了多少个样本的梯度。

    全批量方法每步用 n 个样本，批量为 B 的方法每步用 B 个。
    超过 ``max_samples`` 仍未到达时返回 None。
    """
    n = len(X)
    batch = method.batch_size or n
    model = _line_model(0.0, 0.0)
    optimizer = method.make(lr)(model.parameters())
    batches, seen = _minibatches(n, batch, generator), 0
    while seen < max_samples:
        idx = next(batches)
        _mse_step(model, optimizer, X[idx], y[idx])
        seen += len(idx)
        with torch.no_grad():
            if nn.functional.mse_loss(model(X), y).item() <= target:
                return seen
    return None


def _check_scale_experiment(cfg, lrs):
    check_instance("cfg", cfg, OptimizerConfig)
    check_instance("lrs", lrs, dict)
    unknown = set(lrs) - set(METHODS)
    if unknown:
        raise ValueError(
            f"lrs 里有未知的方法 {sorted(unknown)}，可选 {list(METHODS)}"
        )
    for name, lr in lrs.items():
        check_positive_float(f"lrs[{name!r}]（学习率）", lr)


@validated_by(_check_scale_experiment)
def scale_experiment(
    cfg: OptimizerConfig, lrs: dict[str, float]
) -> dict[str, dict[int, list[int | None]]]:
    """实验四：训练集变大时，到达“最小损失的 1 + tolerance 倍”要多少样本。

    ``lrs`` 给出每种方法的学习率（用实验一在验证集上选出的值）。
    返回 ``{方法名: {n: [每个种子所用的样本数]}}``。
    """
    results: dict[str, dict[int, list[int | None]]] = {}
    for name, lr in lrs.items():
        method = METHODS[name]
        results[name] = {}
        seeds = cfg.order_seeds if method.batch_size else cfg.order_seeds[:1]
        for n in cfg.scale_sizes:
            X, y = make_line_data(
                n, cfg.w, cfg.b, cfg.noise, cfg.x_range,
                generator=torch.Generator().manual_seed(cfg.train_seed),
            )  # fmt: skip
            target = line_mse(X, y, *least_squares(X, y))
            target *= 1 + cfg.scale_tolerance
            results[name][n] = [
                samples_to_reach(
                    method,
                    lr,
                    X,
                    y,
                    target=target,
                    max_samples=200 * n,
                    generator=torch.Generator().manual_seed(seed),
                )
                for seed in seeds
            ]
    return results


def epochs_to_reach(run: RegressionRun, target: float) -> float | None:
    """训练损失第一次不超过 ``target`` 时已经处理的轮数；没到达时为 None。"""
    check_instance("run", run, RegressionRun)
    check_float("target", target)
    for loss, epoch in zip(run.train_losses, run.epochs, strict=True):
        if loss <= target:
            return epoch
    return None
