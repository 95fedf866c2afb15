"""在一个很小的两层网络上一步一步地做反向传播。

对应章节：book/backprop.md。网络只有一个样本 x（形状 (2,)）：

    z = W1 x + b1      （隐藏层的线性部分，形状 (3,)）
    h = ReLU(z)        （隐藏层的输出，形状 (3,)）
    o = w2 · h + b2    （输出，标量）
    L = (o - t)² / 2   （平方损失，t 是目标值）

所有数都用 float64，手算的梯度与自动求导的结果可以逐位比较。
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.patches as mpatches
import torch
from matplotlib.axes import Axes

from dlbasics.plotting import new_axes
from dlbasics.validation import (
    check_float,
    check_instance,
    check_step,
    check_tensor,
    validated_by,
)

# 参数的名字与形状：W1 (3, 2)，b1 (3,)，w2 (3,)，b2 标量
PARAM_SHAPES = {"W1": (3, 2), "b1": (3,), "w2": (3,), "b2": ()}


def example() -> tuple[dict[str, torch.Tensor], torch.Tensor, float]:
    """本章的例子 ``(参数, x, t)``：手选的小数值，方便读者用纸笔核对。

    第 3 个隐藏单元的 z 是负的，ReLU 把它“关掉”，可以看到梯度在那里断开。
    """
    params = {
        "W1": torch.tensor(
            [[0.5, -0.2], [0.3, 0.8], [-0.6, -0.4]], dtype=torch.float64
        ),
        "b1": torch.tensor([0.1, -0.3, 0.2], dtype=torch.float64),
        "w2": torch.tensor([1.0, -0.5, 0.7], dtype=torch.float64),
        "b2": torch.tensor(0.2, dtype=torch.float64),
    }
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    return params, x, 1.0


def _check_inputs(
    params: Mapping[str, torch.Tensor], x: torch.Tensor, t: float
) -> None:
    """forward、backward 与 autograd_gradients 共用的参数检查。"""
    check_instance("params", params, Mapping)
    for name, shape in PARAM_SHAPES.items():
        if name not in params:
            raise ValueError(f"params 缺少参数 {name!r}，应有 {PARAM_SHAPES}")
        p = check_tensor(f"params[{name!r}]", params[name], floating=True)
        if tuple(p.shape) != shape:
            raise ValueError(
                f"params[{name!r}] 的形状应是 {shape}，收到 {tuple(p.shape)}"
            )
    x = check_tensor("x", x, ndim=1, floating=True)
    if x.shape != (2,):
        raise ValueError(f"x 应是长度为 2 的向量，收到形状 {tuple(x.shape)}")
    check_float("t", t)


@validated_by(_check_inputs)
def forward(
    params: Mapping[str, torch.Tensor], x: torch.Tensor, t: float
) -> dict[str, torch.Tensor]:
    """前向传播，按计算顺序返回每个中间量：z、h、o、L。"""
    z = params["W1"] @ x + params["b1"]
    h = torch.relu(z)
    o = params["w2"] @ h + params["b2"]
    loss = (o - t) ** 2 / 2
    return {"z": z, "h": h, "o": o, "L": loss}


@validated_by(_check_inputs)
def backward(
    params: Mapping[str, torch.Tensor], x: torch.Tensor, t: float
) -> dict[str, torch.Tensor]:
    """反向传播：从 L 出发，按链式法则逐个求出 ∂L/∂(每个量)。

    每一行只用到“上游传来的梯度”和“这一步自己的局部导数”。
    """
    v = forward(params, x, t)
    g = {}
    g["o"] = v["o"] - t  # L = (o - t)²/2
    g["w2"] = g["o"] * v["h"]  # o = w2·h + b2
    g["b2"] = g["o"]
    g["h"] = g["o"] * params["w2"]
    g["z"] = g["h"] * (v["z"] > 0).to(v["z"].dtype)  # ReLU'(z)
    g["W1"] = torch.outer(g["z"], x)  # z = W1 x + b1
    g["b1"] = g["z"]
    return g


@validated_by(_check_inputs)
def autograd_gradients(
    params: Mapping[str, torch.Tensor], x: torch.Tensor, t: float
) -> dict[str, torch.Tensor]:
    """用 PyTorch 的自动求导求 ∂L/∂参数，用来核对 ``backward``。"""
    leaves = {
        k: v.detach().clone().requires_grad_(True) for k, v in params.items()
    }
    forward(leaves, x, t)["L"].backward()
    return {k: v.grad for k, v in leaves.items()}


def _check_finite_difference_gradients(params, x, t, eps):
    _check_inputs(params, x, t)
    check_float("eps", eps, low=0.0, low_open=True, high=1.0)
    for name in PARAM_SHAPES:
        check_step(f"eps（参数 {name} 的步长）", eps, params[name])


@validated_by(_check_finite_difference_gradients)
def finite_difference_gradients(
    params: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    t: float,
    eps: float = 1e-6,
) -> tuple[dict[str, torch.Tensor], int]:
    """中心差分 (L(θ+ε) - L(θ-ε)) / 2ε，逐个参数分量地估计梯度。

    Returns:
        ``(梯度, 前向传播的次数)``：每个参数分量要前向两次。
    """
    grads, n_forward = {}, 0
    for name, p in params.items():
        grad = torch.zeros_like(p)
        for i in range(p.numel()):
            values = []
            for sign in (1.0, -1.0):
                shifted = dict(params)
                bumped = p.detach().clone().reshape(-1)
                bumped[i] += sign * eps
                shifted[name] = bumped.reshape(p.shape)
                values.append(forward(shifted, x, t)["L"])
                n_forward += 1
            grad.reshape(-1)[i] = (values[0] - values[1]) / (2 * eps)
        grads[name] = grad
    return grads, n_forward


def _check_max_abs_difference(a, b):
    check_instance("a", a, Mapping)
    check_instance("b", b, Mapping)
    if set(a) != set(b):
        raise ValueError(
            f"a 与 b 两组梯度的名字不同：{sorted(a)} 与 {sorted(b)}"
        )
    for k in a:
        check_tensor(f"a[{k!r}]", a[k], ndim=tuple(range(0, 9)))
        check_tensor(f"b[{k!r}]", b[k], ndim=tuple(range(0, 9)))
        if a[k].shape != b[k].shape:
            raise ValueError(
                f"a[{k!r}] 与 b[{k!r}] 的形状不同：{tuple(a[k].shape)} 与 "
                f"{tuple(b[k].shape)}；同名梯度应形状相同，不做广播"
            )


@validated_by(_check_max_abs_difference)
def max_abs_difference(
    a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]
) -> float:
    """两组同名梯度逐元素之差的最大绝对值。"""
    return max((a[k] - b[k]).abs().max().item() for k in a)


def _check_graph_functions(tensor):
    check_tensor("tensor", tensor)
    if tensor.grad_fn is None:
        raise ValueError(
            "tensor 没有 grad_fn：它不是由 requires_grad=True 的张量算出来的"
        )


@validated_by(_check_graph_functions)
def graph_functions(tensor: torch.Tensor) -> list[str]:
    """从 ``tensor.grad_fn`` 出发，按广度优先列出 autograd 记录的运算名。

    这就是 ``backward()`` 要沿着走的那张计算图（叶子上是
    ``AccumulateGrad``：把梯度累加进参数的 ``.grad``）。
    """
    names, queue, seen = [], [tensor.grad_fn], set()
    while queue:
        fn = queue.pop(0)
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        names.append(type(fn).__name__)
        queue.extend(next_fn for next_fn, _ in fn.next_functions)
    return names


# 计算图的布局：(名字, 横坐标, 纵坐标, 是否参数)
_NODES = [
    ("x", 0.0, 1.0, False),
    ("W1", 0.5, 2.55, True),
    ("b1", 0.5, -0.45, True),
    ("z", 2.4, 1.0, False),
    ("h", 4.8, 1.0, False),
    ("w2", 5.3, 2.45, True),
    ("b2", 5.3, -0.45, True),
    ("o", 7.0, 1.0, False),
    ("L", 8.8, 1.0, False),
]
_EDGES = [
    ("x", "z"),
    ("W1", "z"),
    ("b1", "z"),
    ("z", "h"),
    ("h", "o"),
    ("w2", "o"),
    ("b2", "o"),
    ("o", "L"),
]
# 中间量的定义，写在方框的第一行
_FORMULAS = {
    "z": "z = W1 x + b1",
    "h": "h = ReLU(z)",
    "o": "o = w2·h + b2",
    "L": "L = (o - t)²/2",
}


def _fmt(value: torch.Tensor) -> str:
    value = value.detach() + 0.0  # 把 -0.0 显示成 0.00
    flat = value.reshape(-1).tolist()
    if value.ndim == 2:  # 矩阵：另起一行，每行一个方括号
        rows = [", ".join(f"{v:.2f}" for v in row) for row in value.tolist()]
        return "\n" + "\n".join(f"[{r}]" for r in rows)
    if len(flat) == 1 and value.ndim == 0:
        return f"{flat[0]:.3f}"
    return "[" + ", ".join(f"{v:.2f}" for v in flat) + "]"


def plot_graph(
    values: Mapping[str, torch.Tensor],
    grads: Mapping[str, torch.Tensor] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """画出计算图：方框里写一个量的值（中间量先写定义），再写 ∂L/∂ 它。

    ``values`` 需含 x、W1、b1、z、h、w2、b2、o、L；``grads`` 可缺某些键
    （如 x、L），缺的只写值。
    """
    check_instance("values", values, Mapping)
    missing = [name for name, *_ in _NODES if name not in values]
    if missing:
        raise ValueError(f"values 缺少 {missing}")
    grads = {} if grads is None else grads
    check_instance("grads", grads, Mapping)
    ax = new_axes(ax)
    pos = {name: (x, y) for name, x, y, _ in _NODES}
    boxes = {}
    for name, x, y, is_param in _NODES:
        text = f"{name} = {_fmt(values[name])}"
        if name in _FORMULAS:
            text = f"{_FORMULAS[name]}\n= {_fmt(values[name])}"
        if name in grads:
            text += f"\n∂L/∂{name} = {_fmt(grads[name])}"
        boxes[name] = ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=8,
            linespacing=1.35,
            bbox={
                "boxstyle": "round,pad=0.5",
                "facecolor": "#fdf1e6" if is_param else "#e8f0fa",
                "edgecolor": "0.5",
            },
        )
    for src, dst in _EDGES:
        # 箭头从方框的边出发、停在方框的边上（patchA、patchB），箭头尖看得见；
        # zorder 比方框高：画箭头时方框的大小已经算好
        ax.annotate(
            "",
            xy=pos[dst],
            xytext=pos[src],
            zorder=4,
            arrowprops={
                "arrowstyle": "-|>",
                "color": "0.4",
                "lw": 1.2,
                "mutation_scale": 14,
                "patchA": boxes[src].get_bbox_patch(),
                "patchB": boxes[dst].get_bbox_patch(),
                "shrinkA": 2,
                "shrinkB": 2,
            },
        )
    ax.legend(
        handles=[
            mpatches.Patch(
                facecolor="#e8f0fa", edgecolor="0.5", label="数据与中间量"
            ),
            mpatches.Patch(facecolor="#fdf1e6", edgecolor="0.5", label="参数"),
        ],
        loc="lower right",
        fontsize=8,
    )
    ax.set_xlim(-0.7, 9.5)
    ax.set_ylim(-0.95, 3.45)
    ax.axis("off")
    return ax
