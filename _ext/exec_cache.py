"""执行缓存按章节的依赖失效，需要执行的章节并行执行。

1. **每章自己的缓存键。** jupyter-cache 只看代码单元格的内容，看不见章节
   导入的模块。读入章节时，把它依赖的文件（``chapter_deps``：导入的
   ``code/`` 模块，逐层追到底，加上包里的数据文件与依赖清单）的摘要写进
   第一个代码单元格的元数据，jupyter-cache 的哈希就包含了它：改了一个
   模块，只有用到它的章节重新执行；只改正文时什么也不执行。
2. **并行执行。** Sphinx 开始读页面之前，先找出缓存里没有的章节，按上次的
   执行时间从长到短，每核一个单线程内核并行执行，结果存进缓存；随后 myst-nb
   读页面时直接取缓存。哪些页要执行、用什么时限、允许不允许报错，都按
   myst-nb 逐章执行时的判断（``execute.exclude_patterns``、页面 front matter
   里的 ``mystnb``）。执行出错的章节不存缓存，也不再执行第二次：myst-nb 读到
   它时拿这次的结果照常报告。``DLBOOK_EXEC_JOBS=1`` 时完全按 myst-nb 的方式
   逐章执行。
3. **出事的构建。** 内核在执行中死掉（``os._exit``、OOM killer、段错误）只算
   这一章失败，写明退出码，其余章节照常构建（myst-nb 逐章执行时也一样）。
   Ctrl-C 时取消还没开始的章节，工作进程结束各自的内核后退出；构建进程被
   强行结束（SIGKILL）时，工作进程发现主进程不在了，同样结束内核并退出。
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import json
import multiprocessing
import os
import pickle
import re
import signal
import tempfile
import threading
import time
import tomllib
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from chapter_deps import chapter_digest
from doc_store import keep_per_doc, per_doc
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

logger = logging.getLogger(__name__)
STAMP_KEY = "dlbook"  # 第一个代码单元格元数据里的键：{"deps": 摘要}
CACHE_LIMIT = 60  # 缓存里最多保留的执行结果（约为章节数的几倍）


def stamp(notebook, root: Path, path: Path) -> None:
    """把章节依赖的摘要写进第一个代码单元格的元数据（参与缓存哈希）。"""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.metadata[STAMP_KEY] = {"deps": chapter_digest(root, path)}
            return


def fill_from_cache(notebook, cache_path: str) -> bool:
    """缓存里有这一章时，把缓存的输出原地填进 ``notebook``。

    myst-nb 取缓存时只把输出合并进一份副本，写到 ``jupyter_execute/`` 和
    下载用的 .ipynb 却是没有输出的原件；先在这里填好，两者就一致了。
    """
    from jupyter_cache import get_cache

    try:
        _, merged = get_cache(cache_path).merge_match_into_notebook(notebook)
    except KeyError:
        return False
    for cell, cached in zip(notebook.cells, merged.cells, strict=True):
        if cell.cell_type == "code":
            # glue 的记录：myst-nb 执行后也会把它们从原件里取走（存进
            # .glue.json），这里同样不放进去，两条路写出的 .ipynb 才一样
            cell.outputs = [
                output
                for output in cached.outputs
                if "scrapbook" not in output.get("metadata", {})
            ]
            cell.execution_count = cached.execution_count
    notebook.metadata.update(merged.metadata)
    return True


def _patch_reader(root: Path) -> None:
    """让 myst-nb 读章节时调用 ``stamp``（包一层 ``create_nb_reader``）。"""
    import myst_nb.sphinx_ as nb_sphinx

    original = nb_sphinx.create_nb_reader
    if getattr(original, "dlbook_root", None) == root:
        return
    original = getattr(original, "dlbook_original", original)

    def create_nb_reader(path, md_config, nb_config, content):
        reader = original(path, md_config, nb_config, content)
        if reader is None:
            return None
        read = reader.read

        def read_and_stamp(text):
            notebook = read(text)
            stamp(notebook, root, Path(path))
            if nb_config.execution_mode == "cache":
                fill_from_cache(notebook, nb_config.execution_cache_path)
            return notebook

        reader.read = read_and_stamp
        return reader

    create_nb_reader.dlbook_root = root
    create_nb_reader.dlbook_original = original
    nb_sphinx.create_nb_reader = create_nb_reader


def exec_jobs() -> int:
    """并行执行的章节数：``DLBOOK_EXEC_JOBS``，默认等于 CPU 核数。"""
    value = os.environ.get("DLBOOK_EXEC_JOBS", "")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"DLBOOK_EXEC_JOBS 应是正整数，收到 {value!r}；"
                "例如 1 表示逐章执行"
            )
        return int(value)
    return (
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else (os.cpu_count() or 1)
    )


# ---------- 执行一章：内核死掉也只是这一章失败 ----------

KERNEL_START_TRIES = 3


class _Kernel:
    """这个进程此刻在用的内核管理器（工作进程结束前要先结束它的内核）。"""

    manager = None


def _end_kernel() -> None:
    """立即结束当前的内核（连同它启动的子进程：内核自成一个进程组）。"""
    manager = _Kernel.manager
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(OSError):
        if hasattr(os, "killpg"):  # jupyter_client 让内核自成一个会话
            os.killpg(process.pid, signal.SIGKILL)
            return
    with contextlib.suppress(OSError):
        process.kill()


def death_note(code: int | None) -> str:
    """内核意外退出时的说明：退出码，被信号结束时写明信号与常见原因。"""
    if code is None:
        return "内核在执行时意外退出（退出码未知）"
    if code >= 0:
        return f"内核在执行时意外退出（退出码 {code}）"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"信号 {-code}"
    hint = {
        "SIGKILL": "：常见原因是内存不足，被系统的 OOM killer 结束",
        "SIGSEGV": "：段错误，多半是扩展库（C/C++ 代码）里的错误",
        "SIGABRT": "：进程自己中止，多半是扩展库里的断言失败",
    }.get(name, "")
    return f"内核在执行时被 {name} 结束（退出码 {code}）{hint}"


def _formatted(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def run_notebook(
    nb,
    cwd: str | None,
    timeout: int | None,
    allow_errors: bool,
    meta_override: bool = True,
    record_timing: bool = False,
    **kwargs,
):
    """执行一章（原地填入输出）；与 jupyter-cache 的 ``single_nb_execution``
    用法与结果相同（myst-nb 逐章执行时也换成了它），另外：

    - 内核在执行中死掉（``os._exit``、OOM killer、段错误）时，和单元格出错
      一样作为这一章的失败返回，调用栈的最后一行写明退出码；上游在这里抛出
      ``DeadKernelError``，整个构建随之中断，其余章节不再报告；
    - 内核没能启动时（几个内核同时启动，jupyter_client 先找空闲端口、再由
      内核去绑定，两个进程可能挑中同一个端口：``Address already in use``）
      换一组端口重试；单元格出错不重试。
    """
    from jupyter_cache.executors.utils import ExecutionResult
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    if meta_override and "execution" in nb.metadata:
        timeout = nb.metadata.execution.get("timeout", timeout)
        allow_errors = nb.metadata.execution.get("allow_errors", allow_errors)
    original = copy.deepcopy(nb)
    resources = {"metadata": {"path": cwd}} if cwd is not None else {}
    start = time.perf_counter()
    error = exc_string = None
    for attempt in range(KERNEL_START_TRIES):
        if attempt:  # 上一次没能启动内核：从原样的笔记本重来
            nb.cells, nb.metadata = original.cells, original.metadata
            original = copy.deepcopy(original)
        client = NotebookClient(
            nb,
            timeout=timeout,
            allow_errors=allow_errors,
            record_timing=record_timing,
            resources=resources,
            **kwargs,
        )
        manager = client.km = client.create_kernel_manager()
        _Kernel.manager = manager
        started = {}  # 内核进程：死掉之后还要读它的退出码

        def remember(manager=manager, started=started, **_) -> None:
            started["process"] = manager.provisioner.process

        client.on_notebook_start = remember
        try:
            client.execute()
            error = exc_string = None
        except (CellExecutionError, CellTimeoutError) as err:
            error, exc_string = err, _formatted(err)
        except DeadKernelError as err:
            process = started.get("process")
            code = process.poll() if process is not None else None
            try:
                raise DeadKernelError(death_note(code)) from err
            except DeadKernelError as died:
                error, exc_string = died, _formatted(died)
        except RuntimeError as err:
            error, exc_string = err, _formatted(err)
            if "kernel_info" in str(err):  # 内核没能启动：重试
                continue
        finally:
            _Kernel.manager = None
        break
    return ExecutionResult(
        nb, cwd, time.perf_counter() - start, error, exc_string
    )


# 这次构建里并行执行失败的章节：{笔记本摘要: (执行到出错处的笔记本, 秒数,
# 异常, 调用栈)}。myst-nb 读到这一页时直接拿它报告，不再执行第二次。
_FAILED: dict[str, tuple] = {}


def notebook_key(notebook) -> str:
    """执行前的笔记本（含依赖摘要）的摘要：认出 myst-nb 要执行的是哪一章。
    单元格的 id 不算：每读一次 .md 都是新的随机数。"""
    content = {
        "metadata": notebook.metadata,
        "cells": [
            [cell.cell_type, cell.source, cell.metadata]
            for cell in notebook.cells
        ],
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_or_recall(nb, cwd, timeout, allow_errors, **kwargs):
    """myst-nb 用来执行章节的函数：这一章在并行执行时已经失败过，就把那次的
    结果交给 myst-nb 报告（输出照样显示到出错的单元格为止），否则执行它。"""
    from jupyter_cache.executors.utils import ExecutionResult

    failed = _FAILED.pop(notebook_key(nb), None)
    if failed is None:
        return run_notebook(nb, cwd, timeout, allow_errors, **kwargs)
    executed, seconds, error, exc_string = failed
    for cell, done in zip(nb.cells, executed.cells, strict=True):
        if cell.cell_type == "code":
            cell.outputs = done.outputs
            cell.execution_count = done.get("execution_count")
    nb.metadata.update(executed.metadata)
    logger.info("[dlbook] 并行执行时已经失败，直接报告那次的错误（不再执行）")
    return ExecutionResult(nb, cwd, seconds, error, exc_string)


def _patch_executor() -> None:
    """myst-nb 的缓存执行改用 ``run_or_recall``。"""
    import myst_nb.core.execute.cache as nb_cache

    nb_cache.single_nb_execution = run_or_recall


# ---------- 并行执行的工作进程 ----------


def _worker_started(parent: int, stop) -> None:
    """工作进程的初始化：自成一个会话（终端的 Ctrl-C 只交给主进程处理），
    主进程叫停（``stop``）或者死掉时，结束自己的内核并立即退出。"""
    if hasattr(os, "setsid"):
        os.setsid()

    def watch() -> None:
        while not stop.wait(0.2):
            if os.getppid() != parent:
                break
        _end_kernel()
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _execute(
    notebook,
    cwd: str,
    allow_errors: bool,
    timeout: int | None,
    in_temp: bool = False,
):
    """在工作进程里执行一章；返回 (执行后的笔记本, 秒数, 异常或 None,
    调用栈或 None)。异常传不回主进程时换成同样信息的 RuntimeError。"""
    trial = nbformat.from_dict(copy.deepcopy(notebook))
    place = (
        tempfile.TemporaryDirectory()
        if in_temp  # execution_in_temp：与 myst-nb 一样在临时目录里执行
        else contextlib.nullcontext(cwd)
    )
    with place as where:
        result = run_notebook(
            trial,
            cwd=os.path.abspath(where),
            allow_errors=allow_errors,
            timeout=timeout,
            meta_override=True,
        )
    error = result.err
    if error is not None:
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:
            error = RuntimeError(f"{type(error).__name__}: {error}")
    return trial, result.time, error, result.exc_string


def _stop_workers(pool: ProcessPoolExecutor, stop) -> None:
    """中断时：取消还没开始的章节，工作进程结束各自的内核后退出。"""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    stop.set()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():  # 没有响应：直接结束（它的内核自己会退出）
            process.kill()
            process.join(timeout=5)


# ---------- 需要执行的章节：与 myst-nb 逐章执行时的判断完全相同 ----------


class _Quiet:
    """什么也不记的 logger（只用来问 myst-nb 会怎样处理一页）。"""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def page_config(nb_config, notebook):
    """一页自己的 myst-nb 设置：全局设置加上这页 front matter 里的
    ``mystnb``（如 ``execution_mode``、``execution_timeout``、
    ``execution_allow_errors``），内核名按 ``nb_kernel_rgx_aliases`` 换过。
    与 ``myst_nb.sphinx_.Parser.parse`` 的做法相同；设置写错时返回 None
    （交给 myst-nb 读这一页时报告）。"""
    from myst_nb.core.nb_to_tokens import nb_node_to_dict

    kernel = notebook.metadata.get("kernelspec", {}).get("name", None)
    if kernel is not None and nb_config.kernel_rgx_aliases:
        for pattern, alias in nb_config.kernel_rgx_aliases.items():
            if re.fullmatch(pattern, kernel):
                notebook.metadata["kernelspec"]["name"] = alias
                break
    if nb_config.metadata_key not in notebook.metadata:
        return nb_config
    overrides = nb_node_to_dict(notebook.metadata[nb_config.metadata_key])
    overrides.pop("output_folder", None)
    try:
        return nb_config.copy(**overrides)
    except Exception:
        return None


def executes_from_cache(notebook, path: Path, config, read_fmt) -> bool:
    """myst-nb 会不会用执行缓存执行这一页：问 myst-nb 自己的
    ``create_client``（它按 ``execute.exclude_patterns`` 与这页的
    ``execution_mode`` 决定），而不是另写一遍规则。只建客户端，不执行。"""
    from myst_nb.core.execute import NotebookClientCache, create_client

    client = create_client(notebook, str(path), config, _Quiet(), read_fmt)
    return type(client) is NotebookClientCache


def _budgets(root: Path) -> dict[str, float]:
    """pyproject.toml 里各章的时间预算（秒），用来估计谁最慢。"""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    project = tomllib.loads(path.read_text("utf-8"))
    return project.get("tool", {}).get("dlbook", {}).get("chapter-budgets", {})


def _last_runtime(cache, uri: str) -> float:
    """这一章上次执行用了多久（缓存里没有记录时为 0）。"""
    times = [
        record.data.get("execution_seconds", 0.0)
        for record in cache.list_cache_records()
        if record.uri == uri
    ]
    return max(times, default=0.0)


def _stale_chapters(env: BuildEnvironment, docnames, cache) -> list[tuple]:
    """缓存里没有、myst-nb 会用执行缓存执行的章节：
    [(路径, 笔记本, 读取格式, 这一页的 myst-nb 设置)]。"""
    import myst_nb.sphinx_ as nb_sphinx

    stale = []
    for docname in sorted(docnames):
        path = Path(env.doc2path(docname))
        text = path.read_text("utf-8")
        reader = nb_sphinx.create_nb_reader(
            str(path), env.myst_config, env.mystnb_config, text
        )
        if reader is None:
            continue
        notebook = reader.read(text)
        if not any(cell.cell_type == "code" for cell in notebook.cells):
            continue
        config = page_config(env.mystnb_config, notebook)
        if config is None or not executes_from_cache(
            notebook, path, config, reader.read_fmt
        ):
            continue  # 这页不执行（或交给 myst-nb 报告设置的错误）
        try:
            cache.match_cache_notebook(notebook)
            continue  # 缓存里已有
        except KeyError:
            pass
        stale.append((path, notebook, reader.read_fmt, config))
    return stale


def _execute_in_parallel(
    app: Sphinx, env: BuildEnvironment, docnames: list[str]
) -> None:
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    _FAILED.clear()
    jobs = exec_jobs()
    if env.mystnb_config.execution_mode != "cache" or jobs < 2:
        return
    cache = get_cache(env.mystnb_config.execution_cache_path)
    pending = _stale_chapters(env, docnames, cache)
    if len(pending) < 2:
        return  # 一章也不必并行：交给 myst-nb
    # 最长的先开始，总用时最短：按上次的执行时间，没有记录时按时间预算
    budgets = _budgets(Path(app.srcdir))
    pending.sort(
        key=lambda item: (
            -(
                _last_runtime(cache, str(item[0]))
                or budgets.get(item[0].stem, 0)
            )
        )
    )
    workers = min(jobs, len(pending))
    logger.info(f"[dlbook] 并行执行 {len(pending)} 章（{workers} 个内核）")
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_worker_started,
        initargs=(os.getpid(), stop),
    )
    try:
        futures = {
            pool.submit(
                _execute,
                notebook,
                str(path.parent),
                config.execution_allow_errors,
                config.execution_timeout,
                config.execution_in_temp,
            ): (path, notebook, read_fmt)
            for path, notebook, read_fmt, config in pending
        }
        for future in as_completed(futures):
            path, notebook, read_fmt = futures[future]
            try:
                executed, seconds, error, exc_string = future.result()
            except Exception as err:  # 工作进程本身出了问题：交给 myst-nb
                logger.info(f"{path}: 并行执行没有结果（{err!r}）")
                continue
            if error is not None:
                # 不存缓存；myst-nb 读这一页时按平常的方式报告这次的错误
                _FAILED[notebook_key(notebook)] = (
                    executed,
                    seconds,
                    error,
                    exc_string,
                )
                logger.info(f"{path}: Executing notebook failed in parallel")
                continue
            stage = cache.add_nb_to_project(str(path), read_data=read_fmt)
            cache.cache_notebook_bundle(
                CacheBundleIn(
                    executed, stage.uri, data={"execution_seconds": seconds}
                ),
                check_validity=False,
                overwrite=True,
            )
            logger.info(
                f"{path}: Executing notebook in parallel: {seconds:.2f} s"
            )
    except BaseException:  # Ctrl-C 或别的错误：不等还在执行的章节
        _stop_workers(pool, stop)
        raise
    pool.shutdown()


def _notebook_digests(app: Sphinx, env: BuildEnvironment) -> dict[str, str]:
    """每个章节（带 kernelspec 的 .md）当前的依赖摘要：{文档名: 摘要}。"""
    if getattr(app, "dlbook_digests", None) is None:
        root = Path(app.srcdir)
        digests = {}
        for docname in sorted(env.found_docs):
            path = Path(env.doc2path(docname))
            if path.suffix != ".md" or not path.is_file():
                continue
            head = path.read_text("utf-8")[:2000]
            if head.startswith("---") and "kernelspec:" in head:
                digests[docname] = chapter_digest(root, path)
        app.dlbook_digests = digests
    return app.dlbook_digests


def _outdated(app, env, added, changed, removed) -> list[str]:
    """``env-get-outdated``：依赖变了的章节要重新读（才会去查缓存）。

    Sphinx 只重读源文件改过的页面；章节导入的模块变了，页面本身没变，
    不重读就会一直显示旧的输出。
    """
    recorded = per_doc(env, "dlbook_deps")
    return [
        docname
        for docname, digest in _notebook_digests(app, env).items()
        if docname not in added | changed and recorded.get(docname) != digest
    ]


def _record_digests(app, env, docnames) -> None:
    digests = _notebook_digests(app, env)
    recorded = per_doc(env, "dlbook_deps")
    recorded.update({d: digests[d] for d in docnames if d in digests})


def _configure(app: Sphinx, config: Config) -> None:
    cache_dir = Path(app.outdir).parent / ".jupyter_cache" / "chapters"
    config.nb_execution_cache_path = str(cache_dir)
    _patch_reader(Path(app.srcdir))
    _patch_executor()
    app.env_build_started = _dt.datetime.now().timestamp()  # 供执行统计区分


def _limit_cache(app: Sphinx) -> None:
    from jupyter_cache import get_cache

    cache = get_cache(app.config.nb_execution_cache_path)
    if cache.get_cache_limit() != CACHE_LIMIT:
        cache.change_cache_limit(CACHE_LIMIT)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _configure)
    app.connect("builder-inited", _limit_cache)
    app.connect("env-get-outdated", _outdated)
    app.connect("env-before-read-docs", _record_digests)
    app.connect("env-before-read-docs", _execute_in_parallel)
    # 不在 env-purge-doc 时清：Sphinx 在 env-before-read-docs 之后才清理
    # 要重读的页面，会把刚记下的摘要清掉
    keep_per_doc(app, "dlbook_deps", purge=False)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
