"""dlbasics.check 与 dlbasics.checker：编程练习的检查器。

- 每个检查器接受章节里的参考解答（从章节源文件的解答里取出，与网页上运行的
  是同一段代码），拒绝每个列出的常见错误，并给出对应的提示；
- 读者代码的异常、超时（包括接住所有异常的死循环）、原地修改、错误的类型都
  写成中文报告，不是检查器自己的调用栈。
"""

from __future__ import annotations

import math
import re
import sys
import threading
from itertools import pairwise

import jupytext
import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT, chapter_pages
from dlbasics import check, checker
from dlbasics.checker import Case, Checker

CALL = re.compile(r"^check\.(\w+)\((\w+)\)$", re.M)


def solution_cells(name: str) -> list[str]:
    """一章的解答里（solution-start 与 solution-end 之间）调用检查器的
    代码单元格。"""
    notebook = jupytext.read(ROOT / f"{name}.md")
    inside, cells = False, []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            if "{solution-start}" in cell.source:
                inside = True
            if "{solution-end}" in cell.source:
                inside = False
        elif inside and CALL.search(cell.source):
            cells.append(cell.source)
    return cells


def references() -> dict[str, list]:
    """检查器名 → 章节参考解答里交给它的函数（执行解答的代码得到）。"""
    found: dict[str, list] = {}

    class Recorder:
        def __getattr__(self, checker_name):
            return lambda fn: found.setdefault(checker_name, []).append(fn)

    for name in chapter_pages():
        for source in solution_cells(name):
            namespace = {"torch": torch, "math": math, "check": Recorder()}
            exec(compile(source, f"{name}.md", "exec"), namespace)
    return found


REFERENCES = references()


def test_every_checker_is_used_by_a_chapter_and_every_chapter_has_one():
    assert sorted(REFERENCES) == sorted(check.__all__)
    for name in chapter_pages():
        assert solution_cells(name), f"{name} 没有带检查器的编程练习"
    assert len(check.__all__) >= 12


@pytest.mark.parametrize("name", sorted(check.__all__))
def test_checker_accepts_the_chapter_reference_solution(name):
    for fn in REFERENCES[name]:
        report = getattr(check, name).run(fn)
        assert report.passed, str(report)
        assert str(report).startswith(checker.PASS_MARK)


def softmax_ref(x):
    return torch.softmax(x, dim=-1)


def ce_ref(o, y):
    return F.cross_entropy(o, y)


def momentum_ref(th, g, v, lr, mu):
    v = mu * v + g
    return th - lr * v, v


def adam_no_correction(th, g, m, v, t, lr, b1, b2, eps):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return th - lr * m / (v.sqrt() + eps), m, v


def adam_t_from_zero(th, g, m, v, t, lr, b1, b2, eps):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    mh, vh = m / (1 - b1 ** (t - 1)), v / (1 - b2 ** (t - 1))
    return th - lr * mh / (vh.sqrt() + eps), m, v


def batch_grads(p, X, t, mean=True, mask=True):
    z = X @ p["W1"].T + p["b1"]
    h = torch.relu(z)
    o = h @ p["w2"] + p["b2"]
    g_o = (o - t) / (len(t) if mean else 1)
    g_z = g_o[:, None] * p["w2"] * ((z > 0).to(z.dtype) if mask else 1)
    return {
        "W1": g_z.T @ X,
        "b1": g_z.sum(0),
        "w2": h.T @ g_o,
        "b2": g_o.sum(),
    }


def xavier(fi, fo, g, bound=None, shape=None, gen=True):
    a = bound if bound is not None else math.sqrt(6 / (fi + fo))
    size = shape or (fo, fi)
    u = torch.rand(*size, generator=g) if gen else torch.rand(*size)
    return (2 * u - 1) * a


def conv_shape(h, w, k, p, s, plus=1, pad=2):
    return (
        (h + pad * p[0] - k[0]) // s[0] + plus,
        (w + pad * p[1] - k[1]) // s[1] + plus,
    )


