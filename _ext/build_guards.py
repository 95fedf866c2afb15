"""构建的把关：出了问题的页面绝不能被当作成功发布。

1. 上一次构建有警告、或者没有正常结束（Ctrl-C、被强行结束）时，这一次
   重新读取所有页面。Sphinx 的增量构建只重读改过的页面，于是第二次运行看不到
   上一次的警告、以 0 退出，页面上却缺着数字。所以构建一开始就记下“构建中”，
   只有干净地构建完才清掉：中断的构建（Sphinx 不再发出 ``build-finished``）
   也留下这个记号。
2. 执行章节的内核导入的必须是这个仓库的 ``code/dlbasics``：把 ``code/`` 放在
   内核的 ``PYTHONPATH`` 最前面，并在构建开始时核对；对不上就停下并说明。
3. 执行缓存的数据库损坏时，说清楚删哪个目录；旧的缓存目录只保留最近几个。
4. 章节执行出错不在第一个就停：每个出错的章节都执行并记录，构建结束时在
   日志与 ``_build/html/reports/failures.txt`` 里列出全部，并以失败退出。
5. 书稿里悄悄出错的 MyST 写法：没有闭合的围栏（```、~~~ 与 ::: 都算；
   会吞掉后面整页），拼错的单元格标签与单元格选项（如把 ``:tags:`` 写成
   ``:tag:``；都会被静默忽略）。一个单元格的输出超过 ``OUTPUT_LIMIT``
   时也警告（页面与搜索索引会被它撑大，多半是误打印了整个张量）。
6. 标了 ``raises-exception`` 的单元格必须真的报错：库升级后代码变得合法时，
   构建发出警告（-W 下即失败），而不是让正文继续描述一个不存在的报错。
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError, ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

WARNED_FLAG = "dlbook-last-build-warned.json"
KEEP_CACHES = 1  # 只保留当前的执行缓存目录（旧版本按代码摘要分的目录会被删掉）

# myst-nb 与 sphinx-book-theme 认识的单元格标签
KNOWN_TAGS = {
    "hide-input",
    "hide-output",
    "hide-cell",
    "remove-input",
    "remove-output",
    "remove-cell",
    "remove-stderr",
    "remove-stdout",
    "raises-exception",
    "skip-execution",
    "full-width",
    "margin",
    "scroll-input",
    "scroll-output",
    "output_scroll",
    "thebe-init",
}

# 单元格选项（代码单元格元数据的键）：myst-nb 用到的、nbformat 规定的，
# 以及 exec_cache 写进第一个代码单元格的依赖摘要。别的键会被静默忽略。
KNOWN_CELL_KEYS = {
    "tags",
    "mystnb",
    "load",
    "dlbook",
    "collapsed",
    "scrolled",
    "jupyter",
    "execution",
    "name",
    "editable",
    "deletable",
    "slideshow",
}

# 一个单元格输出里的文字（UTF-8 字节，不算图片）的上限。书里最长的文字输出
# 不到 1 KB；超过上限的多半是误打印了整个张量或数据集：页面和搜索索引会被
# 它撑大（20 MB 的输出曾让构建多花十分钟）。
OUTPUT_LIMIT = 100_000

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,}|:{3,})(.*)$")
DIRECTIVE = re.compile(r"\s*\{([\w:.-]+)\}")
# 内容不是 MyST 正文的指令：它们里面的围栏不必成对
LITERAL_DIRECTIVES = {
    "code-cell",
    "raw-cell",
    "code-block",
    "code",
    "sourcecode",
    "literalinclude",
    "math",
    "raw",
    "eval-rst",
    "csv-table",
}


# ---------- 1. 上次有警告就全部重读 ----------


def _flag_path(app: Sphinx) -> Path:
    return Path(app.doctreedir) / WARNED_FLAG


def _start_build(app: Sphinx) -> None:
    """``builder-inited``：读出上一次的记号，再记下“这次构建进行中”。

    记号在读任何页面之前写下，只有干净地构建完（``_remember_warnings``）才
    删掉：Ctrl-C（Sphinx 不再发出 ``build-finished``）或 SIGKILL 中断的构建，
    哪怕已经把读好的页面存进了构建环境，下一次也会全部重读。
    """
    flag = _flag_path(app)
    app.dlbook_last_build_warned = flag.is_file()
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text(json.dumps({"running": True}), "utf-8")


def _reread_after_warnings(app, env, added, changed, removed):
    """``env-get-outdated``：上次构建有警告或没有正常结束时，所有页面都算过期。"""
    if getattr(app, "dlbook_last_build_warned", False):
        logger.info("上一次构建有警告或没有正常结束，这次重新读取所有页面")
        return sorted(env.found_docs)
    return []


def _remember_warnings(app: Sphinx, exception: Exception | None) -> None:
    """``build-finished``：这次构建有警告或错误就留下记号，干净时删掉。"""
    flag = _flag_path(app)
    if exception is not None or app._warncount:
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text(
            json.dumps({"warnings": app._warncount, "error": bool(exception)}),
            "utf-8",
        )
    elif flag.is_file():
        flag.unlink()


# ---------- 2. 内核导入的是这个仓库的包 ----------


def kernel_python() -> str:
    """执行章节用的 python3 内核所在的 Python 解释器。"""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        argv = KernelSpecManager().get_kernel_spec("python3").argv
    except Exception:  # 没有找到内核规格时，jupyter 用当前解释器
        return sys.executable
    python = argv[0]
    if python in ("python", "python3", "{python}"):
        return sys.executable
    return shutil.which(python) or python


def package_origin(python: str, package: str, env: dict) -> str | None:
    """在 ``python`` 里、给定环境变量下，``import package`` 会导入哪个文件。"""
    code = (
        "import importlib.util as u; "
        f"s = u.find_spec({package!r}); print(s.origin if s else '')"
    )
    result = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, env=env
    )
    origin = result.stdout.strip()
    return origin or None


def check_package_origin(origin: str | None, expected: Path, python: str):
    """``origin`` 必须是 ``expected``（这个仓库的 dlbasics/__init__.py）。"""
    if origin is not None and Path(origin).resolve() == expected.resolve():
        return
    found = origin or "（找不到 dlbasics）"
    raise ConfigError(
        f"执行章节的内核（{python}）导入的 dlbasics 来自 {found}，"
        f"不是这个仓库的 {expected}。这样构建出的数字不属于这份代码。"
        "请在本仓库的虚拟环境里构建（README 的构建命令会以可编辑方式安装"
        "这个仓库的包），或卸载别处的 dlbasics：pip uninstall dlbasics"
    )


def _use_this_checkouts_package(app: Sphinx, config: Config) -> None:
    code = Path(app.srcdir) / "code"
    package = code / "dlbasics" / "__init__.py"
    if not package.is_file():
        return  # 没有 code/dlbasics 的小书（测试用）不检查
    paths = [str(code)] + [
        p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
    ]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    python = kernel_python()
    check_package_origin(
        package_origin(python, "dlbasics", dict(os.environ)), package, python
    )


# ---------- 3. 执行缓存：损坏时说清楚，旧目录不堆积 ----------


def check_cache_database(cache_dir: Path) -> None:
    """缓存目录里的 global.db 打不开或已损坏时，说明该删哪个目录。"""
    db = cache_dir / "global.db"
    if not db.is_file():
        return
    try:
        with sqlite3.connect(db) as connection:
            (status,) = connection.execute("PRAGMA quick_check").fetchone()
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as err:
        status = str(err)
    if status != "ok":
        raise ConfigError(
            f"执行缓存的数据库 {db} 已损坏（{status}）。"
            f"删除这个目录后重新构建即可（章节会重新执行）：rm -rf {cache_dir}"
        )


def prune_caches(cache_root: Path, current: Path, keep: int = KEEP_CACHES):
    """只保留 ``current`` 与最近修改的另外 ``keep - 1`` 个缓存目录。"""
    if not cache_root.is_dir():
        return []
    others = sorted(
        (p for p in cache_root.iterdir() if p.is_dir() and p != current),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = others[max(keep - 1, 0) :]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _guard_cache(app: Sphinx, config: Config) -> None:
    cache_dir = Path(config.nb_execution_cache_path)
    check_cache_database(cache_dir)
    prune_caches(cache_dir.parent, cache_dir)


# ---------- 4. 列出所有执行出错的章节 ----------


def _clear_old_reports(app: Sphinx) -> None:
    reports = Path(app.outdir) / "reports"
    if reports.is_dir():
        shutil.rmtree(reports)


def failed_chapters(app: Sphinx) -> dict[str, str]:
    """这次构建中执行出错的章节：{文档名: 异常类型}。"""
    from myst_nb.sphinx_ import NbMetadataCollector

    failures = {}
    for docname, data in NbMetadataCollector.get_doc_data(app.env).items():
        info = data.get("exec_data") or {}
        if info and not info.get("succeeded", True):
            failures[docname] = error_line(info.get("traceback") or "") or (
                info.get("error") or "执行出错"
            )
    return failures


def error_line(traceback: str) -> str | None:
    """调用栈里最后一行“异常类型: 信息”，如 ZeroDivisionError: …。"""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", traceback)
    lines = [
        line.strip()
        for line in plain.splitlines()
        if re.match(r"\s*[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b", line)
    ]
    return lines[-1] if lines else None


def _report_failures(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None:
        return
    failures = failed_chapters(app)
    if not failures:
        return
    reports = Path(app.outdir) / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{doc}：{error}（调用栈见 reports/{doc}.err.log）"
        for doc, error in sorted(failures.items())
    ]
    (reports / "failures.txt").write_text("\n".join(lines) + "\n", "utf-8")
    raise ExtensionError(
        f"{len(failures)} 个章节执行出错：\n"
        + "\n".join(lines)
        + f"\n清单写在 {reports / 'failures.txt'}"
    )


# ---------- 5. 书稿里悄悄出错的写法 ----------


def unclosed_fence(text: str, first_line: int = 1) -> int | None:
    """没有闭合的围栏（```、~~~ 或 :::）的起始行号（从 ``first_line`` 数起）；
    都闭合时为 None。

    按 CommonMark（与 MyST 的 ::: 围栏）的规则：围栏由至少三个相同的字符
    开头，只有同一种字符、不少于开头个数、后面没有其他文字的一行才能闭合它。
    正文类指令（如 ``{note}``、``{exercise}``）里面的围栏也要成对。
    """
    open_line = None
    marker, info, body = "", "", []
    for number, line in enumerate(text.splitlines(), start=first_line):
        match = FENCE.match(line)
        if open_line is None:
            if match:
                open_line, marker, info, body = number, *match.groups(), []
            continue
        fence, rest = match.groups() if match else ("", "")
        if (
            fence[:1] == marker[0]
            and len(fence) >= len(marker)
            and not rest.strip()
        ):
            inner = (
                unclosed_fence("\n".join(body), open_line + 1)
                if _holds_markdown(info)
                else None
            )
            if inner is not None:
                return inner
            open_line = None
        else:
            body.append(line)
    return open_line


def _holds_markdown(info: str) -> bool:
    """围栏的信息串（``{note}`` 等）说明里面是不是 MyST 正文。"""
    match = DIRECTIVE.match(info)
    return bool(match) and match.group(1) not in LITERAL_DIRECTIVES


def _check_source(app: Sphinx, docname: str, source: list[str]) -> None:
    line = unclosed_fence(source[0])
    if line is not None:
        fence = FENCE.match(source[0].splitlines()[line - 1]).group(1)
        logger.warning(
            f"第 {line} 行开始的围栏 {fence} 没有闭合，它后面的内容都会被当作"
            f"这个围栏的一部分；请补上结束的 {fence}",
            location=(docname, line),
        )


def unknown_tags(doctree: nodes.document) -> list[tuple[nodes.Element, str]]:
    """单元格上不认识的标签（多半是拼错了，会被静默忽略）。"""
    found = []
    for cell in doctree.findall(nodes.container):
        if "cell" not in cell.get("classes", []):
            continue
        for cls in cell["classes"]:
            if cls.startswith("tag_") and cls[4:] not in KNOWN_TAGS:
                found.append((cell, cls[4:]))
    return found


def _check_tags(app: Sphinx, doctree: nodes.document) -> None:
    for cell, tag in unknown_tags(doctree):
        logger.warning(
            f"不认识的单元格标签 {tag!r}（会被忽略）；可用的标签："
            + "、".join(sorted(KNOWN_TAGS)),
            location=cell,
        )
    for cell, key in unknown_cell_keys(doctree):
        close = difflib.get_close_matches(key, KNOWN_CELL_KEYS, n=1)
        hint = f"是不是想写 {close[0]!r}？" if close else ""
        logger.warning(
            f"不认识的单元格选项 {key!r}（会被忽略）；{hint}可用的选项："
            + "、".join(sorted(KNOWN_CELL_KEYS)),
            location=cell,
        )


def _code_cells(doctree: nodes.document):
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") == "cell_code":
            yield cell


def unknown_cell_keys(doctree) -> list[tuple[nodes.Element, str]]:
    """代码单元格上不认识的选项（如把 ``:tags:`` 写成 ``:tag:``）。"""
    return [
        (cell, key)
        for cell in _code_cells(doctree)
        for key in cell.get("cell_metadata", {})
        if key not in KNOWN_CELL_KEYS
    ]


def _html_text(html: str) -> str:
    """HTML 里读者看得到的文字（与 Sphinx 的搜索索引取法相同：去掉 style、
    script 与标签；内嵌在标签里的图片数据不算）。"""
    html = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S | re.I)
    return re.sub(r"<[^<]+?>", "", html)


def output_text_size(cell: nodes.Element) -> int:
    """一个代码单元格的输出里文字的字节数（UTF-8；图片不算）。"""
    size = 0
    for output in cell.findall(nodes.container):
        if output.get("nb_element") != "cell_code_output":
            continue
        for node in output.findall(nodes.Text):
            text = str(node)
            if isinstance(node.parent, nodes.raw):
                text = _html_text(text)
            size += len(text.encode("utf-8"))
    return size


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB"


def _check_output_size(app: Sphinx, doctree: nodes.document, docname: str):
    """``doctree-resolved``（已按输出格式选好每个输出的表示）：单元格的输出
    文字超过 ``OUTPUT_LIMIT`` 时警告（-W 下构建失败）。"""
    for cell in _code_cells(doctree):
        size = output_text_size(cell)
        if size > OUTPUT_LIMIT:
            logger.warning(
                f"单元格的输出有 {_size(size)} 文字，超过上限 "
                f"{_size(OUTPUT_LIMIT)}：只打印需要的部分（形状、前几项、"
                "汇总的数字），或给单元格加 remove-output 标签",
                location=cell,
            )


def _check_raises_exception_cells(app: Sphinx, doctree: nodes.document):
    """标了 raises-exception 的单元格如果没有报错输出，就发出警告。"""
    for cell in doctree.findall(nodes.container):
        if "tag_raises-exception" not in cell.get("classes", []):
            continue
        shows_error = any(
            "traceback" in node.get("classes", [])
            for node in cell.findall(nodes.Element)
        )
        if not shows_error:
            logger.warning(
                "单元格标了 raises-exception，执行时却没有报错："
                "代码已经合法了（可能是库升级），请改写这个例子和描述它的正文",
                location=cell,
            )


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", _check_raises_exception_cells)
    app.connect("builder-inited", _start_build, priority=100)
    app.connect("env-get-outdated", _reread_after_warnings)
    app.connect("build-finished", _remember_warnings, priority=900)
    app.connect("build-finished", _report_failures)
    app.connect("builder-inited", _clear_old_reports)
    app.connect("config-inited", _use_this_checkouts_package)
    app.connect("config-inited", _guard_cache, priority=600)
    app.connect("source-read", _check_source)
    app.connect("doctree-read", _check_tags)
    app.connect("doctree-resolved", _check_output_size)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
