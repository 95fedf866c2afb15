"""泛化与模型选择：多项式拟合的欠拟合与过拟合、权重衰减、早停、暂退法。

对应章节：book/generalization.md。数据是一维回归 y = sin(3x) + 噪声，
x 在 [-1, 1] 上均匀分布；训练集很小，验证集与测试集各自独立抽样。
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from matplotlib.axes import Axes
from torch import nn

from dlbasics.plotting import CLASS_COLORS, new_axes
from dlbasics.validation import (
    MAX_DEPTH,
    MAX_WIDTH,
    PYTHON_STEP,
    check_count,
    check_counts,
    check_float,
    check_floats,
    check_generator,
    check_instance,
    check_int,
    check_memory,
    check_pair,
    check_positive_float,
    check_positive_int,
    check_seeds,
    check_tensor,
    check_work,
    validated_by,
)


def _check_generalization_config(cfg) -> None:
    """检查 ``GeneralizationConfig`` 的每个字段；列表规范成元组。"""
    for name in ("n_train", "n_val", "n_test", "num_steps"):
        check_count(name, getattr(cfg, name))
    check_float("noise", cfg.noise, low=0.0)
    seeds = check_seeds("data_seeds", cfg.data_seeds)
    object.__setattr__(cfg, "data_seeds", seeds)
    degrees = check_counts(
        "degrees", cfg.degrees, maximum=MAX_DEPTH, minimum=0
    )
    object.__setattr__(cfg, "degrees", degrees)
    check_count("high_degree", cfg.high_degree, maximum=MAX_DEPTH, minimum=0)
    decays = check_floats("weight_decays", cfg.weight_decays, positive=False)
    object.__setattr__(cfg, "weight_decays", decays)
    check_count("num_hiddens", cfg.num_hiddens, maximum=MAX_WIDTH)
    check_positive_float("lr", cfg.lr)
    check_positive_int("eval_every", cfg.eval_every)
    check_float("dropout", cfg.dropout, low=0.0, high=1.0, high_open=True)
    check_float("input_jitter", cfg.input_jitter, low=0.0)


@dataclass(frozen=True)
class GeneralizationConfig:
    """本章全部实验的设置。"""

    n_train: int = 15
    n_val: int = 200
    n_test: int = 200
    noise: float = 0.3  # 标签噪声的标准差
    data_seeds: tuple[int, ...] = (
        0,
        1,
        2,
        3,
        4,
    )  # 每个种子一套训练/验证/测试集
    degrees: tuple[int, ...] = tuple(range(0, 13))
    high_degree: int = 12  # 权重衰减实验里的（过大的）多项式次数
    weight_decays: tuple[float, ...] = (
        0.0,
        1e-6,
        1e-5,
        1e-4,
        1e-3,
        1e-2,
        1e-1,
        1.0,
    )
    # 神经网络实验
    num_hiddens: int = 64
    lr: float = 0.01
    num_steps: int = 600
    eval_every: int = 10
    dropout: float = 0.2
    input_jitter: float = 0.1  # 数据增强：每步给训练输入加的噪声的标准差

    def __post_init__(self) -> None:
        _check_generalization_config(self)


def target_function(x: torch.Tensor) -> torch.Tensor:
    """真实的函数 f(x) = sin(3x)。"""
    return torch.sin(3 * check_tensor("x", x, floating=True))


def make_data(
    n: int, noise: float, *, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """n 个样本：x ~ U[-1, 1]，y = sin(3x) + noise·ε，ε ~ N(0, 1)。

    返回 float64 的 (x, y)，形状都是 (n,)。
    """
    n = check_positive_int("n", n)
    noise = check_float("noise", noise, low=0.0)
    check_generator("generator", generator)
    check_memory("n", 6 * n, bytes_per_element=8)  # 实测峰值约 5 个 (n,)
    x = torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1
    eps = torch.randn(n, generator=generator, dtype=torch.float64)
    return x, target_function(x) + noise * eps


def _check_experiment(cfg):
    check_instance("cfg", cfg, GeneralizationConfig)


def _check_make_splits(cfg, data_seed):
    check_instance("cfg", cfg, GeneralizationConfig)
    check_int("data_seed", data_seed, minimum=0)


@validated_by(_check_make_splits)
def make_splits(
    cfg: GeneralizationConfig, data_seed: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """一套训练/验证/测试集；三份用三个不同的种子独立抽样。"""
    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    seeds = {name: 1000 * i + data_seed for i, name in enumerate(sizes)}
    return {
        name: make_data(
            sizes[name],
            cfg.noise,
            generator=torch.Generator().manual_seed(seed),
        )
        for name, seed in seeds.items()
    }


def poly_features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """多项式特征 [1, x, x², …, x^degree]，形状 (n, degree + 1)。"""
    x = check_tensor("x", x, ndim=1, floating=True)
    degree = check_int("degree", degree, minimum=0)
    _check_degree(degree, len(x))
    return torch.stack([x**k for k in range(degree + 1)], dim=1)


def _check_degree(degree: int, n: int) -> None:
    """次数的上限：每个次数一次 Python 循环，解方程约 (degree + 1)³ 次乘加。"""
    # 实测峰值约两份特征矩阵（各次幂与堆起来的结果），留 25% 余量
    check_memory("degree", 2 * n * (degree + 1), bytes_per_element=10)
    work = (degree + 1) * (PYTHON_STEP + n) + (degree + 1) ** 3
    check_work("degree", degree, work)


def _check_fit_polynomial(x, y, degree, weight_decay):
    y = check_tensor("y", y, ndim=1, floating=True, finite=True)
    x = check_tensor("x", x, ndim=1, floating=True, finite=True)
    _check_degree(check_int("degree", degree, minimum=0), len(x))
    if len(y) != len(x):
        raise ValueError(f"x 与 y 的长度应相同，收到 {len(x)} 与 {len(y)}")
    check_float("weight_decay", weight_decay, low=0.0)


@validated_by(_check_fit_polynomial)
def fit_polynomial(
    x: torch.Tensor, y: torch.Tensor, degree: int, weight_decay: float = 0.0
) -> torch.Tensor:
    """最小化 1/n Σ (Φw - y)² + λ‖w₁:‖²，返回系数 w（形状 (degree + 1,)）。

    λ 是 ``weight_decay``，常数项 w₀ 不受惩罚。闭式解：
    w = (ΦᵀΦ/n + λD)⁻¹ Φᵀy/n，D 是把第一个对角元换成 0 的单位矩阵。
    λ = 0 时用最小二乘（lstsq），次数高于样本数也能解出最小范数解。
    """
    Phi = poly_features(x, degree).double()
    y = y.double()
    if weight_decay == 0.0:
        return torch.linalg.lstsq(Phi, y[:, None], driver="gelsd").solution[
            :, 0
        ]
    n = len(y)
    D = torch.eye(degree + 1, dtype=torch.float64)
    D[0, 0] = 0.0
    A = Phi.T @ Phi / n + weight_decay * D
    return torch.linalg.solve(A, Phi.T @ y / n)


def _check_poly_mse(w, x, y):
    check_tensor("w", w, ndim=1, floating=True)
    check_tensor("x", x, ndim=1, floating=True)
    check_tensor("y", y, ndim=tuple(range(0, 9)), floating=True)
    if y.shape != x.shape:
        raise ValueError(
            f"y 的形状应与 x 相同（{tuple(x.shape)}，一阶），收到 "
            f"{tuple(y.shape)}；(n, 1) 的目标请用 y[:, 0] 或 y.reshape(-1)"
        )


@validated_by(_check_poly_mse)
def poly_mse(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    """多项式 Σ w_k x^k 在 (x, y) 上的均方误差。"""
    pred = poly_features(x, len(w) - 1).double() @ w.double()
    return ((pred - y.double()) ** 2).mean().item()


@dataclass(frozen=True)
class SweepResult:
    """对一串设置（次数或 λ）、每个数据种子的训练、验证、测试误差。

    每个误差张量的形状是 (种子数, 设置数)。
    """

    settings: tuple[float, ...]
    train_mse: torch.Tensor
    val_mse: torch.Tensor
    test_mse: torch.Tensor
    weight_norms: torch.Tensor

    @property
    def selected(self) -> torch.Tensor:
        """每个种子在自己的验证集上选出的设置的下标，形状 (种子数,)。"""
        return self.val_mse.argmin(dim=1)

    def at_selected(self, errors: torch.Tensor) -> torch.Tensor:
        """``errors``（形状同 val_mse）在每个种子所选设置处的值。"""
        return errors.gather(1, self.selected[:, None])[:, 0]


def _sweep(cfg: GeneralizationConfig, settings: Sequence, fit) -> SweepResult:
    rows = {"train": [], "val": [], "test": [], "norm": []}
    for seed in cfg.data_seeds:
        data = make_splits(cfg, seed)
        ws = [fit(*data["train"], s) for s in settings]
        for name in ("train", "val", "test"):
            rows[name].append([poly_mse(w, *data[name]) for w in ws])
        rows["norm"].append([w[1:].norm().item() for w in ws])
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in rows.items()}
    return SweepResult(
        tuple(settings), t["train"], t["val"], t["test"], t["norm"]
    )


@validated_by(_check_experiment)
def degree_sweep(cfg: GeneralizationConfig) -> SweepResult:
    """每个数据种子、每个次数：拟合多项式，记录三份数据上的误差。"""
    return _sweep(cfg, cfg.degrees, lambda x, y, d: fit_polynomial(x, y, d))


@validated_by(_check_experiment)
def weight_decay_sweep(cfg: GeneralizationConfig) -> SweepResult:
    """固定 ``cfg.high_degree`` 次多项式，每个 λ 做一次带权重衰减的拟合。"""
    return _sweep(
        cfg,
        cfg.weight_decays,
        lambda x, y, lam: fit_polynomial(x, y, cfg.high_degree, lam),
    )


def make_mlp(num_hiddens: int, dropout: float = 0.0) -> nn.Sequential:
    """1 → num_hiddens → num_hiddens → 1 的 ReLU 网络（float64）。

    ``dropout > 0`` 时在两个隐藏层之后各加一个 ``nn.Dropout``。
    """
    num_hiddens = check_positive_int("num_hiddens", num_hiddens)
    # float64 的参数，初始化时还有一份 float32 的：实测约 12 字节/参数
    check_memory("num_hiddens²", (num_hiddens + 3) * num_hiddens, 14)
    dropout = check_float(
        "dropout", dropout, low=0.0, high=1.0, high_open=True
    )
    layers: list[nn.Module] = []
    width_in = 1
    for _ in range(2):
        layers += [nn.Linear(width_in, num_hiddens), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width_in = num_hiddens
    layers.append(nn.Linear(num_hiddens, 1))
    return nn.Sequential(*layers).double()


@dataclass(frozen=True)
class Curve:
    """一次训练的记录：每 ``eval_every`` 步的训练、验证、测试误差。"""

    steps: list[int]
    train_mse: list[float]
    val_mse: list[float]
    test_mse: list[float]

    @property
    def best(self) -> int:
        """验证误差最小的那次记录的下标（早停会停在这里）。"""
        return min(range(len(self.val_mse)), key=self.val_mse.__getitem__)


def _check_splits(data) -> None:
    """``make_splits`` 的结果：train、val、test 各是等长的一阶 (x, y)。"""
    if not isinstance(data, dict) or not {"train", "val", "test"} <= set(data):
        raise TypeError(
            "data 应是 make_splits(...) 返回的字典（有 'train'、'val'、"
            f"'test' 三份），收到 {data!r:.60}"
        )
    for key in ("train", "val", "test"):
        x, y = check_pair(f"data[{key!r}]", data[key], "(x, y)")
        x = check_tensor(f"data[{key!r}] 的 x", x, ndim=1, floating=True)
        y = check_tensor(f"data[{key!r}] 的 y", y, ndim=1, floating=True)
        if len(x) != len(y):
            raise ValueError(
                f"data[{key!r}] 的 x 与 y 长度应相同，"
                f"收到 {len(x)} 与 {len(y)}"
            )


def _check_train_mlp(data, cfg, *, weight_decay, dropout, input_jitter, seed):
    _check_splits(data)
    check_instance("cfg", cfg, GeneralizationConfig)
    check_float("dropout", dropout, low=0.0, high=1.0, high_open=True)
    check_float("weight_decay", weight_decay, low=0.0)
    check_float("input_jitter", input_jitter, low=0.0)
    check_int("seed", seed, minimum=0)


@validated_by(_check_train_mlp)
def train_mlp(
    data: dict[str, tuple[torch.Tensor, torch.Tensor]],
    cfg: GeneralizationConfig,
    *,
    weight_decay: float = 0.0,
    dropout: float = 0.0,
    input_jitter: float = 0.0,
    seed: int,
) -> Curve:
    """用全批量 Adam 训练 ``make_mlp``，定期在三份数据上记录均方误差。

    ``weight_decay`` 用 AdamW 的解耦写法（每步 w ← w - ηλw）；
    ``input_jitter > 0`` 时，每步给训练输入加上 N(0, jitter²) 的噪声
    （一种数据增强）。``seed`` 决定初始化、暂退法与加噪声的随机性。
    """
    torch.manual_seed(seed)
    model = make_mlp(cfg.num_hiddens, dropout)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=weight_decay
    )
    g = torch.Generator().manual_seed(seed)
    x_train, y_train = data["train"]
    curve = Curve([], [], [], [])
    for step in range(cfg.num_steps + 1):
        if step % cfg.eval_every == 0:
            model.eval()
            with torch.no_grad():
                for name, record in (
                    ("train", curve.train_mse),
                    ("val", curve.val_mse),
                    ("test", curve.test_mse),
                ):
                    x, y = data[name]
                    record.append(
                        ((model(x[:, None])[:, 0] - y) ** 2).mean().item()
                    )
            curve.steps.append(step)
            model.train()
        if step == cfg.num_steps:
            break
        x = x_train
        if input_jitter > 0:
            x = x + input_jitter * torch.randn(
                x.shape, generator=g, dtype=x.dtype
            )
        loss = ((model(x[:, None])[:, 0] - y_train) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return curve


@validated_by(_check_experiment)
def regularization_runs(
    cfg: GeneralizationConfig,
) -> dict[str, list[Curve]]:
    """三种设置 × 每个数据种子各训练一次：无正则化、暂退法、数据增强。"""
    variants = {
        "无正则化": {},
        "暂退法": {"dropout": cfg.dropout},
        "数据增强": {"input_jitter": cfg.input_jitter},
    }
    runs: dict[str, list[Curve]] = {name: [] for name in variants}
    for seed in cfg.data_seeds:
        data = make_splits(cfg, seed)
        for name, kwargs in variants.items():
            runs[name].append(train_mlp(data, cfg, seed=seed, **kwargs))
    return runs


def _check_plot_sweep(result, ax, *, xlabel, floor, categorical):
    check_instance("result", result, SweepResult)
    check_instance("xlabel", xlabel, str)
    if floor is not None:
        check_float("floor", floor, low=0.0)
    check_instance("categorical", categorical, bool)


@validated_by(_check_plot_sweep)
def plot_sweep(
    result: SweepResult,
    ax: Axes | None = None,
    *,
    xlabel: str,
    floor: float | None = None,
    categorical: bool = False,
) -> Axes:
    """训练与验证误差随设置的变化：线是各种子的几何平均，色带是最小到最大值。

    纵轴是对数刻度，几何平均（对数的平均）正是这个刻度上的“中间”，
    不会像算术平均那样被一套误差特别大的数据拉走。
    ``categorical=True`` 时各设置等距排开、刻度写设置的值（适合含 0 的 λ）。
    """
    ax = new_axes(ax)
    xs = list(result.settings)
    if categorical:
        xs = list(range(len(result.settings)))
        ax.set_xticks(xs, [f"{s:g}" for s in result.settings])
    for name, errors, color in (
        ("训练误差", result.train_mse, CLASS_COLORS[0]),
        ("验证误差", result.val_mse, CLASS_COLORS[1]),
    ):
        geometric_mean = errors.log().mean(dim=0).exp()
        ax.plot(xs, geometric_mean.numpy(), "o-", color=color, label=name)
        ax.fill_between(
            xs,
            errors.min(dim=0).values.numpy(),
            errors.max(dim=0).values.numpy(),
            color=color,
            alpha=0.2,
        )
    if floor is not None:
        ax.axhline(floor, color="0.4", ls="--", lw=1, label="噪声方差 σ²")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("均方误差")
    ax.legend()
    return ax


def _check_plot_curves(curves, ax, *, title):
    if not isinstance(curves, list | tuple) or not curves:
        raise TypeError(
            "curves 应是 train_mlp 返回的 Curve 的非空列表，"
            f"收到 {curves!r:.60}"
        )
    for curve in curves:
        check_instance("curves 中的一项", curve, Curve)
    check_instance("title", title, str)


@validated_by(_check_plot_curves)
def plot_curves(
    curves: Sequence[Curve], ax: Axes | None = None, *, title: str = ""
) -> Axes:
    """每个种子一条训练误差线（实线）和验证误差线（虚线），圆点是早停处。"""
    ax = new_axes(ax)
    for i, curve in enumerate(curves):
        color = CLASS_COLORS[i % len(CLASS_COLORS)]
        ax.plot(curve.steps, curve.train_mse, color=color, lw=1)
        ax.plot(curve.steps, curve.val_mse, color=color, lw=1, ls="--")
        ax.plot(
            curve.steps[curve.best],
            curve.val_mse[curve.best],
            "o",
            color=color,
        )
    ax.plot([], [], color="0.3", lw=1, label="训练误差")
    ax.plot([], [], color="0.3", lw=1, ls="--", label="验证误差")
    ax.plot([], [], "o", color="0.3", label="验证误差最小（早停）")
    ax.set_yscale("log")
    ax.set_xlabel("训练步数")
    ax.set_ylabel("均方误差")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


@validated_by(_check_experiment)
def noise_floor(cfg: GeneralizationConfig) -> float:
    """任何模型在新数据上的均方误差都不会（在期望上）低于噪声方差 σ²。"""
    return cfg.noise**2
