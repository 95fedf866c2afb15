"""dlbasics.tensors 的测试：属性、广播规则、SVD 重建、统计量、数值导数。"""

from __future__ import annotations

import math

import pytest
import torch

from conftest import bad_input
from dlbasics.tensors import (
    HistogramDemo,
    NoisyLineDataset,
    TinyMLP,
    associativity_gap,
    broadcast_shape,
    central_difference,
    choose_device,
    describe,
    make_loader,
    normal_pdf,
    plot_broadcast,
    plot_histogram_with_density,
    sample_mean_var,
    svd_reconstruction_error,
)


def test_describe_reports_shape_dtype_and_device():
    info = describe(torch.zeros(2, 3, 4, dtype=torch.int64))
    assert info == {
        "shape": (2, 3, 4),
        "ndim": 3,
        "numel": 24,
        "dtype": torch.int64,
        "device": "cpu",
    }
    assert describe(torch.tensor(1.5))["shape"] == ()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((3, 1), (1, 4)),
        ((3, 1), (4,)),
        ((5, 1, 3), (2, 1)),
        ((), (2, 3)),
        ((1,), (7,)),
        ((8, 1, 6, 1), (7, 1, 5)),
        ((2, 3), (2, 3)),
    ],
)
def test_broadcast_shape_agrees_with_pytorch(a, b):
    assert broadcast_shape(a, b) == tuple(torch.broadcast_shapes(a, b))
    assert broadcast_shape(b, a) == broadcast_shape(a, b)


@pytest.mark.parametrize(("a", "b"), [((2, 3), (2,)), ((4, 3), (3, 4))])
def test_broadcast_shape_rejects_what_pytorch_rejects(a, b):
    with pytest.raises(RuntimeError):
        torch.broadcast_shapes(a, b)
    with pytest.raises(ValueError, match="不能广播"):
        broadcast_shape(a, b)


def test_svd_rebuilds_the_matrix_to_rounding_error():
    A = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    err32 = svd_reconstruction_error(A)
    err64 = svd_reconstruction_error(A.double())
    assert 0 <= err32 < 1e-5
    assert err64 < 1e-12
    assert err64 < err32  # 更高的精度，更小的舍入误差
    with pytest.raises(ValueError, match="矩阵"):
        svd_reconstruction_error(torch.ones(3))


def test_sample_mean_var_uses_the_unbiased_estimator():
    mean, var = sample_mean_var(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert mean == 2.5
    assert var == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="2 个样本"):
        sample_mean_var(torch.tensor([1.0]))


def test_histogram_sample_statistics_are_close_to_standard_normal():
    demo = HistogramDemo()
    g = torch.Generator().manual_seed(demo.seed)
    mean, var = sample_mean_var(torch.randn(demo.n, generator=g))
    # 均值的标准误差是 1/sqrt(n)，方差的约为 sqrt(2/n)；取 3 倍作为界
    assert abs(mean) < 3 / math.sqrt(demo.n)
    assert abs(var - 1) < 3 * math.sqrt(2 / demo.n)


def test_normal_pdf_peaks_at_the_mean_and_integrates_to_one():
    x = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    p = normal_pdf(x)
    assert p.max().item() == pytest.approx(1 / math.sqrt(2 * math.pi))
    assert torch.trapezoid(p, x).item() == pytest.approx(1.0, abs=1e-9)
    shifted = normal_pdf(x, mean=1.0, std=2.0)
    assert x[shifted.argmax()].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="std"):
        normal_pdf(x, std=0.0)


def test_central_difference_matches_the_exact_derivative():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    approx = central_difference(lambda t: t**3, x, h=1e-4)
    torch.testing.assert_close(approx, 3 * x**2, atol=1e-7, rtol=0)
    with pytest.raises(ValueError, match="h"):
        central_difference(torch.sin, x, h=0.0)


def test_associativity_gap_is_rounding_only():
    g = torch.Generator().manual_seed(3)
    mats = [
        torch.randn(*s, generator=g) for s in [(50, 40), (40, 60), (60, 30)]
    ]
    gap32 = associativity_gap(*mats)
    gap64 = associativity_gap(*(m.double() for m in mats))
    # 练习的前提：float32 下确实不为 0，提高精度后小很多个数量级
    assert 0 < gap32 < 1e-3
    assert 0 <= gap64 < gap32 * 1e-6
    eye = torch.eye(3)
    assert associativity_gap(eye, eye, eye) == 0
    with pytest.raises(ValueError, match="依次相乘"):
        associativity_gap(torch.ones(2, 3), torch.ones(2, 3), torch.ones(3, 1))
    with pytest.raises(ValueError, match="矩阵"):
        associativity_gap(torch.ones(3), eye, eye)