# 检查器名 → [(错误的写法, 期望报告的用例或常见错误的 key, 提示里的字)]
MISTAKES = {
    "pairwise_sq_dists": [
        (lambda X, Y: ((X - Y) ** 2).sum(-1), "basic", "广播成 (N, M, D)"),
        (
            lambda X, Y: ((X[:, None] - Y[None]) ** 2).sum(-1).sqrt(),
            "sqrt",
            "不用开方",
        ),
        (
            lambda X, Y: ((Y[:, None] - X[None]) ** 2).sum(-1),
            "transposed",
            "(N, M)",
        ),
    ],
    "two_layer_logits": [
        (
            lambda X, W1, b1, W2, b2: (X @ W1.T + b1) @ W2.T + b2,
            "no_relu",
            "忘了 ReLU",
        ),
        (
            lambda X, W1, b1, W2, b2: torch.relu(
                torch.relu(X @ W1.T + b1) @ W2.T + b2
            ),
            "relu_on_output",
            "logits 可以是负数",
        ),
        (
            lambda X, W1, b1, W2, b2: torch.relu(X @ W1 + b1) @ W2 + b2,
            "basic",
            "X @ W1.T",
        ),
    ],
    "batch_backward": [
        (
            lambda p, X, t: batch_grads(p, X, t, mean=False),
            "sum_not_mean",
            "除以批量大小",
        ),
        (
            lambda p, X, t: batch_grads(p, X, t, mask=False),
            "no_relu_mask",
            "1[z > 0]",
        ),
    ],
    "xavier_uniform": [
        (
            lambda fi, fo, g: xavier(fi, fo, g, shape=(fi, fo)),
            "shape",
            "(fan_out, fan_in)",
        ),
        (
            lambda fi, fo, g: xavier(fi, fo, g, bound=math.sqrt(3 / fi)),
            "fan_in_only",
            "fan_in + fan_out",
        ),
        (
            lambda fi, fo, g: (
                torch.randn(fo, fi, generator=g) * math.sqrt(2 / (fi + fo))
            ),
            "normal",
            "均匀分布",
        ),
        (lambda fi, fo, g: xavier(fi, fo, g, gen=False), "generator", "种子"),
    ],
    "stable_softmax": [
        (
            lambda x: x.exp() / x.exp().sum(-1, keepdim=True),
            "huge_logits",
            "减去这一行的最大值",
        ),
        (lambda x: torch.softmax(x, dim=0), "wrong_dim", "dim=-1"),
        (
            lambda x: (
                (x - x.max()).exp() / (x - x.max()).exp().sum(-1, keepdim=True)
            ),
            "rows_far_apart",
            "不是整个张量的最大值",
        ),
    ],
    "cross_entropy": [
        (
            lambda o, y: (
                -torch.log(torch.softmax(o, -1)[range(len(y)), y]).mean()
            ),
            "huge_logits",
            "log-softmax",
        ),
        (lambda o, y: ce_ref(o, y) * len(y), "sum_not_mean", "取平均"),
        (
            lambda o, y: ce_ref(torch.softmax(o, -1), y),
            "probabilities",
            "softmax 了两次",
        ),
    ],
    "momentum_step": [
        (
            lambda th, g, v, lr, mu: (th - lr * g, mu * v + g),
            "grad_not_velocity",
            "速度 v",
        ),
        (
            lambda th, g, v, lr, mu: (
                th - (mu * v + lr * g),
                mu * v + lr * g,
            ),
            "lr_in_velocity",
            "v ← μv + g",
        ),
    ],
    "adam_step": [
        (adam_no_correction, "no_bias_correction", "偏差修正"),
        (adam_t_from_zero, "first_step", "偏差修正"),
    ],
    "dropout": [
        (
            lambda x, p, tr, g: (
                x * (torch.rand(x.shape, generator=g) >= p) if tr else x
            ),
            "no_rescale",
            "1/(1 − p)",
        ),
        (
            lambda x, p, tr, g: (
                x * (torch.rand(x.shape, generator=g) >= p) / (1 - p)
            ),
            "drops_in_eval",
            "评估模式",
        ),
        (
            lambda x, p, tr, g: (
                x * (torch.rand(x.shape, generator=g) < p) / p
                if tr and p
                else x
            ),
            "keep_probability",
            "丢弃的概率",
        ),
    ],
    "select_by_validation": [
        (lambda r: min(r, key=lambda k: r[k]["test"]), "by_test", "测试集"),
        (
            lambda r: min(r, key=lambda k: r[k]["train"]),
            "by_train",
            "训练误差",
        ),
    ],
    "mlp_num_params": [
        (
            lambda s: sum(a * b for a, b in pairwise(s)),
            "no_bias",
            "偏置",
        ),
        (
            lambda s: sum((a + 1) * b for a, b in pairwise(s)) + s[0],
            "input_bias",
            "输入层没有偏置",
        ),
    ],
    "conv_output_shape": [
        (lambda *a: conv_shape(*a, plus=0), "no_plus_one", "+ 1"),
        (lambda *a: conv_shape(*a, pad=1), "single_padding", "2p"),
        (
            lambda h, w, k, p, s: tuple(
                float(n) for n in conv_shape(h, w, k, p, s)
            ),
            "true_division",
            "//",
        ),
        (
            lambda h, w, k, p, s: conv_shape(h, w, k[::-1], p[::-1], s[::-1]),
            "swapped",
            "弄反",
        ),
    ],
    "conv_params": [
        (lambda i, o, kh, kw: o * (kh * kw + 1), "no_in_channels", "输入通道"),
        (lambda i, o, kh, kw: o * i * kh * kw, "no_bias", "偏置"),
    ],
}


