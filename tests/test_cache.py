"""执行缓存不过期：改了 code/ 下的代码，下一次构建必须重新执行并显示新数字；
只改正文时什么也不重新执行。
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BUILD_CMD, ROOT, ScratchBook, jupyter_book

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
    # 串行的一次用新启动的进程（自己的哈希种子）：两次构建若因集合顺序不同
    # 而写出不同的页面，这里能看出来（预热进程 fork 出的构建共用一个种子）
    result = serial.build(fresh_process=True, DLBOOK_EXEC_JOBS="1")
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


# 并行执行的一本小书：除了正常的一页，每页一种情况
RUNS = "with open('{name}-ran.txt', 'a') as f:\n    f.write('x')\n"
PARALLEL_PAGES = {
    # 出错：只执行一次（并行执行失败后交给报告，不再执行第二次）
    "bad": ("", RUNS.format(name="bad") + "1 / 0"),
    # 内核死掉（像被 OOM killer 结束）：只是这一章失败，写明信号
    "dies": ("", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
    # 这一页自己的时限
    "slow": (
        "mystnb:\n  execution_timeout: 2\n",
        "import time\ntime.sleep(60)",
    ),
    # 这一页允许报错：照常构建
    "allowed": ("mystnb:\n  execution_allow_errors: true\n", "1 / 0"),
    # 这一页不执行；按 execute.exclude_patterns 不执行
    "off": ("mystnb:\n  execution_mode: 'off'\n", RUNS.format(name="off")),
    "excluded": ("", RUNS.format(name="excluded")),
}


@pytest.mark.slow
def test_parallel_execution_reports_failures_once_and_honours_page_settings(
    tmp_path,
):
    """并行执行与 myst-nb 逐章执行的判断相同：页面 front matter 里的
    ``mystnb`` 设置（不执行、时限、允许报错）与 ``execute.exclude_patterns``
    都算数；出错与内核死掉的章节只执行一次，都列进报告，其余照常构建。"""
    book = ScratchBook(tmp_path)
    book.configure(
        "execute:\n", "execute:\n  exclude_patterns: ['*excluded*']\n"
    )
    book.write_page("# 首页\n")
    book.write_module("mod_ok", "VALUE = 1\n")
    book.write_page(SEEDED_PAGE.format(name="ok", module="mod_ok"), name="ok")
    for name, (front, code) in PARALLEL_PAGES.items():
        body = f"# {name}\n\n```{{code-cell}} ipython3\n{code}\n```\n"
        book.write_page(body, name, front=front)
    result = book.build(DLBOOK_EXEC_JOBS="2")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "并行执行 5 章" in output  # ok、bad、dies、slow、allowed
    assert "please report" not in output.lower()  # 不是 Sphinx 自己崩溃
    failures = (book.root / "_build/html/reports/failures.txt").read_text(
        "utf-8"
    )
    failed = dict(line.split("：", 1) for line in failures.splitlines())
    assert sorted(failed) == ["book/bad", "book/dies", "book/slow"]
    assert "ZeroDivisionError" in failed["book/bad"]
    assert "SIGKILL" in failed["book/dies"] and "-9" in failed["book/dies"]
    assert "CellTimeoutError" in failed["book/slow"]
    ran = {p.name for p in (book.root / "book").glob("*-ran.txt")}
    assert ran == {"bad-ran.txt"}  # 不执行的两页没有执行
    assert (book.root / "book/bad-ran.txt").read_text() == "x"  # 只执行一次
    assert "ZeroDivisionError" in book.html("bad")  # 执行到出错处的输出
    assert shown_value_in(book.html("ok")) == "1"
    assert "ZeroDivisionError" in book.html("allowed")


# ---------- 中断并行执行 ----------

SLEEPER = """# {name}

```{{code-cell}} ipython3
import os
import pathlib
import time

marks = pathlib.Path(os.environ["DLBOOK_TEST_MARKS"])
(marks / "{name}").write_text(f"{{os.getpid()}} {{os.getppid()}}")
time.sleep(120)
```
"""


def alive(pid: int) -> bool:
    """进程还在（僵尸进程不算）。"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start_sleepy_build(tmp_path):
    """三章各睡 120 秒、两个内核并行：等两章开始执行后返回
    (构建进程, 记录目录)。记录目录里每章写下它的内核与工作进程的 pid。"""
    book = ScratchBook(tmp_path / "book")
    book.write_page("# 首页\n")
    for name in ("one", "two", "three"):
        book.write_page(SLEEPER.format(name=name), name)
    marks = tmp_path / "marks"
    marks.mkdir()
    build = subprocess.Popen(
        [jupyter_book(), *BUILD_CMD],
        cwd=book.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "DLBOOK_EXEC_JOBS": "2",
            "DLBOOK_TEST_MARKS": str(marks),
        },
        start_new_session=True,  # 像终端里的前台任务：Ctrl-C 发给整组
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 120
    while len(list(marks.iterdir())) < 2:
        assert build.poll() is None, build.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "两章没有开始执行"
        time.sleep(0.2)
    return build, marks


def _default_sigint() -> None:
    # 从忽略 SIGINT 的环境（如后台任务）里启动时，构建也要能被 Ctrl-C 中断
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def started(marks) -> tuple[list[str], list[int]]:
    """已经开始执行的章节，与它们的内核、工作进程的 pid。"""
    files = sorted(marks.iterdir())
    pids = [int(pid) for f in files for pid in f.read_text().split()]
    return [f.name for f in files], pids


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _cleanup(build, pids) -> None:
    for pid in [build.pid, *pids]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="需要 Linux 的 /proc"
)


