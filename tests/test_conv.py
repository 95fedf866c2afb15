"""dlbasics.conv 的测试：与 PyTorch 的卷积、池化逐个对照。"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import bad_input
from dlbasics.conv import (
    conv_output_size,
    conv_vs_dense_params,
    corr2d,
    corr2d_multi_in,
    corr2d_multi_in_out,
    learn_kernel,
    plot_matrix,
    pool2d,
    receptive_field,
)
from dlbasics.utils import count_parameters


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kshape", [(1, 1), (2, 3), (3, 3), (5, 2)])
def test_corr2d_matches_conv2d(kshape):
    X = torch.randn(6, 7, generator=gen(1), dtype=torch.float64)
    K = torch.randn(*kshape, generator=gen(2), dtype=torch.float64)
    expected = F.conv2d(X[None, None], K[None, None])[0, 0]
    torch.testing.assert_close(corr2d(X, K), expected)


def test_corr2d_by_hand():
    X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    K = torch.tensor([[1.0, -1.0]])
    assert corr2d(X, K).tolist() == [[-1.0, -1.0], [-1.0, -1.0]]


@pytest.mark.parametrize(
    ("n", "k", "p", "s"),
    [(8, 3, 0, 1), (8, 3, 1, 1), (7, 3, 1, 2), (224, 11, 2, 4), (5, 5, 0, 3)],
)
def test_output_size_formula_matches_pytorch(n, k, p, s):
    layer = nn.Conv2d(1, 1, k, padding=p, stride=s)
    assert (
        conv_output_size(n, k, p, s)
        == layer(torch.zeros(1, 1, n, n)).shape[-1]
    )


def test_multi_channel_matches_conv2d():
    X = torch.randn(3, 5, 6, generator=gen(3), dtype=torch.float64)
    K = torch.randn(4, 3, 2, 3, generator=gen(4), dtype=torch.float64)
    torch.testing.assert_close(
        corr2d_multi_in_out(X, K), F.conv2d(X[None], K)[0]
    )
    torch.testing.assert_close(
        corr2d_multi_in(X, K[0]), F.conv2d(X[None], K[:1])[0, 0]
    )


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(("size", "stride"), [(2, None), (3, 1), (2, 3)])
def test_pooling_matches_pytorch(mode, size, stride):
    X = torch.randn(7, 8, generator=gen(5), dtype=torch.float64)
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    expected = fn(X[None, None], size, stride=stride)[0, 0]
    torch.testing.assert_close(pool2d(X, size, stride, mode), expected)


def test_parameter_counts_match_real_layers():
    counts = conv_vs_dense_params(10, 12, 3, 4, 3)
    assert counts["conv"] == count_parameters(nn.Conv2d(3, 4, 3, padding=1))
    dense = nn.Linear(3 * 10 * 12, 4 * 10 * 12, device="meta")
    assert counts["dense"] == count_parameters(dense)


def test_receptive_field_grows_with_depth_and_stride():
    assert receptive_field([3], [1]) == 3
    assert receptive_field([3, 3], [1, 1]) == 5
    assert receptive_field([2, 3], [2, 1]) == 6
    # 与实际网络核对：改动输入的一个像素，影响到的输出范围
    net = nn.Sequential(
        nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3)
    )
    x = torch.zeros(1, 1, 20, 20, requires_grad=True)
    net(x)[0, 0, 0, 0].backward()
    touched = x.grad[0, 0].abs().sum(dim=0).nonzero().squeeze()
    assert len(touched) <= receptive_field([3, 2, 3], [1, 2, 1]) == 8


def test_learned_kernel_recovers_the_edge_detector():
    X = torch.randn(8, 8, generator=gen(6))
    target = torch.tensor([[1.0, -1.0]])
    kernel, losses = learn_kernel(
        X, corr2d(X, target), (1, 2), lr=0.01, num_steps=200, generator=gen(0)
    )
    torch.testing.assert_close(kernel, target, atol=1e-3, rtol=0)
    assert losses[-1] < 1e-4 * losses[0]


def test_plot_matrix_writes_every_value():
    fig, ax = plt.subplots()
    M = torch.tensor([[1.0, -0.0], [2.5, 3.0]])
    assert plot_matrix(M, ax, highlight=(0, 0, 1, 2), title="t") is ax
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2.5", "3"]
    assert len(ax.patches) == 1
    plt.close(fig)


def test_bad_inputs_are_refused_with_clear_messages():
    X = torch.zeros(3, 3)
    with bad_input("比输入"):
        corr2d(X, torch.zeros(4, 1))
    with bad_input("浮点"):
        corr2d(torch.zeros(3, 3, dtype=torch.long), torch.zeros(2, 2))
    with bad_input("没有一个完整的窗口"):
        conv_output_size(3, 7)
    with bad_input("stride"):
        conv_output_size(8, 3, 0, 0)
    with bad_input("通道"):
        corr2d_multi_in(torch.zeros(2, 3, 3), torch.zeros(3, 2, 2))
    with bad_input("mode"):
        pool2d(X, 2, mode="min")
    with bad_input("奇数"):
        conv_vs_dense_params(8, 8, 1, 1, 4)
    with bad_input("对不上"):
        learn_kernel(X, X, (2, 2), lr=0.1, num_steps=1, generator=gen())
    with bad_input("kernel_shape 应是两个值"):
        learn_kernel(X, X, (2, 2, 1), lr=0.1, num_steps=1, generator=gen())
    with bad_input("长度应相同"):
        receptive_field([3, 3], [1])


def test_page_states_what_its_numbers_show(page):
    assert (
        page["corr_matches"] and page["pool_match"] and page["size_all_match"]
    )
    assert page["y00"] == -1.0 and page["y00_expr"].endswith("4·(-1)")
    assert page["alex_side"] == 55  # 论文与 cnn 一章的 55×55
    assert page["channel_err"] < 1e-5
    # 学到的核接近 [1, -1]，损失降了许多个数量级
    assert page["learned_k0"] == pytest.approx(1.0, abs=1e-3)
    assert page["learned_k1"] == pytest.approx(-1.0, abs=1e-3)
    assert page["learn_loss_last"] < 1e-6 * page["learn_loss_first"]
    # 池化：窗口内的挪动被吸收，跨窗口的挪动不会
    assert page["feature_changed"] > 0 and page["pooled_changed"] == 0
    assert page["shift_across_changed"] > 0
    # 正文：“这两列落在同一个 2×2 池化窗口里”，练习：“分属两个窗口”
    assert page["response_col_before"] // 2 == page["response_col_after"] // 2
    assert page["across_col_before"] // 2 != page["across_col_after"] // 2
    assert page["conv_params"] == 156
    assert page["dense_over_conv"] > 1e4
    assert page["rf_two_3x3"] == 5 and page["rf_lenet"] == 16
    # 最大池化的梯度练习：左下角窗口有并列的最大值，梯度只给其中一个
    assert page["pool_n_ties"] == 1
    assert page["pool_tie_window"] == [1, 0]
    assert page["pool_tie_got_grad"] == 1
