"""执行缓存不过期：改了 code/ 下的代码，下一次构建必须重新执行并显示新数字；
只改正文时什么也不重新执行。

在临时目录里用本书真实的 _config.yml 与 _ext/ 搭一本只有一页的小书，
页面导入该小书 code/ 下的一个模块并把其中的数值 glue 到正文里。
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, run_build

PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# 缓存测试

```{{code-cell}} ipython3
:tags: [remove-cell]
from myst_nb import glue
from cachedemo import VALUE
glue("value", VALUE, display=False)
```

{prose}数值是 {{glue:text}}`value`。
"""


def shown_value(book: Path) -> str:
    html = (book / "_build/html/book/index.html").read_text("utf-8")
    return re.search(r'<span class="pasted-text">([^<]*)</span>', html).group(
        1
    )


@pytest.mark.slow
def test_editing_code_reexecutes_and_editing_prose_does_not(tmp_path):
    book = tmp_path / "book-copy"
    shutil.copytree(
        ROOT / "_ext",
        book / "_ext",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    shutil.copytree(ROOT / "book/_static", book / "book/_static")
    shutil.copy(ROOT / "book/references.bib", book / "book/")
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\n", "utf-8"
    )
    module = book / "code/cachedemo/__init__.py"
    module.parent.mkdir(parents=True)
    module.write_text("VALUE = 1\n", "utf-8")
    page = book / "book/index.md"
    page.write_text(PAGE.format(prose=""), "utf-8")
    env = {"PYTHONPATH": str(book / "code")}

    first = run_build(book, env=env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Executing notebook" in first.stdout
    assert shown_value(book) == "1"

    # 只改正文：重新渲染页面，但不重新执行
    page.write_text(PAGE.format(prose="只改了这句话。"), "utf-8")
    second = run_build(book, env=env)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "Executing notebook" not in second.stdout
    assert "只改了这句话" in (book / "_build/html/book/index.html").read_text(
        "utf-8"
    )
    assert shown_value(book) == "1"

    # 改包里的代码：页面不改一个字，也必须重新执行并显示新数值
    module.write_text("VALUE = 2\n", "utf-8")
    third = run_build(book, env=env)
    assert third.returncode == 0, third.stdout[-3000:]
    assert "Executing notebook" in third.stdout
    assert shown_value(book) == "2"
