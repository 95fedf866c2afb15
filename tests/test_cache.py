"""执行缓存不过期：改了 code/ 下的代码，下一次构建必须重新执行并显示新数字；
只改正文时什么也不重新执行。
"""

from __future__ import annotations

import json
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


# ---------- 每章自己的缓存键与并行执行 ----------

SEEDED_PAGE = """# 第 {name} 页

```{{code-cell}} ipython3
import torch
from myst_nb import glue
from {module} import VALUE
torch.manual_seed(VALUE)
numbers = torch.randn(3).tolist()
glue("value", VALUE, display=False)
print(numbers)
```

数值是 {{glue:text}}`value`。
"""


def executed_outputs(book: ScratchBook, name: str) -> list:
    """执行后的笔记本里每个代码单元格的输出（去掉执行计数）。"""
    notebook = json.loads(
        (book.root / f"_build/jupyter_execute/book/{name}.ipynb").read_text(
            "utf-8"
        )
    )
    return [
        [
            {k: v for k, v in output.items() if k != "execution_count"}
            for output in cell.get("outputs", [])
        ]
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
    ]


def two_page_book(root) -> ScratchBook:
    book = ScratchBook(root)
    book.write_page("# 首页\n")
    for name in ("first", "second"):
        book.write_module(f"mod_{name}", "VALUE = 1\n")
        book.write_page(
            SEEDED_PAGE.format(name=name, module=f"mod_{name}"), name=name
        )
    return book


@pytest.mark.slow
def test_parallel_build_matches_serial_and_reexecutes_only_what_changed(
    tmp_path,
):
    serial = two_page_book(tmp_path / "serial")
    result = serial.build(DLBOOK_EXEC_JOBS="1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "in parallel" not in result.stdout

    book = two_page_book(tmp_path / "parallel")
    result = book.build(DLBOOK_EXEC_JOBS="2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert result.stdout.count("Executing notebook in parallel") == 2
    for name in ("first", "second"):
        assert executed_outputs(book, name) == executed_outputs(serial, name)
        assert book.html(name) == serial.html(name).replace(
            str(serial.root), str(book.root)
        )

    # 只改第一页导入的模块：第一页重新执行并显示新数字，第二页取自缓存
    book.write_module("mod_first", "VALUE = 2\n")
    result = book.build(DLBOOK_EXEC_JOBS="2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    executed = re.findall(r"book/(\w+)\.md: Executing notebook", result.stdout)
    assert executed == ["first"]
    assert "数值是 <span" in book.html("first")
    assert shown_value_in(book.html("first")) == "2"
    assert shown_value_in(book.html("second")) == "1"


def shown_value_in(html: str) -> str:
    return re.search(r'<span class="pasted-text">([^<]*)</span>', html)[1]


@pytest.mark.slow
def test_a_failing_chapter_fails_a_parallel_build_with_its_own_error(
    tmp_path,
):
    book = ScratchBook(tmp_path)
    book.write_page("# 首页\n")
    book.write_module("mod_ok", "VALUE = 1\n")
    book.write_page(SEEDED_PAGE.format(name="ok", module="mod_ok"), name="ok")
    book.write_page(
        "# 坏的一页\n\n```{code-cell} ipython3\n1 / 0\n```\n", "bad"
    )
    result = book.build(DLBOOK_EXEC_JOBS="2")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "ZeroDivisionError" in output
    failures = (book.root / "_build/html/reports/failures.txt").read_text(
        "utf-8"
    )
    assert "book/bad" in failures and "book/ok" not in failures
    assert shown_value_in(book.html("ok")) == "1"


# ---------- 并行执行时内核启动失败（不需要构建） ----------


def _exec_cache(monkeypatch, outcomes: list):
    """导入 _ext/exec_cache.py，并让 jupyter-cache 的执行依次给出 outcomes。

    outcomes 里的异常被抛出，其余的当作执行结果返回；返回 (模块, 调用次数)。
    """
    from types import SimpleNamespace

    from jupyter_cache.executors import utils

    from conftest import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "_ext"))
    import exec_cache

    calls = []

    def fake(notebook, **kwargs):
        calls.append(kwargs["cwd"])
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        notebook.cells[0].outputs = [outcome]
        return SimpleNamespace(err=None, exc_string=None)

    monkeypatch.setattr(utils, "single_nb_execution", fake)
    return exec_cache, calls


def _notebook():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    return nb


def test_a_kernel_that_fails_to_start_is_retried(monkeypatch):
    started = RuntimeError("Kernel died before replying to kernel_info")
    output = {"output_type": "stream", "name": "stdout", "text": "2\n"}
    exec_cache, calls = _exec_cache(monkeypatch, [started, started, output])
    notebook = _notebook()
    executed, seconds, error = exec_cache._execute(notebook, "/tmp", False, 9)
    assert error is None and len(calls) == 3
    assert executed.cells[0].outputs == [output]
    assert notebook.cells[0].outputs == []  # 原笔记本不被半途的尝试改动
    assert seconds >= 0


def test_a_kernel_that_never_starts_is_reported_not_raised(monkeypatch):
    started = RuntimeError("Kernel died before replying to kernel_info")
    tries = [started] * 3
    exec_cache, calls = _exec_cache(monkeypatch, tries)
    _, _, error = exec_cache._execute(_notebook(), "/tmp", False, 9)
    assert len(calls) == exec_cache.KERNEL_START_TRIES == 3
    assert "kernel_info" in error


def test_a_kernel_that_dies_while_running_is_not_retried(monkeypatch):
    from nbclient.exceptions import DeadKernelError

    died = DeadKernelError("Kernel died")
    exec_cache, calls = _exec_cache(monkeypatch, [died, died, died])
    _, _, error = exec_cache._execute(_notebook(), "/tmp", False, 9)
    assert len(calls) == 1
    assert error == "DeadKernelError: Kernel died"


# ---------- scripts/preview.py：常驻进程里重新构建 ----------

PREVIEW_PROBE = """
import sys
from pathlib import Path
sys.path.insert(0, {scripts!r})
import preview
root = Path(".").resolve()
before = preview.snapshot(root)
print("FIRST", preview.build(root)[0])
page = Path("book/index.md")
page.write_text(page.read_text("utf-8").replace("数值是", "改过的数值是"))
changed = preview.changed_files(before, preview.snapshot(root))
print("CHANGED", sorted(str(p.relative_to(root)) for p in changed))
print("SECOND", preview.build(root)[0])
"""


@pytest.mark.slow
def test_preview_rebuilds_in_process_without_reexecuting(tmp_path):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    book = ScratchBook(tmp_path)
    book.write_module("cachedemo", "VALUE = 7\n")
    book.write_page(PAGE.format(prose=""))
    probe = PREVIEW_PROBE.format(scripts=str(ROOT / "scripts"))
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "code")},
        timeout=600,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "FIRST True" in out and "SECOND True" in out
    assert "CHANGED ['book/index.md']" in out
    # 第二次构建只重新渲染页面，不重新执行
    second = out[out.index("CHANGED") :]
    assert "Executing notebook" not in second
    assert "改过的数值是" in book.html()
    assert shown_value(book) == "7"
