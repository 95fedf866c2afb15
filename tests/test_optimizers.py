"""dlbasics.optimizers 的测试：与 torch.optim 逐步一致、参数校验、收敛阈值。"""

from __future__ import annotations

import math

import pytest
import torch

from dlbasics.optimizers import (
    METHODS,
    SGD,
    Adam,
    Method,
    OptimizerConfig,
    RMSProp,
    budget_experiment,
    epochs_to_reach,
    fit_line,
    gd_lr_bound,
    last_epoch_mean,
    least_squares,
    line_mse,
    make_line_data,
    mse_surface,
    samples_to_reach,
    scale_experiment,
    sensitivity_experiment,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def run_steps(make, steps=8, seed=0):
    """同一组参数与同一串梯度，逐步返回参数值。"""
    g = gen(seed)
    params = [torch.randn(3, 4, generator=g), torch.randn(5, generator=g)]
    grads = [
        [torch.randn(p.shape, generator=g) for p in params]
        for _ in range(steps)
    ]
    tensors = [p.clone().requires_grad_(True) for p in params]
    optimizer = make(tensors)
    history = []
    for step_grads in grads:
        for t, grad in zip(tensors, step_grads, strict=True):
            t.grad = grad.clone()
        optimizer.step()
        history.append([t.detach().clone() for t in tensors])
    return history


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda p: SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (
            lambda p: SGD(p, lr=0.05, momentum=0.9),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        ),
        (
            lambda p: Adam(p, lr=0.01, betas=(0.8, 0.99)),
            lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99)),
        ),
        (lambda p: Adam(p), lambda p: torch.optim.Adam(p)),
        (
            lambda p: RMSProp(p, lr=0.01, alpha=0.9),
            lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9),
        ),
    ],
    ids=["sgd", "momentum", "adam", "adam-default", "rmsprop"],
)
def test_matches_torch_optim_step_for_step(ours, theirs):
    for a, b in zip(run_steps(ours), run_steps(theirs), strict=True):
        for x, z in zip(a, b, strict=True):
            torch.testing.assert_close(x, z, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: SGD(p, lr=-0.1), "lr"),
        (lambda p: SGD(p, lr=float("nan")), "lr"),
        (lambda p: SGD(p, lr=0.1, momentum=1.0), "momentum"),
        (lambda p: SGD(p, lr=0.1, momentum=-0.5), "momentum"),
        (lambda p: Adam(p, lr=-1e-3), "lr"),
        (lambda p: Adam(p, betas=(1.0, 0.999)), "betas"),
        (lambda p: Adam(p, betas=(0.9, -0.1)), "betas"),
        (lambda p: Adam(p, eps=-1e-8), "eps"),
        (lambda p: RMSProp(p, alpha=1.5), "alpha"),
    ],
)
def test_bad_hyperparameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make([torch.zeros(2, requires_grad=True)])


def test_parameters_without_gradient_are_left_alone():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    a.grad = torch.ones(2)
    Adam([a, b], lr=0.1).step()
    assert torch.equal(b, torch.ones(2)) and not torch.equal(a, torch.ones(2))


def test_make_line_data_follows_its_arguments():
    X, y = make_line_data(2000, 3.0, 1.0, 0.5, (0.0, 2.0), generator=gen(0))
    assert X.shape == y.shape == (2000, 1)
    assert 0 <= X.min() and X.max() <= 2
    A = torch.cat([X, torch.ones_like(X)], 1)
    w, b = torch.linalg.lstsq(A, y).solution[:, 0].tolist()
    assert abs(w - 3) < 0.1 and abs(b - 1) < 0.1
    residual = y - (3 * X + 1)
    assert abs(residual.std().item() - 0.5) < 0.03
    with pytest.raises(ValueError, match="x_range"):
        make_line_data(10, x_range=(1.0, 1.0), generator=gen(0))
    with pytest.raises(ValueError, match="noise"):
        make_line_data(10, noise=-1.0, generator=gen(0))


def test_mse_surface_matches_direct_computation():
    X, y = make_line_data(20, generator=gen(0))
    ws, bs = torch.tensor([0.0, 2.5]), torch.tensor([-1.0, 1.0, 3.0])
    surface = mse_surface(X, y, ws, bs)
    assert surface.shape == (3, 2)
    direct = ((X * 2.5 + 1.0 - y) ** 2).mean()
    torch.testing.assert_close(surface[1, 1], direct)


