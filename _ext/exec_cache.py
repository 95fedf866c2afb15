"""执行缓存按章节的依赖失效，需要执行的章节并行执行。

1. **每章自己的缓存键。** jupyter-cache 只看代码单元格的内容，看不见章节
   导入的模块。读入章节时，把它依赖的文件（``chapter_deps``：导入的
   ``code/`` 模块，逐层追到底，加上包里的数据文件与依赖清单）的摘要写进
   第一个代码单元格的元数据，jupyter-cache 的哈希就包含了它：改了一个
   模块，只有用到它的章节重新执行；只改正文时什么也不执行。
2. **并行执行。** Sphinx 开始读页面之前，先找出缓存里没有的章节，按上次的
   执行时间从长到短，每核一个单线程内核并行执行，结果存进缓存；随后 myst-nb
   读页面时直接取缓存。执行出错的章节不存，myst-nb 会照常再执行一次并报告
   它自己的错误。``DLBOOK_EXEC_JOBS=1`` 时完全按 myst-nb 的方式逐章执行。
"""

from __future__ import annotations

import copy
import datetime as _dt
import multiprocessing
import os
import time
import tomllib
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


KERNEL_START_TRIES = 3


def _execute(notebook, cwd: str, allow_errors: bool, timeout: int | None):
    """在子进程里执行一章；返回 (执行后的笔记本, 秒数, 错误信息或 None)。

    几个内核同时启动时，jupyter_client 先找空闲端口、再由内核去绑定，
    两个进程可能挑中同一个端口（``Address already in use``，内核启动即
    退出）。这类启动失败换一组端口重试；单元格出错不重试。
    """
    from jupyter_cache.executors.utils import single_nb_execution

    start = time.perf_counter()
    failure = ""
    for _ in range(KERNEL_START_TRIES):
        trial = nbformat.from_dict(copy.deepcopy(notebook))
        try:
            result = single_nb_execution(
                trial,
                cwd=cwd,
                allow_errors=allow_errors,
                timeout=timeout,
                meta_override=True,
            )
        except RuntimeError as err:
            failure = f"{type(err).__name__}: {err}"
            if "kernel_info" in str(err):  # 内核没能启动：重试
                continue
            break
        seconds = time.perf_counter() - start
        error = None if result.err is None else result.exc_string
        return trial, seconds, error
    return notebook, time.perf_counter() - start, failure


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


def _execute_in_parallel(
    app: Sphinx, env: BuildEnvironment, docnames: list[str]
) -> None:
    import myst_nb.sphinx_ as nb_sphinx
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    nb_config = env.mystnb_config
    jobs = exec_jobs()
    if nb_config.execution_mode != "cache" or jobs < 2:
        return
    cache = get_cache(nb_config.execution_cache_path)
    pending = []
    for docname in sorted(docnames):
        path = Path(env.doc2path(docname))
        text = path.read_text("utf-8")
        reader = nb_sphinx.create_nb_reader(
            str(path), env.myst_config, nb_config, text
        )
        if reader is None:
            continue
        notebook = reader.read(text)
        if not any(cell.cell_type == "code" for cell in notebook.cells):
            continue
        try:
            cache.match_cache_notebook(notebook)
            continue  # 缓存里已有
        except KeyError:
            pass
        pending.append((path, notebook, reader.read_fmt))
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
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {
            pool.submit(
                _execute,
                notebook,
                str(path.parent),
                nb_config.execution_allow_errors,
                nb_config.execution_timeout,
            ): (path, read_fmt)
            for path, notebook, read_fmt in pending
        }
        for future in as_completed(futures):
            path, read_fmt = futures[future]
            try:
                executed, seconds, error = future.result()
            except Exception as err:  # 子进程本身出了问题
                executed, seconds, error = None, 0.0, repr(err)
            if error is not None:
                # 不存缓存：myst-nb 读这一页时会再执行一次，按平常的方式报错
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
