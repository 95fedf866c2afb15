"""dlbasics.softmax 的测试：对照 PyTorch、极端输入、性质、gradcheck。"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import bad_input
from dlbasics.softmax import (
    DoubleSoftmaxConfig,
    LossChoiceConfig,
    cross_entropy,
    double_softmax_experiment,
    log_softmax,
    logsumexp,
    loss_choice_experiment,
    make_blobs,
    mse_on_probabilities,
    softmax,
    softmax_naive,
    softmax_regression_step,
    softmax_with_temperature,
)
from dlbasics.training import accuracy


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


RANDOM = torch.randn(16, 7, generator=gen(0)) * 3
EXTREME = torch.tensor(
    [
        [1000.0, 999.0, -1000.0],
        [-5000.0, -5001.0, -4999.0],
        [3000.0, 0.0, -3000.0],
    ]
)


@pytest.mark.parametrize(
    "logits", [RANDOM, EXTREME], ids=["random", "extreme"]
)
def test_matches_pytorch(logits):
    torch.testing.assert_close(softmax(logits), torch.softmax(logits, dim=-1))
    torch.testing.assert_close(
        log_softmax(logits), torch.log_softmax(logits, dim=-1)
    )
    torch.testing.assert_close(
        logsumexp(logits), torch.logsumexp(logits, dim=-1)
    )
    y = torch.arange(len(logits)) % logits.shape[1]
    torch.testing.assert_close(
        cross_entropy(logits, y), F.cross_entropy(logits, y)
    )


def test_extreme_inputs_stay_finite_where_the_naive_version_fails():
    assert torch.isnan(softmax_naive(EXTREME)).any()
    assert torch.isfinite(softmax(EXTREME)).all()
    assert torch.isfinite(log_softmax(EXTREME)).all()


def test_rows_sum_to_one_and_order_is_kept():
    p = softmax(RANDOM)
    torch.testing.assert_close(p.sum(dim=-1), torch.ones(len(RANDOM)))
    assert (p > 0).all()
    assert torch.equal(p.argmax(dim=-1), RANDOM.argmax(dim=-1))


def test_shift_invariance():
    shift = torch.randn(16, 1, generator=gen(1)) * 100
    torch.testing.assert_close(softmax(RANDOM + shift), softmax(RANDOM))
    torch.testing.assert_close(
        log_softmax(RANDOM + shift), log_softmax(RANDOM), atol=1e-4, rtol=0
    )


def test_two_class_softmax_is_sigmoid_of_the_difference():
    pairs = torch.randn(100, 2, generator=gen(2), dtype=torch.float64) * 5
    torch.testing.assert_close(
        softmax(pairs)[:, 0], torch.sigmoid(pairs[:, 0] - pairs[:, 1])
    )


def test_gradcheck_in_float64():
    x = torch.randn(
        4, 5, generator=gen(3), dtype=torch.float64, requires_grad=True
    )
    y = torch.tensor([0, 3, 4, 1])
    assert torch.autograd.gradcheck(softmax, (x,))
    assert torch.autograd.gradcheck(log_softmax, (x,))
    assert torch.autograd.gradcheck(lambda z: cross_entropy(z, y), (x,))


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    x = torch.randn(
        6, 4, generator=gen(4), dtype=torch.float64, requires_grad=True
    )
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    cross_entropy(x, y).backward()
    expected = (softmax(x) - F.one_hot(y, 4)).detach() / len(y)
    torch.testing.assert_close(x.grad, expected)


@pytest.mark.parametrize(
    ("logits", "y", "message"),
    [
        (torch.zeros(3, 4), torch.zeros(2, dtype=torch.long), "y 有 2 个"),
        (torch.zeros(3), torch.zeros(3, dtype=torch.long), "logits 应是2 阶"),
        (torch.zeros(3, 4), torch.zeros(3), "torch.long"),
        (torch.zeros(3, 4), torch.tensor([0, 1, 4]), "小于类别数 4"),
        (torch.zeros(3, 4), torch.tensor([0, -1, 2]), "从 0 开始"),
        (torch.zeros(3, 4, dtype=torch.long), torch.tensor([0, 1, 2]), "浮点"),
    ],
)
def test_cross_entropy_rejects_bad_input(logits, y, message):
    with bad_input(message):
        cross_entropy(logits, y)


def test_temperature_limits_and_validation():
    z = torch.tensor([2.0, 1.0, 0.5, -1.0])
    cold = softmax_with_temperature(z, 0.01)
    hot = softmax_with_temperature(z, 1e4)
    assert cold[0] > 0.999
    torch.testing.assert_close(hot, torch.full((4,), 0.25), atol=1e-3, rtol=0)
    torch.testing.assert_close(softmax_with_temperature(z, 1.0), softmax(z))
    with bad_input("temperature"):
        softmax_with_temperature(z, 0.0)
    with bad_input("temperature"):
        softmax_with_temperature(z, float("inf"))


def test_make_blobs_shapes_seed_and_validation():
    centers = [(0.0, 0.0), (3.0, 0.0)]
    X, y = make_blobs(50, centers, 0.5, generator=gen(0))
    assert X.shape == (100, 2) and y.tolist() == [0] * 50 + [1] * 50
    X2, _ = make_blobs(50, centers, 0.5, generator=gen(0))
    assert torch.equal(X, X2)
    assert (X[:50].mean(0) - torch.tensor(centers[0])).abs().max() < 0.3
    with pytest.raises(ValueError, match="std"):
        make_blobs(10, centers, 0.0, generator=gen(0))
    with pytest.raises(ValueError, match="两个"):
        make_blobs(10, centers[:1], 1.0, generator=gen(0))


def test_manual_step_matches_autograd_sgd():
    X, y = make_blobs(30, [(0, 2), (-2, -1), (2, -1)], 0.8, generator=gen(0))
    W, b = torch.randn(3, 2, generator=gen(1)), torch.zeros(3)
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.copy_(W)
        model.bias.copy_(b)
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    for _ in range(5):
        softmax_regression_step(W, b, X, y, lr=0.3)
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        opt.step()
    torch.testing.assert_close(W, model.weight.detach())
    torch.testing.assert_close(b, model.bias.detach())


def test_softmax_regression_learns_separable_blobs():
    X, y = make_blobs(
        100, [(0, 2), (-1.7, -1), (1.7, -1)], 0.8, generator=gen(0)
    )
    W, b = torch.zeros(3, 2), torch.zeros(3)
    losses = [softmax_regression_step(W, b, X, y, lr=0.5) for _ in range(200)]
    assert losses[-1] < 0.2 < math.log(3) - 0.5 < losses[0] + 0.01
    assert accuracy(X @ W.T + b, y) > 0.9


def test_double_softmax_experiment_records_both_ways_reproducibly():
    X, y = make_blobs(20, [(0.0, 2.0), (-1.7, -1.0), (1.7, -1.0)], 0.8,
                      generator=gen(0))  # fmt: skip
    cfg = DoubleSoftmaxConfig(lr=0.5, num_steps=30, init_seeds=(0, 1))
    traces = double_softmax_experiment(X, y, cfg)
    ok, bad = traces["正确：直接传 logits"], traces["错误：先 softmax"]
    assert len(ok) == len(bad) == 2
    for good, wrong in zip(ok, bad, strict=True):
        assert len(good.reported) == len(wrong.true_ce) == 30
        assert len(good.grad_norms) == 30
        # 正确做法报告的就是真正的交叉熵；错误做法报告的停在下限之上
        assert good.reported == good.true_ce
        assert min(wrong.reported) > math.log(1 + 2 / math.e)
        # 同样的初始化：第一步之前两者的真正交叉熵相同
        assert good.true_ce[0] == wrong.true_ce[0]
    assert ok[0].true_ce[0] != ok[1].true_ce[0]  # 两个种子，两组初始参数
    assert double_softmax_experiment(X, y, cfg)["错误：先 softmax"] == bad
    with pytest.raises(ValueError, match="num_steps"):
        double_softmax_experiment(X, y, DoubleSoftmaxConfig(num_steps=0))
    with pytest.raises(TypeError, match="cfg"):
        double_softmax_experiment(X, y, {"lr": 0.5})
    with pytest.raises(ValueError, match="init_seeds"):
        double_softmax_experiment(X, y, DoubleSoftmaxConfig(init_seeds=()))


# ---------- 正文的结论：对构建时 glue 的数字断言 ----------


def test_softmax_identities_hold_to_rounding(page):
    assert page["sigmoid_diff"] < 1e-6
    assert page["shift_diff"] < 1e-5
    assert page["ce_diff"] < 1e-12 and page["grad_diff"] < 1e-12
    assert page["f32_log_max"] == math.log(page["f32_max"])


def test_double_softmax_hits_its_floor_and_slows_training(page):
    # 每个种子都成立：用各种子的最小、最大值断言
    floor = page["bug_floor"]
    assert floor == math.log(1 + 2 / math.e)
    assert floor < page["bug_reported_min"] <= page["bug_reported_max"]
    assert page["bug_reported_max"] < floor + 0.1
    assert page["grad_ratio_min"] > 2
    assert page["bug_reach_min"] > page["ok_reach_max"]
    # “相差无几”：走完全部步数后真正的交叉熵差不到 0.01
    assert page["bug_true_max"] - page["ok_true_min"] < 0.01
    # 正文：错误做法也能分对大部分训练点，所以难以发现
    assert page["bug_train_acc_min"] > 0.8


def test_softmax_regression_from_scratch_learns_the_blobs(page):
    assert page["reg_train_acc"] > 0.9 and page["reg_test_acc"] > 0.9
    assert page["floor_1000"] == math.log(1 + 999 / math.e)


def test_mse_on_probabilities_by_hand_and_its_saturation():
    logits = torch.tensor([[0.0, 0.0], [20.0, -20.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    # 第一行：p = (0.5, 0.5)，误差 0.25 + 0.25；第二行几乎全错：1 + 1
    assert mse_on_probabilities(logits, y).item() == pytest.approx(1.25)
    wrong = logits[1:].clone().requires_grad_(True)
    mse_on_probabilities(wrong, y[1:]).backward()
    mse_grad = wrong.grad.abs().max().item()
    wrong.grad = None
    cross_entropy(wrong, y[1:]).backward()
    assert mse_grad < 1e-12 < 0.9 < wrong.grad.abs().max().item()


def test_loss_choice_picks_the_fastest_rate_on_validation():
    centers = [(0.0, 2.0), (-1.7, -1.0), (1.7, -1.0)]
    train = make_blobs(30, centers, 0.8, generator=gen(0))
    val = make_blobs(30, centers, 0.8, generator=gen(2))
    cfg = LossChoiceConfig(lrs=(1.0, 10.0), num_steps=30, init_seeds=(0, 1))
    result = loss_choice_experiment(train, val, cfg)
    assert set(result) == {"交叉熵", "均方误差"}
    for choice in result.values():

        def cost(lr, choice=choice):
            return sum(31 if s is None else s for s in choice.steps_by_lr[lr])

        assert cost(choice.lr) == min(cost(lr) for lr in cfg.lrs)
        assert choice.steps == choice.steps_by_lr[choice.lr]
    again = loss_choice_experiment(train, val, cfg)
    assert again == result
    with bad_input("lrs"):  # 设置本身在构造时就拒绝空的学习率表
        loss_choice_experiment(train, val, LossChoiceConfig(lrs=()))


def test_cross_entropy_is_maximum_likelihood_and_mse_is_slower(page):
    assert page["mle_ce_diff_8"] < 1e-6 and page["mle_ce_diff_300"] < 1e-6
    assert page["likelihood_300"] == 0.0 < page["likelihood_8"]
    assert page["sat_grad_ce"] > 0.99 and page["sat_grad_mse"] < 0.01
    assert page["lc_ce_lr"] == page["lc_mse_lr"]  # “挑出的学习率都是 …”
    assert page["lc_mse_slower_all"]
    assert page["lc_ce_steps_max"] < page["lc_mse_steps_min"]
    assert page["lc_worst_ce"] <= page["lc_ce_steps_max"]
    assert page["lc_worst_confident_wrong"] > 0.5
    assert page["lc_worst_init_acc"] < 0.1
    assert page["lc_mse_misses_are_worst_seed_at_higher_lr"]
    assert page["lc_ce_never"] == 0
