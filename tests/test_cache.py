"""执行缓存不过期：改了 code/ 下的代码，下一次构建必须重新执行并显示新数字；
只改正文时什么也不重新执行。
"""

from __future__ import annotations

import re

import pytest

from conftest import ScratchBook

PAGE = """# 缓存测试

```{{code-cell}} ipython3
:tags: [remove-cell]
from myst_nb import glue
from cachedemo import VALUE
glue("value", VALUE, display=False)
```

{prose}数值是 {{glue:text}}`value`。

```{{exec-stats}}
```
"""


def how_executed(book: ScratchBook) -> str:
    """执行统计表里这一页的“本次构建”一栏。"""
    cells = re.findall(r"<td[^>]*><p>(.*?)</p></td>", book.html())
    return re.sub(r"<[^>]+>", "", cells[1])


def shown_value(book: ScratchBook) -> str:
    match = re.search(r'<span class="pasted-text">([^<]*)</span>', book.html())
    return match.group(1)


@pytest.mark.slow
def test_editing_code_reexecutes_and_editing_prose_does_not(tmp_path):
    book = ScratchBook(tmp_path)
    book.write_module("cachedemo", "VALUE = 1\n")
    book.write_page(PAGE.format(prose=""))

    first = book.build()
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    assert "Executing notebook" in first.stdout
    assert shown_value(book) == "1"
    assert how_executed(book) == "重新执行"

    # 只改正文：重新渲染页面，但不重新执行
    book.write_page(PAGE.format(prose="只改了这句话。"))
    second = book.build()
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr
    assert "Executing notebook" not in second.stdout
    assert "只改了这句话" in book.html()
    assert shown_value(book) == "1"
    assert how_executed(book).startswith("取自缓存（")

    # 改包里的代码：页面一个字不改，也必须重新执行并显示新数值
    book.write_module("cachedemo", "VALUE = 2\n")
    third = book.build()
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr
    assert "Executing notebook" in third.stdout
    assert shown_value(book) == "2"
    assert how_executed(book) == "重新执行"
