"""构建的把关（_ext/build_guards.py）：出过问题的页面不会被当作成功发布。

在一页（或几页）的小书上构建，几秒钟一次。
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time

import pytest
from sphinx.errors import ConfigError

from conftest import ROOT, ScratchBook

sys.path.insert(0, str(ROOT / "_ext"))
import build_guards
import chapter_deps

CELL = "```{code-cell} ipython3\n%s\n```\n"


def output(result) -> str:
    return result.stdout + result.stderr


# ---------- 不需要构建的检查 ----------


def test_unclosed_fence_is_found_with_its_line():
    assert build_guards.unclosed_fence("# t\n\n```{note}\n正文\n") == 3
    closed = "````{exercise}\n```python\nx\n```\n````\n"
    assert build_guards.unclosed_fence(closed) is None
    # 更短的围栏不能闭合更长的
    assert build_guards.unclosed_fence("````{note}\n```\n") == 1
    # MyST 的 ::: 围栏（colon_fence）
    assert build_guards.unclosed_fence("# t\n:::{note}\n正文\n") == 2
    assert build_guards.unclosed_fence(":::{note}\n正文\n:::\n") is None
    # 正文类指令里面的围栏也要成对；代码单元格里的 ::: 只是代码
    assert build_guards.unclosed_fence("::::{note}\n:::{tip}\nx\n::::\n") == 2
    assert build_guards.unclosed_fence(":::{note}\n```{code-cell}\n:::\n") == 2
    assert build_guards.unclosed_fence("```{code-cell}\n:::\n```\n") is None


@pytest.mark.parametrize(
    "chapter", sorted((ROOT / "book").glob("*.md")), ids=lambda p: p.stem
)
def test_book_sources_have_closed_fences_and_known_tags(chapter):
    import re

    text = chapter.read_text("utf-8")
    assert build_guards.unclosed_fence(text) is None
    for tags in re.findall(r":tags: \[([^\]]*)\]", text):
        for tag in tags.split(","):
            assert tag.strip() in build_guards.KNOWN_TAGS, tag


def test_package_origin_check_names_what_it_found(tmp_path):
    expected = tmp_path / "code/dlbasics/__init__.py"
    expected.parent.mkdir(parents=True)
    expected.write_text("")
    build_guards.check_package_origin(str(expected), expected, "python")
    with pytest.raises(ConfigError, match="/elsewhere/dlbasics"):
        build_guards.check_package_origin(
            "/elsewhere/dlbasics/__init__.py", expected, "python"
        )
    with pytest.raises(ConfigError, match="找不到 dlbasics"):
        build_guards.check_package_origin(None, expected, "python")


def write(path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


CHAPTER = """---
kernelspec: {{name: python3}}
---