def test_every_checker_has_at_least_two_listed_mistakes():
    assert sorted(MISTAKES) == sorted(check.__all__)
    assert all(len(wrong) >= 2 for wrong in MISTAKES.values())


@pytest.mark.parametrize(
    ("name", "index"),
    [
        (n, i)
        for n, wrong in sorted(MISTAKES.items())
        for i in range(len(wrong))
    ],
)
def test_checker_rejects_a_common_mistake_with_its_hint(name, index):
    fn, key, words = MISTAKES[name][index]
    report = getattr(check, name).run(fn)
    assert not report.passed
    assert key in (report.mistake, report.case), str(report)
    assert words in report.hint, str(report)
    text = str(report)
    assert text.startswith(checker.FAIL_MARK)
    for part in ("输入：", "得到：", "提示："):
        assert part in text
    assert "Traceback" not in text and " at 0x" not in text


# ---------- 框架：读者的函数出了什么事都写进报告 ----------


def test_reader_exception_is_reported_with_its_line():
    def my_softmax(x):
        return x / 0 if False else 1 / 0

    report = check.stable_softmax.run(my_softmax)
    assert report.problem.kind == "exception"
    assert "ZeroDivisionError" in report.problem.text
    assert "my_softmax 的第" in report.problem.text
    assert "Traceback" not in str(report)


def test_unwritten_function_says_so():
    def my_softmax(x):
        raise NotImplementedError

    report = check.stable_softmax.run(my_softmax)
    assert report.case == "basic"
    assert "raise NotImplementedError 换成你的代码" in report.problem.text


def looping(x):
    while True:
        try:
            pass
        except Exception:  # 读者接住所有异常也打断得了
            pass


@pytest.fixture
def quick_softmax(monkeypatch):
    monkeypatch.setattr(check.stable_softmax, "time_limit", 0.2)
    return check.stable_softmax


def test_function_that_never_returns_is_stopped(quick_softmax):
    report = quick_softmax.run(looping)
    assert report.problem.kind == "timeout"
    assert "0.2 秒内没有返回" in report.problem.text


def test_time_limit_also_works_off_the_main_thread(quick_softmax):
    """非主线程（以及 Windows）上没有 SIGALRM：改用 sys.settrace。"""
    reports = []
    thread = threading.Thread(
        target=lambda: reports.append(quick_softmax.run(looping))
    )
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert reports[0].problem.kind == "timeout"
    assert sys.gettrace() is None


def test_in_place_change_of_the_input_is_reported():
    def my_softmax(x):
        x -= x.max(dim=-1, keepdim=True).values
        return torch.softmax(x, dim=-1)

    report = check.stable_softmax.run(my_softmax)
    assert report.problem.kind == "mutated"
    assert "logits" in report.problem.text


@pytest.mark.parametrize(
    ("fn", "kind"),
    [
        (lambda x: softmax_ref(x).tolist(), "type"),
        (lambda x: softmax_ref(x)[0], "shape"),
        (lambda x: softmax_ref(x).double(), "dtype"),
        (lambda x: None, "type"),
    ],
    ids=["list", "shape", "dtype", "none"],
)
def test_wrong_type_shape_and_dtype_are_reported(fn, kind):
    report = check.stable_softmax.run(fn)
    assert report.problem.kind == kind, str(report)


def test_passing_a_call_instead_of_the_function_is_explained():
    report = check.stable_softmax.run(softmax_ref(torch.ones(1, 2)))
    assert not report.passed
    assert "不加括号" in str(report)


def test_calling_a_checker_prints_the_report(capsys):
    assert check.stable_softmax(softmax_ref) is None
    printed = capsys.readouterr().out
    assert printed.startswith(checker.PASS_MARK)
    assert "4 个用例" in printed
    check.stable_softmax(lambda x: x)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(checker.FAIL_MARK)


def test_reports_are_the_same_every_run():
    """网页上的输出每次构建都一样：没有内存地址之类会变的东西。"""
    fn = MISTAKES["xavier_uniform"][1][0]  # 用传入的 generator
    first = str(check.xavier_uniform.run(fn))
    assert first == str(check.xavier_uniform.run(fn))
    assert "torch.Generator（种子 1）" in first


def test_build_marks_match_the_extension():
    sys.path.insert(0, str(ROOT / "_ext"))
    import quiz

    assert quiz.PASS_MARK == checker.PASS_MARK
    assert quiz.FAIL_MARK == checker.FAIL_MARK


def test_checker_rejects_an_empty_or_ambiguous_case_list():
    case = Case(
        "a", "一个", lambda: (1,), lambda x: x, "提示", checker.exactly
    )
    with pytest.raises(ValueError, match="至少"):
        Checker("x", "任务", ("x",), [])
    with pytest.raises(ValueError, match="重复"):
        Checker("x", "任务", ("x",), [case, case])
