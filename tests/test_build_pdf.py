"""scripts/build_pdf.py 怎样修好 PDF 的文字层（不需要构建，几毫秒）。

Chromium 用 Noto/思源这类中文字体打印时，把常用字写成同一字形的部首
（一 → ⼀ U+2F00）：PDF 看起来没问题，搜索、复制却是另一个字符。
整本书的 PDF 由 tests/test_pdf_and_binder.py 检查。
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import build_pdf
import pytest

# Skia 写的 ToUnicode：单字节字符码，bfchar 与 bfrange（两种写法）都有
CMAP = """/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo
<<  /Registry (Adobe)
/Ordering (UCS)
/Supplement 0
>> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<00> <FF>
endcodespacerange
2 beginbfchar
<01> <2F00>
<02> <53C2>
endbfchar
2 beginbfrange
<03> <04> <2F64>
<05> <06> [<2ED3> <6587>]
endbfrange
endcmap
CMapName currentdict /CMap defineresource pop
end
end
"""

# 简体中文字体的字符表里共用字形的几对（码位 → 字形名）
FONT_CMAP = {
    0x2F00: "g1",  # ⼀ 与 一 同一个字形
    0x4E00: "g1",
    0x2F64: "g2",  # ⽤ 与 用
    0x7528: "g2",
    0x2ED3: "g3",  # ⻓（部首补充）与 长
    0x957F: "g3",
    0x2F3E: "g4",  # ⼾：简体字体里画的是“户”，不是兼容分解给出的“戶”
    0x6237: "g4",
    0x6236: "g5",
    0x2F08: "g6",  # ⼈ 没有与之共用字形的常用字：不换
    0xF900: "g1",  # 兼容表意文字不算
}


def test_radicals_map_to_the_ideograph_that_shares_their_glyph():
    mapping = build_pdf.radical_map(FONT_CMAP)
    assert mapping == {"⼀": "一", "⽤": "用", "⻓": "长", "⼾": "户"}


def test_cmap_entries_read_bfchar_and_both_kinds_of_bfrange():
    assert build_pdf.cmap_entries(CMAP) == {
        "01": "⼀",
        "02": "参",
        "03": "⽤",
        "04": "⽥",  # 范围：目标的最后一个字符依次加一
        "05": "⻓",
        "06": "文",
    }


def test_repaired_cmap_maps_radicals_to_ideographs_and_keeps_the_rest():
    mapping = build_pdf.radical_map(FONT_CMAP)
    repaired = build_pdf.repair_cmap(CMAP, mapping)
    assert build_pdf.cmap_entries(repaired) == {
        "01": "一",
        "02": "参",
        "03": "用",
        "04": "⽥",  # 字体里没有与它共用字形的常用字
        "05": "长",
        "06": "文",
    }
    assert repaired.startswith(CMAP[: CMAP.index("2 beginbfchar")])
    assert "<00> <FF>\nendcodespacerange" in repaired
    assert repaired.endswith("endcmap\n" + CMAP.split("endcmap\n", 1)[1])
    assert build_pdf.repair_cmap(repaired, mapping) is None  # 没有要改的


def test_long_cmaps_are_written_in_blocks_of_at_most_100():
    body = "".join(f"<{i:02X}> <2F00>\n" for i in range(250))
    cmap = CMAP.replace(
        CMAP[CMAP.index("2 beginbfchar") : CMAP.index("endcmap")],
        f"250 beginbfchar\n{body}endbfchar\n",
    )
    repaired = build_pdf.repair_cmap(cmap, {"⼀": "一"})
    counts = [int(n) for n in re.findall(r"(\d+) beginbfchar", repaired)]
    assert counts == [100, 100, 50]
    assert set(build_pdf.cmap_entries(repaired).values()) == {"一"}


def test_the_print_font_maps_the_radicals_found_in_the_pdf():
    """打印所用的中文字体（fontconfig 为 zh-cn 挑的那个）给出的对照：包括
    PDF 里出现过的康熙部首与部首补充。"""
    if (
        shutil.which("fc-match") is None
        or not subprocess.run(
            ["fc-list", ":lang=zh"], capture_output=True, text=True
        ).stdout.strip()
    ):
        if os.environ.get("CI"):
            pytest.fail("需要中文字体 fonts-noto-cjk")
        pytest.skip("需要中文字体 fonts-noto-cjk")
    mapping = build_pdf.font_radical_map()
    for radical, ideograph in zip(
        "⼀⽤⼤⽂⾯⻓⻅⻚⻔", "一用大文面长见页门", strict=True
    ):
        assert mapping[radical] == ideograph
