"""生成书中图表使用的中文字体子集 code/dlbasics/fonts/NotoSansSC-Subset.otf。

来源：Debian 软件包 fonts-noto-cjk（1:20220127+repack1-1）中的
NotoSansCJK-Regular.ttc，取其中的 "Noto Sans CJK SC" 字面，保留 GB2312
全部汉字（6763 个）、ASCII、拉丁补充、希腊字母、常用标点与数学符号，
并改名为 "Noto Sans SC DLBasics"，以免与系统里完整的 Noto 字体重名。
字体以 SIL Open Font License 1.1 发布（见 fonts/LICENSE-OFL.txt），
允许修改后随软件再分发。

用法（只在需要重新生成字体时运行，构建与测试都不运行它）::

    apt-get download fonts-noto-cjk && dpkg -x fonts-noto-cjk_*.deb noto
    cp noto/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc .
    python scripts/make_font_subset.py NotoSansCJK-Regular.ttc
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

FAMILY = "Noto Sans SC DLBasics"
OUT = (
    Path(__file__).resolve().parents[1]
    / "code"
    / "dlbasics"
    / "fonts"
    / "NotoSansSC-Subset.otf"
)

RANGES = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # 拉丁补充
    (0x0370, 0x03FF),  # 希腊字母
    (0x2000, 0x206F),  # 通用标点
    (0x2070, 0x209F),  # 上下标
    (0x2100, 0x214F),  # 类字母符号
    (0x2150, 0x218F),  # 数字形式
    (0x2190, 0x21FF),  # 箭头
    (0x2200, 0x22FF),  # 数学运算符
    (0x2460, 0x24FF),  # 带圈数字
    (0x2500, 0x257F),  # 制表符
    (0x25A0, 0x25FF),  # 几何图形
    (0x3000, 0x303F),  # 中文标点
    (0xFF00, 0xFFEF),  # 全角字符
]


def gb2312_chars() -> set[int]:
    """GB2312 中全部可解码的字符（含 6763 个汉字）。"""
    chars = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes([hi, lo]).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    return chars


def main(ttc_path: str) -> None:
    collection = TTCollection(ttc_path)
    font = next(
        f
        for f in collection.fonts
        if f["name"].getDebugName(1) == "Noto Sans CJK SC"
    )
    unicodes = gb2312_chars()
    for lo, hi in RANGES:
        unicodes.update(range(lo, hi + 1))
    options = subset.Options()
    options.hinting = False
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(unicodes))
    subsetter.subset(font)
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 16):
            record.string = FAMILY
        elif record.nameID == 4:
            record.string = FAMILY + " Regular"
        elif record.nameID == 6:
            record.string = FAMILY.replace(" ", "") + "-Regular"
        elif record.nameID == 3:
            record.string = (
                FAMILY + " Regular (subset of Noto Sans CJK SC 2.004)"
            )
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [FAMILY.replace(" ", "") + "-Regular"]
        top = cff.topDictIndex[0]
        top.FamilyName = FAMILY
        top.FullName = FAMILY + " Regular"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    font.save(OUT)
    print(
        f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB, "
        f"{len(font.getBestCmap())} code points)"
    )


if __name__ == "__main__":
    main(sys.argv[1])
