"""较慢的发布检查：整本书的 PDF（Binder 的检查在 tests/test_binder.py）。"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import (
    ROOT,
    chapter_pages,
)

pytestmark = pytest.mark.slow


def _skip_or_fail(reason: str):
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


PDF_HREF = 'href="../deep-learning-basics.pdf"'


def test_pdf_has_every_chapter_with_typeset_math(built_site):
    """README 的构建命令不生成 PDF：首页只说明怎样生成，不放死链接；
    scripts/build_pdf.py 生成 PDF 之后，首页才换上下载链接。

    首页只有这个测试会改写，所以“构建后的首页”也在这里检查（测试并行运行，
    放在别的测试里会与改写争先后）。
    """
    index_page = built_site / "book/index.html"
    before = index_page.read_text("utf-8")
    if PDF_HREF not in before:  # 之前没有生成过 PDF（CI 的全新检出总是如此）
        assert "scripts/build_pdf.py" in before
        assert 'class="pdf-download"' in before
    if shutil.which("chromium") is None:
        _skip_or_fail("需要 chromium")
    fonts = subprocess.run(
        ["fc-list", ":lang=zh"], capture_output=True, text=True
    )
    if not fonts.stdout.strip():
        _skip_or_fail("需要中文字体 fonts-noto-cjk")
    result = subprocess.run(
        [sys.executable, "scripts/build_pdf.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (
        result.stdout[-2000:] + result.stderr[-2000:]
    )
    typeset = int(re.search(r"排版后的公式数： (\d+)", result.stdout).group(1))
    assert typeset > 200
    pdf = (built_site / "deep-learning-basics.pdf").read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages > 5 * len(chapter_pages())
    assert PDF_HREF in index_page.read_text("utf-8")  # 生成后才有链接
    assert "部首换回了常用字" in result.stdout
    assert_pdf_text_is_searchable(built_site / "deep-learning-basics.pdf")
    # 印出的单页 HTML 里每章末尾有自测答案（打印时显示，见 test_browser.py）
    single = (ROOT / "_build/singlehtml/book/index.html").read_text("utf-8")
    assert single.count('class="dlbook-quiz-key"') == len(chapter_pages())


def assert_pdf_text_is_searchable(path) -> None:
    """PDF 的文字层：没有一个字形映射到部首（整本书每个字体的 ToUnicode），
    开头几页（目录）里搜得到“目录”“参考文献”“常见问题”与每一章的标题。"""
    import build_pdf
    from pypdf import PdfReader

    reader = PdfReader(path)
    radicals, seen = set(), set()
    for page in reader.pages:
        for font in build_pdf.fonts_in(page.get("/Resources"), seen):
            if "/ToUnicode" in font:
                data = font["/ToUnicode"].get_object().get_data()
                text = "".join(
                    build_pdf.cmap_entries(data.decode("latin-1")).values()
                )
                radicals.update(filter(build_pdf.is_radical, text))
    assert radicals == set(), f"文字层里有部首：{sorted(radicals)}"
    front = "".join(page.extract_text() for page in reader.pages[:3])
    front = "".join(front.split())  # 抽出的文字里空格多少不一
    titles = [
        next(
            line[2:]
            for line in (ROOT / f"{name}.md").read_text("utf-8").splitlines()
            if line.startswith("# ")
        )
        for name in chapter_pages()
    ]
    for word in ("目录", "参考文献", "常见问题", *titles):
        assert "".join(word.split()) in front, word
