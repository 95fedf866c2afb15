"""dlbasics.slider：构建时逐帧渲染、阅读时用滑块切换的图。

浏览器里的行为（键盘、读屏文字、打印、手机宽度）见 test_browser.py。
"""

from __future__ import annotations

import io
import re

import matplotlib.pyplot as plt
import pytest
from PIL import Image

from conftest import bad_input
from dlbasics.slider import SliderFigure, slider_figure

VALUES = ["a = 1", "a = 2", "a = 3"]


def make(values=VALUES, default=1, label="参数 a", calls=None):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    (line,) = ax.plot([0, 1], [0, 0])
    ax.set_ylim(0, 3)

    def update(i):
        if calls is not None:
            calls.append(i)
        line.set_ydata([0, i % 3])  # 第 0 帧与第 3 帧相同
        ax.set_title(f"frame {i}")

    return fig, slider_figure(
        fig, update, values, label=label, default=default, alt="一条折线"
    )


def test_one_png_frame_per_value_all_the_same_size():
    calls = []
    fig, result = make(calls=calls)
    assert isinstance(result, SliderFigure)
    assert len(result.frames) == len(VALUES)
    # 先画默认状态并排版，再逐帧渲染
    assert calls == [1, 0, 1, 2]
    sizes = {Image.open(io.BytesIO(f)).size for f in result.frames}
    assert len(sizes) == 1
    assert all(f.startswith(b"\x89PNG") for f in result.frames)
    assert not plt.fignum_exists(fig.number), "渲染完应关闭图"


def test_frames_show_the_states_update_draws():
    values = [f"a = {i}" for i in range(4)]
    _, result = make(values=values)
    frames = result.frames
    assert len(set(frames[:3])) == 3  # 不同的状态，不同的图
    assert frames[0] != frames[3]  # 标题不同
    _, again = make(values=values)
    assert again.frames == frames  # 同样的输入，逐字节相同的帧


def test_html_shows_the_default_frame_and_a_labelled_control():
    _, result = make(default=2)
    page = result._repr_html_()
    imgs = re.findall(r"<img [^>]*>", page)
    assert len(imgs) == 3
    # hidden="hidden"：JupyterLab 清理不受信任的输出时保留它（空值会被去掉）
    assert [('hidden="hidden"' in tag) for tag in imgs] == [True, True, False]
    assert "dlbook-slider-default" in imgs[2]
    for tag, value in zip(imgs, VALUES, strict=True):
        assert f"（参数 a：{value}）" in tag
    uid = result.element_id
    assert f'<label for="{uid}-input">参数 a</label>' in page
    control = re.search(r'<input type="range"[^>]*>', page).group(0)
    for attribute in (
        'min="0"',
        'max="2"',
        'value="2"',
        'aria-valuetext="a = 3"',
        "disabled",  # 脚本运行后才启用：没有脚本时不给读者一个没用的滑块
        f'id="{uid}-input"',
    ):
        assert attribute in control
    assert f'<output for="{uid}-input">a = 3</output>' in page
    assert "此处印出的是 a = 3 时的图" in page and "“参数 a”滑块" in page
    assert "@media print" in page and "<script>" in page
    # 不运行脚本的地方（不受信任的笔记本）有一句说明，脚本运行时藏起它
    hint = re.search(r'<p class="dlbook-slider-noscript">([^<]*)</p>', page)
    assert "这里显示的是 a = 3 时的图" in hint.group(1)
    assert "运行这个单元格" in hint.group(1)
    assert '".dlbook-slider-noscript").hidden = true' in page


def test_plain_text_repr_is_one_short_line():
    """笔记本把 repr 存作 text/plain：不能是几百 KB 的帧字节。"""
    _, result = make(default=2)
    assert repr(result) == "<滑块图：参数 a，3 帧，默认 a = 3>"


def test_html_is_escaped_and_the_id_depends_on_the_content():
    _, plain = make()
    _, tricky = make(values=["a < 1", 'a = "2"', "a & 3"], label="<b>")
    page = tricky._repr_html_()
    assert "<b>" not in page and "&lt;b&gt;" in page
    assert "a &lt; 1" in page and "&quot;2&quot;" in page
    assert plain.element_id != tricky.element_id
    _, same = make()
    assert same._repr_html_() == plain._repr_html_()


def test_bad_arguments_are_named():
    fig = plt.figure()
    with bad_input("values 应有 2 到"):
        slider_figure(
            fig, lambda i: None, ["x"], label="a", default=0, alt="b"
        )
    with bad_input("default 应是 0 到 1"):
        slider_figure(
            fig, lambda i: None, ["x", "y"], label="a", default=2, alt="b"
        )
    with bad_input("update 应是函数"):
        slider_figure(fig, None, ["x", "y"], label="a", default=0, alt="b")
    plt.close(fig)


def test_a_failing_update_still_closes_the_figure():
    fig = plt.figure()

    def update(i):
        raise RuntimeError("画不出来")

    with pytest.raises(RuntimeError, match="画不出来"):
        slider_figure(fig, update, ["x", "y"], label="a", default=0, alt="b")
    assert not plt.fignum_exists(fig.number)