def test_fit_line_records_every_update_and_counts_epochs():
    X, y = make_line_data(100, generator=gen(0))
    _, run = fit_line(
        lambda p: SGD(p, 0.05),
        X,
        y,
        batch_size=10,
        num_epochs=3,
        generator=gen(1),
    )
    assert len(run.train_losses) == len(run.path) == 31  # 起点 + 30 次更新
    assert run.epochs[-1] == 3.0 and run.path[0] == (0.0, 0.0)


def test_fit_line_records_validation_loss_and_stops_when_diverging():
    X, y = make_line_data(100, generator=gen(0))
    val = make_line_data(50, generator=gen(1))
    _, run = fit_line(
        lambda p: SGD(p, 0.1), X, y, batch_size=100, num_epochs=5,
        generator=gen(1), val=val,
    )  # fmt: skip
    assert len(run.val_losses) == len(run.train_losses) == 6
    w, b = run.path[-1]
    assert run.val_losses[-1] == pytest.approx(line_mse(*val, w, b), rel=1e-6)
    assert run.train_losses[-1] == pytest.approx(
        line_mse(X, y, w, b), rel=1e-6
    )
    _, blown = fit_line(
        lambda p: SGD(p, 10.0), X, y, batch_size=100, num_epochs=1000,
        generator=gen(1),
    )  # fmt: skip
    assert (
        not math.isfinite(blown.train_losses[-1])
        and len(blown.train_losses) < 1001
    )


def test_least_squares_is_the_minimum():
    X, y = make_line_data(100, generator=gen(0))
    w, b = least_squares(X, y)
    best = line_mse(X, y, w, b)
    for dw, db in [(0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)]:
        assert line_mse(X, y, w + dw, b + db) > best


def test_last_epoch_mean_and_epochs_to_reach():
    assert last_epoch_mean([9.0, 1.0, 2.0, 3.0], 3, 1) == 2.0
    assert last_epoch_mean([9.0, 1.0, 2.0], 100, 100) == 2.0
    X, y = make_line_data(100, generator=gen(0))
    _, run = fit_line(
        lambda p: SGD(p, 0.3), X, y, batch_size=100, num_epochs=30,
        generator=gen(1),
    )  # fmt: skip
    target = run.train_losses[10]
    assert epochs_to_reach(run, target) <= 10
    assert epochs_to_reach(run, 0.0) is None


def test_gd_lr_bound_matches_the_hessian():
    X = torch.tensor([[0.0], [1.0], [2.0]])
    A = torch.cat([X, torch.ones_like(X)], 1)
    lam = torch.linalg.eigvalsh(2 * A.T @ A / 3).max().item()
    assert gd_lr_bound(X) == pytest.approx(2 / lam)


def test_samples_to_reach_counts_gradient_evaluations():
    X, y = make_line_data(200, generator=gen(0))
    target = 1.05 * line_mse(X, y, *least_squares(X, y))
    gd = samples_to_reach(
        Method("sgd", None), 0.3, X, y, target=target, max_samples=10**6,
        generator=gen(1),
    )  # fmt: skip
    assert gd is not None and gd % 200 == 0  # 全批量：每步 n 个样本
    sgd = samples_to_reach(
        Method("sgd", 1), 0.01, X, y, target=target, max_samples=10**5,
        generator=gen(1),
    )  # fmt: skip
    assert sgd is not None and sgd < gd
    never = samples_to_reach(
        Method("sgd", 1), 1e-6, X, y, target=target, max_samples=500,
        generator=gen(1),
    )  # fmt: skip
    assert never is None


# ---------- 实验函数本身（极小的设置，一两秒） ----------


TINY = OptimizerConfig(
    n_points=20, budget_epochs=2, lr_grid=(0.01, 0.1), order_seeds=(1, 2),
    sens_steps=5, sweep_lrs=(0.01, 1.0, 100.0), scale_sizes=(20, 40),
)  # fmt: skip


def test_budget_experiment_chooses_on_validation_and_is_seeded():
    budget = budget_experiment(TINY)
    assert set(budget) == set(METHODS)
    for name, result in budget.items():
        assert result.lr in TINY.lr_grid
        assert result.val_by_lr[result.lr] == min(result.val_by_lr.values())
        stochastic = METHODS[name].batch_size is not None
        assert len(result.runs) == (len(TINY.order_seeds) if stochastic else 1)
    # 同样的设置、同样的种子给出同样的结果
    again = budget_experiment(TINY)["SGD（批量 1）"].train_last_epoch
    assert again == budget["SGD（批量 1）"].train_last_epoch


