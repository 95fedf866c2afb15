"""生成整本书的 PDF：单页 HTML 构建，再用无头 Chromium 打印。

等 MathJax 把公式排版完才打印，所以 PDF 里的公式与网页一致。

用法（在仓库根目录，已按 README 构建过一次）::

    .venv/bin/python scripts/build_pdf.py

需要 Debian 的 chromium 与 fonts-noto-cjk（PDF 中的中文正文由系统字体渲染；
图中的中文用的是随包字体）。结果写到 _build/html/deep-learning-basics.pdf，
网站首页的“下载 PDF”链接指向它。
"""

from __future__ import annotations

import functools
import http.server
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
    link_pdf_from_index(ROOT / "_build" / "html" / "book" / "index.html")
    print(f"PDF 已生成：{PDF.relative_to(ROOT)}，首页已换上下载链接")


if __name__ == "__main__":
    main()
