"""测试的公共设置与共用的小工具：单线程 torch（与书中一致）、Agg 后端、
构建好的网站、目录、各章执行时 glue 下来的数字。

测试模块之间互不导入，共用的东西都放在这里。
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows：没有 fcntl，并行测试时不加锁
    fcntl = None

import matplotlib
import numpy as np
import pytest
import torch
import yaml

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "jupyter_execute"
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`]+)`")


sys.path.insert(0, str(ROOT / "scripts"))
from binder_local import CHROMIUM_ARGS  # noqa: E402

from bookfacts import (  # noqa: E402  （事实的唯一出处）
    build_args,
    chapter_budgets,
    chapter_pages,
    readme_command,
    toc_files,
)

# Debian 的 chromium（浏览器测试、JupyterLab 测试共用）；没有时为 None
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

__all__ = [
    "CHROMIUM_ARGS",
    "build_args",
    "chapter_budgets",
    "chapter_pages",
    "readme_command",
    "toc_files",
]
BUILD_CMD = build_args()


def book_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text("utf-8"))


def search_index(site: Path) -> dict:
    raw = (site / "searchindex.js").read_text("utf-8")
    return json.loads(raw[raw.index("(") + 1 : raw.rindex(")")])


@functools.cache
def _parsed(path: str, stamp: tuple[int, int]):
    from bs4 import BeautifulSoup

    return BeautifulSoup(Path(path).read_text("utf-8"), "html.parser")


def built_page(site: Path, name: str):
    """构建好的页面（如 ``book/spiral``）解析成的 BeautifulSoup 树。

    每个测试进程每页只解析一次（文件改了就重新解析）：解析加上选择器查询，
    一页要 0.2–0.3 秒，几十个测试都要读同一页。调用者只读不改；要删去一部分
    再看的测试自己用 ``BeautifulSoup`` 另外解析，或先 ``copy.copy`` 那一小块。
    """
    path = site / f"{name}.html"
    info = path.stat()
    return _parsed(str(path), (info.st_mtime_ns, info.st_size))


def glued_text(stem: str) -> dict[str, str]:
    """构建时 ``stem`` 这一章 glue 的值的文本表示（在 jupyter_execute 里）。"""
    raw = json.loads(
        (EXECUTED / "book" / f"{stem}.glue.json").read_text("utf-8")
    )
    return {key: output["data"]["text/plain"] for key, output in raw.items()}


def glued_values(stem: str) -> dict[str, object]:
    """构建时 ``stem`` 这一章 glue 的全部值，还原成 Python 对象。"""
    return {
        key: ast.literal_eval(text) for key, text in glued_text(stem).items()
    }


# 最慢的几个测试（Binder 环境重新执行全书、PDF、并行构建与逐章构建对比）
SLOWEST = (
    "test_binder_environment_runs_every_chapter_to_the_same_numbers",
    "test_pdf_has_every_chapter_with_typeset_math",
    "test_parallel_build_matches_serial_and_reexecutes_only_what_changed",
)


def slowest_first(items: list) -> list:
    """重排测试，让最慢的测试最先开始。

    并行测试用 ``--dist worksteal``：前一半测试先交给第一个进程、后一半交给
    第二个，谁先做完就去分对方还没开始的。最慢的一个放在最前，其余最慢的放在
    后一半的开头，两个进程一开始各自先跑一个最慢的；其余测试保持原来的顺序。
    """

    def rank(item) -> int:
        name = getattr(item, "originalname", "")
        return SLOWEST.index(name) if name in SLOWEST else len(SLOWEST)

    slow = sorted(
        (item for item in items if rank(item) < len(SLOWEST)), key=rank
    )
    rest = [item for item in items if rank(item) == len(SLOWEST)]
    if not slow:
        return rest
    middle = max(len(items) // 2 - 1, 0)
    return [slow[0], *rest[:middle], *slow[1:], *rest[middle:]]


def pytest_collection_modifyitems(items):
    """用到构建好的网站的测试自动标记 ``book``（快速循环可以跳过它们）；
    最慢的测试排到最前（见 ``slowest_first``）。"""
    for item in items:
        if "built_site" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.book)
    items[:] = slowest_first(items)


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    # 书中各章都用单线程执行；同样设置才能逐位复现书里的数字
    torch.set_num_threads(1)


def bad_input(match: str):
    """期望参数检查失败（ValueError 或 TypeError），信息里有 ``match``。"""
    return pytest.raises((ValueError, TypeError), match=match)


# ---------- 坏值探针（test_validation 与 test_probe）共用的坏值 ----------


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


NAN, INF = float("nan"), float("inf")
BAD_COUNTS = [0, -3, 2.5, True, "4", None, NAN, [3]]
BAD_POSITIVE = [0.0, -1.0, NAN, INF, "0.1", None, [0.1]]
BAD_NONNEGATIVE = [-0.5, NAN, INF, "0", None]
BAD_GENERATOR = [None, 0, "seed", np.random.default_rng(0)]


def bad_tensors(shape, *, floating=True):
    """一串坏张量参数：不是张量、阶数不对、空的，以及整数（需要浮点时）。"""
    values = [None, [1.0, 2.0], np.zeros(shape), torch.zeros(*shape, 1, 1)]
    values.append(torch.zeros(0, *shape[1:]))
    if floating:
        values.append(torch.zeros(*shape, dtype=torch.long))
    return values


def bad_labels(n):
    return [
        None,
        torch.zeros(n),  # 不是 long
        torch.zeros(n + 1, dtype=torch.long),  # 个数不对
        torch.full((n,), -1, dtype=torch.long),  # 负的类别
        torch.zeros(n, 1, dtype=torch.long),  # 阶数不对
    ]


def jupyter_book() -> str:
    exe = Path(sys.executable).with_name("jupyter-book")
    return (
        str(exe)
        if exe.exists()
        else shutil.which("jupyter-book") or "jupyter-book"
    )


def run_build(
    root: Path,
    *extra: str,
    env: dict | None = None,
    fresh_process: bool = False,
):
    """在 ``root`` 运行 README 里的构建命令，返回 CompletedProcess。

    由预热进程 ``tests/build_server.py`` fork 出来运行（省去每次约 2 秒的
    导入，入口函数、参数与环境变量都与命令行相同；两种方式结果相同，见
    test_build_guards.py）。``fresh_process=True`` 或环境变量
    ``DLBOOK_BUILD_SERVER=0``：启动新的 ``jupyter-book`` 进程。
    """
    argv = [jupyter_book(), *BUILD_CMD, *extra]
    environ = {**os.environ, **(env or {})}
    fresh = (
        fresh_process
        or os.environ.get("DLBOOK_BUILD_SERVER") == "0"
        # 预热进程启动时就定下的（哈希种子、编码、临时目录……）改不了
        or any(
            k != "PYTHONPATH" and not k.startswith("DLBOOK_")
            for k in env or {}
        )
    )
    if fresh or not hasattr(os, "fork"):
        return subprocess.run(
            argv,
            cwd=root,
            capture_output=True,
            text=True,
            env=environ,
            timeout=1800,
        )
    request = {"argv": argv, "cwd": str(root), "env": environ, "timeout": 1800}
    reply = _BUILD_SERVER.ask(request)
    if reply["timed_out"]:
        raise subprocess.TimeoutExpired(argv, 1800, reply["stdout"])
    return subprocess.CompletedProcess(
        argv, reply["returncode"], reply["stdout"], reply["stderr"]
    )


class _BuildServer:
    """每个测试进程一个 ``tests/build_server.py``，第一次构建时启动。"""

    def __init__(self):
        self.process: subprocess.Popen | None = None

    def ask(self, request: dict) -> dict:
        if self.process is None or self.process.poll() is not None:
            environ = dict(os.environ)
            environ.pop("PYTHONPATH", None)  # 每次构建按请求的环境设置
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "build_server.py")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                env=environ,
            )
            if self.process.stdout.readline() != '{"ready": true}\n':
                raise RuntimeError("构建进程 tests/build_server.py 没有启动")
            atexit.register(self.close)
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("构建进程 tests/build_server.py 意外退出")
        return json.loads(line)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()  # 构建进程读到文件尾就退出
            self.process.wait(timeout=60)
            self.process.stdout.close()


_BUILD_SERVER = _BuildServer()


@contextlib.contextmanager
def exclusive(path: Path):
    """独占 ``path`` 这个锁文件（进程退出时自动释放），产出打开的文件。"""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield handle


@pytest.fixture(scope="session")
def built_site() -> Path:
    """用 README 的构建命令构建全书（增量构建：已经建好的网站几秒钟就核对完）。

    不必加 ``--all``：上一次构建有警告时，``_ext/build_guards.py`` 会让这一次
    重新读取所有页面，警告不会被增量构建藏起来。执行结果取自执行缓存
    （每章按它用到的模块失效），代码没变就不重新执行章节。
    测试并行运行（pytest-xdist）时，各个进程排队拿锁，同一次运行
    （``PYTEST_XDIST_TESTRUNUID``）里只有第一个拿到锁的进程构建，
    其余的直接使用它的结果。
    设置环境变量 DLBOOK_USE_EXISTING_BUILD=1 可直接使用已有的 _build/html。
    """
    if os.environ.get("DLBOOK_USE_EXISTING_BUILD") == "1" and SITE.is_dir():
        return SITE
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    with exclusive(ROOT / "_build" / ".tests-build.lock") as lock:
        lock.seek(0)
        if run and lock.read() == run:
            return SITE  # 这次运行里别的进程已经建好了
        result = run_build(ROOT)
        if result.returncode != 0:
            reports = (
                sorted((SITE / "reports").rglob("*.log"))
                if SITE.exists()
                else []
            )
            details = "\n".join(
                p.read_text(errors="replace")[-3000:] for p in reports
            )
            pytest.fail(
                "构建失败（jupyter-book build . -n -W --keep-going）：\n"
                + result.stdout[-4000:]
                + result.stderr[-4000:]
                + details,
                pytrace=False,
            )
        lock.seek(0)
        lock.truncate()
        lock.write(run)
    return SITE


@pytest.fixture(scope="session")
def glued(built_site):
    """``glued(stem)``：这次构建中该章 glue 的值（供叙述性测试使用）。"""
    return glued_values


@pytest.fixture(scope="module")
def page(glued, request) -> dict:
    """``tests/test_<章>.py`` 里：这一章构建时 glue 的全部值。"""
    stem = request.module.__name__.removeprefix("test_")
    return glued(stem)


# ---------- 临时小书：构建行为（缓存、报错、警告）的测试用 ----------

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

"""