def test_sensitivity_and_scale_experiments_cover_their_grids():
    sweeps = sensitivity_experiment(TINY)
    assert set(sweeps) == {
        (m, s) for m in ("GD", "Adam") for s in ("narrow", "wide")
    }
    for sweep in sweeps.values():
        assert len(sweep.train) == len(sweep.val) == len(sweep.lrs)
    # 学习率 100 让 GD 发散
    narrow = sweeps[("GD", "narrow")]
    assert not narrow.train[-1] < narrow.start
    lrs = dict.fromkeys(TINY.scale_methods, 0.01)
    scaled = scale_experiment(TINY, lrs)
    for name in TINY.scale_methods:
        assert set(scaled[name]) == set(TINY.scale_sizes)


# ---------- 本章的结论：断言在构建时 glue 的数字上 ----------
# 这些数字由本章用默认的 OptimizerConfig 算出；Binder 测试在全新环境里
# 重新执行本章，核对它们逐位相同。


SCALES = ("narrow", "wide")


def test_sgd_gets_close_first_but_gd_ends_lower(page):
    runs = page["budget_runs"]
    gd = runs["gd"]["reach"]
    for tag in ["sgd", "mb"]:
        reached = runs[tag]["reach"]
        assert None not in reached and max(reached) < min(gd)
    assert runs["mom"]["reach"] == [None]
    assert runs["adam"]["reach"] == [None]
    # 最后一轮：GD 的损失低于单样本 SGD 的每一个种子
    assert runs["gd"]["train_last"][0] < min(runs["sgd"]["train_last"])
    # 但 GD 还没到最小值：正文说它“任意接近”，并给出还差多少
    assert 0 < page["gd_excess"] < 0.05


def test_gd_stability_follows_the_curvature_bound_and_adam_does_not_diverge(
    page,
):
    sweeps = page["sweeps"]
    for scale in ["narrow", "wide"]:
        gd, bound = sweeps[f"GD/{scale}"], page[f"gd_bound_{scale}"]
        assert gd["stable"] < bound
        above = next(i for i, lr in enumerate(gd["lrs"]) if lr > bound)
        assert not gd["below_start"][above]
        assert all(sweeps[f"Adam/{scale}"]["below_start"])
    assert page["gd_best_ratio"] > 10
    # GD：两种尺度下没有共同好用的学习率；Adam：有一大段共同的
    gd_narrow, gd_wide = (set(sweeps[f"GD/{s}"]["ok"]) for s in SCALES)
    assert gd_narrow and not gd_narrow & gd_wide
    # x ∈ [0, 10] 时 GD 没有“好用”的学习率：最好的也在阈值之外（正文给出它）
    assert not gd_wide
    assert page["gd_wide_best_ratio"] > page["sens_factor"]
    adam_narrow, adam_wide = (set(sweeps[f"Adam/{s}"]["ok"]) for s in SCALES)
    assert 1.0 in adam_narrow & adam_wide
    assert len(adam_narrow & adam_wide) >= 4
    # Adam 的默认学习率 1e-3 在 100 步里远没有收敛
    assert page["adam_default_lr"] == pytest.approx(1e-3)
    assert page["adam_default_ratio"] > 10


def test_sgd_cost_does_not_grow_with_the_training_set(page):
    runs = page["scale_runs"]
    gd, sgd = runs["gd"], runs["sgd"]
    small, large = min(gd), max(gd)
    assert gd[large][0] > 50 * gd[small][0]  # GD 的代价随 n 线性增长
    assert None not in sgd[large] and None not in sgd[small]
    mean = {n: sum(sgd[n]) / len(sgd[n]) for n in (small, large)}
    assert 0.5 < mean[large] / mean[small] < 2  # SGD 几乎不变
    assert max(sgd[large]) < large  # 没看完一遍就到了


def test_trajectory_slider_shows_gd_leave_at_its_bound(page):
    ends = page["path_ends_in_view"]
    out_c, ok_c = page["path_gd_out_c"], page["path_gd_last_ok_c"]
    multipliers = sorted({float(key.split("@")[1]) for key in ends})
    assert multipliers[-1] == page["path_max_c"]
    # GD 在倍数 out_c 起冲出图外，在它以下都停在图中
    for c in multipliers:
        assert ends[f"GD@{c:g}"] == (c < out_c)
    assert ok_c == max(c for c in multipliers if c < out_c)
    # 冲出图外的第一个学习率超过了上界，最后一个停在图中的低于上界
    bound = page["gd_bound_narrow"]
    assert page["path_gd_out_lr"] > bound
    assert page["path_gd_out_lr"] * ok_c / out_c < bound
    # “动量法和 Adam 在滑块的整个范围内都停在图中”
    assert all(
        ends[f"{name}@{c:g}"]
        for name in ("GD + 动量", "Adam")
        for c in multipliers
    )