```{{code-cell}} ipython3
:tags: [remove-cell]
%xmode Minimal
{imports}
```
"""


PYPROJECT = '[project]\nname = "x"\n[tool.x]\na = {a}\n'


def small_project(root):
    """code/pkg：a 导入 b（相对导入），c 谁也不导入；带一个字体。"""
    write(root / "code/pkg/__init__.py")
    write(root / "code/pkg/a.py", "from . import b\n\nX = b.X\n")
    write(root / "code/pkg/b.py", "import math\nX = 1\n")
    write(root / "code/pkg/c.py", "Y = 2\n")
    (root / "code/pkg/fonts").mkdir()
    (root / "code/pkg/fonts/Font.otf").write_bytes(b"font")
    write(root / "code/pkg/__pycache__/a.cpython-311.pyc", "compiled")
    write(root / "requirements.txt", "torch==1\n")
    write(root / "pyproject.toml", '[project]\nname = "x"\n[tool.x]\na = 1\n')
    write(
        root / "book/uses_a.md", CHAPTER.format(imports="from pkg.a import *")
    )
    write(root / "book/uses_c.md", CHAPTER.format(imports="import pkg.c"))


def test_a_chapter_depends_on_what_it_imports_transitively(tmp_path):
    small_project(tmp_path)
    files = {
        p.relative_to(tmp_path).as_posix()
        for p in chapter_deps.chapter_files(
            tmp_path, tmp_path / "book/uses_a.md"
        )
    }
    assert files == {
        "code/pkg/__init__.py",
        "code/pkg/a.py",
        "code/pkg/b.py",  # 经 a 的相对导入
        "code/pkg/fonts/Font.otf",  # 包里的数据文件
        "requirements.txt",
    }


def test_editing_a_module_changes_only_the_keys_of_chapters_using_it(tmp_path):
    small_project(tmp_path)
    a, c = tmp_path / "book/uses_a.md", tmp_path / "book/uses_c.md"

    def keys():
        return chapter_deps.chapter_digest(
            tmp_path, a
        ), chapter_deps.chapter_digest(tmp_path, c)

    before = keys()
    write(tmp_path / "code/pkg/b.py", "import math\nX = 2\n")
    after_b = keys()
    assert after_b[0] != before[0] and after_b[1] == before[1]
    (tmp_path / "code/pkg/fonts/Font.otf").write_bytes(b"new font")
    after_font = keys()
    assert after_font[0] != after_b[0] and after_font[1] != after_b[1]
    write(tmp_path / "code/pkg/__pycache__/b.cpython-311.pyc", "again")
    write(
        tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.x]\na = 2\n'
    )
    assert keys() == after_font  # 编译缓存与 pyproject 的 [tool] 表不算
    write(tmp_path / "requirements.txt", "torch==2\n")
    assert all(new != old for new, old in zip(keys(), after_font, strict=True))


def test_old_cache_directories_are_pruned(tmp_path):
    current = tmp_path / "current"
    current.mkdir()
    for i in range(5):
        old = tmp_path / f"old{i}"
        old.mkdir()
        os.utime(old, (time.time() - 1000 * i, time.time() - 1000 * i))
    removed = build_guards.prune_caches(tmp_path, current, keep=3)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["current", "old0", "old1"]
    assert len(removed) == 3


# ---------- 在小书上构建 ----------


@pytest.mark.slow
def test_build_server_gives_what_a_fresh_jupyter_book_process_gives(tmp_path):
    """小书的构建由预热进程 fork 出来运行（tests/build_server.py）：退出码、
    警告、写出的页面与新启动的 jupyter-book 进程相同；页面导入的是
    PYTHONPATH 里小书自己的模块。"""
    page = (
        "# 对照\n\n```{code-cell} ipython3\n:tags: [remove-cell]\n"
        "import mod\nfrom myst_nb import glue\n"
        'glue("value", mod.VALUE, display=False)\n```\n\n'
        "数值是 {glue:text}`value`，{glue:text}`no_such_key`。\n"
    )
    results = {}
    for fresh in (True, False):
        book = ScratchBook(tmp_path / str(fresh))
        book.write_module("mod", "VALUE = 41\n")
        book.write_page(page)
        result = book.build(fresh_process=fresh)
        root = str(book.root)
        warnings = sorted(
            line.replace(root, "ROOT")
            for line in output(result).splitlines()
            if "WARNING" in line or "ERROR" in line
        )
        html = book.html().replace(root, "ROOT")
        results[fresh] = (result.returncode, warnings, html)
    assert results[True][0] != 0 and "no_such_key" in str(results[True][1])
    assert '<span class="pasted-text">41</span>' in results[True][2]
    assert results[False] == results[True]


@pytest.mark.slow
def test_a_page_that_warned_keeps_failing_on_every_rerun(tmp_path):
    book = ScratchBook(tmp_path)
    book.write_page("# 警告\n\n数值是 {glue:text}`no_such_key`。\n")
    for _ in range(2):  # 第二次什么也没改，也必须失败
        result = book.build()
        assert result.returncode != 0
        assert "no_such_key" in output(result)
    book.write_page("# 修好了\n\n没有引用任何数字。\n")
    for _ in range(2):
        result = book.build()
        assert result.returncode == 0, output(result)[-3000:]


@pytest.mark.slow
def test_unknown_directive_keeps_failing_on_rerun(tmp_path):
    book = ScratchBook(tmp_path)
    book.write_page("# 指令\n\n```{no-such-directive}\n内容\n```\n")
    first, second = book.build(), book.build()
    assert first.returncode != 0 and second.returncode != 0
    assert "no-such-directive" in output(second)


@pytest.mark.slow
def test_every_broken_chapter_is_reported(tmp_path):
    """myst-nb 逐章执行（DLBOOK_EXEC_JOBS=1）：出错的章节都执行、都报告，
    内核死掉的一章也一样（写明退出码），其余页面照常写出。"""
    book = ScratchBook(tmp_path)
    book.write_page("# 首页\n")
    book.write_page("# 第一章\n\n" + CELL % "1 / 0", name="first")
    book.write_page(
        "# 第二章\n\n" + CELL % "import os\nos._exit(3)", name="second"
    )
    book.write_page("# 第三章\n\n" + CELL % "undefined_name", name="third")
    result = book.build(DLBOOK_EXEC_JOBS="1")
    assert result.returncode != 0
    text = output(result)
    assert "please report" not in text.lower()  # 不是 Sphinx 自己崩溃
    assert all(f"book/{name}" in text for name in ("first", "second", "third"))
    reports = tmp_path / "_build/html/reports"
    summary = (reports / "failures.txt").read_text("utf-8").splitlines()
    assert len(summary) == 3
    assert "ZeroDivisionError" in summary[0]
    assert "DeadKernelError" in summary[1] and "退出码 3" in summary[1]
    assert "NameError" in summary[2]
    for name in ("first", "second", "third"):
        assert (reports / f"book/{name}.err.log").is_file()
    assert (tmp_path / "_build/html/book/index.html").is_file()


# 书稿里悄悄出错的写法：每页一种，一次构建
SILENT_MISTAKES = {
    "backticks": ("# 围栏\n\n```{note}\n这里忘了闭合\n\n后面的正文\n", "```"),
    "colons": ("# 围栏\n\n:::{note}\n这里忘了闭合\n\n后面的正文\n", ":::"),
    "tag": (
        "# 标签\n\n```{code-cell} ipython3\n"
        ":tags: [hide-inputt]\n1 + 1\n```\n",
        "hide-inputt",
    ),
    "tagkey": (
        "# 选项\n\n```{code-cell} ipython3\n:tag: [hide-input]\n1 + 1\n```\n",
        "'tag'",
    ),
}


@pytest.mark.slow
def test_unclosed_fences_and_misspelt_tags_fail_the_build(tmp_path):
    """没有闭合的 ``` 与 ::: 围栏、拼错的标签、拼错的 ``:tags:`` 选项：
    构建失败，每一页的问题都在输出里点名那一页。"""
    book = ScratchBook(tmp_path)
    book.write_page("# 首页\n")
    for name, (body, _) in SILENT_MISTAKES.items():
        book.write_page(body, name)
    result = book.build()
    assert result.returncode != 0
    lines = output(result).splitlines()
    for name, (_, symptom) in SILENT_MISTAKES.items():
        about = [line for line in lines if f"book/{name}.md" in line]
        assert any(symptom in line for line in about), (name, about)
    assert any(
        "book/tagkey.md" in line and "是不是想写 'tags'" in line
        for line in lines
    )


# 在写完所有页面、构建环境早已存盘之后中断构建（Sphinx 不再发出
# build-finished）：像在那一刻按下 Ctrl-C，或者进程被 SIGKILL 结束
STOPPER = """
import os
import signal


def stop(app, *args):
    how = os.environ.get("DLBOOK_TEST_STOP")
    if how == "interrupt":
        raise KeyboardInterrupt
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return []


def setup(app):
    app.connect("html-collect-pages", stop)
    return {"parallel_read_safe": True}
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["interrupt", "kill"])
def test_an_interrupted_build_does_not_forget_its_warnings(tmp_path, how):
    book = ScratchBook(tmp_path)
    book.add_extension("dlbook_test_stop", STOPPER)
    book.write_page("# 警告\n\n损失是 {glue:text}`no_such_key`。\n")
    stopped = book.build(DLBOOK_TEST_STOP=how)
    assert stopped.returncode != 0
    assert "no_such_key" in output(stopped)
    assert (tmp_path / "_build/.doctrees/environment.pickle").is_file()
    again = book.build()  # 什么也没改：上次的警告必须再出现
    assert again.returncode != 0
    assert "no_such_key" in output(again)


@pytest.mark.slow
def test_corrupted_cache_database_says_what_to_delete(tmp_path):
    book = ScratchBook(tmp_path)
    book.write_page("# 缓存\n\n" + CELL % "print(1)")
    assert book.build().returncode == 0
    (db,) = (tmp_path / "_build/.jupyter_cache").glob("*/global.db")
    sqlite3.connect(db).close()
    db.write_bytes(b"this is not a database" * 100)
    result = book.build()
    assert result.returncode != 0
    assert "已损坏" in output(result) and "rm -rf" in output(result)


@pytest.mark.slow
def test_kernel_imports_the_checkouts_own_package(tmp_path):
    """别处装了同名的包，章节也必须执行这份 code/ 里的 dlbasics。"""
    book = ScratchBook(tmp_path)
    book.write_module("dlbasics", "VALUE = 41\n")
    book.write_page(
        "# 包\n\n```{code-cell} ipython3\n:tags: [remove-cell]\n"
        "import dlbasics\nfrom myst_nb import glue\n"
        'glue("value", dlbasics.VALUE, display=False)\n```\n\n'
        "数值是 {glue:text}`value`。\n"
    )
    env = {"PYTHONPATH": ""}  # 不靠调用者设置路径
    from conftest import run_build

    result = run_build(tmp_path, env=env)
    assert result.returncode == 0, output(result)[-3000:]
    assert '<span class="pasted-text">41</span>' in book.html()
