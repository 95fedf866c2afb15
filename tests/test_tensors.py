"""dlbasics.tensors 的测试：属性、广播规则、SVD 重建、统计量、数值导数。"""

from __future__ import annotations

import math

import pytest
import torch

from dlbasics.tensors import (
    HistogramDemo,
    associativity_gap,
    broadcast_shape,
    central_difference,
    describe,
    normal_pdf,
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


# ---------- 正文中的数字（tests/test_book.py 与页面比对） ----------


def book_numbers() -> dict[str, float]:
    """按 book/tensors.md 的步骤独立重算正文引用的每个数字。"""
    A = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    demo = HistogramDemo()
    g = torch.Generator().manual_seed(demo.seed)
    mean, var = sample_mean_var(torch.randn(demo.n, generator=g))

    x = torch.tensor(2.0, requires_grad=True)
    (x**3 + 2 * x).backward()

    def f(t):
        return torch.sin(t) * t**2

    xs = torch.linspace(-3, 3, 61, dtype=torch.float64, requires_grad=True)
    f(xs).sum().backward()
    hand = torch.cos(xs) * xs**2 + 2 * xs * torch.sin(xs)
    numeric = central_difference(f, xs.detach(), h=1e-5)

    xe = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    for _ in range(2):  # 练习：两次 backward 之间不清零
        torch.exp(-(xe**2)).sum().backward()
    exact = -2 * xe.detach() * torch.exp(-(xe.detach() ** 2))
    ratio = (xe.grad / exact)[exact != 0]

    g = torch.Generator().manual_seed(3)  # 练习：矩阵乘法的结合律
    mats = [
        torch.randn(*s, generator=g) for s in [(50, 40), (40, 60), (60, 30)]
    ]
    return {
        "assoc_diff32": associativity_gap(*mats),
        "assoc_diff64": associativity_gap(*(m.double() for m in mats)),
        "eps32": torch.finfo(torch.float32).eps,
        "eps64": torch.finfo(torch.float64).eps,
        "svd_err32": svd_reconstruction_error(A),
        "svd_err64": svd_reconstruction_error(A.double()),
        "hist_n": demo.n,
        "hist_bins": demo.bins,
        "hist_mean": mean,
        "hist_var": var,
        "hist_se": 1 / demo.n**0.5,
        "hist_per_bin": demo.n / demo.bins,
        "ad_x": 2.0,
        "ad_grad": x.grad.item(),
        "ad_hand": 3 * 2.0**2 + 2,
        "ad_err_hand": (xs.grad - hand.detach()).abs().max().item(),
        "ad_err_numeric": (xs.grad - numeric).abs().max().item(),
        "ad_double_ratio": ratio.mean().item(),
    }
