"""卷积与池化的从零实现：互相关、填充与步幅、多通道、池化、参数共享。

对应章节：book/conv.md。单通道图片形状 (H, W)，多通道 (C, H, W)；
卷积核形状 (kh, kw)、(C, kh, kw) 或 (C_out, C, kh, kw)。
"""

from __future__ import annotations

import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from torch import nn

from dlbasics.plotting import new_axes
from dlbasics.validation import (
    PYTHON_STEP,
    check_generator,
    check_instance,
    check_int,
    check_pair,
    check_positive_float,
    check_positive_int,
    check_tensor,
    check_work,
    validated_by,
)


def _check_corr2d(X, K):
    X = check_tensor("X", X, ndim=2, floating=True)
    K = check_tensor("K", K, ndim=2, floating=True)
    kh, kw = K.shape
    if kh > X.shape[0] or kw > X.shape[1]:
        raise ValueError(
            f"卷积核 K {tuple(K.shape)} 比输入 X {tuple(X.shape)} 还大；"
            "先填充输入，或换小一点的核"
        )
    # 输出的每个元素是一次 Python 循环
    n_out = (X.shape[0] - kh + 1) * (X.shape[1] - kw + 1)
    check_work("X", tuple(X.shape), n_out * (PYTHON_STEP + kh * kw))


@validated_by(_check_corr2d)
def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """二维互相关：Y[i, j] = Σ_a Σ_b X[i+a, j+b] · K[a, b]。

    X 形状 (H, W)，K 形状 (kh, kw)，输出 (H - kh + 1, W - kw + 1)。
    这就是深度学习里所说的“卷积”（不翻转卷积核）。
    """
    kh, kw = K.shape
    Y = torch.zeros(X.shape[0] - kh + 1, X.shape[1] - kw + 1, dtype=X.dtype)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + kh, j : j + kw] * K).sum()
    return Y


def _check_conv_output_size(n, k, padding, stride):
    n = check_positive_int("n", n)
    k = check_positive_int("k", k)
    padding = check_int("padding", padding, minimum=0)
    check_positive_int("stride", stride)
    if n + 2 * padding < k:
        raise ValueError(
            f"填充后的输入长度 n + 2p = {n + 2 * padding} 小于核长度 k = {k}，"
            "没有一个完整的窗口；增大 padding 或减小 k"
        )


@validated_by(_check_conv_output_size)
def conv_output_size(n: int, k: int, padding: int = 0, stride: int = 1) -> int:
    """一个方向上的输出长度：⌊(n + 2p - k) / s⌋ + 1。

    n 是输入长度，k 是核长度，p 是每一侧填充的行（列）数，s 是步幅。
    """
    return (n + 2 * padding - k) // stride + 1


def _check_corr2d_multi_in(X, K):
    X = check_tensor("X", X, ndim=3, floating=True)
    K = check_tensor("K", K, ndim=3, floating=True)
    if X.shape[0] != K.shape[0]:
        raise ValueError(
            f"X 有 {X.shape[0]} 个通道，K 有 {K.shape[0]} 个；两者应相同"
        )


