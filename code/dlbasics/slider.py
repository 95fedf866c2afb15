"""可以拖动的图：构建时把一个参数的每个取值画成一帧，读者用滑块切换。

书里的图都来自带种子的计算，所以每个状态都能在构建时算好。
``slider_figure`` 逐帧调用 ``update(i)`` 重画同一张 matplotlib 图，把每一帧
存成 PNG，连同一个滑块放进一段自带样式与脚本的 HTML：阅读时不需要内核，
不访问任何外部地址，在网站、JupyterLab（Binder）和离线打开的 HTML 里都一样。

- 键盘：滑块是原生的 ``<input type="range">``，方向键、Home、End 都能用；
- 读屏：滑块有 ``<label>``，``aria-valuetext`` 读出当前取值（如“T = 0.5”），
  每一帧的替代文字也写明取值；
- 打印与 PDF：只印默认状态那一帧，并注明它是哪个取值；
- 深色模式与手机：图片随正文宽度缩放，控件沿用主题的颜色。

本模块不写文件，也不调用 ``plt.show()``；渲染完即关闭传入的图。
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from dlbasics.validation import (
    check_instance,
    check_int,
    check_positive_float,
)

MAX_FRAMES = 40  # 帧数上限：每帧几十 KB，再多页面就太重了

# 样式与脚本只在这里写一次；每个滑块图把它们内嵌一份，离开本书网站
# （例如在 JupyterLab 里）也能独立工作。
_STYLE = """
.dlbook-slider { margin: 0 auto; max-width: 100%; }
.dlbook-slider .dlbook-slider-frames img { max-width: 100%; height: auto; }
.dlbook-slider .dlbook-slider-frames img[hidden] { display: none; }
.dlbook-slider-control {
  display: flex; flex-wrap: wrap; align-items: center; gap: 0.5em 0.75em;
  margin: 0.4em 0; font-size: 0.95em;
}
.dlbook-slider-control input[type="range"] {
  flex: 1 1 12em; max-width: 24em; min-height: 2em;
  accent-color: var(--pst-color-primary, #0072b2);
}
.dlbook-slider-control output {
  font-variant-numeric: tabular-nums; min-width: 6em; font-weight: 600;
}
.dlbook-slider-print { display: none; }
@media print {
  .dlbook-slider-control, .dlbook-slider-noscript { display: none !important; }
  .dlbook-slider .dlbook-slider-frames img { display: none !important; }
  .dlbook-slider .dlbook-slider-frames img.dlbook-slider-default {
    display: inline !important;
  }
  /* 说明带 hidden 属性（屏幕上不显示）；主题的 [hidden] 规则带 !important */
  .dlbook-slider-print { display: block !important; font-size: 0.9em; }
}
"""

_SCRIPT = """
(function (root) {
  var input = root.querySelector("input[type=range]");
  var output = root.querySelector("output");
  var frames = root.querySelectorAll(".dlbook-slider-frames img");
  var values = JSON.parse(root.getAttribute("data-values"));
  root.querySelector(".dlbook-slider-noscript").hidden = true;
  function show(i) {
    for (var k = 0; k < frames.length; k++) frames[k].hidden = k !== i;
    output.textContent = values[i];
    input.setAttribute("aria-valuetext", values[i]);
  }
  input.addEventListener("input", function () { show(Number(input.value)); });
  // JupyterLab 把方向键当作在单元格之间移动：按键留给滑块自己
  input.addEventListener("keydown", function (e) { e.stopPropagation(); });
  input.disabled = false;
  show(Number(input.value));
})(document.currentScript.parentElement);
"""


@dataclass(frozen=True)
class SliderFigure:
    """渲染好的滑块图：每个取值一帧 PNG。

    在笔记本里作为单元格的结果显示（``_repr_html_``）。
    """

    frames: tuple[bytes, ...]
    values: tuple[str, ...]
    label: str
    default: int
    alt: str

    def __repr__(self) -> str:
        """笔记本里的纯文本表示：一句说明，而不是几百 KB 的帧字节。"""
        return (
            f"<滑块图：{self.label}，{len(self.frames)} 帧，"
            f"默认 {self.values[self.default]}>"
        )

    @property
    def element_id(self) -> str:
        """由内容决定的 id：同样的图两次构建得到同样的 HTML。"""
        digest = hashlib.sha1(self.label.encode())
        for frame in self.frames:
            digest.update(frame)
        return "dlbook-slider-" + digest.hexdigest()[:10]

    def _repr_html_(self) -> str:
        uid = self.element_id
        esc = html.escape
        imgs = []
        for i, (frame, value) in enumerate(
            zip(self.frames, self.values, strict=True)
        ):
            data = base64.b64encode(frame).decode("ascii")
            cls = ' class="dlbook-slider-default"' if i == self.default else ""
            # 写成 hidden="hidden"：JupyterLab 清理不受信任的输出时会去掉
            # 没有值的属性，帧就全都露出来了
            hidden = "" if i == self.default else ' hidden="hidden"'
            imgs.append(
                f'<img src="data:image/png;base64,{data}"{cls}{hidden} '
                f'alt="{esc(self.alt)}（{esc(self.label)}：{esc(value)}）">'
            )
        default_value = self.values[self.default]
        values_json = esc(json.dumps(list(self.values), ensure_ascii=False))
        return (
            f'<div class="dlbook-slider" id="{uid}" '
            f'data-values="{values_json}">'
            f"<style>{_STYLE}</style>"
            f'<div class="dlbook-slider-frames">{"".join(imgs)}</div>'
            f'<div class="dlbook-slider-control">'
            f'<label for="{uid}-input">{esc(self.label)}</label>'
            f'<input type="range" id="{uid}-input" min="0" '
            f'max="{len(self.frames) - 1}" step="1" value="{self.default}" '
            f'aria-valuetext="{esc(default_value)}" disabled>'
            f'<output for="{uid}-input">{esc(default_value)}</output>'
            f"</div>"
            f'<p class="dlbook-slider-print" hidden="hidden">此处印出的是 '
            f"{esc(default_value)} 时的图；在网页上可以拖动"
            f"“{esc(self.label)}”滑块查看其他取值。</p>"
            # 脚本运行时藏起这句；不运行脚本的地方（JupyterLab 里还没运行、
            # 也不受信任的笔记本）只显示默认的一帧和这句说明
            f'<p class="dlbook-slider-noscript">这里显示的是 '
            f"{esc(default_value)} 时的图。要拖动“{esc(self.label)}”"
            "滑块，请运行这个单元格：Jupyter 只在运行过的单元格"
            "（或受信任的笔记本）里执行输出中的脚本。</p>"
            f"<script>{_SCRIPT}</script>"
            f"</div>"
        )


def _png(fig: Figure, dpi: float) -> bytes:
    """把图存成调色板 PNG：这类图颜色不多，比真彩色小一半以上。"""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    image = Image.open(buffer).convert("RGB").quantize(colors=256)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def slider_figure(
    fig: Figure,
    update: Callable[[int], object],
    values: Sequence[str],
    *,
    label: str,
    default: int,
    alt: str,
    dpi: float = 100,
) -> SliderFigure:
    """逐个状态重画 ``fig``，做成一个滑块图。

    Args:
        fig: 要重画的图；各帧的尺寸与排版相同（按默认状态调用一次
            ``tight_layout``）。渲染完后关闭它，不会另外显示。
        update: ``update(i)`` 把图画成第 i 个状态（i 从 0 到 len(values)-1）。
        values: 每个状态的取值说明，显示在滑块旁，也由读屏软件读出，
            如 ``["T = 0.25", "T = 0.5", ...]``。
        label: 滑块的名字，如 ``"温度 T"``。
        default: 页面打开时与打印时显示的状态的下标。
        alt: 图的文字描述；每帧的替代文字在它后面加上取值。
        dpi: 每帧的分辨率。

    Returns:
        ``SliderFigure``；作为单元格的最后一个表达式即可显示。
    """
    check_instance("fig", fig, Figure)
    if not callable(update):
        raise TypeError("update 应是函数：update(i) 把图画成第 i 个状态")
    if isinstance(values, str):
        raise TypeError(
            f"values 应是每个状态一项的标签序列，如 ['T = 0.5', 'T = 1']，"
            f"收到字符串 {values!r}（它会被拆成单个字符）"
        )
    values = tuple(values)
    if not 2 <= len(values) <= MAX_FRAMES:
        raise ValueError(
            f"values 应有 2 到 {MAX_FRAMES} 个取值，收到 {len(values)} 个"
        )
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise ValueError("values 的每一项都应是非空字符串，如 'T = 0.5'")
    default = check_int("default", default, minimum=0)
    if default >= len(values):
        raise ValueError(
            f"default 应是 0 到 {len(values) - 1} 之间的下标，收到 {default}"
        )
    for name, text in (("label", label), ("alt", alt)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{name} 应是非空字符串，读屏软件会读出它")
    dpi = check_positive_float("dpi", dpi)
    import matplotlib.pyplot as plt

    try:
        # 先画出默认状态再排版（标题、图例都已就位，不会被裁掉），各帧共用
        # 这个排版，切换时坐标轴不会跳动
        update(default)
        if fig.get_layout_engine() is None:
            fig.tight_layout()
        frames = []
        for i in range(len(values)):
            update(i)
            frames.append(_png(fig, dpi))
    finally:
        plt.close(fig)
    return SliderFigure(tuple(frames), values, label, default, alt)
