"""LeNet、AlexNet 与 8×8 手写数字上的小实验。对应章节：book/cnn.md"""

from __future__ import annotations

import copy
import math
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch
from torch import nn

from dlbasics.plotting import CLASS_COLORS, new_axes
from dlbasics.validation import (
    PYTHON_STEP,
    check_count,
    check_float,
    check_floats,
    check_generator,
    check_instance,
    check_int,
    check_labels,
    check_memory,
    check_pair,
    check_positive_float,
    check_positive_int,
    check_seeds,
    check_tensor,
    check_work,
    validated_by,
)


def lenet() -> nn.Sequential:
    """LeNet-5（d2l 6.6 节的版本），输入 (N, 1, 28, 28)，输出 10 类的 logits。

    两个“5×5 卷积 + sigmoid + 2×2 平均池化”块，再接三个全连接层。
    """
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10),
    )  # fmt: skip


def _check_alexnet(in_channels, num_classes, *, groups, conv1_padding, device):
    check_positive_int("in_channels", in_channels)
    check_positive_int("num_classes", num_classes)
    if groups not in (1, 2):
        raise ValueError(f"groups 只能是 1 或 2，收到 {groups!r}")
    check_int("conv1_padding", conv1_padding, minimum=0)


@validated_by(_check_alexnet)
def alexnet(
    in_channels: int = 3,
    num_classes: int = 1000,
    *,
    groups: int = 1,
    conv1_padding: int = 2,
    device: torch.device | str | None = None,
) -> nn.Sequential:
    """AlexNet（Krizhevsky 等，2012），输入 (N, in_channels, 224, 224)。

    五个卷积层（ReLU，其中三处接 3×3、步幅 2 的重叠最大池化）、
    两个带 dropout 的 4096 维全连接隐藏层和一个输出层。
    ``groups=2`` 复现论文在两块 GPU 上的分组连接（第 2、4、5 个卷积层）；
    ``conv1_padding=2`` 使 224×224 的输入得到论文中 55×55 的特征图。
    局部响应归一化（LRN）没有参数，这里省略。
    ``device="meta"`` 时只记录形状、不分配内存也不初始化，用来数参数和
    推算各层形状（六千多万个参数的初始化要花零点几秒）。
    """
    side = (224 + 2 * conv1_padding - 11) // 4 + 1  # 第一个卷积层的输出边长
    for _ in range(3):  # 三次 3×3、步幅 2 的池化
        side = (side - 3) // 2 + 1
    place = nullcontext() if device is None else torch.device(device)
    with place:
        return nn.Sequential(
            nn.Conv2d(in_channels, 96, 11, stride=4, padding=conv1_padding),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(96, 256, 5, padding=2, groups=groups), nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1, groups=groups), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, groups=groups), nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
            nn.Flatten(),
            nn.Linear(256 * side * side, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        )  # fmt: skip


@dataclass(frozen=True)
class LayerInfo:
    """表格中的一行：层的名称、输出形状（不含批量维）与参数个数。"""

    name: str
    output_shape: tuple[int, ...]
    num_params: int


def _check_layer_table(model, input_shape):
    check_instance("model", model, nn.Sequential)
    if not isinstance(input_shape, tuple | list) or not input_shape:
        raise TypeError(
            f"input_shape 应是如 (1, 28, 28) 的元组，收到 {input_shape!r}"
        )
    sizes = [
        check_positive_int("input_shape 中的长度", n) for n in input_shape
    ]
    # 实测（LeNet 式的卷积层）峰值约为输入的 23 倍；通道更多的网络会更多
    check_memory("input_shape", math.prod(sizes) * 36)


@validated_by(_check_layer_table)
def layer_table(
    model: nn.Sequential, input_shape: tuple[int, ...]
) -> list[LayerInfo]:
    """逐层送入形状为 (1, *input_shape) 的全零输入，记录输出形状与参数量。

    输入放在模型所在的设备上，所以 ``device="meta"`` 的模型也可以用。
    """
    first = next(model.parameters(), None)
    device = first.device if first is not None else None
    x = torch.zeros(1, *input_shape, device=device)
    rows = []
    with torch.no_grad():
        for layer in model:
            x = layer(x)
            params = sum(p.numel() for p in layer.parameters())
            rows.append(
                LayerInfo(type(layer).__name__, tuple(x.shape[1:]), params)
            )
    return rows


# ---------- 8×8 手写数字上的小实验 ----------


DIGIT_SIZE = 8  # 手写数字图像的边长（像素）


