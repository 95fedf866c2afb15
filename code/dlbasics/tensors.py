"""张量的基本性质、广播规则与几个可以验证的数值事实。对应章节：book/tensors.md"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from torch import nn
from torch.utils.data import DataLoader, Dataset

from dlbasics.plotting import CLASS_COLORS, new_axes
from dlbasics.validation import (
    MAX_WIDTH,
    check_count,
    check_float,
    check_generator,
    check_instance,
    check_int,
    check_memory,
    check_pair,
    check_positive_float,
    check_positive_int,
    check_step,
    check_tensor,
    validated_by,
)


def _check_histogram_demo(cfg) -> None:
    """检查 ``HistogramDemo`` 的每个字段。"""
    check_count("n", cfg.n)
    check_count("bins", cfg.bins, maximum=MAX_WIDTH)
    check_int("seed", cfg.seed, minimum=0)


@dataclass(frozen=True)
class HistogramDemo:
    """直方图示例的设置：从 N(0, 1) 抽 n 个样本，分成 bins 个区间。"""

    n: int = 1000
    bins: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        _check_histogram_demo(self)


def _check_describe(x):
    check_tensor("x", x, ndim=tuple(range(0, 33)), nonempty=False)


@validated_by(_check_describe)
def describe(x: torch.Tensor) -> dict[str, object]:
    """张量最常用的几个属性：形状、阶数、元素个数、数据类型、所在设备。"""
    return {
        "shape": tuple(x.shape),
        "ndim": x.ndim,
        "numel": x.numel(),
        "dtype": x.dtype,
        "device": str(x.device),
    }


def _check_broadcast_shape(a, b):
    for name, shape in (("a", a), ("b", b)):
        if isinstance(shape, torch.Size):
            continue
        if not isinstance(shape, Sequence) or isinstance(shape, str):
            raise TypeError(
                f"{name} 应是由整数组成的形状，如 (3, 1)，收到 {shape!r}"
            )
        for length in shape:
            if isinstance(length, bool) or not isinstance(
                length, numbers.Integral
            ):
                raise TypeError(f"{name} 的每一维应是整数，收到 {shape!r}")
            if length < 0:
                raise ValueError(f"{name} 的长度不能为负，收到 {shape!r}")


@validated_by(_check_broadcast_shape)
def broadcast_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """按广播规则求两个形状的结果形状；不能广播时抛出 ``ValueError``。

    规则：把两个形状右对齐，短的在左边补 1；逐维比较，两个长度相等、
    或其中一个是 1 时可以广播，长度为 1 的一方取另一方的长度（另一方是 0
    时结果也是 0）；否则不能广播。
    """
    ndim = max(len(a), len(b))
    a = (1,) * (ndim - len(a)) + tuple(a)
    b = (1,) * (ndim - len(b)) + tuple(b)
    out = []
    for i, (m, n) in enumerate(zip(a, b, strict=True)):
        if m != n and 1 not in (m, n):
            raise ValueError(
                f"形状 {a} 与 {b} 在第 {i} 维（右对齐后）长度为 {m} 与 {n}，"
                "既不相等也没有一个是 1，不能广播"
            )
        out.append(n if m == 1 else m)
    return tuple(out)


def _check_svd_reconstruction_error(A):
    check_tensor("A", A, ndim=2, floating=True)


@validated_by(_check_svd_reconstruction_error)
def svd_reconstruction_error(A: torch.Tensor) -> float:
    """奇异值分解 A = U diag(S) V^T 重建 A 的最大绝对误差。"""
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    return (U @ torch.diag(S) @ Vh - A).abs().max().item()


def sample_mean_var(x: torch.Tensor) -> tuple[float, float]:
    """样本均值与（无偏）样本方差 s² = Σ(x - x̄)² / (n - 1)。"""
    check_tensor("x", x, ndim=tuple(range(1, 9)), floating=True)
    if x.numel() < 2:
        raise ValueError("x 至少需要 2 个样本才能估计方差")
    return x.mean().item(), x.var(unbiased=True).item()


def normal_pdf(
    x: torch.Tensor, mean: float = 0.0, std: float = 1.0
) -> torch.Tensor:
    """正态分布 N(mean, std²) 的概率密度 exp(-(x-μ)²/(2σ²)) / (σ√(2π))。"""
    check_tensor("x", x, ndim=tuple(range(0, 9)), floating=True)
    check_float("mean", mean)
    check_positive_float("std", std)
    z = (x - mean) / std
    return torch.exp(-0.5 * z**2) / (std * math.sqrt(2 * math.pi))


def _check_central_difference(f, x, h):
    if not callable(f):
        raise TypeError(f"f 应是函数，收到 {f!r}")
    check_tensor("x", x, ndim=tuple(range(0, 9)), floating=True)
    check_step("h（步长）", h, x)


@validated_by(_check_central_difference)
def central_difference(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    h: float = 1e-3,
) -> torch.Tensor:
    """逐元素函数 f 在 x 处导数的数值近似 (f(x + h) - f(x - h)) / (2h)。

    误差是 O(h²) 量级；用 float64 计算可以让 h 取得更小而不被舍入误差淹没。
    """
    return (f(x + h) - f(x - h)) / (2 * h)


def _check_associativity_gap(A, B, C):
    for name, M in (("A", A), ("B", B), ("C", C)):
        check_tensor(name, M, ndim=2, floating=True)
    if not (A.dtype == B.dtype == C.dtype):
        raise TypeError(
            f"A、B、C 的数据类型应相同，收到 {A.dtype}、{B.dtype}、{C.dtype}"
        )
    if A.shape[1] != B.shape[0] or B.shape[1] != C.shape[0]:
        raise ValueError(
            f"A {tuple(A.shape)}、B {tuple(B.shape)}、C {tuple(C.shape)} "
            "不能依次相乘：前一个的列数要等于后一个的行数"
        )


@validated_by(_check_associativity_gap)
def associativity_gap(
    A: torch.Tensor, B: torch.Tensor, C: torch.Tensor
) -> float:
    """(AB)C 与 A(BC) 的最大绝对差：数学上为 0，浮点运算中是舍入误差。

    形状 (m, k)、(k, n)、(n, p)。
    """
    return ((A @ B) @ C - A @ (B @ C)).abs().max().item()


def _check_plot_histogram_with_density(sample, bins, ax):
    check_tensor("sample", sample, ndim=1, floating=True, finite=True)
    check_count("bins", bins, maximum=MAX_WIDTH)  # 与 HistogramDemo 相同


@validated_by(_check_plot_histogram_with_density)
def plot_histogram_with_density(
    sample: torch.Tensor, bins: int, ax: Axes | None = None
) -> Axes:
    """样本的密度直方图（面积和为 1），叠加标准正态分布的密度曲线。"""
    ax = new_axes(ax)
    values = sample.detach().cpu().numpy()
    ax.hist(
        values,
        bins=bins,
        density=True,
        color=CLASS_COLORS[0],
        alpha=0.6,
        label=f"{len(values)} 个样本的直方图",
    )
    grid = torch.linspace(
        float(values.min()) - 0.5, float(values.max()) + 0.5, 400
    )
    ax.plot(
        grid.numpy(),
        normal_pdf(grid).numpy(),
        color=CLASS_COLORS[1],
        label="N(0, 1) 的密度",
    )
    ax.set_xlabel("$x$")
    ax.set_ylabel("概率密度")
    ax.legend()
    return ax


def plot_broadcast(
    shape_a: tuple[int, int], shape_b: tuple[int, int], ax: Axes | None = None
) -> Axes:
    """画出两个二维形状广播成结果形状的过程：实格是原有元素，虚格是复制出来的。"""
    for name, shape in (("shape_a", shape_a), ("shape_b", shape_b)):
        for length in check_pair(name, shape, "(3, 1)"):
            check_int(name, length, minimum=1)
    try:
        out = broadcast_shape(shape_a, shape_b)
    except ValueError as err:
        raise ValueError(f"shape_a 与 shape_b 不能广播：{err}") from err
    if out[0] * out[1] > 400:
        raise ValueError(
            f"结果形状 {out} 太大，画出来看不清；请用小一点的形状"
        )
    ax = new_axes(ax)
    x0 = 0.0
    panels = [(shape_a, "a"), (shape_b, "b"), (out, "结果")]
    for k, (shape, name) in enumerate(panels):
        rows, cols = out
        for i in range(rows):
            for j in range(cols):
                real = k == 2 or (i < shape[0] and j < shape[1])
                ax.add_patch(
                    Rectangle(
                        (x0 + j, -i - 1),
                        1,
                        1,
                        facecolor=CLASS_COLORS[k] if real else "white",
                        edgecolor=CLASS_COLORS[k],
                        alpha=0.8 if real else 1.0,
                        linestyle="-" if real else "--",
                        linewidth=1.2,
                    )
                )
        ax.text(
            x0 + cols / 2,
            0.4,
            f"{name} {tuple(shape)}",
            ha="center",
            va="bottom",
        )
        if k < 2:
            ax.text(
                x0 + cols + 0.6,
                -rows / 2,
                "+" if k == 0 else "=",
                ha="center",
                va="center",
                fontsize=16,
            )
        x0 += cols + 1.2
    ax.set_xlim(-0.2, x0 - 1.0)
    ax.set_ylim(-out[0] - 0.3, 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def _check_tiny_mlp(self, in_features, num_hiddens, out_features, dropout):
    in_features = check_positive_int("in_features", in_features)
    num_hiddens = check_positive_int("num_hiddens", num_hiddens)
    out_features = check_positive_int("out_features", out_features)
    check_memory(
        "in_features、num_hiddens、out_features",
        num_hiddens * (in_features + out_features + 2),
        bytes_per_element=5,  # 参数的 float32，留 25% 余量
    )
    check_float("dropout", dropout, low=0.0, high=1.0, high_open=True)


class TinyMLP(nn.Module):
    """一个最小的 ``nn.Module`` 子类：输入 → 隐藏层（ReLU、暂退法）→ 输出。

    ``__init__`` 里创建带参数的层（PyTorch 会自动登记它们的参数），
    ``forward`` 里写怎样由输入算出输出。输入形状 (N, in_features)。
    """

    @validated_by(_check_tiny_mlp)
    def __init__(
        self,
        in_features: int,
        num_hiddens: int,
        out_features: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_features, num_hiddens)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(num_hiddens, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.hidden(x))
        return self.output(self.dropout(h))


def _check_noisy_line_dataset(self, n, *, generator):
    # 实测峰值约每个样本 5 个 float32
    check_memory("n", 6 * check_positive_int("n", n))
    check_generator("generator", generator)


class NoisyLineDataset(Dataset):
    """一个 ``Dataset`` 子类：n 个点 (x, y)，y = 2x + 1 + 0.1·噪声。

    ``Dataset`` 只要回答两个问题：有多少个样本（``__len__``），
    第 i 个样本是什么（``__getitem__``）。x、y 形状都是 (1,)。
    """

    @validated_by(_check_noisy_line_dataset)
    def __init__(self, n: int, *, generator: torch.Generator) -> None:
        self.x = torch.rand(n, 1, generator=generator) * 2 - 1
        noise = torch.randn(n, 1, generator=generator)
        self.y = 2 * self.x + 1 + 0.1 * noise

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def _check_make_loader(dataset, batch_size, *, seed):
    check_instance("dataset", dataset, Dataset)
    check_positive_int("batch_size", batch_size)
    check_int("seed", seed, minimum=0)


@validated_by(_check_make_loader)
def make_loader(dataset: Dataset, batch_size: int, *, seed: int) -> DataLoader:
    """每轮打乱顺序、按 ``batch_size`` 分批的 ``DataLoader``。

    打乱用自己的生成器（种子 ``seed``），所以两次运行分出的批完全相同。
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )


def _check_choose_device(prefer):
    if prefer not in ("cuda", "mps", "cpu"):
        raise ValueError(
            f'prefer 应是 "cuda"、"mps" 或 "cpu"，收到 {prefer!r}'
        )


@validated_by(_check_choose_device)
def choose_device(prefer: str = "cuda") -> torch.device:
    """有 GPU（``prefer`` 指定的加速器）就用它，否则退回 CPU。

    ``prefer`` 可以是 "cuda" 或 "mps"（苹果芯片）；"cpu" 表示总用 CPU。
    """
    if prefer == "cuda" and torch.cuda.is_available():
        return torch.device("cuda")
    if prefer == "mps" and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
