"""构建必须在出问题时失败，并说清楚是什么问题：
未标记的单元格报错、断掉的交叉引用、写到 stderr 的输出（例如缺字形的警告）。
标记了 raises-exception 的有意报错则照常构建，并把报错显示在页面上。
"""

from __future__ import annotations

import pytest

from conftest import ScratchBook

pytestmark = pytest.mark.slow


def build_page(tmp_path, body: str):
    book = ScratchBook(tmp_path)
    book.write_page(body)
    return book, book.build()


def test_untagged_cell_error_fails_the_build(tmp_path):
    _, result = build_page(
        tmp_path, "# 报错\n\n```{code-cell} ipython3\n1 / 0\n```\n"
    )
    assert result.returncode != 0
    assert "ZeroDivisionError" in result.stdout + result.stderr


def test_tagged_error_is_shown_and_the_build_passes(tmp_path):
    body = (
        "# 有意的报错\n\n```{code-cell} ipython3\n:tags: [raises-exception]\n"
        "1 / 0\n```\n"
    )
    book, result = build_page(tmp_path, body)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "ZeroDivisionError" in book.html()


def test_broken_cross_reference_fails_the_build(tmp_path):
    _, result = build_page(tmp_path, "# 引用\n\n见{ref}`no-such-label`。\n")
    assert result.returncode != 0
    assert "no-such-label" in result.stdout + result.stderr


def test_stderr_output_fails_the_build(tmp_path):
    body = (
        "# stderr\n\n```{code-cell} ipython3\nimport sys\n"
        "print('Glyph 25439 missing from font(s).', file=sys.stderr)\n"
        "```\n"
    )
    _, result = build_page(tmp_path, body)
    assert result.returncode != 0
    assert "stderr" in result.stdout + result.stderr


def test_raises_exception_tag_on_code_that_no_longer_raises_fails(tmp_path):
    """库升级让有意报错的代码变得合法时，构建必须失败，而不是留下过期的正文。"""
    body = (
        "# 不再报错\n\n```{code-cell} ipython3\n:tags: [raises-exception]\n"
        "1 + 1\n```\n"
    )
    _, result = build_page(tmp_path, body)
    assert result.returncode != 0
    assert "raises-exception" in result.stdout + result.stderr