def _check_digits_config(cfg) -> None:
    """检查 ``DigitsConfig`` 的每个字段；列表规范成元组。"""
    for name in ("n_train", "n_val", "small_n_train"):
        check_count(name, getattr(cfg, name))
    check_int("split_seed", cfg.split_seed, minimum=0)
    object.__setattr__(cfg, "seeds", check_seeds("seeds", cfg.seeds))
    check_positive_int("batch_size", cfg.batch_size)  # 大于数据量就是全批量
    check_positive_int("small_batch_size", cfg.small_batch_size)
    for name in ("lenet_epochs", "long_epochs", "alex_epochs", "small_epochs"):
        check_count(name, getattr(cfg, name))
    check_count("early_epoch", cfg.early_epoch)
    for name in ("lenet_lr_grid", "alex_lr_grid"):
        object.__setattr__(cfg, name, check_floats(name, getattr(cfg, name)))
    check_float("target_acc", cfg.target_acc, low=0.0, high=1.0)
    check_float("plateau_acc", cfg.plateau_acc, low=0.0, high=1.0)
    check_positive_float("small_lr", cfg.small_lr)
    check_count("max_shift", cfg.max_shift, maximum=DIGIT_SIZE - 1, minimum=0)
    check_float("max_degrees", cfg.max_degrees, low=0.0, high=180.0)


@dataclass(frozen=True)
class DigitsConfig:
    """手写数字实验的全部设置；正文中的数字都由这组设置算出。"""

    n_train: int = 1000  # 训练集大小
    n_val: int = 300  # 验证集大小（其余 497 张做测试集）
    split_seed: int = 0  # 划分训练/验证/测试集的种子
    seeds: tuple[int, ...] = (0, 1, 2)  # 每个实验重复的随机种子
    batch_size: int = 100
    lenet_epochs: int = 60  # 实验一：LeNet 式网络，ReLU 对 sigmoid
    long_epochs: int = 100  # 实验一：sigmoid 网络延长到的第二个预算
    lenet_lr_grid: tuple[float, ...] = (3e-3, 1e-2, 3e-2)
    alex_epochs: int = 25  # 实验二：AlexNet 式网络
    alex_lr_grid: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    target_acc: float = 0.75  # 实验一：比较达到这个训练准确率所需的轮数
    plateau_acc: float = 0.2  # 训练准确率低于它的轮次算作平台期（瞎猜是 10%）
    early_epoch: int = 10  # 实验二：训练早期比较的轮次
    small_n_train: int = 100  # 实验三：故意很小的训练集
    small_epochs: int = 300
    small_batch_size: int = 100  # 全批量
    small_lr: float = 1e-2
    max_shift: int = 1  # 数据增强：平移的最大像素数
    max_degrees: float = 10.0  # 数据增强：旋转的最大角度

    def __post_init__(self) -> None:
        _check_digits_config(self)


