"""dlbasics.activations 的测试：导数、深层网络的梯度、矩阵连乘、梯度裁剪。"""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch
from torch import nn

from dlbasics.activations import (
    ACTIVATION_LABELS,
    ACTIVATIONS,
    GRADIENT_SETTINGS,
    LEAKY_SLOPE,
    DeepMLP,
    GradientConfig,
    autograd_derivative,
    derivative,
    first_to_last_ratio,
    geometric_mean,
    gradient_norms_by_gain,
    gradient_norms_by_setting,
    init_weights,
    layer_grad_norms,
    matrix_product_norms,
    preactivation_rms,
)
from dlbasics.spiral import make_spiral

X_GRID = torch.arange(-400, 401, dtype=torch.float64) / 100  # 恰好含 0


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_closed_form_derivative_matches_autograd(name):
    auto = autograd_derivative(ACTIVATIONS[name], X_GRID)
    torch.testing.assert_close(
        derivative(name, X_GRID), auto, atol=1e-12, rtol=0
    )


def test_every_activation_has_a_display_label():
    assert set(ACTIVATION_LABELS) == set(ACTIVATIONS)
    assert ACTIVATION_LABELS["leaky_relu"] == "Leaky ReLU"


def test_sigmoid_derivative_peaks_at_a_quarter_at_zero():
    d = derivative("sigmoid", X_GRID)
    assert d.max().item() == pytest.approx(0.25)
    assert X_GRID[d.argmax()].item() == 0.0


def test_relu_family_derivatives_on_both_sides():
    x = torch.tensor([-2.0, 0.0, 3.0])
    assert derivative("relu", x).tolist() == [0.0, 0.0, 1.0]
    assert derivative("leaky_relu", x).tolist() == pytest.approx(
        [LEAKY_SLOPE, LEAKY_SLOPE, 1.0]
    )


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="name 应是激活函数的名字"):
        derivative("swish", X_GRID)
    with pytest.raises(ValueError, match="activation 应是激活函数的名字"):
        DeepMLP(2, 4, activation="swish")


def test_deep_mlp_shapes_and_residual_path():
    x = torch.randn(5, 2, generator=gen(0))
    for residual in (False, True):
        model = DeepMLP(4, 8, activation="tanh", residual=residual)
        assert model(x).shape == (5, 3)
        assert len(model.hidden) == 4
    with pytest.raises(ValueError, match="depth"):
        DeepMLP(0, 8)
    with pytest.raises(ValueError, match="width"):
        DeepMLP(3, 0)


@pytest.mark.parametrize(
    ("scheme", "expected_var"),
    [
        ("pytorch", lambda n_in, n_out: 1 / (3 * n_in)),
        ("xavier", lambda n_in, n_out: 2 / (n_in + n_out)),
        ("he", lambda n_in, n_out: 2 / n_in),
    ],
)
def test_init_weights_gives_the_documented_variance(scheme, expected_var):
    model = DeepMLP(2, 400, in_features=300)
    init_weights(model, scheme, generator=gen(0))
    w = model.hidden[1].weight  # 400 × 400
    assert w.var().item() == pytest.approx(expected_var(400, 400), rel=0.03)
    with pytest.raises(ValueError, match="初始化方案"):
        init_weights(model, "orthogonal", generator=gen(0))


def test_xavier_and_he_biases_are_zero_unless_asked():
    model = init_weights(DeepMLP(2, 400), "he", generator=gen(0))
    assert all((layer.bias == 0).all() for layer in model.hidden)
    init_weights(model, "he", generator=gen(0), bias_std=0.3)
    bias = model.hidden[1].bias
    assert bias.std().item() == pytest.approx(0.3, rel=0.15)
    with pytest.raises(ValueError, match="bias_std"):
        init_weights(model, "he", generator=gen(0), bias_std=-1.0)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_pytorch_scheme_is_exactly_pytorchs_default(seed):
    """标为“PyTorch 默认初始化”的，就是 nn.Linear 自己的初始化：逐位相同。"""
    torch.manual_seed(seed)
    theirs = DeepMLP(4, 16)
    ours = init_weights(DeepMLP(4, 16), "pytorch", generator=gen(seed))
    for p, q in zip(theirs.parameters(), ours.parameters(), strict=True):
        assert torch.equal(p, q)
    assert (ours.hidden[0].bias != 0).all()  # 偏置不为 0


