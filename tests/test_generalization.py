"""dlbasics.generalization 的测试：数据、多项式拟合、权重衰减、训练记录。"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from conftest import bad_input
from dlbasics.generalization import (
    GeneralizationConfig,
    degree_sweep,
    fit_polynomial,
    make_data,
    make_mlp,
    make_splits,
    noise_floor,
    plot_curves,
    plot_sweep,
    poly_features,
    poly_mse,
    train_mlp,
    weight_decay_sweep,
)

SMALL = GeneralizationConfig(
    data_seeds=(0, 1), degrees=(0, 1, 3, 9), num_steps=40, eval_every=10
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_data_is_seeded_and_noise_has_the_stated_spread():
    x1, y1 = make_data(5000, 0.3, generator=gen(1))
    x2, y2 = make_data(5000, 0.3, generator=gen(1))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.min() >= -1 and x1.max() <= 1
    residual = y1 - torch.sin(3 * x1)
    assert residual.std().item() == pytest.approx(0.3, rel=0.05)


def test_splits_are_independent_draws():
    splits = make_splits(SMALL, 0)
    assert [len(splits[k][0]) for k in ("train", "val", "test")] == [
        15,
        200,
        200,
    ]
    assert not torch.equal(splits["val"][0][:15], splits["train"][0])
    assert torch.equal(
        make_splits(SMALL, 1)["test"][1], make_splits(SMALL, 1)["test"][1]
    )


def test_polynomial_fit_recovers_an_exact_polynomial():
    x = torch.linspace(-1, 1, 30, dtype=torch.float64)
    y = 1 - 2 * x + 0.5 * x**3
    w = fit_polynomial(x, y, 3)
    torch.testing.assert_close(
        w, torch.tensor([1, -2, 0, 0.5], dtype=torch.float64)
    )
    assert poly_mse(w, x, y) < 1e-20


def test_weight_decay_solves_the_penalised_problem():
    x, y = make_data(20, 0.3, generator=gen(2))
    lam = 0.05
    w = fit_polynomial(x, y, 5, lam).requires_grad_(True)
    Phi = poly_features(x, 5)
    objective = ((Phi @ w - y) ** 2).mean() + lam * (w[1:] ** 2).sum()
    objective.backward()
    assert w.grad.abs().max() < 1e-10  # 闭式解处梯度为 0
    norms = [
        fit_polynomial(x, y, 5, lam)[1:].norm() for lam in (1e-4, 1e-2, 1.0)
    ]
    assert norms[0] > norms[1] > norms[2]


def test_training_error_never_increases_with_degree():
    result = degree_sweep(SMALL)
    assert result.train_mse.shape == (2, 4)
    assert torch.all(result.train_mse.diff(dim=1) <= 1e-12)
    picked = result.at_selected(result.val_mse)
    torch.testing.assert_close(picked, result.val_mse.min(dim=1).values)


def test_weight_decay_sweep_shrinks_the_weights():
    result = weight_decay_sweep(replace(SMALL, weight_decays=(0.0, 1e-3, 1.0)))
    assert torch.all(result.weight_norms.diff(dim=1) < 0)


def test_mlp_training_records_and_early_stopping_index():
    cfg = SMALL
    data = make_splits(cfg, 0)
    curve = train_mlp(data, cfg, seed=0)
    assert curve.steps == [0, 10, 20, 30, 40]
    assert curve.val_mse[curve.best] == min(curve.val_mse)
    assert curve.train_mse[-1] < curve.train_mse[0]
    again = train_mlp(data, cfg, seed=0)
    assert again.val_mse == curve.val_mse  # 同一个种子，逐位相同
    jitter = train_mlp(data, cfg, seed=0, input_jitter=0.1, dropout=0.2)
    assert jitter.val_mse != curve.val_mse


def test_dropout_is_only_active_in_training_mode():
    torch.manual_seed(0)
    net = make_mlp(8, dropout=0.5)
    x = torch.zeros(4, 1, dtype=torch.float64)
    net.eval()
    assert torch.equal(net(x), net(x))
    assert sum(isinstance(m, torch.nn.Dropout) for m in net) == 2


def test_plots_return_their_axes():
    fig, axes = plt.subplots(1, 2)
    result = degree_sweep(SMALL)
    assert (
        plot_sweep(result, axes[0], xlabel="d", floor=noise_floor(SMALL))
        is axes[0]
    )
    assert plot_sweep(result, axes[0], xlabel="d", categorical=True) is axes[0]
    curves = [train_mlp(make_splits(SMALL, 0), SMALL, seed=0)]
    assert plot_curves(curves, axes[1], title="t") is axes[1]
    labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert labels == ["训练误差", "验证误差", "验证误差最小（早停）"]
    plt.close(fig)


def test_bad_inputs_are_refused_with_clear_messages():
    x, y = make_data(10, 0.1, generator=gen())
    with bad_input("n"):
        make_data(0, 0.1, generator=gen())
    with bad_input("noise"):
        make_data(5, -1.0, generator=gen())
    with bad_input("长度应相同"):
        fit_polynomial(x, y[:5], 2)
    with bad_input("degree"):
        poly_features(x, -1)
    with bad_input("weight_decay"):
        fit_polynomial(x, y, 2, -0.1)
    with bad_input("dropout"):
        make_mlp(4, dropout=1.0)
    with bad_input("data_seed"):
        make_splits(SMALL, -1)


def test_page_states_what_its_numbers_show(page):
    floor = page["noise_var"]
    # 欠拟合与过拟合
    assert page["train_monotone"]
    assert page["deg_max_train"] < floor < page["deg0_train"]
    assert page["deg_max_val_min"] > 10 * floor
    assert (
        1
        <= page["chosen_degree_min"]
        <= page["chosen_degree_max"]
        < page["max_degree"]
    )
    # 权重衰减
    assert page["norms_shrink"] and page["sgd_wd_matches"]
    assert page["lam0_val"] > 1000 * page["decay_best_val_max"]
    assert page["lam_max_train"] > 3 * floor  # λ 太大：欠拟合
    # 早停：最小点远早于结束，训练误差结束时低于噪声方差
    assert page["best_step_max"] < page["nn_steps"] / 2
    assert page["early_val_better_all"]
    assert page["plain_final_train_max"] < floor
    # 暂退法与数据增强：训练误差升高、差距缩小；验证误差只在部分种子上更低
    n = page["n_seeds"]
    for key in ("drop", "aug"):
        assert page[f"{key}_train_mean"] > page["plain_train_mean"]
        assert page[f"{key}_gap_smaller"] >= n - 1
        assert 0 < page[f"{key}_val_lower"] < n  # “要看问题”：并非每套都更好
        assert page[f"{key}_val_worst_gain"] > 0.1  # 过拟合严重时明显有帮助
        assert page[f"{key}_gain_on_most_overfit"]
        assert page[f"{key}_val_worst_loss"] < 0.05  # 其余时候相当
    # 测试集
    for key in ("test_poly_mean", "test_decay_mean", "test_early_mean"):
        assert floor < page[key] < 3 * floor
    assert page["early_test_better_all"]
    assert page["test_early_mean"] < page["test_last_mean"]
    # 练习
    assert page["more_data_val_12"] < 1.5 * floor
    assert page["by_train_degrees"] == str(page["max_degree"])
    assert page["by_test_test"] <= page["by_val_test"] < page["by_train_test"]
    assert np.isfinite(page["by_train_test"])
