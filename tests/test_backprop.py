"""dlbasics.backprop 的测试：手写的反向传播与自动求导、数值差分一致。"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from conftest import bad_input
from dlbasics.backprop import (
    autograd_gradients,
    backward,
    example,
    finite_difference_gradients,
    forward,
    graph_functions,
    max_abs_difference,
    plot_graph,
)


def random_example(seed: int):
    g = torch.Generator().manual_seed(seed)
    params, _, _ = example()
    params = {
        k: torch.randn(v.shape, dtype=torch.float64, generator=g)
        for k, v in params.items()
    }
    x = torch.randn(2, dtype=torch.float64, generator=g)
    return params, x, float(torch.randn(1, generator=g))


def test_forward_values_by_hand():
    params, x, t = example()
    v = forward(params, x, t)
    torch.testing.assert_close(
        v["z"], torch.tensor([0.2, 1.6, -1.2], dtype=torch.float64)
    )
    torch.testing.assert_close(
        v["h"], torch.tensor([0.2, 1.6, 0.0], dtype=torch.float64)
    )
    assert v["o"].item() == pytest.approx(-0.4)
    assert v["L"].item() == pytest.approx(0.98)


@pytest.mark.parametrize("seed", range(5))
def test_manual_backward_equals_autograd_and_finite_differences(seed):
    params, x, t = random_example(seed)
    mine = backward(params, x, t)
    auto = autograd_gradients(params, x, t)
    mine_params = {k: mine[k] for k in auto}
    assert max_abs_difference(mine_params, auto) < 1e-12
    numeric, n_forward = finite_difference_gradients(params, x, t)
    assert n_forward == 2 * sum(p.numel() for p in params.values())
    assert max_abs_difference(mine_params, numeric) < 1e-6


def test_the_switched_off_unit_gets_no_gradient():
    params, x, t = example()
    g = backward(params, x, t)
    assert g["h"][2] != 0  # 梯度传到了 h3 …
    assert g["z"][2] == 0  # … 但穿不过关着的 ReLU
    assert torch.all(g["W1"][2] == 0) and g["b1"][2] == 0


def test_a_wrong_formula_is_caught_by_finite_differences():
    params, x, t = example()
    numeric, _ = finite_difference_gradients(params, x, t)
    wrong = backward(params, x, t)
    wrong["W1"] = torch.outer(wrong["h"], x)  # 漏掉 ReLU 的导数
    wrong = {k: wrong[k] for k in numeric}
    assert max_abs_difference(wrong, numeric) > 1.0


def test_graph_lists_the_operations_and_four_leaves():
    params, x, t = example()
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    names = graph_functions(forward(leaves, x, t)["L"])
    assert names[0] == "DivBackward0"
    assert "ReluBackward0" in names and "MvBackward0" in names
    assert names.count("AccumulateGrad") == 4


def test_plot_graph_writes_values_and_gradients():
    params, x, t = example()
    values = {**params, "x": x, **forward(params, x, t)}
    fig, ax = plt.subplots()
    assert plot_graph(values, backward(params, x, t), ax) is ax
    texts = [t.get_text() for t in ax.texts]
    assert any(s.startswith("z = W1 x + b1") and "∂L/∂z" in s for s in texts)
    assert "0.00" in " ".join(texts) and "-0.00" not in " ".join(texts)
    # 每条边的箭头都停在两个方框的边上（不是固定缩进），箭头尖不会被方框盖住
    arrows = [a for a in ax.texts if getattr(a, "arrow_patch", None)]
    assert len(arrows) == 8
    boxes = {a.get_bbox_patch() for a in ax.texts if a.get_bbox_patch()}
    for arrow in arrows:
        patch = arrow.arrow_patch
        assert patch.patchA in boxes and patch.patchB in boxes
        assert arrow.get_zorder() > max(b.get_zorder() for b in boxes)
    plt.close(fig)


def test_bad_inputs_are_refused_with_clear_messages():
    params, x, t = example()
    with bad_input("缺少参数 'b2'"):
        forward({k: v for k, v in params.items() if k != "b2"}, x, t)
    with bad_input("形状应是"):
        forward({**params, "W1": torch.zeros(2, 3, dtype=torch.float64)}, x, t)
    with bad_input("长度为 2"):
        forward(params, torch.zeros(3, dtype=torch.float64), t)
    with bad_input("t"):
        backward(params, x, float("nan"))
    with bad_input("eps"):
        finite_difference_gradients(params, x, t, eps=0.0)
    with bad_input("名字不同"):
        max_abs_difference({"a": x}, {"b": x})
    with bad_input("grad_fn"):
        graph_functions(x)
    with bad_input("缺少"):
        plot_graph({"x": x})


def test_page_states_what_its_numbers_show(page):
    # 手算与自动求导逐位相同；与中心差分只差截断与舍入误差
    assert page["diff_autograd"] == 0.0
    assert 0 < page["diff_numeric"] < 1e-8
    # 关着的第三个单元：梯度到了 h3，却穿不过 ReLU
    assert page["z3"] < 0 and page["g_h3"] != 0 and page["g_z3"] == 0
    assert page["g_o"] == pytest.approx(page["o"] - page["t"])
    assert page["g_o"] < 0  # “把 o 调大，损失会变小”
    assert page["n_forward"] == 2 * page["n_params"]
    assert page["accumulated_b2"] == pytest.approx(2 * page["g_b2"])
