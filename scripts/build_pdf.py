"""生成整本书的 PDF：单页 HTML 构建，再用无头 Chromium 打印。

等 MathJax 把公式排版完才打印，所以 PDF 里的公式与网页一致。

打印之后修好 PDF 的文字层：Noto/思源等中文字体的字符表把常用字（一、用、大、
文……）和长得一样的部首（康熙部首 U+2F00…、部首补充 U+2E80…）映射到同一个
字形，Chromium（Skia）写 PDF 时反查字形对应的字符，挑中的是部首。
PDF 看起来没问题，复制出来、搜索时却是另一个字符：搜“参考文献”什么也找不到。
``repair_text_layer`` 按打印所用字体自己的字符表，把每个字形对应的部首换回
同一字形的常用字（改写每个字体的 ToUnicode 映射，页面内容不变）。

用法（在仓库根目录，已按 README 构建过一次）::

    .venv/bin/python scripts/build_pdf.py

需要 Debian 的 chromium 与 fonts-noto-cjk（PDF 中的中文正文由系统字体渲染；
图中的中文用的是随包字体），以及 requirements-dev.txt 里的 playwright 与
pypdf。结果写到 _build/html/deep-learning-basics.pdf，
网站首页的“下载 PDF”链接指向它。
"""

from __future__ import annotations