def load_digits_splits(
    n_train: int, n_val: int, *, generator: torch.Generator
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """scikit-learn 自带的 1797 张 8×8 手写数字，随机分成训练、验证、测试集。

    像素值由 0–16 缩放到 0–1。返回 ``{"train": (X, y), "val": …, "test": …}``，
    X 形状 (N, 1, 8, 8)、float32，y 形状 (N,)、int64。数据随 scikit-learn
    安装，不需要下载。
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16
    y = torch.tensor(digits.target, dtype=torch.long)
    n_train = check_positive_int("n_train", n_train)
    n_val = check_positive_int("n_val", n_val)
    check_generator("generator", generator)
    if n_train + n_val >= len(X):
        raise ValueError(
            f"n_train + n_val 应小于 {len(X)}（还要留下测试集），"
            f"收到 {n_train} + {n_val}"
        )
    order = torch.randperm(len(X), generator=generator)
    parts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    return {name: (X[idx], y[idx]) for name, idx in parts.items()}


def _check_images(name: str, x: object) -> torch.Tensor:
    """一批图片：形状 (N, C, H, W) 的浮点张量。"""
    return check_tensor(name, x, ndim=4, floating=True)


def _act(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"activation 只能是 'relu' 或 'sigmoid'，收到 {name!r}")


def lenet_small(
    activation: str = "sigmoid", dropout: float = 0.0
) -> nn.Sequential:
    """为 8×8 输入缩小的 LeNet：两个“3×3 卷积 + 平均池化”块和三个全连接层。

    ``dropout > 0`` 时在两个全连接隐藏层之后加 dropout（原始 LeNet 没有）。
    """
    _check_dropout(dropout)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), _act(activation),
        nn.AvgPool2d(2),  # 4×4
        nn.Conv2d(6, 16, 3, padding=1), _act(activation),
        nn.AvgPool2d(2),  # 2×2
        nn.Flatten(),
        nn.Linear(16 * 2 * 2, 120), _act(activation), nn.Dropout(dropout),
        nn.Linear(120, 84), _act(activation), nn.Dropout(dropout),
        nn.Linear(84, 10),
    )  # fmt: skip


def _check_dropout(p: float) -> None:
    check_float("dropout", p, low=0.0, high=1.0, high_open=True)


def _check_alexnet_small(activation, dropout):
    _check_dropout(dropout)


@validated_by(_check_alexnet_small)
def alexnet_small(
    activation: str = "relu", dropout: float = 0.5
) -> nn.Sequential:
    """为 8×8 输入缩小的 AlexNet。

    五个 3×3 卷积层（ReLU）、两次最大池化、两个带 dropout 的全连接隐藏层。
    """
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), _act(activation),
        nn.Conv2d(16, 32, 3, padding=1), _act(activation),
        nn.MaxPool2d(2),  # 4×4
        nn.Conv2d(32, 48, 3, padding=1), _act(activation),
        nn.Conv2d(48, 48, 3, padding=1), _act(activation),
        nn.Conv2d(48, 32, 3, padding=1), _act(activation),
        nn.MaxPool2d(2),  # 2×2
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 128), _act(activation), nn.Dropout(dropout),
        nn.Linear(128, 128), _act(activation), nn.Dropout(dropout),
        nn.Linear(128, 10),
    )  # fmt: skip


def _check_random_shift(x, max_shift, *, generator):
    _check_images("x", x)
    max_shift = check_int("max_shift", max_shift, minimum=0)
    check_generator("generator", generator)
    n, c, h, w = x.shape
    check_memory(  # 实测峰值约为补零后的图，留 25% 余量
        "max_shift",
        n * c * (h + 2 * max_shift) * (w + 2 * max_shift),
        bytes_per_element=5,
    )


@validated_by(_check_random_shift)
def random_shift(
    x: torch.Tensor, max_shift: int, *, generator: torch.Generator
) -> torch.Tensor:
    """把每张图随机平移至多 ``max_shift`` 个像素，移出的丢掉、空出的补 0。

    实现方式是先四周补 0 再随机裁剪回原大小。x 形状 (N, C, H, W)。
    """
    if max_shift == 0:
        return x.clone()
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    # 第 i 张图取 padded[i, :, dy:dy+h, dx:dx+w]，一次索引取出全部
    rows = (offsets[:, 0, None] + torch.arange(h))[:, :, None]  # (N, H, 1)
    cols = (offsets[:, 1, None] + torch.arange(w))[:, None, :]  # (N, 1, W)
    picked = padded[torch.arange(n)[:, None, None], :, rows, cols]
    # 取出的形状是 (N, H, W, C)，换回 (N, C, H, W)
    return picked.permute(0, 3, 1, 2).contiguous()


def random_rotate(
    x: torch.Tensor, max_degrees: float, *, generator: torch.Generator
) -> torch.Tensor:
    """把每张图绕中心旋转 [-max_degrees, max_degrees] 内的随机角度。

    用双线性插值重采样，图外的部分补 0。
    """
    _check_images("x", x)
    check_float("max_degrees", max_degrees, low=0.0, high=180.0)
    check_generator("generator", generator)
    n = x.shape[0]
    u = torch.rand(n, generator=generator, dtype=x.dtype) * 2 - 1
    theta = u * math.radians(max_degrees)
    cos, sin = torch.cos(theta), torch.sin(theta)
    zeros = torch.zeros_like(theta)
    matrix = torch.stack(
        [
            torch.stack([cos, -sin, zeros], 1),
            torch.stack([sin, cos, zeros], 1),
        ],
        1,
    )
    grid = F.affine_grid(matrix, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def _check_make_augment(*, max_shift, max_degrees, generator):
    check_positive_int("max_shift", max_shift)
    check_float("max_degrees", max_degrees, low=0.0, high=180.0)
    check_generator("generator", generator)


@validated_by(_check_make_augment)
def make_augment(
    *,
    max_shift: int = 1,
    max_degrees: float = 10.0,
    generator: torch.Generator,
):
    """组合随机旋转与随机平移，返回可以传给 ``train_minibatch`` 的函数。

    不做水平翻转：翻转后的“2”“3”“7”不再是同一个数字（实验三会检验）。
    """

    def augment(x: torch.Tensor) -> torch.Tensor:
        rotated = random_rotate(x, max_degrees, generator=generator)
        return random_shift(rotated, max_shift, generator=generator)

    return augment


def random_hflip(
    x: torch.Tensor, *, generator: torch.Generator
) -> torch.Tensor:
    """以 1/2 的概率把每张图左右翻转。x 形状 (N, C, H, W)。"""
    _check_images("x", x)
    check_generator("generator", generator)
    flip = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


# ---------- 表格、结构图与论文中的数字 ----------

# AlexNet 论文（Krizhevsky, Sutskever & Hinton, 2012）报告的数字；
# 正文引用时从这里取，不手抄
ALEXNET_PAPER = {
    "params_wan": 6000,  # “60 million parameters”，即 6000 万
    "neurons": 650_000,
    "train_images_wan": 120,  # ILSVRC 训练集约 1.2 million 张，即 120 万
    "classes": 1000,
    "top5_error": 15.3,  # ILSVRC-2012 测试集，前 5 错误率（%），多模型集成
    "runner_up_top5_error": 26.2,  # 第二名
    "gpus": 2,  # 两块 GTX 580
    "gpu_memory_gb": 3,
    "train_days_min": 5,
    "train_days_max": 6,
    # 四层卷积网络在 CIFAR-10 上达到 25% 训练错误率，ReLU 比 tanh 快约 6 倍
    "relu_speedup": 6,
    "relu_target_error": 25,
    "lrn_top1_gain": 1.4,  # LRN 使前 1/前 5 错误率下降的百分点
    "lrn_top5_gain": 1.2,
    "overlap_top1_gain": 0.4,  # 重叠池化带来的下降
    "overlap_top5_gain": 0.3,
}


# LeNet-5 原文（LeCun、Bottou、Bengio 与 Haffner，1998）中与 d2l 版本不同的地方
LENET_PAPER = {
    "input_side": 32,  # 输入 32×32（数字在中间约 20×20 的区域里）
    "tanh_amplitude": 1.7159,  # 激活函数 f(a) = A tanh(S a) 的 A
    "tanh_slope": "2/3",  # 同上的 S
    "num_rbf": 10,  # 输出层：10 个欧氏径向基函数（RBF）单元，每类一个
}


def _check_format_layer_table(rows):
    if not isinstance(rows, list | tuple) or not rows:
        raise TypeError(
            f"rows 应是 layer_table(...) 返回的非空列表，收到 {rows!r:.60}"
        )
    for row in rows:
        check_instance("rows 中的一行", row, LayerInfo)


@validated_by(_check_format_layer_table)
def format_layer_table(rows: list[LayerInfo]) -> str:
    """把 ``layer_table`` 的结果排成 Markdown 表格（最后一行是参数总数）。"""
    lines = ["| 层 | 输出形状 | 参数个数 |", "| --- | --- | ---: |"]
    for row in rows:
        shape = " × ".join(map(str, row.output_shape))
        lines.append(f"| {row.name} | {shape} | {row.num_params:,} |")
    total = sum(row.num_params for row in rows)
    lines.append(f"| **合计** | | **{total:,}** |")
    return "\n".join(lines)


def _pair(value, *, square: bool = False) -> str:
    """把核大小或步幅写成“高×宽”；``square=True`` 时两个相等就只写一个。"""
    h, w = (value, value) if isinstance(value, int) else tuple(value)
    if square and h == w:
        return str(h)
    return f"{h}×{w}"


# 并入前一个方块说明的层（激活函数、暂退法）显示的名字；其余不认识的层显示类名
_MERGED_NAMES = {
    nn.ReLU: "ReLU",
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.Dropout: "dropout",
}


def describe_blocks(model: nn.Sequential) -> list[tuple[str, str]]:
    """把网络概括成结构图用的方块：``(种类, 说明)``，种类是 conv、pool、fc。

    嵌套的容器（如 ``nn.Sequential``）逐层展开；激活函数、dropout 以及
    其他不认识的层（写类名，如 BatchNorm2d）并入前一个方块的说明，
    它们出现在最前面时单独成一个 other 方块；只有 Flatten 省略。
    """
    check_instance("model", model, nn.Sequential)
    blocks: list[list[str]] = []
    for layer in _leaf_layers(model):
        if isinstance(layer, nn.Conv2d):
            text = (
                f"卷积 {_pair(layer.kernel_size)}，{layer.out_channels} 通道"
            )
            if _pair(layer.stride) != "1×1":
                text += f"，步幅 {_pair(layer.stride, square=True)}"
            blocks.append(["conv", text])
        elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
            kind = "最大" if isinstance(layer, nn.MaxPool2d) else "平均"
            k = _pair(layer.kernel_size)
            stride = _pair(layer.stride, square=True)
            blocks.append(["pool", f"{kind}池化 {k}，步幅 {stride}"])
        elif isinstance(layer, nn.Linear):
            blocks.append(["fc", f"全连接 {layer.out_features}"])
        elif not isinstance(layer, nn.Flatten):
            name = _MERGED_NAMES.get(type(layer), type(layer).__name__)
            if blocks:
                blocks[-1][1] += " + " + name
            else:
                blocks.append(["other", name])
    return [(kind, text) for kind, text in blocks]


def _leaf_layers(module: nn.Module) -> list[nn.Module]:
    """按顺序列出 ``module`` 里的每一层，嵌套的容器逐层展开。"""
    children = list(module.children())
    if not children or isinstance(module, nn.Conv2d | nn.Linear):
        return [module]
    return [leaf for child in children for leaf in _leaf_layers(child)]


AUGMENTATIONS = ("shift_rotate", "flip")


def _check_train_digits(
    make_model,
    data,
    *,
    lr,
    num_epochs,
    batch_size,
    seed,
    augment,
    max_shift,
    max_degrees,
    val_every,
    callback,
):
    if augment is not None and augment not in AUGMENTATIONS:
        raise ValueError(
            f"augment 只能是 None、{'、'.join(AUGMENTATIONS)}，"
            f"收到 {augment!r}"
        )
    if not callable(make_model):
        raise TypeError("make_model 应是“不带参数、返回新模型”的函数")
    if not isinstance(data, tuple | list) or len(data) != 4:
        raise TypeError("data 应是 (X_train, y_train, X_val, y_val)")
    check_positive_float("lr", lr)
    check_int("seed", seed, minimum=0)
    # 平移不能超过图像的边长（否则整张图都移出去了）；不做增强时也检查
    check_count("max_shift", max_shift, maximum=DIGIT_SIZE - 1, minimum=0)
    check_float("max_degrees", max_degrees, low=0.0, high=180.0)


@validated_by(_check_train_digits)
def train_digits(
    make_model,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    lr: float,
    num_epochs: int,
    batch_size: int,
    seed: int,
    augment: str | None = None,
    max_shift: int = 1,
    max_degrees: float = 10.0,
    val_every: int = 1,
    callback=None,
):
    """用种子 ``seed`` 创建并训练一个模型（Adam），返回 ``(model, history)``。

    ``data`` 是 ``(X_train, y_train, X_val, y_val)``。``augment`` 取
    ``"shift_rotate"``（小幅平移与旋转）、``"flip"``（随机水平翻转）或 None。
    dropout 从 PyTorch 的全局生成器取随机数，所以整个过程放在
    ``torch.random.fork_rng`` 里并先设种子：结果只由 ``seed`` 决定，
    调用结束后全局随机状态恢复原样。打乱顺序与数据增强用另一个
    以 ``seed`` 初始化的生成器。
    """
    from dlbasics.training import train_minibatch

    X, y, X_val, y_val = data
    generator = torch.Generator().manual_seed(seed)
    transform = None
    if augment == "shift_rotate":
        transform = make_augment(
            max_shift=max_shift, max_degrees=max_degrees, generator=generator
        )
    elif augment == "flip":

        def transform(x):
            return random_hflip(x, generator=generator)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
        history = train_minibatch(
            model, X, y, X_val, y_val,
            optimizer=torch.optim.Adam(model.parameters(), lr=lr),
            num_epochs=num_epochs, batch_size=batch_size, generator=generator,
            augment=transform, val_every=val_every, callback=callback,
        )  # fmt: skip
    return model, history


def _check_accuracies(name: str, accuracies, *, nonempty: bool) -> None:
    """每轮的准确率：列表或元组，每个都是 [0, 1] 内的数。"""
    if not isinstance(accuracies, list | tuple):
        raise TypeError(
            f"{name} 应是每轮准确率的列表，收到 {accuracies!r:.60}"
        )
    if nonempty and not accuracies:
        raise ValueError(f"{name} 是空的，至少要有一轮的准确率")
    for acc in accuracies:
        check_float(f"{name} 中的准确率", acc, low=0.0, high=1.0)


def _check_epochs_to_reach(accuracies, target):
    _check_accuracies("accuracies", accuracies, nonempty=False)
    check_float("target", target, low=0.0, high=1.0)


@validated_by(_check_epochs_to_reach)
def epochs_to_reach(accuracies: list[float], target: float) -> int | None:
    """第一次达到 ``target`` 的轮次（从 1 数起）；没达到时返回 None。"""
    for epoch, acc in enumerate(accuracies, start=1):
        if acc >= target:
            return epoch
    return None


# ---------- 本章的实验 ----------


class PlateauProbe:
    """训练中每轮结束时记下两个量，用来看 sigmoid 网络在平台期里发生了什么。

    - ``movement``：参数离初始值走了多远，‖θ_t − θ_0‖ / ‖θ_0‖；
    - ``logit_spread``：在一批固定的输入上，各样本的 logits 与它们平均值之差
      的均方根。它接近 0，说明网络对不同的输入给出几乎一样的输出。
    第 0 项是训练开始之前的值。
    """

    def __init__(self, X_probe: torch.Tensor):
        self.X_probe = check_tensor(
            "X_probe", X_probe, ndim=(2, 3, 4), floating=True
        )
        self.start: torch.Tensor | None = None
        self.movement: list[float] = []
        self.logit_spread: list[float] = []

    @torch.no_grad()
    def __call__(self, epoch: int, model: nn.Module) -> None:
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        if self.start is None:
            self.start = flat.clone()
        self.movement.append(
            ((flat - self.start).norm() / self.start.norm()).item()
        )
        was_training = model.training
        model.eval()
        logits = model(self.X_probe)
        model.train(was_training)
        centered = logits - logits.mean(dim=0)
        self.logit_spread.append(centered.pow(2).sum(1).mean().sqrt().item())


@dataclass
class Selection:
    """在验证集上选学习率、再用其余种子重复的结果（一个训练预算）。"""

    lr: float  # 选出的学习率
    # 第一个种子在各候选学习率下，预算最后一轮的验证准确率
    val_by_lr: dict[float, float]
    models: list[nn.Module]  # 选出的学习率下每个种子训练好的模型
    histories: list  # 对应的训练记录（EpochHistory）
    probes: list[PlateauProbe | None]  # 对应的 PlateauProbe（不要求时为 None）


@dataclass
class _Run:
    """一次训练：各个预算那一轮结束时的模型、训练记录与探针。"""

    snapshots: dict[int, nn.Module]
    history: object  # EpochHistory
    probe: PlateauProbe | None

    def first_epochs(self, n: int):
        """只看前 n 轮：(模型, 记录, 探针)，与只训练 n 轮的结果相同。"""
        from dlbasics.training import EpochHistory

        h = self.history
        history = EpochHistory(
            h.train_losses[:n], h.train_accuracies[:n], h.val_accuracies[:n]
        )
        probe = self.probe
        if probe is not None:
            probe = copy.copy(probe)
            probe.movement = probe.movement[: n + 1]
            probe.logit_spread = probe.logit_spread[: n + 1]
        return self.snapshots[n], history, probe


def _check_select_and_train(
    make_model, data, *, lr_grid, budgets, cfg, probe_inputs
):
    check_floats("lr_grid", lr_grid)
    if not isinstance(budgets, tuple | list) or not budgets:
        raise TypeError("budgets 应是训练轮数的元组，如 (60,) 或 (60, 100)")
    for budget in budgets:
        check_positive_int("budgets 中的轮数", budget)
    check_instance("cfg", cfg, DigitsConfig)
    if not isinstance(data, tuple | list) or len(data) != 4:
        raise TypeError("data 应是 (X_train, y_train, X_val, y_val)")
    if probe_inputs is not None:
        check_tensor(
            "probe_inputs", probe_inputs, ndim=(2, 3, 4), floating=True
        )
    # 每个候选学习率和其余每个种子各训练至多 max(budgets) 轮；
    # 每轮按每张图 10⁵ 次乘加、每个小批量一次 Python 循环估计
    n = len(data[0])
    runs = len(lr_grid) + len(cfg.seeds)
    per_epoch = (n + -(-n // cfg.batch_size)) * PYTHON_STEP
    epochs = max(budgets)
    check_work("budgets", epochs, runs * epochs * per_epoch)


@validated_by(_check_select_and_train)
def select_and_train(
    make_model,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    lr_grid: tuple[float, ...],
    budgets: tuple[int, ...],
    cfg: DigitsConfig,
    probe_inputs: torch.Tensor | None = None,
) -> dict[int, Selection]:
    """每个训练预算（轮数）各选一次学习率，返回 ``{预算: Selection}``。

    先用第一个种子把 ``lr_grid`` 的每个候选值都训练到最大的预算，在每个
    预算的最后一轮按验证准确率选学习率；再用其余种子在选出的学习率下
    训练。较短的预算直接读训练中途那一轮的模型与记录（与只训练那么多轮
    完全相同），所以同一个学习率、同一个种子只训练一次。
    只用一个种子挑学习率是为了省时间，正文会说明这一点。
    """

    def run(lr: float, seed: int, num_epochs: int) -> _Run:
        probe = None if probe_inputs is None else PlateauProbe(probe_inputs)
        snapshots = {}

        def callback(epoch: int, model: nn.Module) -> None:
            if probe is not None:
                probe(epoch, model)
            if epoch in budgets:  # 记下这个预算结束时的模型
                snapshots[epoch] = copy.deepcopy(model).eval()

        _, history = train_digits(
            make_model, data, lr=lr, num_epochs=num_epochs,
            batch_size=cfg.batch_size, seed=seed, callback=callback,
        )  # fmt: skip
        return _Run(snapshots, history, probe)

    first, *others = cfg.seeds
    trials = {lr: run(lr, first, max(budgets)) for lr in lr_grid}
    val_by_lr = {
        b: {lr: t.history.val_accuracies[b - 1] for lr, t in trials.items()}
        for b in budgets
    }
    best = {b: max(lr_grid, key=val_by_lr[b].get) for b in budgets}
    longest = {}  # 学习率 -> 其余种子要训练到的轮数
    for b, lr in best.items():
        longest[lr] = max(longest.get(lr, 0), b)
    reruns = {
        (lr, seed): run(lr, seed, n)
        for lr, n in longest.items()
        for seed in others
    }
    selections = {}
    for b, lr in best.items():
        runs = [trials[lr]] + [reruns[lr, seed] for seed in others]
        models, histories, probes = zip(
            *(r.first_epochs(b) for r in runs), strict=True
        )
        selections[b] = Selection(
            lr, val_by_lr[b], list(models), list(histories), list(probes)
        )
    return selections


def _check_splits(splits) -> None:
    """``load_digits_splits`` 的结果：train 与 val 各是 (图像, 标签)。"""
    if not isinstance(splits, dict) or not {"train", "val"} <= set(splits):
        raise TypeError(
            "splits 应是 load_digits_splits 返回的字典"
            f"（至少有 'train' 与 'val'），收到 {splits!r:.60}"
        )
    for key in ("train", "val"):
        X, y = check_pair(f"splits[{key!r}]", splits[key], "(X, y)")
        _check_images(f"splits[{key!r}] 的图像", X)
        check_labels(f"splits[{key!r}] 的标签", y, n=len(X))


def _check_digits_data(splits, n_train):
    _check_splits(splits)
    if n_train is not None:
        check_positive_int("n_train", n_train)


@validated_by(_check_digits_data)
def digits_data(
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    n_train: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """返回 ``(X_train, y_train, X_val, y_val)``。

    给出 ``n_train`` 时只取训练集的前 ``n_train`` 张。
    """
    X, y = splits["train"]
    if n_train is not None:
        X, y = X[:n_train], y[:n_train]
    return (X, y, *splits["val"])


def _check_digits_experiment(cfg, splits):
    check_instance("cfg", cfg, DigitsConfig)
    _check_splits(splits)


@validated_by(_check_digits_experiment)
def activation_experiment(
    cfg: DigitsConfig, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, dict[int, Selection]]:
    """实验一：同一个 LeNet 式网络，分别用 sigmoid 与 ReLU，各自挑学习率。

    两者都在 ``lenet_epochs`` 轮的预算下挑学习率、比较；sigmoid 网络再加一个
    ``long_epochs`` 轮的预算。返回 ``{激活函数: {预算: Selection}}``。
    """
    data = digits_data(splits)
    budgets = {
        "sigmoid": (cfg.lenet_epochs, cfg.long_epochs),
        "relu": (cfg.lenet_epochs,),
    }
    return {
        act: select_and_train(
            lambda act=act: lenet_small(act),
            data,
            lr_grid=cfg.lenet_lr_grid,
            budgets=budgets[act],
            cfg=cfg,
            probe_inputs=splits["train"][0][: cfg.n_val],
        )
        for act in ("sigmoid", "relu")
    }


@validated_by(_check_digits_experiment)
def capacity_experiment(
    cfg: DigitsConfig, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> Selection:
    """实验二：更深更宽的 AlexNet 式网络，在验证集上挑学习率。"""
    return select_and_train(
        alexnet_small, digits_data(splits), lr_grid=cfg.alex_lr_grid,
        budgets=(cfg.alex_epochs,), cfg=cfg,
    )[cfg.alex_epochs]  # fmt: skip


def _check_plateau_end(train_acc, threshold):
    _check_accuracies("train_acc", train_acc, nonempty=True)
    check_float("threshold", threshold, low=0.0, high=1.0)


@validated_by(_check_plateau_end)
def plateau_end(train_acc: list[float], threshold: float) -> int:
    """训练准确率第一次达到 ``threshold`` 的轮次；此前都算平台期。

    一直没有达到时返回总轮数。
    """
    return epochs_to_reach(train_acc, threshold) or len(train_acc)


# 标签: (dropout 概率, 数据增强方式)
REGULARIZATION_SETTINGS: dict[str, tuple[float, str | None]] = {
    "都不用": (0.0, None),
    "dropout": (0.5, None),
    "数据增强": (0.0, "shift_rotate"),
    "两者都用": (0.5, "shift_rotate"),
    "水平翻转": (0.0, "flip"),
}


@dataclass
class RegularizationResult:
    """实验三中一种设置的结果，每个种子一项。"""

    train_accuracies: list[float]  # 在原始训练图上（评估模式）的准确率
    val_accuracies: list[float]
    models: list[nn.Module]


@validated_by(_check_digits_experiment)
def regularization_experiment(
    cfg: DigitsConfig, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, RegularizationResult]:
    """实验三：训练集只有 ``small_n_train`` 张时，dropout 与数据增强的作用。"""
    from dlbasics.training import evaluate

    data = digits_data(splits, cfg.small_n_train)
    results = {}
    for label, (dropout, augment) in REGULARIZATION_SETTINGS.items():
        result = RegularizationResult([], [], [])
        for seed in cfg.seeds:
            model, history = train_digits(
                lambda p=dropout: lenet_small("relu", dropout=p), data,
                lr=cfg.small_lr, num_epochs=cfg.small_epochs,
                batch_size=cfg.small_batch_size, seed=seed, augment=augment,
                max_shift=cfg.max_shift, max_degrees=cfg.max_degrees,
                val_every=cfg.small_epochs,
            )  # fmt: skip
            result.train_accuracies.append(evaluate(model, data[0], data[1]))
            result.val_accuracies.append(history.val_accuracies[-1])
            result.models.append(model)
        results[label] = result
    return results


@torch.no_grad()
def per_class_accuracy(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, num_classes: int = 10
) -> list[float]:
    """每个类别的准确率（评估模式）；某类没有样本时记为 nan。"""
    check_instance("model", model, nn.Module)
    check_tensor("X", X, ndim=tuple(range(2, 9)), floating=True)
    num_classes = check_positive_int("num_classes", num_classes)
    check_labels("y", y, n=len(X), num_classes=num_classes)
    model.eval()
    first = next(model.parameters(), None)
    if first is not None:
        X = X.to(first.dtype)
    pred = model(X).argmax(dim=1)
    out = []
    for c in range(num_classes):
        mask = y == c
        out.append(
            (pred[mask] == c).float().mean().item() if mask.any() else math.nan
        )
    return out


def count_macs(model: nn.Sequential, input_shape: tuple[int, ...]) -> int:
    """一张输入图经过网络要做多少次乘加（只计卷积层与全连接层）。

    卷积层：输出元素数 × (输入通道数 / 分组数) × 卷积核面积；
    全连接层：输入数 × 输出数。
    """
    check_instance("model", model, nn.Sequential)
    sizes = [
        check_positive_int("input_shape 中的长度", n) for n in input_shape
    ]
    # 实测（LeNet 式的卷积层）峰值约为输入的 23 倍；通道更多的网络会更多
    check_memory("input_shape", math.prod(sizes) * 36)
    x = torch.zeros(1, *sizes)
    total = 0
    with torch.no_grad():
        for layer in model:
            out = layer(x)
            if isinstance(layer, nn.Conv2d):
                k = layer.kernel_size[0] * layer.kernel_size[1]
                total += out.numel() * (layer.in_channels // layer.groups) * k
            elif isinstance(layer, nn.Linear):
                total += layer.in_features * layer.out_features
            x = out
    return total


BLOCK_KINDS = ("conv", "pool", "fc", "other")


def _check_plot_architecture(blocks, ax, *, title, n_rows):
    if not isinstance(blocks, list | tuple) or not blocks:
        raise TypeError(
            "blocks 应是 describe_blocks(...) 返回的 (种类, 说明) 列表，"
            f"收到 {blocks!r:.60}"
        )
    for block in blocks:
        kind, text = check_pair("blocks 中的方块", block, "('conv', '3×3')")
        if kind not in BLOCK_KINDS:
            raise ValueError(
                f"blocks 里有未知的方块种类 {kind!r}，"
                "应为 conv、pool、fc 或 other"
            )
        check_instance("blocks 中方块的说明", text, str)
    check_instance("title", title, str)
    if n_rows is not None:
        check_positive_int("n_rows", n_rows)


@validated_by(_check_plot_architecture)
def plot_architecture(
    blocks: list[tuple[str, str]],
    ax: Axes | None = None,
    *,
    title: str = "",
    n_rows: int | None = None,
) -> Axes:
    """把网络画成自下而上的一列方块：卷积、池化、全连接用不同颜色。

    ``blocks`` 来自 ``dlbasics.cnn.describe_blocks``；最下面是输入端。
    并排画两个网络时，给两者相同的 ``n_rows``，方块就一样大。
    """
    colors = {
        "conv": CLASS_COLORS[0],
        "pool": CLASS_COLORS[2],
        "fc": CLASS_COLORS[1],
        "other": "0.5",
    }
    ax = new_axes(ax)
    for i, (kind, text) in enumerate(blocks):
        ax.add_patch(
            FancyBboxPatch(
                (0.05, i + 0.12), 0.9, 0.76, boxstyle="round,pad=0.02",
                facecolor=colors[kind], alpha=0.25, edgecolor=colors[kind],
            )
        )  # fmt: skip
        ax.text(0.5, i + 0.5, text, ha="center", va="center", fontsize=8)
        if i > 0:
            arrow = {"arrowstyle": "->", "color": "0.5"}
            ax.annotate("", (0.5, i + 0.1), (0.5, i - 0.1), arrowprops=arrow)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.1, max(len(blocks), n_rows or 0) + 0.1)
    ax.set_title(title)
    ax.axis("off")
    return ax
