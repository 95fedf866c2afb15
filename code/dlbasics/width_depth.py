"""宽度与深度：相同参数预算下的网络、线性区域计数、隐藏特征的冗余。

对应章节：book/width_depth.md。网络本身用 ``dlbasics.activations.DeepMLP``。
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dlbasics.activations import DeepMLP
from dlbasics.spiral import make_spiral
from dlbasics.utils import seeded_splits, square_grid
from dlbasics.validation import (
    MAX_DEPTH,
    MAX_WIDTH,
    check_count,
    check_counts,
    check_float,
    check_floats,
    check_instance,
    check_int,
    check_memory,
    check_pair,
    check_positive_float,
    check_positive_int,
    check_seeds,
    check_tensor,
    validated_by,
)


def _check_width_depth_config(cfg) -> None:
    """检查 ``WidthDepthConfig`` 的每个字段；列表规范成元组。"""
    check_count("n_per_class", cfg.n_per_class)
    for name in ("train_seed", "val_seed", "test_seed"):
        check_int(name, getattr(cfg, name), minimum=0)
    check_float("bias_std", cfg.bias_std, low=0.0)
    for name in ("budget", "region_budget", "num_steps", "deep_steps"):
        check_count(name, getattr(cfg, name))
    for name in ("depths", "region_depths", "region_budget_depths"):
        depths = check_counts(name, getattr(cfg, name), maximum=MAX_DEPTH)
        object.__setattr__(cfg, name, depths)
    for name in ("region_neurons", "widths"):
        widths = check_counts(name, getattr(cfg, name), maximum=MAX_WIDTH)
        object.__setattr__(cfg, name, widths)
    object.__setattr__(cfg, "seeds", check_seeds("seeds", cfg.seeds))
    object.__setattr__(cfg, "lr_grid", check_floats("lr_grid", cfg.lr_grid))
    checkpoints = check_counts("long_checkpoints", cfg.long_checkpoints)
    object.__setattr__(cfg, "long_checkpoints", checkpoints)
    check_positive_float("region_lim", cfg.region_lim)
    check_count(
        "region_resolution",
        cfg.region_resolution,
        maximum=MAX_WIDTH,
        minimum=2,
    )
    check_count("deep_depth", cfg.deep_depth, maximum=MAX_DEPTH)
    check_count("deep_width", cfg.deep_width, maximum=MAX_WIDTH)
    for name in ("deep_lr", "deep_small_lr", "width_lr"):
        check_positive_float(name, getattr(cfg, name))


@dataclass(frozen=True)
class WidthDepthConfig:
    """本章实验的设置；正文中的数字都由这组设置算出。"""

    n_per_class: int = 300  # 训练集、验证集、测试集每类的点数
    train_seed: int = 12345
    val_seed: int = 777
    test_seed: int = 2024
    bias_std: float = 0.3  # 本章的网络：He 权重，偏置服从 N(0, 0.3²)
    budget: int = 100  # 实验一：每个网络的参数预算
    depths: tuple[int, ...] = (1, 2, 3, 4, 6)
    seeds: tuple[int, ...] = (0, 1, 2)
    lr_grid: tuple[float, ...] = (0.01, 0.03, 0.1)  # 每种深度各自挑学习率
    num_steps: int = 250
    long_checkpoints: tuple[int, ...] = (250, 500, 1000)  # 太窄的深网络再训练
    region_lim: float = 1.5  # 实验二：在 [-1.5, 1.5]² 里数线性区域
    region_resolution: int = 160
    region_neurons: tuple[int, ...] = (16, 32, 64)  # 神经元总数
    region_depths: tuple[int, ...] = (1, 2, 4)
    region_budget: int = 400  # 参数预算相同时的区域数
    region_budget_depths: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
    deep_depth: int = 12  # 实验三：很深的网络
    deep_width: int = 16
    deep_steps: int = 200
    deep_lr: float = 0.02
    deep_small_lr: float = 0.002
    widths: tuple[int, ...] = (16, 64, 256)  # 选读：只有一个隐藏层时的宽度
    width_lr: float = 0.03

    def __post_init__(self) -> None:
        _check_width_depth_config(self)


def mlp_param_count(
    width: int, depth: int, in_features: int = 2, out_features: int = 3
) -> int:
    """depth 个宽度为 width 的隐藏层（含偏置）加输出层的参数个数。

    (d_in + 1)·w + (depth - 1)·(w + 1)·w + (w + 1)·d_out
    """
    width = check_positive_int("width", width)
    depth = check_positive_int("depth", depth)
    in_features = check_positive_int("in_features", in_features)
    out_features = check_positive_int("out_features", out_features)
    return (
        (in_features + 1) * width
        + (depth - 1) * (width + 1) * width
        + (width + 1) * out_features
    )


def _check_width_for_budget(budget, depth, in_features, out_features):
    budget = check_positive_int("budget", budget)
    depth = check_positive_int("depth", depth)
    in_features = check_positive_int("in_features", in_features)
    out_features = check_positive_int("out_features", out_features)
    smallest = mlp_param_count(1, depth, in_features, out_features)
    if budget < smallest:
        raise ValueError(
            f"budget={budget} 太小：深度 {depth} 的网络即使每层只有 1 个单元"
            f"也要 {smallest} 个参数"
        )


@validated_by(_check_width_for_budget)
def width_for_budget(
    budget: int, depth: int, in_features: int = 2, out_features: int = 3
) -> int:
    """参数个数最接近 ``budget`` 的宽度（深度固定）。

    depth = 1 时参数量是宽度的一次函数，否则是二次函数；先解出实数解，
    再比较它两侧的整数。
    """
    a = depth - 1
    b = in_features + 1 + (depth - 1) + out_features
    c = out_features - budget
    if a == 0:
        w = -c / b
    else:
        w = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    candidates = {max(1, math.floor(w)), max(1, math.ceil(w))}
    best = min(
        candidates,
        key=lambda n: abs(
            mlp_param_count(n, depth, in_features, out_features) - budget
        ),
    )
    return best


def _check_activation_patterns(model, points):
    check_instance("model", model, DeepMLP)
    if model.activation != "relu":
        raise ValueError(
            f"model 的激活函数是 {model.activation!r}：只有 ReLU 网络"
            "才是分段线性的，才能按激活模式划分区域"
        )
    _check_inputs("points", points, model)


def _check_inputs(name: str, X, model: DeepMLP) -> None:
    """送进 ``model`` 的一批输入：二维浮点张量，列数等于网络的输入维数。"""
    check_tensor(name, X, ndim=2, floating=True)
    if X.shape[1] != model.hidden[0].in_features:
        raise ValueError(
            f"{name} 应有 {model.hidden[0].in_features} 列，"
            f"收到形状 {tuple(X.shape)}"
        )


@torch.no_grad()
@validated_by(_check_activation_patterns)
def activation_patterns(model: DeepMLP, points: torch.Tensor) -> torch.Tensor:
    """每个点上所有隐藏 ReLU 单元是否激活，形状 (N, 隐藏单元总数)，bool。

    激活模式相同的点，网络在它们上面是同一个仿射函数：同一个线性区域。
    """
    points = points.to(model.hidden[0].weight.dtype)
    states = model.hidden_states(points)
    return torch.cat([z > 0 for z, _ in states], dim=1)


def region_grid(
    model: DeepMLP, *, lim: float = 1.5, resolution: int = 400
) -> tuple[torch.Tensor, int]:
    """在 [-lim, lim]² 的网格上给每个点标出它所在线性区域的编号。

    Returns:
        ``(labels, n_regions)``：labels 形状 (resolution, resolution)，
        第 i 行对应 x2 的第 i 个取值；n_regions 是网格上看到的区域数
        （比网格间距还小的区域可能被漏掉，所以这是下界）。
    """
    check_instance("model", model, DeepMLP)
    lim = check_positive_float("lim", lim)
    resolution = check_int("resolution", resolution, minimum=2)
    neurons = sum(layer.out_features for layer in model.hidden)
    # 实测峰值：每个网格点、每个神经元约 2.5 个 float32（各层的 z 与 h 等）
    check_memory("resolution² × 神经元数", resolution**2 * (3 * neurons + 16))
    _, _, points = square_grid(lim, resolution)
    patterns = activation_patterns(model, points)
    _, labels = torch.unique(patterns, dim=0, return_inverse=True)
    return labels.reshape(resolution, resolution), int(labels.max()) + 1


def _check_net_with_lines(weights, biases):
    if not isinstance(weights, list | tuple) or not weights:
        raise TypeError(
            "weights 应是 (单元数, 2) 的嵌套列表，如 [[1.0, 0.0]]，"
            f"收到 {weights!r:.60}"
        )
    for row in weights:
        for value in check_pair("weights 中的一行", row, "[1.0, 0.0]"):
            check_float("weights 中的数", value)
    if not isinstance(biases, list | tuple):
        raise TypeError(
            f"biases 应是每个单元一个数的列表，如 [0.0]，收到 {biases!r:.60}"
        )
    if len(biases) != len(weights):
        raise ValueError(
            f"biases 应有 {len(weights)} 个数（每个单元一个），"
            f"收到 {len(biases)} 个"
        )
    for value in biases:
        check_float("biases 中的数", value)


@torch.no_grad()
@validated_by(_check_net_with_lines)
def net_with_lines(weights: list[list[float]], biases: list[float]) -> DeepMLP:
    """一个隐藏层的 ReLU 网络，第 j 个单元的分界线是
    ``weights[j] · x + biases[j] = 0``（手算区域数用）。

    ``weights`` 形状 (单元数, 2)，``biases`` 长度为单元数；输出层保持随机。
    """
    w = torch.tensor(weights, dtype=torch.float32)
    net = DeepMLP(1, w.shape[0])
    net.hidden[0].weight.copy_(w)
    net.hidden[0].bias.copy_(torch.tensor(biases, dtype=torch.float32))
    return net


def _check_effective_rank(features, energy):
    check_tensor("features", features, ndim=2, floating=True, finite=True)
    check_float("energy", energy, low=0.0, high=1.0, low_open=True)


@torch.no_grad()
@validated_by(_check_effective_rank)
def effective_rank(features: torch.Tensor, energy: float = 0.99) -> int:
    """特征矩阵 (N, W) 中，解释 ``energy`` 比例方差所需的主成分个数。

    先把每列减去均值，再看奇异值平方的累计占比。远小于 W 说明很多
    特征是彼此的线性组合：宽度被浪费了。
    """
    centered = features - features.mean(dim=0)
    s = torch.linalg.svdvals(centered.double())
    if (s**2).sum() == 0:
        return 0  # 所有样本的特征都相同：没有任何方差，秩为 0
    share = (s**2).cumsum(0) / (s**2).sum()
    return int((share < energy - 1e-12).sum()) + 1


def _check_model_and_inputs(model, X):
    check_instance("model", model, DeepMLP)
    _check_inputs("X", X, model)


@torch.no_grad()
@validated_by(_check_model_and_inputs)
def last_hidden_features(model: DeepMLP, X: torch.Tensor) -> torch.Tensor:
    """最后一个隐藏层的输出（送进输出层之前的特征），形状 (N, width)。"""
    X = X.to(model.hidden[0].weight.dtype)
    return model.hidden_states(X)[-1][1]


@torch.no_grad()
@validated_by(_check_model_and_inputs)
def dead_units_per_layer(model: DeepMLP, X: torch.Tensor) -> list[int]:
    """每个隐藏层里，对 X 的所有样本都输出 0 的 ReLU 单元个数。

    一层的单元全部输出 0 时，这一层的输出与输入无关，它和它之前的各层
    都得不到梯度：网络再也学不到东西。
    """
    X = X.to(model.hidden[0].weight.dtype)
    return [
        int((h.abs().sum(dim=0) == 0).sum()) for _, h in model.hidden_states(X)
    ]


# ---------- 本章的实验 ----------


def make_splits(
    cfg: WidthDepthConfig = WidthDepthConfig(),
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """螺旋数据的训练集、验证集与测试集（同一分布，三个种子）。"""
    check_instance("cfg", cfg, WidthDepthConfig)
    return seeded_splits(
        lambda g: make_spiral(cfg.n_per_class, generator=g),
        {"train": cfg.train_seed, "val": cfg.val_seed, "test": cfg.test_seed},
    )


def _check_experiment(cfg):
    check_instance("cfg", cfg, WidthDepthConfig)


def _check_make_network(depth, width, seed, cfg):
    check_count("depth", depth, maximum=MAX_DEPTH)
    check_count("width", width, maximum=MAX_WIDTH)
    check_int("seed", seed, minimum=0)
    check_instance("cfg", cfg, WidthDepthConfig)


@validated_by(_check_make_network)
def make_network(
    depth: int, width: int, seed: int, cfg: WidthDepthConfig
) -> DeepMLP:
    """本章统一的初始化：He 方案的权重，偏置服从 N(0, bias_std²)。

    偏置全为 0 时网络满足 f(αx) = αf(x)（α > 0），每个线性区域都是从原点
    出发的扇形，区域数被人为地压低；所以这里的偏置不为 0。
    """
    from dlbasics.activations import init_weights

    return init_weights(
        DeepMLP(depth, width),
        "he",
        generator=torch.Generator().manual_seed(seed),
        bias_std=cfg.bias_std,
    )


def _check_count_regions(model, cfg):
    check_instance("model", model, DeepMLP)
    check_instance("cfg", cfg, WidthDepthConfig)


@validated_by(_check_count_regions)
def count_regions(model: DeepMLP, cfg: WidthDepthConfig) -> int:
    """本章数区域的统一约定：同一个窗口、同一个网格。"""
    return region_grid(
        model, lim=cfg.region_lim, resolution=cfg.region_resolution
    )[1]


@dataclass
class DepthResult:
    """实验一中一种深度的结果。"""

    width: int
    lr: float  # 在验证集上选出的学习率
    val_by_lr: dict[float, list[float]]  # 每个候选学习率、每个种子的验证准确率
    models: list[DeepMLP]  # 选出的学习率下训练好的网络，每个种子一个
    test_accuracies: list[float]  # 这些网络的测试准确率（最后只算这一次）
    init_regions: list[int]  # 这些网络训练前的区域数
    trained_regions: list[int]  # 训练后的区域数


def budget_experiment(
    cfg: WidthDepthConfig = WidthDepthConfig(),
) -> dict[int, DepthResult]:
    """实验一：同样的参数预算、不同的深度；每种深度在验证集上挑学习率。"""
    from dlbasics.training import evaluate, train_classifier

    data = make_splits(cfg)
    results = {}
    for depth in cfg.depths:
        width = width_for_budget(cfg.budget, depth)
        val_by_lr, models_by_lr = {}, {}
        for lr in cfg.lr_grid:
            models = []
            for seed in cfg.seeds:
                model = make_network(depth, width, seed, cfg)
                train_classifier(
                    model, *data["train"], lr=lr, num_steps=cfg.num_steps
                )
                models.append(model)
            val_by_lr[lr] = [evaluate(m, *data["val"]) for m in models]
            models_by_lr[lr] = models
        best = max(cfg.lr_grid, key=lambda lr: sum(val_by_lr[lr]))
        models = models_by_lr[best]
        results[depth] = DepthResult(
            width=width,
            lr=best,
            val_by_lr=val_by_lr,
            models=models,
            test_accuracies=[evaluate(m, *data["test"]) for m in models],
            init_regions=[
                count_regions(make_network(depth, width, seed, cfg), cfg)
                for seed in cfg.seeds
            ],
            trained_regions=[count_regions(m, cfg) for m in models],
        )
    return results


def _check_longer_training(depth, seed, lr, cfg):
    check_count("depth", depth, maximum=MAX_DEPTH)
    check_int("seed", seed, minimum=0)
    check_positive_float("lr", lr)
    check_instance("cfg", cfg, WidthDepthConfig)
    if mlp_param_count(1, depth) > cfg.budget:
        raise ValueError(
            f"depth={depth} 太深：即使每层只有 1 个单元，参数也超过"
            f"预算 cfg.budget={cfg.budget}；请用更浅的网络"
        )


@validated_by(_check_longer_training)
def longer_training(
    depth: int,
    seed: int,
    lr: float,
    cfg: WidthDepthConfig = WidthDepthConfig(),
) -> dict[int, float]:
    """实验一的一个网络（同样的初始化与学习率）训练到 ``long_checkpoints``
    的最后一步，返回 ``{步数: 验证准确率}``。

    前 ``num_steps`` 步与实验一完全相同，所以第 ``num_steps`` 步的值就是
    实验一的结果。
    """
    from dlbasics.training import evaluate, train_classifier

    data = make_splits(cfg)
    model = make_network(depth, width_for_budget(cfg.budget, depth), seed, cfg)
    accuracies = {}

    def record(step: int, model: DeepMLP) -> None:  # 第 step 步更新之前
        if step in cfg.long_checkpoints:
            accuracies[step] = evaluate(model, *data["val"])

    last = max(cfg.long_checkpoints)
    train_classifier(
        model, *data["train"], lr=lr, num_steps=last, on_step=record
    )
    accuracies[last] = evaluate(model, *data["val"])
    return accuracies


@validated_by(_check_experiment)
def region_count_experiment(
    cfg: WidthDepthConfig = WidthDepthConfig(),
) -> dict[tuple[int, int], list[int]]:
    """实验二：随机初始化的网络有多少个线性区域。

    两组网络：神经元总数 N 固定、深度不同（N 平分给各层）；参数预算固定、
    深度不同。返回 ``{(深度, 宽度): [每个种子的区域数]}``。
    """
    shapes = {
        (d, n // d) for n in cfg.region_neurons for d in cfg.region_depths
    }
    shapes |= {
        (d, width_for_budget(cfg.region_budget, d))
        for d in cfg.region_budget_depths
    }
    return {
        (depth, width): [
            count_regions(make_network(depth, width, seed, cfg), cfg)
            for seed in cfg.seeds
        ]
        for depth, width in sorted(shapes)
    }


def max_rebound(losses: list[float]) -> float:
    """训练中损失最大的“回升”：max_t L_t / min_{s≤t} L_s（从不回升时为 1）。"""
    if not losses:
        raise ValueError("losses 是空的列表，至少要有一步训练的损失")
    for loss in losses:
        check_float("losses 中的值", loss, low=0.0, low_open=True)
    best, worst = math.inf, 1.0
    for loss in losses:
        best = min(best, loss)
        worst = max(worst, loss / best)
    return worst


# 标签: (激活函数, 初始化, 是否残差, 学习率取 deep_lr 还是 deep_small_lr)
DEEP_SETTINGS: dict[str, tuple[str, str, bool, str]] = {
    "sigmoid，PyTorch 默认初始化": ("sigmoid", "pytorch", False, "deep_lr"),
    "ReLU，He 初始化": ("relu", "he", False, "deep_lr"),
    "ReLU，He 初始化，学习率缩小 10 倍": (
        "relu",
        "he",
        False,
        "deep_small_lr",
    ),
    "sigmoid + 残差连接": ("sigmoid", "pytorch", True, "deep_lr"),
}


def _check_logit_spread(model, X):
    check_instance("model", model, torch.nn.Module)
    check_tensor("X", X, ndim=2, floating=True)


@validated_by(_check_logit_spread)
def logit_spread(model: torch.nn.Module, X: torch.Tensor) -> float:
    """各样本的 logits 与它们的平均之差的均方根：接近 0 说明网络对
    不同的输入给出几乎一样的输出。"""
    with torch.no_grad():
        logits = model(X)
    centered = logits - logits.mean(dim=0)
    return centered.pow(2).sum(dim=1).mean().sqrt().item()


def deep_training_experiment(
    cfg: WidthDepthConfig = WidthDepthConfig(),
) -> dict[str, list[tuple[list[float], float, float]]]:
    """实验三：训练很深的网络。

    返回 ``{标签: [(每步损失, 验证准确率, logits 的差异)]}``，每个种子一项；
    最后一项是训练后 logits 在验证输入之间的差异（见 ``logit_spread``）。"""
    from dlbasics.activations import init_weights
    from dlbasics.training import evaluate, train_classifier

    data = make_splits(cfg)
    results = {}
    for label, (act, scheme, residual, lr_name) in DEEP_SETTINGS.items():
        runs = []
        for seed in cfg.seeds:
            model = DeepMLP(
                cfg.deep_depth,
                cfg.deep_width,
                activation=act,
                residual=residual,
            )
            init_weights(
                model, scheme, generator=torch.Generator().manual_seed(seed)
            )
            history = train_classifier(
                model, *data["train"], lr=getattr(cfg, lr_name),
                num_steps=cfg.deep_steps,
            )  # fmt: skip
            runs.append(
                (
                    history.train_losses,
                    evaluate(model, *data["val"]),
                    logit_spread(model, data["val"][0]),
                )
            )
        results[label] = runs
    return results


def width_redundancy_experiment(
    cfg: WidthDepthConfig = WidthDepthConfig(),
) -> dict[int, tuple[int, float]]:
    """选读：一个隐藏层、不同宽度。

    返回 ``{宽度: (隐藏特征的有效秩, 验证准确率)}``。
    """
    from dlbasics.training import evaluate, train_classifier

    data = make_splits(cfg)
    results = {}
    for width in cfg.widths:
        model = make_network(1, width, cfg.seeds[0], cfg)
        train_classifier(
            model, *data["train"], lr=cfg.width_lr, num_steps=cfg.num_steps
        )
        features = last_hidden_features(model, data["train"][0])
        results[width] = (
            effective_rank(features),
            evaluate(model, *data["val"]),
        )
    return results
