"""激活函数、它们的导数，以及梯度消失与爆炸的实验。对应章节：book/activations.md"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from dlbasics.validation import (
    MAX_DEPTH,
    MAX_WIDTH,
    PYTHON_STEP,
    check_count,
    check_float,
    check_generator,
    check_instance,
    check_int,
    check_labels,
    check_memory,
    check_positive_float,
    check_positive_int,
    check_seeds,
    check_tensor,
    check_work,
    validated_by,
)

LEAKY_SLOPE = 0.01  # Leaky ReLU 在负半轴的斜率（PyTorch 的默认值）

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_SLOPE),
    "gelu": F.gelu,
}

# 图例与正文里用的名字（代码里的键是小写的标识符）
ACTIVATION_LABELS = {
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "ReLU",
    "leaky_relu": "Leaky ReLU",
    "gelu": "GELU",
}


def _check_name(name: str, param: str = "name") -> None:
    choices = "、".join(ACTIVATIONS)
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"{param} 应是激活函数的名字（{choices}），收到 {name!r}"
        )


def _check_derivative(name, x):
    _check_name(name)
    check_tensor("x", x, ndim=tuple(range(0, 9)), floating=True)


@validated_by(_check_derivative)
def derivative(name: str, x: torch.Tensor) -> torch.Tensor:
    """激活函数导数的解析式（逐元素）。

    sigmoid: σ(x)(1 - σ(x))；tanh: 1 - tanh²(x)；
    relu: x > 0 时为 1，否则为 0（在 0 处取 0，与 PyTorch 一致）；
    leaky_relu: x > 0 时为 1，否则为斜率；
    gelu: Φ(x) + x φ(x)，Φ、φ 是标准正态分布的分布函数与密度。
    x 必须是浮点张量（整数张量上 Leaky ReLU 的斜率 0.01 会被截成 0）。
    """
    if name == "sigmoid":
        s = torch.sigmoid(x)
        return s * (1 - s)
    if name == "tanh":
        return 1 - torch.tanh(x) ** 2
    if name == "relu":
        return (x > 0).to(x.dtype)
    if name == "leaky_relu":
        slope = torch.full_like(x, LEAKY_SLOPE)
        return torch.where(x > 0, torch.ones_like(x), slope)
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    pdf = torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    return cdf + x * pdf


def autograd_derivative(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """用自动求导算逐元素函数 fn 在每个 x 处的导数。"""
    if not callable(fn):
        raise TypeError(f"fn 应是函数，收到 {fn!r}")
    check_tensor("x", x, ndim=tuple(range(0, 9)), floating=True)
    x = x.detach().clone().requires_grad_(True)
    fn(x).sum().backward()  # 各元素互不影响，求和后的梯度就是逐点导数
    return x.grad


def _check_deep_mlp(
    self, depth, width, *, activation, in_features, out_features, residual
):
    depth = check_positive_int("depth", depth)
    width = check_positive_int("width", width)
    in_features = check_positive_int("in_features", in_features)
    out_features = check_positive_int("out_features", out_features)
    params = (  # 第一层 in×width，其余 depth-1 层 width²，输出层 width×out
        in_features * width
        + (depth - 1) * width * width
        + depth * width
        + (width + 1) * out_features
    )
    check_memory("depth × width²", params, bytes_per_element=5)  # 留 25% 余量
    # 每层是一个新建的 nn.Linear（约等于十次 Python 循环），再逐个初始化参数
    check_work("depth", depth, depth * 10 * PYTHON_STEP + params)
    _check_name(activation, "activation")


class DeepMLP(nn.Module):
    """depth 个宽度相同的隐藏层，再接一个线性输出层。

    每个隐藏层计算 h ← act(W h + b)；``residual=True`` 时改为
    h ← h + act(W h + b)（第一层除外，因为输入维度不同）。
    """

    @validated_by(_check_deep_mlp)
    def __init__(
        self,
        depth: int,
        width: int,
        *,
        activation: str = "relu",
        in_features: int = 2,
        out_features: int = 3,
        residual: bool = False,
    ):
        super().__init__()
        sizes = [in_features] + [width] * depth
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in pairwise(sizes)
        )
        self.output = nn.Linear(width, out_features)
        self.activation = activation
        self.residual = residual

    def hidden_states(
        self, x: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """逐层返回 (预激活 z = W h + b, 该层之后的表示 h)，形状 (N, width)。

        最后一项的 h 就是送进输出层的特征。
        """
        act = ACTIVATIONS[self.activation]
        states = []
        for i, layer in enumerate(self.hidden):
            z = layer(x)
            h = act(z)
            x = x + h if self.residual and i > 0 else h
            states.append((z, x))
        return states

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden_states(x)[-1][1])


INIT_SCHEMES = ("pytorch", "xavier", "he")


def _check_init_weights(model, scheme, *, generator, gain, bias_std):
    check_instance("model", model, DeepMLP)
    if scheme not in INIT_SCHEMES:
        raise ValueError(
            f"scheme（初始化方案）只能是 {'、'.join(INIT_SCHEMES)}，"
            f"收到 {scheme!r}"
        )
    check_generator("generator", generator)
    check_positive_float("gain", gain)
    check_float("bias_std", bias_std, low=0.0)


@validated_by(_check_init_weights)
def init_weights(
    model: DeepMLP,
    scheme: str,
    *,
    generator: torch.Generator,
    gain: float = 1.0,
    bias_std: float = 0.0,
) -> DeepMLP:
    """按指定方案重新初始化所有线性层，原地修改并返回模型。

    - ``"pytorch"``：与 ``nn.Linear`` 的默认初始化完全相同：权重与偏置都服从
      U(-1/√n, 1/√n)，权重方差 1/(3n)；同一个种子得到与 PyTorch 相同的数；
    - ``"xavier"``：权重 N(0, 2/(n_in + n_out))，Glorot 与 Bengio（2010）；
    - ``"he"``：权重 N(0, 2/n_in)，He 等（2015），为 ReLU 设计。

    n 是该层的输入维度（fan_in）。xavier 与 he 的偏置服从 N(0, bias_std²)
    （默认 0，即全为 0）。``gain`` 把权重的标准差（或区间）再乘一个倍数，
    用来制造不稳定的初始化。
    """
    for layer in [*model.hidden, model.output]:
        fan_out, fan_in = layer.weight.shape
        if scheme == "pytorch":
            # nn.Linear.reset_parameters 的做法：kaiming_uniform_(a=√5)
            nn.init.kaiming_uniform_(
                layer.weight, a=math.sqrt(5), generator=generator
            )
            if gain != 1.0:
                layer.weight.data.mul_(gain)
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
            continue
        if scheme == "xavier":
            std = gain * math.sqrt(2 / (fan_in + fan_out))
        else:
            std = gain * math.sqrt(2 / fan_in)
        nn.init.normal_(layer.weight, 0.0, std, generator=generator)
        if bias_std > 0:
            nn.init.normal_(layer.bias, 0.0, bias_std, generator=generator)
        else:
            nn.init.zeros_(layer.bias)
    return model


def _check_layer_grad_norms(model, X, y):
    check_instance("model", model, DeepMLP)
    check_tensor("X", X, ndim=2, floating=True)
    if X.shape[1] != model.hidden[0].in_features:
        raise ValueError(
            f"X 应有 {model.hidden[0].in_features} 列（模型的输入维度），"
            f"收到形状 {tuple(X.shape)}"
        )
    check_labels("y", y, n=X.shape[0], num_classes=model.output.out_features)


@validated_by(_check_layer_grad_norms)
def layer_grad_norms(
    model: DeepMLP, X: torch.Tensor, y: torch.Tensor
) -> list[float]:
    """一次前向与反向传播后，每个隐藏层权重梯度的范数（第 1 个最靠近输入）。"""
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    return [layer.weight.grad.norm().item() for layer in model.hidden]


def _check_matrix_product_norms(num_matrices, size, std, *, generator):
    check_positive_int("num_matrices", num_matrices)
    size = check_positive_int("size", size)
    check_positive_float("std", std)
    check_generator("generator", generator)
    # float64 的 M、N、M @ N，矩阵乘法另有约两份的缓冲：实测峰值约 5 个矩阵
    check_memory("size²", size * size * 6, bytes_per_element=8)
    work = num_matrices * (size**3 + PYTHON_STEP)
    check_work("num_matrices × size³", num_matrices, work)


@validated_by(_check_matrix_product_norms)
def matrix_product_norms(
    num_matrices: int,
    size: int = 4,
    std: float = 1.0,
    *,
    generator: torch.Generator,
) -> torch.Tensor:
    """连乘 num_matrices 个元素服从 N(0, std²) 的 size×size 随机矩阵。

    从一个随机矩阵 M 出发，每步 M ← M @ N（N 是新的随机矩阵），
    返回每一步之后 M 的 Frobenius 范数，形状 (num_matrices + 1,)。
    用 float64 计算：在 float32 里，矩阵元素还没溢出，
    求范数时的平方和就先溢出成 inf 了。
    """

    def draw():
        return torch.normal(
            0.0, std, (size, size), generator=generator, dtype=torch.float64
        )

    M = draw()
    norms = [M.norm()]
    for _ in range(num_matrices):
        M = M @ draw()
        norms.append(M.norm())
    return torch.stack(norms)


# ---------- 本章的实验：深层网络中各层的梯度 ----------


def _check_gradient_config(cfg) -> None:
    """检查 ``GradientConfig`` 的每个字段；列表规范成元组。"""
    check_count("depth", cfg.depth, maximum=MAX_DEPTH)
    check_count("width", cfg.width, maximum=MAX_WIDTH)
    check_count("n_per_class", cfg.n_per_class)
    check_int("data_seed", cfg.data_seed, minimum=0)
    object.__setattr__(cfg, "seeds", check_seeds("seeds", cfg.seeds))


@dataclass(frozen=True)
class GradientConfig:
    """“梯度消失”实验的设置：网络形状、数据与重复的种子。"""

    depth: int = 20
    width: int = 64
    n_per_class: int = 100  # 螺旋数据每类的点数
    data_seed: int = 12345
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # 初始化的种子

    def __post_init__(self) -> None:
        _check_gradient_config(self)


# 标签: (激活函数, 初始化方案, 是否残差)。标签就是图例里的名字
GRADIENT_SETTINGS: dict[str, tuple[str, str, bool]] = {
    "sigmoid，PyTorch 默认初始化": ("sigmoid", "pytorch", False),
    "ReLU，PyTorch 默认初始化": ("relu", "pytorch", False),
    "ReLU，He 初始化": ("relu", "he", False),
    "tanh，Xavier 初始化": ("tanh", "xavier", False),
    "sigmoid + 残差连接": ("sigmoid", "pytorch", True),
}


def _check_gradient_norms_by_setting(cfg):
    check_instance("cfg", cfg, GradientConfig)


@validated_by(_check_gradient_norms_by_setting)
def gradient_norms_by_setting(
    cfg: GradientConfig = GradientConfig(),
) -> dict[str, torch.Tensor]:
    """每种设置、每个种子下各隐藏层权重梯度的范数。

    对螺旋数据做一次前向与反向传播。返回 ``{标签: 张量}``，张量形状
    (种子数, depth)，第 0 列是最靠近输入的层。
    """
    X, y = _gradient_data(cfg)
    return {
        label: _norms_over_seeds(cfg, X, y, act, scheme, residual=residual)
        for label, (act, scheme, residual) in GRADIENT_SETTINGS.items()
    }


def _norms_over_seeds(
    cfg: GradientConfig,
    X: torch.Tensor,
    y: torch.Tensor,
    activation: str,
    scheme: str,
    *,
    residual: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """一种设置下每个种子的各层梯度范数，形状 (种子数, depth)。

    每个种子：新建网络，按 ``scheme``（权重再乘 ``gain``）初始化，
    在 (X, y) 上做一次前向与反向传播。
    """
    runs = []
    for seed in cfg.seeds:
        model = DeepMLP(
            cfg.depth, cfg.width, activation=activation, residual=residual
        )
        init_weights(
            model,
            scheme,
            generator=torch.Generator().manual_seed(seed),
            gain=gain,
        )
        runs.append(layer_grad_norms(model, X, y))
    return torch.tensor(runs, dtype=torch.float64)


def _gradient_data(cfg: GradientConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """梯度实验用的螺旋数据（固定种子）。"""
    from dlbasics.spiral import make_spiral

    return make_spiral(
        cfg.n_per_class,
        generator=torch.Generator().manual_seed(cfg.data_seed),
    )


def gradient_norms_by_gain(
    gains: tuple[float, ...],
    cfg: GradientConfig = GradientConfig(),
) -> torch.Tensor:
    """ReLU 网络用 He 初始化、权重标准差再乘 ``gain`` 时，各层权重梯度的范数。

    对每个 gain、每个种子做一次前向与反向传播。返回形状
    (len(gains), 种子数, depth) 的张量，最后一维第 0 个是最靠近输入的层。
    gain = 1 就是 He 初始化；按方差推导，梯度每往回穿过一层，范数约乘 gain。
    """
    check_instance("cfg", cfg, GradientConfig)
    if not isinstance(gains, tuple) or not gains:
        raise ValueError("gains 应是非空的元组，如 (0.8, 1.0, 1.25)")
    for gain in gains:
        check_positive_float("gains 的每一项", gain)
    X, y = _gradient_data(cfg)
    return torch.stack(
        [_norms_over_seeds(cfg, X, y, "relu", "he", gain=g) for g in gains]
    )


def first_to_last_ratio(norms: torch.Tensor) -> torch.Tensor:
    """每个种子下第 1 层与最后一层梯度范数之比，形状 (种子数,)。"""
    check_tensor("norms", norms, ndim=2, floating=True)
    return norms[:, 0] / norms[:, -1]


def _check_geometric_mean(values):
    check_tensor(
        "values", values, ndim=tuple(range(1, 9)), floating=True, finite=True
    )
    if (values <= 0).any():
        raise ValueError("values：几何平均只对正数有定义")


@validated_by(_check_geometric_mean)
def geometric_mean(values: torch.Tensor) -> float:
    """几何平均 exp(mean(log x))：比值跨好几个数量级时比算术平均有意义。"""
    return values.log().mean().exp().item()


def _check_preactivation_rms(
    activation, scheme, *, depth, width, n_samples, generator
):
    check_generator("generator", generator)
    n_samples = check_positive_int("n_samples", n_samples)
    depth = check_positive_int("depth", depth)
    width = check_positive_int("width", width)
    # 实测峰值：每层的 z 与 h 都留着，再加输入与一个临时张量
    check_memory("n_samples × width", n_samples * width * (2 * depth + 3))
    check_work("n_samples", n_samples, n_samples * depth * width * width)


@validated_by(_check_preactivation_rms)
def preactivation_rms(
    activation: str,
    scheme: str,
    *,
    depth: int,
    width: int,
    n_samples: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """信号逐层前传时，每层预激活 z 的均方根 √E[z²]，形状 (depth,)。

    网络是 ``DeepMLP(depth, width, in_features=width)``，按 ``scheme``
    初始化；输入 x ~ N(0, I)，所以输入的均方根是 1。均方根逐层不变，
    说明这一层的初始化“保持了尺度”。
    """
    model = DeepMLP(
        depth, width, activation=activation, in_features=width, out_features=1
    )
    init_weights(model, scheme, generator=generator)
    x = torch.randn(n_samples, width, generator=generator)
    with torch.no_grad():
        states = model.hidden_states(x)
    return torch.stack([z.pow(2).mean().sqrt() for z, _ in states])