@validated_by(_check_corr2d_multi_in)
def corr2d_multi_in(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """多输入通道：每个通道各做一次互相关，再把结果相加。

    X 形状 (C, H, W)，K 形状 (C, kh, kw)，输出 (H - kh + 1, W - kw + 1)。
    """
    return sum(corr2d(x, k) for x, k in zip(X, K, strict=True))


def _check_corr2d_multi_in_out(X, K):
    K = check_tensor("K", K, ndim=4, floating=True)
    X = check_tensor("X", X, ndim=3, floating=True)
    # 每个输出通道、每个输入通道、每个输出元素各一次 Python 循环
    n_out = max(X.shape[1] - K.shape[2] + 1, 1) * max(
        X.shape[2] - K.shape[3] + 1, 1
    )
    loops = K.shape[0] * K.shape[1] * n_out
    check_work("K", tuple(K.shape), loops * PYTHON_STEP)


@validated_by(_check_corr2d_multi_in_out)
def corr2d_multi_in_out(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """多输出通道：每个输出通道有自己的一组 (C, kh, kw) 卷积核。

    X 形状 (C, H, W)，K 形状 (C_out, C, kh, kw)，输出 (C_out, H', W')。
    """
    return torch.stack([corr2d_multi_in(X, k) for k in K])


def _check_pool2d(X, size, stride, mode):
    check_tensor("X", X, ndim=2, floating=True)
    size = check_positive_int("size", size)
    stride = size if stride is None else check_positive_int("stride", stride)
    if mode not in ("max", "avg"):
        raise ValueError(f'mode 应是 "max" 或 "avg"，收到 {mode!r}')
    if size > min(X.shape):
        raise ValueError(
            f"size={size} 比输入 {tuple(X.shape)} 还大，没有一个完整的窗口；"
            "请用小一点的窗口"
        )
    n_out = ((X.shape[0] - size) // stride + 1) * (
        (X.shape[1] - size) // stride + 1
    )
    check_work("X", tuple(X.shape), n_out * (PYTHON_STEP + size * size))


@validated_by(_check_pool2d)
def pool2d(
    X: torch.Tensor, size: int, stride: int | None = None, mode: str = "max"
) -> torch.Tensor:
    """池化：在 size×size 的窗口里取最大值（mode="max"）或平均值（"avg"）。

    X 形状 (H, W)；步幅 stride 默认等于 size（窗口不重叠，
    与 ``nn.MaxPool2d`` 的默认相同）。
    """
    stride = size if stride is None else stride
    out_h = conv_output_size(X.shape[0], size, 0, stride)
    out_w = conv_output_size(X.shape[1], size, 0, stride)
    Y = torch.zeros(out_h, out_w, dtype=X.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = X[
                i * stride : i * stride + size, j * stride : j * stride + size
            ]
            Y[i, j] = window.max() if mode == "max" else window.mean()
    return Y


def _check_conv_vs_dense_params(height, width, in_channels, out_channels, k):
    check_positive_int("height", height)
    check_positive_int("width", width)
    check_positive_int("in_channels", in_channels)
    check_positive_int("out_channels", out_channels)
    k = check_positive_int("k", k)
    if k % 2 == 0:
        raise ValueError(f"k 应是奇数（输出才能与输入一样大），收到 {k}")


@validated_by(_check_conv_vs_dense_params)
def conv_vs_dense_params(
    height: int, width: int, in_channels: int, out_channels: int, k: int
) -> dict[str, int]:
    """同一张图、同样大小的输出，卷积层和全连接层各有多少参数。

    卷积层用 k×k 的核、填充 (k-1)/2（k 为奇数，输出与输入同样大小）；
    全连接层把 C·H·W 个输入连到同样多的 C_out·H·W 个输出。
    """
    n_in = in_channels * height * width
    n_out = out_channels * height * width
    return {
        "conv": out_channels * in_channels * k * k + out_channels,
        "dense": n_in * n_out + n_out,
    }


def _check_learn_kernel(X, Y, kernel_shape, *, lr, num_steps, generator):
    X = check_tensor("X", X, ndim=2, floating=True, finite=True)
    Y = check_tensor("Y", Y, ndim=2, floating=True, finite=True)
    kh, kw = (
        check_positive_int("kernel_shape 的每一项", k)
        for k in check_pair("kernel_shape", kernel_shape, "(1, 2)")
    )
    if Y.shape != (X.shape[0] - kh + 1, X.shape[1] - kw + 1):
        raise ValueError(
            f"Y 的形状 {tuple(Y.shape)} 与 X {tuple(X.shape)} 和 "
            f"{kh}×{kw} 的核对不上"
        )
    check_positive_float("lr", lr)
    num_steps = check_positive_int("num_steps", num_steps)
    check_generator("generator", generator)
    per_step = 3 * Y.numel() * kh * kw + PYTHON_STEP
    check_work("num_steps", num_steps, num_steps * per_step)


@validated_by(_check_learn_kernel)
def learn_kernel(
    X: torch.Tensor,
    Y: torch.Tensor,
    kernel_shape: tuple[int, int],
    *,
    lr: float,
    num_steps: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, list[float]]:
    """只给输入 X 和输出 Y，用梯度下降学出卷积核。

    损失是 Σ (corr2d(X, K) - Y)²；用 ``nn.Conv2d``（无偏置）计算互相关，
    初始核从标准正态分布抽取。返回 ``(学到的核, 每步的损失)``。
    """
    kh, kw = kernel_shape
    conv = nn.Conv2d(1, 1, (kh, kw), bias=False, dtype=X.dtype)
    with torch.no_grad():
        conv.weight.copy_(
            torch.randn(conv.weight.shape, generator=generator, dtype=X.dtype)
        )
    losses = []
    for _ in range(num_steps):
        loss = ((conv(X[None, None]) - Y[None, None]) ** 2).sum()
        conv.zero_grad()
        loss.backward()
        with torch.no_grad():
            conv.weight -= lr * conv.weight.grad
        losses.append(loss.item())
    return conv.weight.detach()[0, 0], losses


def _check_plot_matrix(M, ax, *, highlight, title, fmt):
    M = check_tensor("M", M, ndim=2)
    if M.numel() > 400:
        raise ValueError(
            f"M 有 {M.numel()} 个元素（形状 {tuple(M.shape)}）：每格写一个数，"
            "超过 400 格就看不清了；请画一个小一点的矩阵"
        )
    if highlight is not None:
        if not isinstance(highlight, tuple | list) or len(highlight) != 4:
            raise ValueError(
                "highlight 应是 (行, 列, 高, 宽) 四个整数，"
                f"收到 {highlight!r:.60}"
            )
        r, c, h, w = highlight
        check_int("highlight 的行", r, minimum=0)
        check_int("highlight 的列", c, minimum=0)
        check_positive_int("highlight 的高", h)
        check_positive_int("highlight 的宽", w)
    check_instance("title", title, str)
    check_instance("fmt", fmt, str)
    try:
        fmt.format(1.0)
    except (ValueError, IndexError, KeyError) as error:
        raise ValueError(
            f"fmt={fmt!r} 不能格式化一个数（{error}）；例如 fmt='{{:.2f}}'"
        ) from None


@validated_by(_check_plot_matrix)
def plot_matrix(
    M: torch.Tensor,
    ax: Axes | None = None,
    *,
    highlight: tuple[int, int, int, int] | None = None,
    title: str = "",
    fmt: str = "{:g}",
) -> Axes:
    """把小矩阵画成带数字的方格；``highlight=(行, 列, 高, 宽)`` 描出窗口。"""
    ax = new_axes(ax)
    values = M.detach().double()
    span = float(values.abs().max()) or 1.0
    ax.imshow(values.numpy(), cmap="RdBu_r", vmin=-span * 1.6, vmax=span * 1.6)
    for (i, j), v in zip(
        ((i, j) for i in range(M.shape[0]) for j in range(M.shape[1])),
        values.reshape(-1).tolist(),
        strict=True,
    ):
        ax.text(
            j, i, fmt.format(v + 0.0), ha="center", va="center", fontsize=10
        )
    if highlight is not None:
        r, c, h, w = highlight
        ax.add_patch(
            Rectangle(
                (c - 0.5, r - 0.5),
                w,
                h,
                fill=False,
                edgecolor="#d62728",
                lw=2.5,
            )
        )
    ax.set_xticks(range(M.shape[1]))
    ax.set_yticks(range(M.shape[0]))
    ax.tick_params(length=0, labelsize=8)
    ax.set_title(title)
    return ax


def _check_receptive_field(kernel_sizes, strides):
    for name, values in (("kernel_sizes", kernel_sizes), ("strides", strides)):
        if not isinstance(values, list | tuple):
            raise TypeError(
                f"{name} 应是每层一个整数的列表，如 [3, 3]，"
                f"收到 {values!r:.60}"
            )
        for value in values:
            check_positive_int(f"{name} 中的值", value)
    if len(kernel_sizes) != len(strides):
        raise ValueError("kernel_sizes 与 strides 的长度应相同")


@validated_by(_check_receptive_field)
def receptive_field(kernel_sizes: list[int], strides: list[int]) -> int:
    """一串卷积（或池化）层之后，一个输出单元“看到”的输入边长。

    r ← r + (k - 1)·j，j ← j·s；r 从 1、j 从 1 开始，j 是累积步幅。
    """
    r, jump = 1, 1
    for k, s in zip(kernel_sizes, strides, strict=True):
        r += (k - 1) * jump
        jump *= s
    return r
