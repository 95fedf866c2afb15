"""各章“编程练习”的检查器：``check.<名字>(你的函数)`` 打印中文报告。

每个检查器按顺序运行一组用例（包括该章讲到的边界情况），报告全部通过，
或者第一个没有通过的用例：输入、期望、得到的结果和一条提示。提示指向正确的
思路，不给出答案；认得出的常见错误（如 softmax 没有减去最大值）有专门的提示。
框架见 ``dlbasics.checker``；每个检查器接受参考解答、拒绝常见错误，由
``tests/test_check.py`` 检查。

用法（在章节或自己的笔记本里）::

    from dlbasics import check

    def my_softmax(logits):
        ...

    check.stable_softmax(my_softmax)

期望的结果由 PyTorch 自带的函数或简单的公式算出，本模块不导入各章的模块。
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from dlbasics.checker import (
    Case,
    Checker,
    Mistake,
    Problem,
    close,
    dict_of,
    exactly,
    number,
    show,
    tensor_problem,
    tuple_of,
)

__all__ = [
    "adam_step",
    "batch_backward",
    "conv_output_shape",
    "conv_params",
    "cross_entropy",
    "dropout",
    "mlp_num_params",
    "momentum_step",
    "pairwise_sq_dists",
    "select_by_validation",
    "stable_softmax",
    "two_layer_logits",
    "xavier_uniform",
]


def _t(rows, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype)


def _near(got, value, atol=1e-5, rtol=1e-4) -> bool:
    """``got`` 是与 ``value`` 同形状、数值相近的张量。"""
    return (
        isinstance(got, torch.Tensor)
        and got.shape == value.shape
        and torch.allclose(
            got.detach().to(value.dtype), value, atol=atol, rtol=rtol
        )
    )


# ---------- 第 1 章 PyTorch 基础：广播 ----------


def _sq_dists(X, Y):
    return ((X[:, None, :] - Y[None, :, :]) ** 2).sum(dim=-1)


pairwise_sq_dists = Checker(
    "pairwise_sq_dists",
    "两组点之间的距离平方：(N, D) 与 (M, D) → (N, M)",
    ("X", "Y"),
    [
        Case(
            "basic",
            "2 个点对 3 个点",
            lambda: (
                _t([[0.0, 0.0], [1.0, 2.0]]),
                _t([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]]),
            ),
            _sq_dists,
            "结果第 i 行第 j 列是 X[i] 与 Y[j] 之差的平方和。"
            "X[:, None, :] 的形状是 (N, 1, D)，Y[None, :, :] 是 (1, M, D)，"
            "相减时广播成 (N, M, D)，再沿最后一维求和。",
        ),
        Case(
            "one_point",
            "每组只有一个点",
            lambda: (_t([[1.0, -1.0, 2.0]]), _t([[0.0, 1.0, 0.0]])),
            _sq_dists,
            "N = M = 1 时结果的形状仍是 (1, 1)，不要把长度为 1 的维压掉。",
        ),
        Case(
            "one_feature",
            "每个点只有一个坐标（D = 1）",
            lambda: (_t([[1.0], [4.0]]), _t([[0.0], [2.0], [-1.0]])),
            _sq_dists,
            "沿最后一维（坐标那一维）求和，不要沿点的那一维求和。",
        ),
        Case(
            "float64",
            "float64 的输入",
            lambda: (
                _t([[0.5, 1.5], [2.0, -1.0]], torch.float64),
                _t([[1.0, 1.0]], torch.float64),
            ),
            _sq_dists,
            "结果的 dtype 应与输入相同：不要中途转成别的类型。",
        ),
    ],
    mistakes=[
        Mistake(
            "sqrt",
            lambda got, want, args: _near(got, want.sqrt()),
            "你算的是距离；题目要的是距离的平方，不用开方。",
        ),
        Mistake(
            "no_square",
            lambda got, want, args: _near(
                got, (args[0][:, None, :] - args[1][None, :, :]).abs().sum(-1)
            ),
            "差要先平方再相加（你相加的是差的绝对值）。",
        ),
        Mistake(
            "transposed",
            lambda got, want, args: _near(got, want.T),
            "行对应 X 的点、列对应 Y 的点：结果的形状是 (N, M)，不是 (M, N)。",
            ("shape",),
        ),
    ],
)


# ---------- 第 2 章 螺旋数据分类：两层网络的前向 ----------


def _two_layer(X, W1, b1, W2, b2):
    return torch.relu(X @ W1.T + b1) @ W2.T + b2


def _two_layer_args(batch: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(batch, 2, generator=g)
    W1 = torch.randn(3, 2, generator=g)
    b1 = torch.randn(3, generator=g)
    W2 = torch.randn(2, 3, generator=g)
    b2 = torch.tensor([-2.0, 0.5])  # 第一个 logit 多半是负的
    return X, W1, b1, W2, b2


two_layer_logits = Checker(
    "two_layer_logits",
    "两层网络的前向：logits = ReLU(X W1ᵀ + b1) W2ᵀ + b2",
    ("X", "W1", "b1", "W2", "b2"),
    [
        Case(
            "basic",
            "4 个样本、3 个隐藏单元、2 个类别",
            lambda: _two_layer_args(4, 0),
            _two_layer,
            "权重的形状与 nn.Linear 相同：W1 是 (H, 2)，所以隐藏层是 "
            "X @ W1.T + b1（形状 (N, H)）；输出层同理用 W2.T。",
        ),
        Case(
            "batch_of_one",
            "只有一个样本的一批",
            lambda: _two_layer_args(1, 1),
            _two_layer,
            "一个样本时 X 的形状是 (1, 2)，"
            "结果应是 (1, C)：不要把批量那一维压掉。",
        ),
        Case(
            "negative_logits",
            "logits 有正有负",
            lambda: _two_layer_args(6, 2),
            _two_layer,
            "ReLU 只用在隐藏层；输出层是线性的，logits 可以是负数。",
        ),
    ],
    mistakes=[
        Mistake(
            "no_relu",
            lambda got, want, args: _near(
                got, (args[0] @ args[1].T + args[2]) @ args[3].T + args[4]
            ),
            "隐藏层忘了 ReLU：没有激活函数，两个线性层合起来仍是一个线性模型"
            "（本章“去掉激活函数会怎样”一节）。",
        ),
        Mistake(
            "relu_on_output",
            lambda got, want, args: _near(got, torch.relu(want)),
            "输出层不要再加 ReLU：logits 可以是负数，"
            "交叉熵损失自己会做 softmax。",
        ),
    ],
)


# ---------- 第 3 章 反向传播：一批样本的梯度 ----------


def _backprop_args(rows, targets) -> tuple:
    params = {
        "W1": _t([[0.5, -0.2], [0.3, 0.8], [-0.6, -0.4]], torch.float64),
        "b1": _t([0.1, -0.3, 0.2], torch.float64),
        "w2": _t([1.0, -0.5, 0.7], torch.float64),
        "b2": torch.tensor(0.2, dtype=torch.float64),
    }
    return params, _t(rows, torch.float64), _t(targets, torch.float64)


def _batch_grads(params, X, t):
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    h = torch.relu(X @ leaves["W1"].T + leaves["b1"])
    o = h @ leaves["w2"] + leaves["b2"]
    ((o - t) ** 2 / 2).mean().backward()
    return {k: v.grad for k, v in leaves.items()}


def _grads_without_relu_mask(params, X, t):
    z = X @ params["W1"].T + params["b1"]
    o = torch.relu(z) @ params["w2"] + params["b2"]
    g_z = ((o - t) / len(t))[:, None] * params["w2"]  # 漏乘 1[z > 0]
    return g_z.T @ X


batch_backward = Checker(
    "batch_backward",
    "2-3-1 网络在一批样本上的梯度（损失是平方损失的平均）",
    ("params", "X", "t"),
    [
        Case(
            "one_sample",
            "一个样本（就是本章的例子）",
            lambda: _backprop_args([[1.0, 2.0]], [1.0]),
            _batch_grads,
            "按本章的公式一行一行往回算：∂L/∂o = o − t，∂L/∂h = ∂L/∂o · w2，"
            "∂L/∂z = ∂L/∂h ⊙ 1[z > 0]，∂L/∂W1 = (∂L/∂z)ᵀ X。返回的字典要有 "
            "W1、b1、w2、b2 四项，形状与参数相同。",
        ),
        Case(
            "batch",
            "4 个样本的一批",
            lambda: _backprop_args(
                [[1.0, 2.0], [-1.0, 0.5], [0.3, -2.0], [2.0, 1.0]],
                [1.0, -1.0, 0.5, 2.0],
            ),
            _batch_grads,
            "一批 B 个样本时每行一个样本："
            "G_z 的形状是 (B, 3)，∂L/∂W1 = G_zᵀ X / B；"
            "偏置的梯度要沿批量那一维求和（再除以 B），形状仍是 (3,)。",
        ),
        Case(
            "dead_unit",
            "有一个隐藏单元对所有样本都是关着的",
            lambda: _backprop_args([[2.0, 1.0], [1.0, 1.5]], [0.0, 3.0]),
            _batch_grads,
            "z ≤ 0 的单元，ReLU 的导数是 0：它那一行的梯度应当是 0。",
        ),
    ],
    compare=dict_of(close(atol=1e-8, rtol=1e-6)),
    mistakes=[
        Mistake(
            "sum_not_mean",
            lambda got, want, args: (
                _near(got["W1"], want["W1"] * len(args[2]), atol=1e-8)
                and len(args[2]) > 1
            ),
            "损失是一批样本损失的平均：每个梯度都要除以批量大小 B。",
        ),
        Mistake(
            "no_relu_mask",
            lambda got, want, args: _near(
                got["W1"], _grads_without_relu_mask(*args), atol=1e-8
            ),
            "穿过 ReLU 时要乘它的导数 1[z > 0]：关着的单元不传梯度。",
        ),
    ],
)


# ---------- 第 4 章 激活函数与梯度：Xavier 初始化 ----------


def _xavier_bound(fan_in: int, fan_out: int) -> float:
    return math.sqrt(6 / (fan_in + fan_out))


def _xavier_shape(got, want, args) -> Problem | None:
    fan_in, fan_out, _ = args
    expected = torch.empty(fan_out, fan_in)
    return tensor_problem(got, expected)


def _xavier_scale(got, want, args) -> Problem | None:
    problem = _xavier_shape(got, want, args)
    if problem is not None:
        return problem
    bound = _xavier_bound(*args[:2])
    if got.abs().max() > bound * (1 + 1e-6):
        return Problem(
            "value",
            f"有的权重超出了 [−{bound:.4f}, {bound:.4f}]",
            show(got),
        )
    std, want_std = got.std().item(), bound / math.sqrt(3)
    if abs(std / want_std - 1) > 0.05:
        return Problem(
            "value",
            f"权重的标准差是 {std:.4f}，应约为 {want_std:.4f}",
            f"标准差 {std:.4f} 的张量，形状 {tuple(got.shape)}",
        )
    if got.abs().max() < 0.9 * bound:
        return Problem(
            "value",
            f"权重最大只到 {got.abs().max().item():.4f}，没有用满整个区间",
            show(got),
        )
    return None


def _xavier_generator(got, want, args) -> Problem | None:
    problem = _xavier_scale(got, want, args)
    if problem is not None:
        return problem
    untouched = torch.Generator().manual_seed(7).get_state()
    if torch.equal(args[2].get_state(), untouched):
        return Problem(
            "value",
            "传入的 generator 没有被用过：随机数来自全局的随机数发生器，"
            "同一个种子不能复现同样的权重",
            show(got),
        )
    return None


def _ones_seed(fan_in, fan_out, seed):
    return fan_in, fan_out, torch.Generator().manual_seed(seed)


xavier_uniform = Checker(
    "xavier_uniform",
    "Xavier 均匀初始化：形状 (fan_out, fan_in)，取自 U(−a, a)，"
    "a = √(6 / (fan_in + fan_out))",
    ("fan_in", "fan_out", "generator"),
    [
        Case(
            "shape",
            "形状与 dtype（fan_in = 3，fan_out = 2）",
            lambda: _ones_seed(3, 2, 0),
            None,
            "返回 float32 张量，形状与 nn.Line"
            "ar(fan_in, fan_out).weight 相同："
            "(fan_out, fan_in)。",
            _xavier_shape,
        ),
        Case(
            "scale",
            "尺度（fan_in = 300，fan_out = 200）",
            lambda: _ones_seed(300, 200, 1),
            None,
            "Xavier 让方差等于 2 / (fan_in + fan_out)；"
            "均匀分布 U(−a, a) 的方差是 "
            "a²/3，由此解出 a。注意分母里 fan_in 与 fan_out 都有。",
            _xavier_scale,
        ),
        Case(
            "generator",
            "用传入的 generator 抽随机数",
            lambda: _ones_seed(20, 30, 7),
            None,
            "把 generator 传给抽随机数的函数，"
            "如 torch.rand(..., generator=generator)，"
            "这样同一个种子总得到同样的权重。",
            _xavier_generator,
        ),
    ],
    mistakes=[
        Mistake(
            "normal",
            lambda got, want, args: (
                bool(got.abs().max() > _xavier_bound(*args[:2]))
                and abs(
                    got.std().item() * math.sqrt(3) / _xavier_bound(*args[:2])
                    - 1
                )
                < 0.05
            ),
            "方差对了，但分布不对：题目要的是"
            "均匀分布 U(−a, a)，不是正态分布。",
        ),
        Mistake(
            "fan_in_only",
            lambda got, want, args: (
                abs(got.std().item() * math.sqrt(args[0]) - 1) < 0.05
                or abs(got.std().item() * math.sqrt(args[0] / 2) - 1) < 0.05
            ),
            "你只用了 fan_in（那是 LeCun 或 He 初"
            "始化）；Xavier 取前向与反向的折中，"
            "分母是 fan_in + fan_out。",
        ),
    ],
)


# ---------- 第 5 章 Softmax ----------


def _softmax(logits):
    return torch.softmax(logits, dim=-1)


stable_softmax = Checker(
    "stable_softmax",
    "数值稳定的 softmax：沿最后一维，每一行（一个样本）归一化",
    ("logits",),
    [
        Case(
            "basic",
            "两行普通的 logits",
            lambda: (_t([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]),),
            _softmax,
            "每一行各自做 softmax：exp 之后除以这一行的和，每行加起来等于 1。",
        ),
        Case(
            "batch_of_one",
            "只有一个样本的一批",
            lambda: (_t([[2.0, -1.0, 0.0, 1.0]]),),
            _softmax,
            "形状 (1, C) 的输入，结果也是 (1, C)，这一行加起来等于 1。",
        ),
        Case(
            "huge_logits",
            "很大的 logits",
            lambda: (_t([[1000.0, 999.0, 998.0]]),),
            _softmax,
            "exp(1000) 在 float32 里上溢成 inf，inf / inf 得到 nan。"
            "softmax 对同一行加减同一个常数不变："
            "先减去这一行的最大值再取 exp。",
        ),
        Case(
            "rows_far_apart",
            "两行的量级差得很远",
            lambda: (
                _t([[1000.0, 0.0, -1000.0], [-1000.0, -1001.0, -999.0]]),
            ),
            _softmax,
            "每一行减去它自己的最大值（max(dim=-1, keepdim=True)），"
            "不是整个张量的最大值：否则第二行全部下溢成 0，0 / 0 得到 nan。",
        ),
    ],
    compare=close(atol=1e-6, rtol=1e-4),
    mistakes=[
        Mistake(
            "wrong_dim",
            lambda got, want, args: _near(got, torch.softmax(args[0], dim=0)),
            "你沿第 0 维（样本那一维）做了归一化；每个样本是一行，"
            "要沿最后一维 dim=-1 求最大值与和。",
        ),
    ],
)


def _ce_want(logits, labels):
    return F.cross_entropy(logits, labels)


cross_entropy = Checker(
    "cross_entropy",
    "由 logits 算平均交叉熵损失（与 F.cross_entropy 相同）",
    ("logits", "labels"),
    [
        Case(
            "basic",
            "3 个样本、4 个类别",
            lambda: (
                _t(
                    [
                        [1.0, 2.0, 0.5, -1.0],
                        [0.0, 0.0, 0.0, 0.0],
                        [3.0, -2.0, 1.0, 0.5],
                    ]
                ),
                torch.tensor([1, 3, 0]),
            ),
            _ce_want,
            "每个样本的损失是 −log softmax(o)_"
            "y = LSE(o) − o_y，再对样本取平均。",
        ),
        Case(
            "batch_of_one",
            "只有一个样本的一批",
            lambda: (_t([[0.5, 1.5, -0.5]]), torch.tensor([2])),
            _ce_want,
            "一个样本时，损失就是这一个样本的 −"
            "log p_y；结果是一个数（0 维张量）。",
        ),
        Case(
            "huge_logits",
            "很大的 logits、很有把握地错",
            lambda: (_t([[1000.0, 0.0, -1000.0]]), torch.tensor([2])),
            _ce_want,
            "先 softmax 再取 log 会上溢或下溢（log 0 = −inf）。"
            "直接算 log-softmax：log p_y = o_y"
            " − LSE(o)，LSE 先减去最大值再求。",
        ),
    ],
    compare=number(atol=1e-4, rtol=1e-5),
    mistakes=[
        Mistake(
            "sum_not_mean",
            lambda got, want, args: (
                len(args[1]) > 1
                and math.isclose(
                    float(got), float(want) * len(args[1]), rel_tol=1e-4
                )
            ),
            "损失要对样本取平均，不是求和。",
        ),
        Mistake(
            "probabilities",
            lambda got, want, args: math.isclose(
                float(got),
                float(F.cross_entropy(torch.softmax(args[0], -1), args[1])),
                rel_tol=1e-4,
            ),
            "交叉熵要的是 logits：你先做了一次 softmax，再按交叉熵算，"
            "等于 softmax 了两次。",
        ),
        Mistake(
            "sign",
            lambda got, want, args: math.isclose(
                float(got), -float(want), rel_tol=1e-4
            ),
            "交叉熵是 −log p_y：前面的负号不能少，损失应当是非负的。",
        ),
    ],
)


# ---------- 第 6 章 SGD 与 Adam ----------


def _momentum(theta, grad, velocity, lr, mu):
    new_velocity = mu * velocity + grad
    return theta - lr * new_velocity, new_velocity


def _momentum_args(velocity, lr, mu) -> tuple:
    return (
        _t([1.0, -2.0, 0.5]),
        _t([0.2, 0.4, -1.0]),
        _t(velocity),
        lr,
        mu,
    )


momentum_step = Checker(
    "momentum_step",
    "一步带动量的 SGD：v ← μv + g，θ ← θ − ηv；返回 (新的 θ, 新的 v)",
    ("theta", "grad", "velocity", "lr", "mu"),
    [
        Case(
            "first_step",
            "第一步（速度从 0 开始）",
            lambda: _momentum_args([0.0, 0.0, 0.0], 0.1, 0.9),
            _momentum,
            "先更新速度 v ← μv + g，再用新的速度更新参数 θ ← θ − ηv，"
            "把两者都返回。",
        ),
        Case(
            "with_velocity",
            "已经有速度的一步",
            lambda: _momentum_args([1.0, -1.0, 2.0], 0.1, 0.9),
            _momentum,
            "参数沿累积的速度走：θ 减去的是 η 乘"
            "以新的 v，不是 η 乘以这一步的梯度。",
        ),
        Case(
            "lr_zero",
            "学习率为 0",
            lambda: _momentum_args([1.0, -1.0, 2.0], 0.0, 0.9),
            _momentum,
            "学习率为 0 时参数不动，但速度照样累积梯度：v ← μv + g。",
        ),
        Case(
            "mu_zero",
            "μ = 0（就是普通的 SGD）",
            lambda: _momentum_args([1.0, -1.0, 2.0], 0.5, 0.0),
            _momentum,
            "μ = 0 时旧的速度全部忘掉，"
            "v 就是这一步的梯度，更新与普通 SGD 相同。",
        ),
    ],
    compare=tuple_of(close(), close()),
    mistakes=[
        Mistake(
            "grad_not_velocity",
            lambda got, want, args: (
                _near(got[0], args[0] - args[3] * args[1])
                and not _near(want[0], args[0] - args[3] * args[1])
            ),
            "参数更新用的是速度 v（累积的梯度），不是这一步的梯度 g。",
        ),
        Mistake(
            "lr_in_velocity",
            lambda got, want, args: _near(
                got[1], args[4] * args[2] + args[3] * args[1]
            ),
            "本书（和 PyTorch）的写法是 v ← μv + g："
            "学习率只在更新参数时乘上。",
        ),
    ],
)


def _adam(theta, grad, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return theta - lr * m_hat / (v_hat.sqrt() + eps), m, v


def _adam_args(m, v, t, grad=(0.5, -2.0, 0.01)) -> tuple:
    return (
        _t([1.0, -1.0, 0.0]),
        _t(list(grad)),
        _t(m),
        _t(v),
        t,
        0.1,
        0.9,
        0.999,
        1e-8,
    )


adam_step = Checker(
    "adam_step",
    "一步 Adam（含偏差修正）；返回 (新的 θ, 新的 m, 新的 v)",
    ("theta", "grad", "m", "v", "t", "lr", "beta1", "beta2", "eps"),
    [
        Case(
            "first_step",
            "第一步（t = 1，m、v 从 0 开始）",
            lambda: _adam_args([0.0] * 3, [0.0] * 3, 1),
            _adam,
            "先更新 m 与 v，再做偏差修正 m̂ = m"
            " / (1 − β₁ᵗ)、v̂ = v / (1 − β₂ᵗ)，"
            "最后 θ ← θ − η m̂ / (√v̂ + ε)。第一步每个参数大约移动 η。",
        ),
        Case(
            "later_step",
            "第 10 步（m、v 不为 0）",
            lambda: _adam_args([0.2, -0.5, 0.0], [0.05, 0.3, 1e-4], 10),
            _adam,
            "t 是这一步的步数（从 1 数起）：偏差修正用 β 的 t 次方。",
        ),
        Case(
            "zero_grad",
            "梯度为 0 的第一步",
            lambda: _adam_args([0.0] * 3, [0.0] * 3, 1, grad=(0.0, 0.0, 0.0)),
            _adam,
            "梯度为 0 时 m̂ = v̂ = 0，ε 让分母不为 0，"
            "参数不动。ε 加在 √v̂ 的外面。",
        ),
    ],
    compare=tuple_of(close(atol=1e-6), close(atol=1e-7), close(atol=1e-9)),
    mistakes=[
        Mistake(
            "no_bias_correction",
            lambda got, want, args: _near(
                got[0],
                args[0] - args[5] * want[1] / (want[2].sqrt() + args[8]),
                atol=1e-6,
            ),
            "少了偏差修正：m、v 从 0 开始，前几步偏向 0，要除以 1 − βᵗ "
            "（本章“梯度下降家族”一节与练习）。",
        ),
    ],
)


# ---------- 第 7 章 泛化与模型选择 ----------


def _dropout_args(shape, p, training, seed=0) -> tuple:
    x = torch.linspace(0.5, 2.0, math.prod(shape)).reshape(shape)
    return x, p, training, torch.Generator().manual_seed(seed)


def _dropout_eval(got, want, args) -> Problem | None:
    return close(atol=0, rtol=0)(got, args[0], args)


def _dropout_train(got, want, args) -> Problem | None:
    x, p = args[0], args[1]
    problem = tensor_problem(got, x)
    if problem is not None:
        return problem
    kept = got != 0
    ratio = got[kept] / x[kept]
    if not torch.allclose(
        ratio, torch.full_like(ratio, 1 / (1 - p)), rtol=1e-5
    ):
        return Problem(
            "value",
            f"保留下来的元素应是原来的 1/(1 − p) = {1 / (1 - p):.4g} 倍",
            show(got),
        )
    dropped = 1 - kept.float().mean().item()
    if abs(dropped - p) > 0.02:
        return Problem(
            "value",
            f"被置零的比例是 {dropped:.3f}，应约为 p = {p}",
            show(got),
        )
    untouched = torch.Generator().manual_seed(args_seed(args)).get_state()
    if torch.equal(args[3].get_state(), untouched):
        return Problem(
            "value",
            "传入的 generator 没有被用过：同一个种子不能复现同样的丢弃",
            show(got),
        )
    return None


def args_seed(args) -> int:
    return args[3].initial_seed()


dropout = Checker(
    "dropout",
    "暂退法（inverted dropout）：训练时以概率"
    " p 置零、其余乘 1/(1 − p)；评估时原样返回",
    ("x", "p", "training", "generator"),
    [
        Case(
            "eval_mode",
            "评估模式（training=False）",
            lambda: _dropout_args((4, 5), 0.5, False),
            None,
            "评估时（model.eval()）不丢弃也不缩放：原样返回 x。",
            _dropout_eval,
        ),
        Case(
            "p_zero",
            "p = 0",
            lambda: _dropout_args((4, 5), 0.0, True),
            None,
            "p 是“丢弃”的概率：p = 0 时什么都不丢，乘 1/(1 − 0) 也不变。",
            _dropout_eval,
        ),
        Case(
            "train_mode",
            "训练模式（200×500 个元素，p = 0.2）",
            lambda: _dropout_args((200, 500), 0.2, True, seed=3),
            None,
            "每个元素以概率 p 置零（如 torch.ran"
            "d(x.shape, generator=generator) < p "
            "的位置），保留下来的乘以 1/(1 − p)，让输出的期望与输入相同。"
            "要用传入的 generator 抽随机数。",
            _dropout_train,
        ),
    ],
    mistakes=[
        Mistake(
            "no_rescale",
            lambda got, want, args: (
                args[2]
                and bool(torch.allclose(got[got != 0], args[0][got != 0]))
            ),
            "保留下来的元素要乘以 1/(1 − p)："
            "否则训练时输出的期望变成 (1 − p) 倍，"
            "和评估时对不上。",
        ),
        Mistake(
            "keep_probability",
            lambda got, want, args: (
                args[2]
                and abs((got == 0).float().mean().item() - (1 - args[1]))
                < 0.02
            ),
            "p 是丢弃的概率，不是保留的概率：约有 p 比例的元素应被置零。",
        ),
        Mistake(
            "drops_in_eval",
            lambda got, want, args: not args[2],
            "评估模式（training=False）下不能丢弃：预测要用完整的网络。",
        ),
    ],
)


def _select(results):
    return min(results, key=lambda k: results[k]["val"])


select_by_validation = Checker(
    "select_by_validation",
    "按验证误差挑出多项式的次数（测试集不参与挑选）",
    ("results",),
    [
        Case(
            "degrees",
            "五个次数的训练、验证、测试误差",
            lambda: (
                {
                    1: {"train": 0.40, "val": 0.45, "test": 0.44},
                    3: {"train": 0.10, "val": 0.14, "test": 0.16},
                    5: {"train": 0.08, "val": 0.12, "test": 0.13},
                    8: {"train": 0.05, "val": 0.15, "test": 0.11},
                    12: {"train": 0.01, "val": 0.90, "test": 0.85},
                },
            ),
            _select,
            "返回验证误差最小的那个次数（字典的键），只看 'val'。",
            exactly,
        ),
        Case(
            "first_is_best",
            "验证误差最小的是第一个",
            lambda: (
                {
                    2: {"train": 0.30, "val": 0.20, "test": 0.25},
                    4: {"train": 0.10, "val": 0.22, "test": 0.18},
                    6: {"train": 0.02, "val": 0.40, "test": 0.35},
                },
            ),
            _select,
            "遍历所有候选，记下验证误差最小的；返回次数本身，不是误差。",
            exactly,
        ),
    ],
    mistakes=[
        Mistake(
            "by_test",
            lambda got, want, args: (
                got == min(args[0], key=lambda k: args[0][k]["test"])
            ),
            "你按测试误差挑了：测试集只能在所有选择都做完之后用一次，"
            "用它挑选，报告的测试误差就偏乐观了。",
        ),
        Mistake(
            "by_train",
            lambda got, want, args: (
                got == min(args[0], key=lambda k: args[0][k]["train"])
            ),
            "你按训练误差挑了：训练误差随次数增大一路下降，总会挑出最复杂、"
            "过拟合最重的模型。",
        ),
    ],
)


# ---------- 第 8 章 宽度与深度 ----------


def _mlp_params(sizes):
    return sum((a + 1) * b for a, b in itertools.pairwise(sizes))


mlp_num_params = Checker(
    "mlp_num_params",
    "全连接网络的参数个数：sizes = [输入维数, 各隐藏层宽度…, 输出维数]",
    ("sizes",),
    [
        Case(
            "one_hidden",
            "一个隐藏层：[2, 100, 3]（螺旋数据一章的两层网络）",
            lambda: ([2, 100, 3],),
            _mlp_params,
            "相邻两层之间是一个 nn.Linear(a, b)：a × b 个权重加 b 个偏置。",
            exactly,
        ),
        Case(
            "no_hidden",
            "没有隐藏层：[2, 3]",
            lambda: ([2, 3],),
            _mlp_params,
            "只有输入和输出时就是一个线性层：2 × 3 个权重、3 个偏置。",
            exactly,
        ),
        Case(
            "deep",
            "三个隐藏层：[2, 16, 16, 16, 3]",
            lambda: ([2, 16, 16, 16, 3],),
            _mlp_params,
            "每一对相邻的层都算一次 a × b + b，再全部加起来。",
            exactly,
        ),
    ],
    mistakes=[
        Mistake(
            "no_bias",
            lambda got, want, args: (
                got
                == sum(
                    a * b
                    for a, b in zip(args[0][:-1], args[0][1:], strict=True)
                )
            ),
            "你只数了权重：每一层的每个输出单元还有一个偏置。",
        ),
        Mistake(
            "input_bias",
            lambda got, want, args: got == want + args[0][0],
            "输入层没有偏置：偏置属于每个线性层的输出单元。",
        ),
    ],
)


# ---------- 第 9 章 卷积与池化 ----------


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _conv_shape(h, w, kernel, padding, stride):
    (kh, kw), (ph, pw), (sh, sw) = _pair(kernel), _pair(padding), _pair(stride)
    return ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


conv_output_shape = Checker(
    "conv_output_shape",
    "二维卷积的输出高与宽：核、填充、步幅都是 (高方向, 宽方向)",
    ("h", "w", "kernel", "padding", "stride"),
    [
        Case(
            "no_padding",
            "5×5 输入、3×3 核、不填充、步幅 1",
            lambda: (5, 5, (3, 3), (0, 0), (1, 1)),
            _conv_shape,
            "一个方向上的输出长度是 ⌊(n + 2p − k"
            ") / s⌋ + 1：核在输入上能放几个位置。",
            exactly,
        ),
        Case(
            "padding",
            "5×5 输入、3×3 核、填充 1",
            lambda: (5, 5, (3, 3), (1, 1), (1, 1)),
            _conv_shape,
            "填充 p 在两边各补 p 圈，所以输入长度加的是 2p。",
            exactly,
        ),
        Case(
            "stride_floor",
            "8×8 输入、3×3 核、步幅 2（除不尽）",
            lambda: (8, 8, (3, 3), (0, 0), (2, 2)),
            _conv_shape,
            "除不尽时向下取整（用整数除法 //）；结果要是整数，不是小数。",
            exactly,
        ),
        Case(
            "non_square",
            "10×6 输入、5×3 的核、填充 (2, 0)、步幅 (1, 2)",
            lambda: (10, 6, (5, 3), (2, 0), (1, 2)),
            _conv_shape,
            "高和宽分开算：高用核、填充、步幅的第一个数，宽用第二个数。",
            exactly,
        ),
        Case(
            "alexnet",
            "AlexNet 的第一层：224×224、11×11 核、填充 2、步幅 4",
            lambda: (224, 224, (11, 11), (2, 2), (4, 4)),
            _conv_shape,
            "套用同一个公式：⌊(224 + 2·2 − 11) / 4⌋ + 1。",
            exactly,
        ),
    ],
    mistakes=[
        Mistake(
            "single_padding",
            lambda got, want, args: (
                tuple(got)
                == _conv_shape(
                    args[0] - _pair(args[3])[0],
                    args[1] - _pair(args[3])[1],
                    *args[2:],
                )
            ),
            "填充是两边各 p 圈：输入长度要加 2p，不是 p。",
        ),
        Mistake(
            "no_plus_one",
            lambda got, want, args: tuple(got) == (want[0] - 1, want[1] - 1),
            "少了最后的 + 1：核的第一个位置也要算上。",
        ),
        Mistake(
            "swapped",
            lambda got, want, args: (
                tuple(got)
                == _conv_shape(
                    args[0],
                    args[1],
                    _pair(args[2])[::-1],
                    _pair(args[3])[::-1],
                    _pair(args[4])[::-1],
                )
                and tuple(got) != want
            ),
            "高方向用核、填充、步幅的第一个数，宽方向用第二个数：你把两者弄反了。",
        ),
        Mistake(
            "true_division",
            lambda got, want, args: (
                isinstance(got, tuple | list)
                and any(isinstance(g, float) for g in got)
            ),
            "结果要是整数：用整数除法 //（向下取整），不要用 /。",
            ("type",),
        ),
    ],
)


# ---------- 第 10 章 AlexNet 与 LeNet ----------


def _conv_params(in_channels, out_channels, kernel_h, kernel_w):
    return out_channels * (in_channels * kernel_h * kernel_w + 1)


conv_params = Checker(
    "conv_params",
    "一个卷积层（带偏置）的参数个数",
    ("in_channels", "out_channels", "kernel_h", "kernel_w"),
    [
        Case(
            "lenet_conv2",
            "LeNet 的第二个卷积层：6 → 16 通道、5×5 核",
            lambda: (6, 16, 5, 5),
            _conv_params,
            "每个输出通道有一个 in_channels × kh × kw 的核，外加一个偏置。",
            exactly,
        ),
        Case(
            "one_by_one",
            "1×1 卷积：64 → 32 通道",
            lambda: (64, 32, 1, 1),
            _conv_params,
            "1×1 卷积的每个核仍然连着所有输入通道："
            "in_channels 个权重加 1 个偏置。",
            exactly,
        ),
        Case(
            "non_square",
            "3 → 8 通道、3×5 的核",
            lambda: (3, 8, 3, 5),
            _conv_params,
            "核不是正方形时，权重个数是 kh × kw，不是 kh²。",
            exactly,
        ),
    ],
    mistakes=[
        Mistake(
            "no_in_channels",
            lambda got, want, args: got == args[1] * (args[2] * args[3] + 1),
            "核的深度等于输入通道数：每个输出通道"
            "的核有 in_channels × kh × kw 个权重。",
        ),
        Mistake(
            "no_bias",
            lambda got, want, args: got == want - args[1],
            "每个输出通道还有一个偏置。",
        ),
    ],
)