class ScratchBook:
    """临时目录中的一页小书：``book/index.md`` 加可选的 ``code/`` 模块。"""

    def __init__(self, root: Path):
        self.root = root
        shutil.copytree(
            ROOT / "_ext",
            root / "_ext",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        shutil.copy(ROOT / "_config.yml", root / "_config.yml")
        for folder in (
            "book/_static",
            "book/_extra",
        ):  # _config.yml 引用的目录
            shutil.copytree(ROOT / folder, root / folder)
        shutil.copy(ROOT / "book/references.bib", root / "book/")
        (root / "_toc.yml").write_text(
            "format: jb-book\nroot: book/index\n", "utf-8"
        )

    def write_page(
        self, body: str, name: str = "index", front: str = ""
    ) -> None:
        """写一页；``name`` 不是 index 时把它加进目录。``front`` 是加进
        front matter 的 YAML（如这一页自己的 ``mystnb`` 设置）。"""
        header = HEADER.replace("\n---\n\n", f"\n{front}---\n\n", 1)
        (self.root / f"book/{name}.md").write_text(header + body, "utf-8")
        if name != "index":
            pages = sorted(p.stem for p in (self.root / "book").glob("*.md"))
            chapters = "".join(
                f"  - file: book/{p}\n" for p in pages if p != "index"
            )
            (self.root / "_toc.yml").write_text(
                f"format: jb-book\nroot: book/index\nchapters:\n{chapters}",
                "utf-8",
            )

    def configure(self, old: str, new: str) -> None:
        """把小书 ``_config.yml`` 里的 ``old`` 换成 ``new``（必须出现）。"""
        config = self.root / "_config.yml"
        text = config.read_text("utf-8")
        assert old in text, old
        config.write_text(text.replace(old, new, 1), "utf-8")

    def add_extension(self, name: str, source: str) -> None:
        """加一个只属于这本小书的 Sphinx 扩展（写在小书的 ``_ext/`` 里）。"""
        (self.root / "_ext" / f"{name}.py").write_text(source, "utf-8")
        path = self.root / "_config.yml"
        config = yaml.safe_load(path.read_text("utf-8"))
        sphinx = config.setdefault("sphinx", {})
        listed = sphinx.get("config", {}).get("extensions")
        if listed is not None:  # _config.yml 列出了完整的扩展列表
            listed.append(name)
        else:
            sphinx.setdefault("extra_extensions", []).append(name)
        path.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")

    def write_module(self, name: str, source: str) -> None:
        path = self.root / "code" / name / "__init__.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, "utf-8")

    def build(self, fresh_process: bool = False, **env: str):
        """运行 README 的构建命令；页面可以导入小书 code/ 下的模块。

        关键字参数是额外的环境变量（如 ``DLBOOK_EXEC_JOBS="1"``）；
        ``fresh_process`` 见 ``run_build``。
        """
        return run_build(
            self.root,
            env={"PYTHONPATH": str(self.root / "code"), **env},
            fresh_process=fresh_process,
        )

    def html(self, name: str = "index") -> str:
        return (self.root / f"_build/html/book/{name}.html").read_text("utf-8")
