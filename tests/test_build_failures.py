"""构建必须在出问题时失败，并说清楚是什么问题、出在哪一页：
未标记的单元格报错、断掉的交叉引用、写到 stderr 的输出（例如缺字形的警告）、
标记了 raises-exception 却不再报错的代码。
标记了 raises-exception 的有意报错则照常构建，并把报错显示在页面上。

四种问题放在同一本小书的四页里，只构建一次（每次构建要几秒钟）。
"""

from __future__ import annotations

import re

import pytest

from conftest import ScratchBook

pytestmark = pytest.mark.slow

BROKEN = {
    "untagged": "# 报错\n\n```{code-cell} ipython3\n1 / 0\n```\n",
    "xref": "# 引用\n\n见{ref}`no-such-label`。\n",
    "stderr": (
        "# stderr\n\n```{code-cell} ipython3\nimport sys\n"
        "print('Glyph 25439 missing from font(s).', file=sys.stderr)\n"
        "```\n"
    ),
    # 库升级让有意报错的代码变得合法时，构建必须失败，而不是留下过期的正文
    "noraise": (
        "# 不再报错\n\n```{code-cell} ipython3\n:tags: [raises-exception]\n"
        "1 + 1\n```\n"
    ),
}
TAGGED = (
    "# 有意的报错\n\n```{code-cell} ipython3\n:tags: [raises-exception]\n"
    "1 / 0\n```\n"
)


def lines_about(output: str, page: str) -> str:
    """输出里提到 ``book/<page>`` 的行。"""
    pattern = rf"^.*book/{page}\b.*$"
    return "\n".join(re.findall(pattern, output, flags=re.MULTILINE))


# 每种问题在报错里点出的字样（页面名之外）
SYMPTOM = {
    "untagged": "Executing notebook failed",  # 调用栈里有 ZeroDivisionError
    "xref": "no-such-label",
    "stderr": "stderr",
    "noraise": "raises-exception",
}


def test_each_broken_page_fails_the_build_with_its_own_error(tmp_path):
    """一本首页正常、另外四页各有一种问题的小书（只构建一次）：构建失败，
    每一页的问题都在输出里、点名那一页；正常的首页不被牵连。"""
    book = ScratchBook(tmp_path)
    book.write_page("# 首页\n\n正文。\n")
    for name, body in BROKEN.items():
        book.write_page(body, name)
    result = book.build()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "ZeroDivisionError" in output
    missing = [
        name
        for name, symptom in SYMPTOM.items()
        if symptom not in lines_about(output, name)
    ]
    assert missing == [], f"这些页的问题没有被点名报告：{missing}"
    blamed = re.findall(
        r"(?i)warning|error|failed", lines_about(output, "index")
    )
    assert blamed == []


def test_tagged_error_is_shown_and_the_build_passes(tmp_path):
    book = ScratchBook(tmp_path)
    book.write_page(TAGGED)
    result = book.build()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "ZeroDivisionError" in book.html()
    # 临时小书不在 git 仓库里：页脚没有修改日期，构建（带 -W）也不因此失败
    assert "本页最后修改于" not in book.html()