import functools
import http.server
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SINGLE = ROOT / "_build" / "singlehtml"
PDF = ROOT / "_build" / "html" / "deep-learning-basics.pdf"
MARGIN = {"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def build_single_page() -> Path:
    """单页 HTML 构建；返回那一页的路径。"""
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", ".", "--builder", "singlehtml", "-n", "-W"]
    subprocess.run([*cmd, "--keep-going"], cwd=ROOT, check=True)
    # 首页在 book/ 下，根目录的 index.html 只是跳转页；单页 HTML 里的
    # _static/、_images/ 却是相对根目录写的，所以把它们复制到 book/ 旁边
    for folder in ("_static", "_images"):
        if (SINGLE / folder).is_dir():
            target = SINGLE / "book" / folder
            shutil.copytree(SINGLE / folder, target, dirs_exist_ok=True)
    return SINGLE / "book" / "index.html"


def print_pdf(page: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_Quiet, directory=str(SINGLE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = page.relative_to(SINGLE).as_posix()
    url = f"http://127.0.0.1:{server.server_address[1]}/{path}"
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        tab = browser.new_page()
        tab.goto(url, wait_until="networkidle")
        tab.wait_for_function("() => window.MathJax && MathJax.startup")
        tab.evaluate("() => MathJax.startup.promise")
        tab.wait_for_function(
            "() => document.querySelectorAll('mjx-container').length > 0"
        )
        print("排版后的公式数：", tab.locator("mjx-container").count())
        tab.emulate_media(media="print")
        PDF.parent.mkdir(parents=True, exist_ok=True)
        tab.pdf(
            path=str(PDF), format="A4", print_background=True, margin=MARGIN
        )
        browser.close()
    server.shutdown()


# ---------- 文字层：部首换回常用字 ----------

RADICALS = ((0x2E80, 0x2EFF), (0x2F00, 0x2FDF))  # 部首补充、康熙部首
IDEOGRAPHS = (  # 中日韩统一表意文字（基本区、扩展 A、扩展 B 及以后）
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x3FFFF),
)


def _within(code: int, ranges) -> bool:
    return any(lo <= code <= hi for lo, hi in ranges)


def is_radical(char: str) -> bool:
    """康熙部首或部首补充里的字符。"""
    return _within(ord(char), RADICALS)


def print_font() -> tuple[str, int]:
    """Chromium 打印中文正文用的字体文件与其中的字体序号（fontconfig 给
    ``sans-serif:lang=zh-cn`` 挑的那个，如 Noto Sans CJK SC）。"""
    result = subprocess.run(
        ["fc-match", "-f", "%{file}\n%{index}", "sans-serif:lang=zh-cn"],
        capture_output=True,
        text=True,
        check=True,
    )
    path, index = result.stdout.splitlines()
    return path, int(index)


def radical_map(cmap: dict[int, str]) -> dict[str, str]:
    """{部首: 常用字}：字体的字符表（码位 → 字形名）里与某个统一表意文字
    共用字形的部首，换成共用那个字形的码位最小的表意文字。

    按字体自己的表而不是 Unicode 的兼容分解来换：简体字体里 ⼾（U+2F3E）
    画的是“户”，兼容分解却给出“戶”。
    """
    by_glyph: dict[str, int] = {}
    for code, glyph in sorted(cmap.items()):
        if _within(code, IDEOGRAPHS):
            by_glyph.setdefault(glyph, code)
    return {
        chr(code): chr(by_glyph[glyph])
        for code, glyph in cmap.items()
        if _within(code, RADICALS) and glyph in by_glyph
    }


def font_radical_map() -> dict[str, str]:
    from fontTools.ttLib import TTFont

    path, index = print_font()
    with TTFont(path, fontNumber=index, lazy=True) as font:
        return radical_map(font.getBestCmap())


CMAP_BLOCK = re.compile(r"\d+\s+begin(bfchar|bfrange)\s(.*?)\bend\1\s*", re.S)
HEX = r"<([0-9A-Fa-f]*)>"
BFCHAR = re.compile(rf"{HEX}\s*{HEX}")
BFRANGE = re.compile(rf"{HEX}\s*{HEX}\s*(?:{HEX}|\[([^\]]*)\])")


def _text(hex_string: str) -> str:
    return bytes.fromhex(hex_string).decode("utf-16-be", "surrogatepass")


def _hex(text: str) -> str:
    return text.encode("utf-16-be", "surrogatepass").hex().upper()


def cmap_entries(cmap: str) -> dict[str, str]:
    """ToUnicode CMap 的全部映射：{字符码（原样的十六进制）: 文字}。"""
    entries = {}
    for kind, body in CMAP_BLOCK.findall(cmap):
        if kind == "bfchar":
            for code, target in BFCHAR.findall(body):
                entries[code] = _text(target)
            continue
        for lo, hi, start, array in BFRANGE.findall(body):
            width, first, last = len(lo), int(lo, 16), int(hi, 16)
            targets = re.findall(HEX, array) if array else []
            for i, code in enumerate(range(first, last + 1)):
                key = f"{code:0{width}X}"
                if array:
                    entries[key] = _text(targets[i])
                else:  # 目标的最后一个字符依次加一
                    text = _text(start)
                    entries[key] = text[:-1] + chr(ord(text[-1]) + i)
    return entries


def repair_cmap(cmap: str, mapping: dict[str, str]) -> str | None:
    """把 CMap 里映射到部首的字符码改成映射到常用字；没有要改的返回 None。

    改过的 CMap 保留原来的头部与字符码空间，映射全部写成 bfchar（每块
    不超过 100 条，PDF 规范的上限）。
    """
    entries = cmap_entries(cmap)
    fixed = {
        code: "".join(mapping.get(ch, ch) for ch in text)
        for code, text in entries.items()
    }
    if fixed == entries:
        return None
    items = sorted(fixed.items(), key=lambda item: (len(item[0]), item[0]))
    blocks = "".join(
        f"{len(chunk)} beginbfchar\n"
        + "".join(f"<{code}> <{_hex(text)}>\n" for code, text in chunk)
        + "endbfchar\n"
        for chunk in (items[i : i + 100] for i in range(0, len(items), 100))
    )
    rest = CMAP_BLOCK.sub("", cmap)
    head, end, tail = rest.partition("endcmap")
    if not end:
        raise ValueError("ToUnicode CMap 里没有 endcmap")
    return head + blocks + end + tail


def fonts_in(resources, seen: set):
    """资源字典里（连同表单 XObject、Type3 字体自己的资源）所有的字体。"""
    if resources is None:
        return
    resources = resources.get_object()
    for font in (resources.get("/Font") or {}).values():
        ref = getattr(font, "idnum", None)
        font = font.get_object()
        if ref is not None and ref in seen:
            continue
        seen.add(ref if ref is not None else id(font))
        yield font
        yield from fonts_in(font.get("/Resources"), seen)
    for xobject in (resources.get("/XObject") or {}).values():
        ref = getattr(xobject, "idnum", None)
        if ref is not None and ref in seen:
            continue
        seen.add(ref if ref is not None else id(xobject))
        yield from fonts_in(xobject.get_object().get("/Resources"), seen)


def repair_text_layer(pdf: Path, mapping: dict[str, str]) -> int:
    """改写 ``pdf`` 里每个字体的 ToUnicode，把部首换成 ``mapping`` 给的常用
    字；返回改过的字体数。"""
    from pypdf import PdfWriter

    # Chromium 的 PDF 在 pypdf 看来 trailer 里的对象数少算了几个：pypdf 会
    # 打一行警告、照常读取；写出的文件是对的，这行警告不必出现在构建日志里
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    writer = PdfWriter(clone_from=str(pdf))
    seen: set = set()
    changed = 0
    for page in writer.pages:
        for font in fonts_in(page.get("/Resources"), seen):
            if "/ToUnicode" not in font:
                continue
            stream = font["/ToUnicode"].get_object()
            new = repair_cmap(stream.get_data().decode("latin-1"), mapping)
            if new is not None:
                stream.set_data(new.encode("latin-1"))  # 按原来的压缩方式
                changed += 1
    partial = pdf.with_suffix(".pdf.partial")
    with open(partial, "wb") as handle:
        writer.write(handle)
    partial.replace(pdf)
    return changed


BROWSER_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)


def find_chromium() -> str | None:
    """找一个 Chromium 内核的浏览器：先看环境变量 CHROMIUM、CHROME_BIN，
    再按常见的命令名在 PATH 里找（Debian 叫 chromium，GitHub 的 Ubuntu
    运行器自带 google-chrome）。"""
    for variable in ("CHROMIUM", "CHROME_BIN"):
        path = os.environ.get(variable)
        if path and Path(path).is_file():
            return path
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


PDF_NOTE = re.compile(r'<span class="pdf-download">.*?</span>', re.S)
PDF_LINK = (
    '<a class="pdf-download" href="../deep-learning-basics.pdf">下载 PDF</a>'
)


def link_pdf_from_index(index: Path) -> None:
    """PDF 生成之后，把首页上“怎样生成 PDF”的说明换成下载链接。

    链接只在 PDF 真的存在时出现，所以这一步放在生成 PDF 之后，而不是构建时。
    """
    html = index.read_text("utf-8")
    if PDF_LINK in html:
        return
    new, count = PDF_NOTE.subn(PDF_LINK, html)
    if count != 1:
        raise SystemExit(f"{index} 里找不到“下载 PDF”的位置（.pdf-download）")
    # 先写临时文件再改名：同时打开首页的浏览器不会读到写了一半的文件
    partial = index.with_suffix(".html.partial")
    partial.write_text(new, "utf-8")
    partial.replace(index)


def main() -> None:
    chromium = find_chromium()
    if chromium is None:
        sys.exit(
            "需要 Chromium 或 Chrome：Debian 上 apt-get install chromium；"
            "或者用环境变量 CHROMIUM 指向浏览器的可执行文件"
        )
    fonts = subprocess.run(
        ["fc-list", ":lang=zh"], capture_output=True, text=True
    )
    if not fonts.stdout.strip():
        sys.exit("没有中文字体：apt-get install fonts-noto-cjk")
    print_pdf(build_single_page(), chromium)
    repaired = repair_text_layer(PDF, font_radical_map())
    print(f"文字层：{repaired} 个字体里的部首换回了常用字")
    link_pdf_from_index(ROOT / "_build" / "html" / "book" / "index.html")
    print(f"PDF 已生成：{PDF.relative_to(ROOT)}，首页已换上下载链接")


if __name__ == "__main__":
    main()
