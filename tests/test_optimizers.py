"""dlbasics.optimizers 的测试：与 torch.optim 逐步一致、参数校验、收敛阈值。"""

from __future__ import annotations

import functools
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
    make_splits,
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


# ---------- 本章的结论（固定种子） ----------


@functools.cache
def chapter_results() -> dict:
    cfg = OptimizerConfig()
    X, y = make_splits(cfg)["train"]
    budget = budget_experiment(cfg)
    chosen = {name: budget[name].lr for name in cfg.scale_methods}
    return {
        "cfg": cfg,
        "X": X,
        "y": y,
        "loss_star": line_mse(X, y, *least_squares(X, y)),
        "budget": budget,
        "sens": sensitivity_experiment(cfg),
        "scale": scale_experiment(cfg, chosen),
    }


def reach_epochs(r, name):
    target = r["loss_star"] * (1 + r["cfg"].scale_tolerance)
    return [epochs_to_reach(run, target) for run in r["budget"][name].runs]


@pytest.mark.slow
def test_budget_experiment_chooses_on_validation_and_is_seeded():
    r = chapter_results()
    cfg = r["cfg"]
    for name, result in r["budget"].items():
        assert result.lr in cfg.lr_grid
        assert result.val_by_lr[result.lr] == min(result.val_by_lr.values())
        stochastic = METHODS[name].batch_size is not None
        assert len(result.runs) == (len(cfg.order_seeds) if stochastic else 1)
    # 同样的设置、同样的种子给出同样的结果
    again = budget_experiment(cfg)["SGD（批量 1）"].train_last_epoch
    assert again == r["budget"]["SGD（批量 1）"].train_last_epoch


@pytest.mark.slow
def test_sgd_gets_close_first_but_gd_ends_lower():
    r = chapter_results()
    gd = reach_epochs(r, "GD（全批量）")
    for name in ["SGD（批量 1）", "小批量 SGD（批量 10）"]:
        reached = reach_epochs(r, name)
        assert None not in reached and max(reached) < min(gd)
    assert reach_epochs(r, "GD + 动量 0.9") == [None]
    assert reach_epochs(r, "Adam（全批量）") == [None]
    # 最后一轮：GD 的损失低于单样本 SGD 的每一个种子
    gd_final = r["budget"]["GD（全批量）"].train_last_epoch[0]
    assert gd_final < min(r["budget"]["SGD（批量 1）"].train_last_epoch)


@pytest.mark.slow
def test_gd_stability_follows_the_curvature_bound_and_adam_does_not_diverge():
    r = chapter_results()
    cfg = r["cfg"]
    for scale, x_range in [("narrow", cfg.x_range), ("wide", cfg.wide_range)]:
        sweep = r["sens"][("GD", scale)]
        bound = gd_lr_bound(make_splits(cfg, x_range)["train"][0])
        assert sweep.largest_stable_lr() < bound
        above = next(lr for lr in sweep.lrs if lr > bound)
        assert not sweep.train[sweep.lrs.index(above)] < sweep.start
        adam = r["sens"][("Adam", scale)]
        assert all(math.isfinite(t) and t < adam.start for t in adam.train)
    gd_ratio = (
        r["sens"][("GD", "narrow")].best_lr()
        / r["sens"][("GD", "wide")].best_lr()
    )
    assert gd_ratio > 10
    # GD：两种尺度下没有共同好用的学习率；Adam：有一大段共同的
    gd_narrow = set(
        r["sens"][("GD", "narrow")].near_optimal_lrs(cfg.sens_tolerance)
    )
    gd_wide = set(
        r["sens"][("GD", "wide")].near_optimal_lrs(cfg.sens_tolerance)
    )
    assert gd_narrow and not gd_narrow & gd_wide
    adam_narrow = set(
        r["sens"][("Adam", "narrow")].near_optimal_lrs(cfg.sens_tolerance)
    )
    adam_wide = set(
        r["sens"][("Adam", "wide")].near_optimal_lrs(cfg.sens_tolerance)
    )
    assert 1.0 in adam_narrow & adam_wide
    assert len(adam_narrow & adam_wide) >= 4
    # Adam 的默认学习率 1e-3 在 100 步里远没有收敛
    assert r["sens"][("Adam", "narrow")].lrs[0] == pytest.approx(1e-3)
    assert r["sens"][("Adam", "narrow")].train[0] > 10 * r["loss_star"]


@pytest.mark.slow
def test_sgd_cost_does_not_grow_with_the_training_set():
    r = chapter_results()
    sizes = r["cfg"].scale_sizes
    gd = r["scale"]["GD（全批量）"]
    sgd = r["scale"]["SGD（批量 1）"]
    small, large = min(sizes), max(sizes)
    assert gd[large][0] > 50 * gd[small][0]  # GD 的代价随 n 线性增长
    assert None not in sgd[large] and None not in sgd[small]
    mean = {n: sum(sgd[n]) / len(sgd[n]) for n in (small, large)}
    assert 0.5 < mean[large] / mean[small] < 2  # SGD 几乎不变
    assert max(sgd[large]) < large  # 没看完一遍就到了
