"""构建必须在出问题时失败，并说清楚是什么问题、出在哪一页：
未标记的单元格报错、断掉的交叉引用、写到 stderr 的输出（例如缺字形的警告）、
标记了 raises-exception 却不再报错的代码、超过上限的输出（误打印了整个张量）、
写错的自测题（``{quiz}``）。
标记了 raises-exception 的有意报错则照常构建，并把报错显示在页面上；
写对的自测题也照常构建。

这些问题放在同一本小书的几页里，只构建一次（每次构建要几秒钟）。
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
    # 一个单元格的输出超过上限（build_guards.OUTPUT_LIMIT，100 KB 文字）；
    # 分成很多行：myst-nb 合并输出流时用的正则对极长的单行是平方级的
    "huge": (
        "# 很长的输出\n\n```{code-cell} ipython3\n"
        "print('\\n'.join(['x' * 99] * 2_000))\n```\n"
    ),
}
# 写错的自测题：报错里的字样 → 指令的写法（都在 quiz 一页里）
TWO = "题干。\n\n甲\n: 对。\n\n乙\n: 错。\n"
NUMERIC = "题干。\n\n提示\n: 想。\n\n解析\n: 是。\n"
HERE = ":explain: 讲解的一节\n\n"
BROKEN_QUIZ = {
    "没有标题为“不存在的一节”": ":answer: A\n:explain: 不存在的一节\n\n" + TWO,
    "只有 2 个选项": ":answer: C\n" + HERE + TWO,
    "单选题只能有一个答案": ":answer: A B\n" + HERE + TWO,
    "本章没有 glue 键 'nope'": ":value: glue:nope\n:tolerance: 1\n"
    + HERE
    + NUMERIC,
    "数值题要写 :tolerance:": ":value: 3\n" + HERE + NUMERIC,
    "最后应是定义列表": ":answer: A\n" + HERE + "只有题干。\n",
}
BROKEN["quiz"] = "# 写错的题\n\n## 讲解的一节\n\n正文。\n\n" + "".join(
    f"```{{quiz}}\n{text}```\n\n" for text in BROKEN_QUIZ.values()
)
# 写对的一道数值题，答案取自 glue
GOOD_QUIZ = """
```{code-cell} ipython3
from myst_nb import glue

glue("answer", 0.25, display=False)
```

## 讲解的一节

```{quiz}
:value: glue:answer
:tolerance: 5%
:explain: 讲解的一节

填一个数。

提示
: 想一想。

解析
: 是 {glue:text}`answer`。
```
"""
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
    "huge": "超过上限 100 KB",
    "quiz": "自测题",
}


def test_each_broken_page_fails_the_build_with_its_own_error(tmp_path):
    """一本首页正常、另外几页各有一种问题的小书（只构建一次）：构建失败，
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
    quiz_lines = lines_about(output, "quiz")
    unreported = [m for m in BROKEN_QUIZ if m not in quiz_lines]
    assert unreported == [], f"这些写错的自测题没有报告：{unreported}"
    blamed = re.findall(
        r"(?i)warning|error|failed", lines_about(output, "index")
    )
    assert blamed == []


def test_tagged_error_is_shown_and_the_build_passes(tmp_path):
    book = ScratchBook(tmp_path)
    book.write_page(TAGGED + GOOD_QUIZ)
    result = book.build()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "ZeroDivisionError" in book.html()
    quiz = re.search(r'<div class="dlbook-quiz"[^>]*>', book.html()).group(0)
    for attribute in (
        'data-value="0.25"',
        'data-glue="answer"',
        'id="quiz-index-1"',
    ):
        assert attribute in quiz
    # 临时小书不在 git 仓库里：页脚没有修改日期，构建（带 -W）也不因此失败
    assert "本页最后修改于" not in book.html()
