"""dlbasics.plotting 的测试：中文字体真的有字形，绘图函数只画图、不写文件。"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import pytest
import torch
from fontTools.ttLib import TTFont
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection

from dlbasics import plotting
from dlbasics.spiral import make_linear_model, make_spiral
from dlbasics.training import History

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    return make_spiral(50, 3, 0.2, generator=torch.Generator().manual_seed(0))


def test_bundled_font_is_registered_and_used():
    family = plotting.use_book_style()
    assert family == plotting.FONT_FAMILY
    assert mpl.rcParams["font.sans-serif"][0] == family
    path = mpl.font_manager.findfont(
        mpl.font_manager.FontProperties(family=family),
        fallback_to_default=False,
    )
    assert Path(path).resolve() == plotting.FONT_PATH.resolve()


def test_bundled_font_covers_every_chinese_character_in_the_book():
    """书稿和代码里出现的每个中文字符，随包字体都要有字形，否则图里会出现方框。"""
    cmap = TTFont(plotting.FONT_PATH).getBestCmap()
    sources = [*ROOT.glob("book/**/*.md"), *ROOT.glob("code/**/*.py")]
    used = {ch for p in sources for ch in CJK.findall(p.read_text("utf-8"))}
    missing = sorted(ch for ch in used if ord(ch) not in cmap)
    assert len(used) > 500  # 确认真的扫描到了书稿
    assert missing == [], f"字体子集缺少这些字：{''.join(missing)}"


def test_chinese_text_renders_without_missing_glyph_warnings():
    plotting.use_book_style()
    fig, ax = plt.subplots()
    ax.set_title("螺旋数据：训练损失与准确率（−0.5）")
    ax.set_xlabel("训练步数")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing" 会变成异常
        fig.canvas.draw()


def test_plot_spiral_data_draws_one_scatter_per_class(data):
    X, y = data
    ax = plotting.plot_spiral_data(X, y)
    assert isinstance(ax, Axes)
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 3
    assert sum(len(s.get_offsets()) for s in scatters) == len(X)
    with pytest.raises(ValueError, match="X 应为"):
        plotting.plot_spiral_data(torch.zeros(5, 3), torch.zeros(5))


def test_plot_decision_regions_uses_the_given_axes(data):
    X, y = data
    _, ax = plt.subplots()
    out = plotting.plot_decision_regions(make_linear_model(), X, y, ax)
    assert out is ax
    assert len(ax.collections) >= 4  # 填色等高线 + 三类散点
    assert ax.get_xlim() == (-1.1, 1.1)


def test_plot_history_draws_one_line_per_run():
    runs = {"a": History([1.0, 0.5], [0.2, 0.8]), "b": History([2, 1], [0, 1])}
    ax = plotting.plot_history(runs, metric="accuracy")
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert list(ax.get_lines()[0].get_ydata()) == [0.2, 0.8]
    with pytest.raises(ValueError, match="metric"):
        plotting.plot_history(runs, metric="f1")


def test_class_cmap_rejects_too_many_classes():
    assert plotting.class_cmap(3).N == 3
    with pytest.raises(ValueError, match="num_classes"):
        plotting.class_cmap(len(plotting.CLASS_COLORS) + 1)


def test_plot_helpers_write_no_files(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = data
    plotting.plot_spiral_data(X, y)
    plotting.plot_decision_regions(make_linear_model(), X, y)
    plotting.plot_history({"a": History([1.0], [0.5])})
    assert list(tmp_path.iterdir()) == []