def test_init_weights_is_reproducible_with_a_generator():
    a = init_weights(DeepMLP(3, 16), "he", generator=gen(5))
    b = init_weights(DeepMLP(3, 16), "he", generator=gen(5))
    assert all(
        torch.equal(p, q)
        for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


@pytest.fixture(scope="module")
def spiral_batch():
    return make_spiral(100, 3, 0.2, generator=gen(12345))


@pytest.fixture(scope="module")
def grad_norms():
    return gradient_norms_by_setting(GradientConfig())


def ratios(grad_norms, label):
    return first_to_last_ratio(grad_norms[label])


def test_gradient_experiment_shapes(grad_norms):
    cfg = GradientConfig()
    assert set(grad_norms) == set(GRADIENT_SETTINGS)
    for norms in grad_norms.values():
        assert norms.shape == (len(cfg.seeds), cfg.depth)
        assert (norms > 0).all()


def test_sigmoid_gradients_vanish_where_relu_with_he_init_does_not(
    grad_norms,
):
    # 每个种子都成立，不只是平均
    assert ratios(grad_norms, "sigmoid，PyTorch 默认初始化").max() < 1e-10
    assert ratios(grad_norms, "ReLU，He 初始化").min() > 1e-2
    assert grad_norms["ReLU，He 初始化"].min() > 1e-3
    assert ratios(grad_norms, "tanh，Xavier 初始化").min() > 0.1


def test_relu_with_pytorch_default_init_still_vanishes(grad_norms):
    r = ratios(grad_norms, "ReLU，PyTorch 默认初始化")
    assert r.max() < 1e-5
    # 正文的解释：每层约乘 √(1/6)；实测的每层因子与它相差不到 15%
    depth = GradientConfig().depth
    factor = geometric_mean(r) ** (1 / (depth - 1))
    assert factor == pytest.approx(math.sqrt(1 / 6), rel=0.15)
    # 种子间的范围与 He 初始化的范围不重叠
    assert r.max() < ratios(grad_norms, "ReLU，He 初始化").min() * 1e-3


def test_seed_spread_is_small_next_to_the_gaps_between_settings(grad_norms):
    """正文：种子之间的差别在一个数量级以内。"""
    for label in grad_norms:
        r = ratios(grad_norms, label)
        assert r.max() / r.min() < 10, label


def test_residual_connections_restore_the_gradient(grad_norms):
    plain = ratios(grad_norms, "sigmoid，PyTorch 默认初始化")
    residual = ratios(grad_norms, "sigmoid + 残差连接")
    assert residual.min() > 1e6 * plain.max()


def test_geometric_mean_and_ratio_helpers():
    assert geometric_mean(torch.tensor([1e-2, 1e2])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="正数"):
        geometric_mean(torch.tensor([1.0, 0.0]))
    norms = torch.tensor([[2.0, 1.0, 4.0]])
    assert first_to_last_ratio(norms).tolist() == [0.5]


def test_product_of_standard_gaussian_matrices_explodes():
    finals = [
        matrix_product_norms(100, 4, 1.0, generator=gen(s))[-1].item()
        for s in range(10)
    ]
    assert min(finals) > 1e15
    norms = matrix_product_norms(100, 4, 1.0, generator=gen(0))
    assert norms.shape == (101,) and norms.dtype == torch.float64
    assert torch.isfinite(norms).all()


def test_xavier_scaled_product_does_not_explode_but_drifts_down():
    finals = torch.tensor(
        [
            matrix_product_norms(100, 4, 0.5, generator=gen(s))[-1].item()
            for s in range(20)
        ]
    )
    assert finals.max() < 1.0
    assert finals.median() < 1e-3


def test_matrix_product_is_reproducible_and_validates_input():
    a = matrix_product_norms(10, generator=gen(3))
    b = matrix_product_norms(10, generator=gen(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="std"):
        matrix_product_norms(10, std=0.0, generator=gen(0))
    with pytest.raises(ValueError, match="num_matrices"):
        matrix_product_norms(0, generator=gen(0))


def test_clipping_bounds_the_total_gradient_norm(spiral_batch):
    model = DeepMLP(20, 64, activation="relu")
    init_weights(model, "he", generator=gen(0), gain=2.0)
    layer_grad_norms(model, *spiral_batch)
    before = nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
    after = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    assert before > 1e3  # 确实爆炸了
    assert after.item() == pytest.approx(1.0, rel=1e-4)


# ---------- 正文的结论：对构建时 glue 的数字断言 ----------


def test_stacked_linear_layers_collapse_and_derivatives_match(page):
    assert page["collapse_diff"] < 1e-5
    assert page["act_max_err"] < 1e-12
    assert page["sigmoid_grad_max"] == 0.25
    assert page["sigmoid_grad_argmax"] == 0.0
    assert -0.2 < page["gelu_min"] < -0.16


def test_gradient_ratios_order_the_settings_as_the_text_says(page):
    order = ["sigmoid", "relu_default", "residual", "relu_he", "tanh"]
    ratios = [page[f"ratio_{tag}"] for tag in order]
    assert ratios == sorted(ratios)
    # 相邻两种设置的种子区间不重叠：差别大于种子之间的差别
    for low, high in pairwise(order):
        assert page[f"ratio_{low}_max"] < page[f"ratio_{high}_min"]
    assert page["ratio_sigmoid"] < 1e-12
    # 默认初始化的 ReLU：每层缩小的倍数接近理论值 sqrt(1/6)
    assert abs(page["relu_default_factor"] / page["relu_default_predicted"]
               - 1) < 0.1  # fmt: skip
    assert page["residual_orders"] > 10


def test_matrix_products_explode_or_vanish_unless_scaled(page):
    assert page["mp_std1_min"] > 1e15
    assert page["mp_xavier_max"] < 1
    assert page["mp_he_median"] > 1e5
    assert page["mp_xavier_factor"] < 1


def test_clipping_brings_an_exploding_norm_to_the_threshold(page):
    assert page["clip_before"] > 1e3
    assert abs(page["clip_after"] - page["clip_max_norm"]) < 1e-5


@pytest.mark.parametrize(
    ("scheme", "factor"), [("pytorch", 1 / 6), ("xavier", 1 / 2), ("he", 1.0)]
)
def test_relu_signal_scale_follows_the_variance_derivation(scheme, factor):
    rms = preactivation_rms(
        "relu",
        scheme,
        depth=3,
        width=512,
        n_samples=2000,
        generator=torch.Generator().manual_seed(0),
    )
    assert rms.shape == (3,)
    first_layer_var = {"pytorch": 1 / 3, "xavier": 1.0, "he": 2.0}[scheme]
    assert rms[0].item() ** 2 == pytest.approx(first_layer_var, rel=0.1)
    measured = (rms[1] / rms[0]).item() ** 2
    # 偏置的方差 1/(3n) 让默认初始化略高于 1/6
    assert measured == pytest.approx(factor, rel=0.15)


def test_initialisation_section_matches_the_derivation(page):
    for n in (16, 64, 256, 1024):
        assert page[f"var_ratio_{n}"] == pytest.approx(1.0, abs=0.3)
        assert page["var_ratio_min"] <= page[f"var_ratio_{n}"]
        assert page[f"var_ratio_{n}"] <= page["var_ratio_max"]
    assert page["relu_half"] == pytest.approx(0.5, abs=0.005)
    for scheme in ("pytorch", "xavier", "he"):
        predicted = page[f"rms_predicted_{scheme}"]
        assert page[f"rms_factor_{scheme}_min"] > 0.85 * predicted
        assert page[f"rms_factor_{scheme}_max"] < 1.15 * predicted
    assert page["rms_last_xavier_max"] < 1e-3
    # He：30 层后仍与第 1 层的 √2 同一量级（有升有降，“缓慢地漂移”）
    first = 2**0.5
    assert (
        first / 2 < page["rms_last_he_min"] < first < page["rms_last_he_max"]
    )
    assert page["rms_last_he_max"] < 2 * first


# ---------- He 初始化乘倍数 g（滑块图） ----------

TINY_GRAD = GradientConfig(depth=6, width=16, n_per_class=20, seeds=(0, 1))


def test_gain_one_is_he_initialisation():
    by_gain = gradient_norms_by_gain((0.5, 1.0), TINY_GRAD)
    assert by_gain.shape == (2, 2, 6)
    he = gradient_norms_by_setting(TINY_GRAD)["ReLU，He 初始化"]
    assert torch.equal(by_gain[1], he)


def test_gain_shifts_every_layer_by_about_the_same_factor():
    """偏置为 0 的 ReLU 网络是正齐次的：权重乘 g，每层梯度约乘 g^depth。"""
    gains = (0.5, 1.0, 2.0)
    norms = gradient_norms_by_gain(gains, TINY_GRAD)
    shapes = [geometric_mean(first_to_last_ratio(n)) for n in norms]
    assert max(shapes) / min(shapes) < 3
    levels = [geometric_mean(n) for n in norms]
    for g, level in zip(gains, levels, strict=True):
        predicted = levels[1] * g**TINY_GRAD.depth
        assert predicted / 4 < level < predicted * 4


def test_gain_section_claims_match_the_numbers(page):
    levels = page["gain_levels"]
    gains = sorted(levels)
    assert gains[0] == page["gain_min"] and gains[-1] == page["gain_max"]
    # “从 … 升到 …”：随 g 单调上升
    assert all(levels[a] < levels[b] for a, b in pairwise(gains))
    assert page["gain_orders"] > 10
    # “变的是高度而不是斜率”：比值只差几倍，水平差十几个数量级
    assert page["gain_shape_max"] / page["gain_shape_min"] < 5
    assert 0.2 < page["gain_vs_power_min"] <= page["gain_vs_power_max"] < 5
    assert page["gain_up_factor"] > 10 and page["gain_down_factor"] > 10
    # 练习：去掉偏置，比值从极小回到“零点几”
    assert page["zero_bias_ratio_False"] < 1e-4
    assert 0.1 <= page["zero_bias_ratio_True"] < 1
    assert page["zero_bias_ratio_False"] == pytest.approx(
        page["ratio_relu_default"]
    )


def test_batch_norm_stops_the_default_init_gradients_from_vanishing(page):
    # 对照（不加 BatchNorm）就是正文的“ReLU + PyTorch 默认初始化”
    assert page["bn_control_matches"] is True
    assert page["ratio_relu_default"] < 1e-5
    # 加上之后比值不再是许多个数量级的衰减，每层梯度都不小
    assert 1e-1 < page["bn_ratio_min"] <= page["bn_ratio"]
    assert page["bn_ratio"] <= page["bn_ratio_max"] < 1e2
    assert page["bn_grad_min"] > 0.1


def test_default_init_slope_comes_from_the_biases(page):
    # 同样的权重、偏置设为 0：比值回到零点几，与 g 倍 He 初始化的范围相当
    assert page["zero_bias_ratio_False"] == pytest.approx(
        page["ratio_relu_default"]
    )
    assert 0.1 < page["zero_bias_ratio_True"] < 1
    assert page["zero_bias_ratio_True"] > 1e4 * page["zero_bias_ratio_False"]
