"""LeNet、AlexNet 与 8×8 手写数字上的小实验。对应章节：book/cnn.md"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlbasics.utils import check_positive_int


def lenet() -> nn.Sequential:
    """LeNet-5（d2l 6.6 节的版本），输入 (N, 1, 28, 28)，输出 10 类的 logits。

    两个“5×5 卷积 + sigmoid + 2×2 平均汇聚”块，再接三个全连接层。
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


def alexnet(
    in_channels: int = 3,
    num_classes: int = 1000,
    *,
    groups: int = 1,
    conv1_padding: int = 2,
) -> nn.Sequential:
    """AlexNet（Krizhevsky 等，2012），输入 (N, in_channels, 224, 224)。

    五个卷积层（ReLU，其中三处接 3×3、步幅 2 的重叠最大汇聚）、
    两个带 dropout 的 4096 维全连接隐藏层和一个输出层。
    ``groups=2`` 复现论文在两块 GPU 上的分组连接（第 2、4、5 个卷积层）；
    ``conv1_padding=2`` 使 224×224 的输入得到论文中 55×55 的特征图。
    局部响应归一化（LRN）没有参数，这里省略。
    """
    if groups not in (1, 2):
        raise ValueError(f"groups 只能是 1 或 2，收到 {groups!r}")
    side = (224 + 2 * conv1_padding - 11) // 4 + 1  # 第一个卷积层的输出边长
    for _ in range(3):  # 三次 3×3、步幅 2 的汇聚
        side = (side - 3) // 2 + 1
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


def layer_table(
    model: nn.Sequential, input_shape: tuple[int, ...]
) -> list[LayerInfo]:
    """逐层送入形状为 (1, *input_shape) 的全零输入，记录输出形状与参数量。"""
    x = torch.zeros(1, *input_shape)
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


@dataclass(frozen=True)
class DigitsConfig:
    """手写数字实验的全部设置；正文中的数字都由这组设置算出。"""

    n_train: int = 1000  # 训练集大小（其余 797 张做测试集）
    split_seed: int = 0  # 划分训练/测试集的种子
    seeds: tuple[int, ...] = (0, 1, 2)  # 每个实验重复的随机种子
    batch_size: int = 100
    lenet_epochs: int = 60  # 实验一：LeNet 式网络，ReLU 对 sigmoid
    lenet_lr: float = 1e-2
    alex_epochs: int = 15  # 实验二：AlexNet 式网络
    alex_lr: float = 3e-3
    target_acc: float = 0.75  # 实验二：比较达到这个训练准确率所需的 epoch 数
    small_n_train: int = 100  # 实验三：故意很小的训练集
    small_epochs: int = 300
    small_batch_size: int = 100  # 全批量
    small_lr: float = 1e-2
    max_shift: int = 1  # 数据增强：平移的最大像素数
    max_degrees: float = 10.0  # 数据增强：旋转的最大角度