# ---------- 正文的结论：对构建时 glue 的数字断言 ----------


def test_float64_is_many_orders_more_exact_than_float32(page):
    assert page["svd_err32"] < 10 * page["eps32"]
    assert page["svd_err64"] < 10 * page["eps64"]
    assert page["svd_err64"] < page["svd_err32"] * 1e-6
    assert 0 < page["assoc_diff32"] and page["assoc_diff64"] < (
        page["assoc_diff32"] * 1e-6
    )


def test_sample_mean_lies_within_two_standard_errors(page):
    assert abs(page["hist_mean"]) < 2 * page["hist_se"]
    assert abs(page["hist_var"] - 1) < 0.1
    assert page["hist_per_bin"] == page["hist_n"] / page["hist_bins"]


def test_autograd_matches_the_hand_derivative(page):
    assert page["ad_grad"] == page["ad_hand"] == 3 * page["ad_x"] ** 2 + 2
    assert page["ad_err_hand"] < 1e-12
    assert page["ad_err_numeric"] < 1e-8
    # 两次 backward 不清零：梯度恰好累加成两倍
    assert page["ad_double_ratio"] == 2.0


# ---------- 本章的图 ----------


def test_histogram_with_density_draws_bins_and_the_curve():
    sample = torch.randn(200, generator=torch.Generator().manual_seed(0))
    ax = plot_histogram_with_density(sample, 20)
    assert len(ax.patches) == 20
    assert len(ax.get_lines()) == 1
    # 密度直方图：柱子面积之和为 1
    area = sum(p.get_width() * p.get_height() for p in ax.patches)
    assert area == pytest.approx(1.0)


def test_plot_broadcast_draws_every_cell_and_rejects_bad_shapes():
    ax = plot_broadcast((3, 1), (1, 4))
    assert len(ax.patches) == 3 * (3 * 4)
    dashed = [p for p in ax.patches if p.get_linestyle() == "--"]
    assert len(dashed) == (12 - 3) + (12 - 4)  # 复制出来的格子
    with pytest.raises(ValueError, match="不能广播"):
        plot_broadcast((2, 3), (3, 2))


def test_tiny_mlp_registers_its_parameters_and_respects_dropout_modes():
    torch.manual_seed(0)
    model = TinyMLP(3, 5, 2, dropout=0.5)
    assert sum(p.numel() for p in model.parameters()) == 3 * 5 + 5 + 5 * 2 + 2
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
    assert model(x).shape == (4, 2)


def test_loader_is_seeded_and_covers_every_sample_once_per_epoch():
    data = NoisyLineDataset(10, generator=torch.Generator().manual_seed(0))
    assert len(data) == 10 and data[3][0].shape == (1,)
    batches = [xb for xb, _ in make_loader(data, 4, seed=7)]
    again = [xb for xb, _ in make_loader(data, 4, seed=7)]
    assert [len(b) for b in batches] == [4, 4, 2]
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))
    seen = torch.cat(batches)[:, 0].sort().values
    assert torch.equal(seen, data.x[:, 0].sort().values)
    residual = data.y - (2 * data.x + 1)
    assert residual.abs().max() < 0.5


def test_choose_device_falls_back_to_cpu():
    assert choose_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert choose_device().type == expected
    with bad_input("prefer"):
        choose_device("gpu")
    with bad_input("batch_size"):
        make_loader(
            NoisyLineDataset(3, generator=torch.Generator()), 0, seed=0
        )
    with bad_input("dropout"):
        TinyMLP(1, 2, 1, dropout=1.0)


def test_toolkit_section_numbers(page):
    assert page["row_share_sums"] == pytest.approx([1.0, 1.0])
    assert page["tiny_params"] == 49
    assert page["n_batches"] == -(-page["n_samples"] // page["batch_size"])
    assert 0 < page["last_batch"] < page["batch_size"]  # “最后一批只有 …”
    assert page["loop_after"] < page["loop_before"] / 10
    assert page["state_dict_same"] is True