@pytest.mark.slow
@needs_proc
def test_ctrl_c_stops_parallel_execution_at_once(tmp_path):
    """Ctrl-C（SIGINT 发给整个前台进程组）：不等正在执行的章节，不开始排队的
    章节，工作进程与内核都结束，构建以失败退出。"""
    build, marks = start_sleepy_build(tmp_path)
    names, pids = started(marks)
    os.killpg(build.pid, signal.SIGINT)
    try:
        build.communicate(timeout=30)  # 修好之前要等正在执行的章节睡完
        assert build.returncode != 0
        assert gone_within(pids, 5)
        assert started(marks)[0] == names  # 排队的那一章没有开始
    finally:
        _cleanup(build, pids)


@pytest.mark.slow
@needs_proc
def test_workers_exit_when_the_build_is_killed(tmp_path):
    """构建进程被 SIGKILL 结束：工作进程发现主进程不在了，结束内核并退出，
    不再开始排队的章节，也不再占着调用者的输出管道。"""
    build, marks = start_sleepy_build(tmp_path)
    names, pids = started(marks)
    os.kill(build.pid, signal.SIGKILL)
    try:
        build.communicate(timeout=30)  # 管道的另一端都关了才会返回
        assert gone_within(pids, 5)
        time.sleep(1)
        assert started(marks)[0] == names  # 排队的那一章没有开始
    finally:
        _cleanup(build, pids)


# ---------- 执行一章：内核启动失败、内核死掉（不需要构建） ----------


class FakeProcess:
    def __init__(self, code):
        self.code = code

    def poll(self):
        return self.code


def _exec_cache(monkeypatch, outcomes: list, exit_code=None):
    """导入 _ext/exec_cache.py，并让 nbclient 的执行依次给出 outcomes。

    outcomes 里的异常被抛出，其余的当作第一个单元格的输出；内核进程的
    退出码是 ``exit_code``。返回 (模块, 每次执行的笔记本)。
    """
    from types import SimpleNamespace

    import nbclient

    monkeypatch.syspath_prepend(str(ROOT / "_ext"))
    import exec_cache

    calls = []

    class FakeClient:
        def __init__(self, nb, **kwargs):
            self.nb = nb
            self.on_notebook_start = None

        def create_kernel_manager(self):
            process = FakeProcess(exit_code)
            return SimpleNamespace(
                provisioner=SimpleNamespace(process=process)
            )

        def execute(self):
            calls.append(self.nb)
            outcome = outcomes[len(calls) - 1]
            if isinstance(outcome, RuntimeError) and (
                "kernel_info" in str(outcome)
            ):
                raise outcome  # 内核没能启动：还没有开始执行
            self.on_notebook_start(notebook=self.nb)
            if isinstance(outcome, Exception):
                raise outcome
            self.nb.cells[0].outputs = [outcome]

    monkeypatch.setattr(nbclient, "NotebookClient", FakeClient)
    return exec_cache, calls


def _notebook():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    return nb


def test_a_kernel_that_fails_to_start_is_retried(monkeypatch):
    started_late = RuntimeError("Kernel died before replying to kernel_info")
    output = {"output_type": "stream", "name": "stdout", "text": "2\n"}
    exec_cache, calls = _exec_cache(
        monkeypatch, [started_late, started_late, output]
    )
    notebook = _notebook()
    executed, seconds, error, _ = exec_cache._execute(
        notebook, "/tmp", False, 9
    )
    assert error is None and len(calls) == 3
    assert executed.cells[0].outputs == [output]
    assert notebook.cells[0].outputs == []  # 原笔记本不被改动
    assert seconds >= 0


def test_a_kernel_that_never_starts_is_reported_not_raised(monkeypatch):
    started_late = RuntimeError("Kernel died before replying to kernel_info")
    exec_cache, calls = _exec_cache(monkeypatch, [started_late] * 3)
    _, _, error, exc_string = exec_cache._execute(
        _notebook(), "/tmp", False, 9
    )
    assert len(calls) == exec_cache.KERNEL_START_TRIES == 3
    assert "kernel_info" in str(error) and "kernel_info" in exc_string


@pytest.mark.parametrize(
    ("code", "note"),
    [(3, "退出码 3"), (-9, "SIGKILL 结束（退出码 -9）：常见原因是内存不足")],
)
def test_a_kernel_that_dies_is_a_failure_with_its_exit_code(
    monkeypatch, code, note
):
    """内核在执行中死掉：不重试，作为这一章的失败返回（而不是抛出
    DeadKernelError 中断整个构建），调用栈的最后一行写明退出码。"""
    from nbclient.exceptions import DeadKernelError

    exec_cache, calls = _exec_cache(
        monkeypatch, [DeadKernelError("Kernel died")] * 3, exit_code=code
    )
    result = exec_cache.run_notebook(_notebook(), "/tmp", 9, False)
    assert len(calls) == 1
    assert isinstance(result.err, DeadKernelError)
    last = result.exc_string.strip().splitlines()[-1]
    assert last.startswith("nbclient.exceptions.DeadKernelError: ")
    assert note in last


def test_myst_nb_gets_the_parallel_failure_instead_of_a_second_run(
    monkeypatch,
):
    exec_cache, calls = _exec_cache(monkeypatch, [])
    notebook = _notebook()
    executed = _notebook()
    executed.cells[0].outputs = [{"output_type": "error", "ename": "E"}]
    error = RuntimeError("boom")
    exec_cache._FAILED[exec_cache.notebook_key(notebook)] = (
        executed,
        1.5,
        error,
        "Traceback\nRuntimeError: boom",
    )
    result = exec_cache.run_or_recall(notebook, "/tmp", 9, False)
    assert calls == []  # 没有再执行
    assert result.err is error and result.time == 1.5
    assert notebook.cells[0].outputs == executed.cells[0].outputs
    assert exec_cache._FAILED == {}


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