def load_digits_split(
    n_train: int, *, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn 自带的 1797 张 8×8 手写数字，随机分成训练集与测试集。

    像素值由 0–16 缩放到 0–1。返回 ``(X_train, y_train, X_test, y_test)``，
    X 形状 (N, 1, 8, 8)、float32，y 形状 (N,)、int64。数据随 scikit-learn
    安装，不需要下载。
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16
    y = torch.tensor(digits.target, dtype=torch.long)
    if not 0 < n_train < len(X):
        raise ValueError(
            f"n_train 应在 1 到 {len(X) - 1} 之间，收到 {n_train!r}"
        )
    order = torch.randperm(len(X), generator=generator)
    train, test = order[:n_train], order[n_train:]
    return X[train], y[train], X[test], y[test]


def _act(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"activation 只能是 'relu' 或 'sigmoid'，收到 {name!r}")


def lenet_small(
    activation: str = "sigmoid", dropout: float = 0.0
) -> nn.Sequential:
    """为 8×8 输入缩小的 LeNet：两个“3×3 卷积 + 平均汇聚”块和三个全连接层。

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
    if not 0 <= p < 1:
        raise ValueError(f"dropout 的概率应在 [0, 1) 内，收到 {p!r}")


def alexnet_small(
    activation: str = "relu", dropout: float = 0.5
) -> nn.Sequential:
    """为 8×8 输入缩小的 AlexNet。

    五个 3×3 卷积层（ReLU）、两次最大汇聚、两个带 dropout 的全连接隐藏层。
    """
    _check_dropout(dropout)
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


def random_shift(
    x: torch.Tensor, max_shift: int, *, generator: torch.Generator
) -> torch.Tensor:
    """把每张图随机平移至多 ``max_shift`` 个像素，移出的丢掉、空出的补 0。

    实现方式是先四周补 0 再随机裁剪回原大小。x 形状 (N, C, H, W)。
    """
    if max_shift < 0:
        raise ValueError(f"max_shift 不能为负，收到 {max_shift!r}")
    if max_shift == 0:
        return x.clone()
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    return torch.stack(
        [
            padded[i, :, dy : dy + h, dx : dx + w]
            for i, (dy, dx) in enumerate(offsets.tolist())
        ]
    )


def random_rotate(
    x: torch.Tensor, max_degrees: float, *, generator: torch.Generator
) -> torch.Tensor:
    """把每张图绕中心旋转 [-max_degrees, max_degrees] 内的随机角度。

    用双线性插值重采样，图外的部分补 0。
    """
    if max_degrees < 0:
        raise ValueError(f"max_degrees 不能为负，收到 {max_degrees!r}")
    n = x.shape[0]
    u = torch.rand(n, generator=generator) * 2 - 1
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


def make_augment(
    *,
    max_shift: int = 1,
    max_degrees: float = 10.0,
    generator: torch.Generator,
):
    """组合随机旋转与随机平移，返回可以传给 ``train_minibatch`` 的函数。

    不做水平翻转：翻转后的“2”“3”“7”不再是同一个数字。
    """
    check_positive_int("max_shift", max_shift)

    def augment(x: torch.Tensor) -> torch.Tensor:
        rotated = random_rotate(x, max_degrees, generator=generator)
        return random_shift(rotated, max_shift, generator=generator)

    return augment


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
    "overlap_top1_gain": 0.4,  # 重叠汇聚带来的下降
    "overlap_top5_gain": 0.3,
}


def format_layer_table(rows: list[LayerInfo]) -> str:
    """把 ``layer_table`` 的结果排成 Markdown 表格（最后一行是参数总数）。"""
    lines = ["| 层 | 输出形状 | 参数个数 |", "| --- | --- | ---: |"]
    for row in rows:
        shape = " × ".join(map(str, row.output_shape))
        lines.append(f"| {row.name} | {shape} | {row.num_params:,} |")
    total = sum(row.num_params for row in rows)
    lines.append(f"| **合计** | | **{total:,}** |")
    return "\n".join(lines)


def describe_blocks(model: nn.Sequential) -> list[tuple[str, str]]:
    """把网络概括成结构图用的方块：``(种类, 说明)``，种类是 conv、pool、fc。

    激活函数与 dropout 并入前一个方块的说明，Flatten 省略。
    """
    blocks: list[list[str]] = []
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            k, s = layer.kernel_size[0], layer.stride[0]
            text = f"卷积 {k}×{k}，{layer.out_channels} 通道"
            blocks.append(["conv", text + (f"，步幅 {s}" if s > 1 else "")])
        elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
            kind = "最大" if isinstance(layer, nn.MaxPool2d) else "平均"
            k, s = layer.kernel_size, layer.stride
            blocks.append(["pool", f"{kind}汇聚 {k}×{k}，步幅 {s}"])
        elif isinstance(layer, nn.Linear):
            blocks.append(["fc", f"全连接 {layer.out_features}"])
        elif isinstance(layer, nn.ReLU | nn.Sigmoid):
            blocks[-1][1] += (
                " + ReLU" if isinstance(layer, nn.ReLU) else " + sigmoid"
            )
        elif isinstance(layer, nn.Dropout):
            blocks[-1][1] += " + dropout"
    return [(kind, text) for kind, text in blocks]


def train_digits(
    make_model,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    lr: float,
    num_epochs: int,
    batch_size: int,
    seed: int,
    augment: bool = False,
    max_shift: int = 1,
    max_degrees: float = 10.0,
    test_every: int = 1,
):
    """用种子 ``seed`` 创建并训练一个模型（Adam），返回 ``(model, history)``。

    dropout 从 PyTorch 的全局生成器取随机数，所以整个过程放在
    ``torch.random.fork_rng`` 里并先设种子：结果只由 ``seed`` 决定，
    调用结束后全局随机状态恢复原样。打乱顺序与数据增强用另一个
    以 ``seed`` 初始化的生成器。
    """
    from dlbasics.training import train_minibatch

    X, y, X_test, y_test = data
    generator = torch.Generator().manual_seed(seed)
    transform = (
        make_augment(
            max_shift=max_shift, max_degrees=max_degrees, generator=generator
        )
        if augment
        else None
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
        history = train_minibatch(
            model, X, y, X_test, y_test,
            optimizer=torch.optim.Adam(model.parameters(), lr=lr),
            num_epochs=num_epochs, batch_size=batch_size, generator=generator,
            augment=transform, test_every=test_every,
        )  # fmt: skip
    return model, history


def epochs_to_reach(accuracies: list[float], target: float) -> int | None:
    """第一次达到 ``target`` 的 epoch（从 1 数起）；没达到时返回 None。"""
    for epoch, acc in enumerate(accuracies, start=1):
        if acc >= target:
            return epoch
    return None
