"""边写边看：构建一次全书，之后文件一改就在同一个进程里重新构建，并在本机提供网站。

用法（在仓库根目录）::

    .venv/bin/python scripts/preview.py              # 然后打开 http://127.0.0.1:8000
    .venv/bin/python scripts/preview.py --port 8001

``jupyter-book build`` 每次都要重新启动 Python、导入 Sphinx 和各个扩展、
加载 jieba 的词典，只改一句正文也要约 4 秒；这里这些只做一次，之后只改正文时
重新构建约 2 秒（``benchmarks/build.py`` 测量）。构建参数与 README 的构建命令
相同（``-n -W --keep-going``），执行缓存也与它共用：改了 ``code/`` 里的模块，
用到它的章节照样重新执行。改了 ``_ext/`` 或 ``_config.yml`` 时，进程重新启动
（扩展要重新导入）。按 Ctrl+C 退出。
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bookfacts import build_args  # noqa: E402

# 改了就重新构建的文件；改了 RESTART 里的要重新启动进程
WATCHED = ("book", "code", "_ext", "_toc.yml", "_config.yml", "README.md")
RESTART = ("_ext", "_config.yml")
SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


def snapshot(root: Path) -> dict[Path, int]:
    """被监视的每个文件的修改时间（纳秒）。"""
    found = {}
    for name in WATCHED:
        path = root / name
        files = path.rglob("*") if path.is_dir() else [path]
        for file in files:
            if file.is_file() and not SKIPPED & set(file.parts):
                found[file] = file.stat().st_mtime_ns
    return found


def changed_files(before: dict[Path, int], after: dict[Path, int]) -> set:
    """新增、删除或修改过的文件。"""
    return {
        path
        for path in before.keys() | after.keys()
        if before.get(path) != after.get(path)
    }


def build(root: Path = ROOT) -> tuple[bool, float]:
    """在这个进程里运行一次 README 的构建命令；返回 (是否成功, 秒数)。"""
    from jupyter_book.cli.main import main

    start = time.perf_counter()
    with contextlib.chdir(root):
        try:
            main(build_args(), standalone_mode=False)
            ok = True
        except SystemExit as stop:  # jupyter-book 失败时调用 sys.exit
            ok = stop.code in (0, None)
    return ok, time.perf_counter() - start


def warm_up() -> None:
    """先加载 jieba 的主词典（约 0.5 s），第一次改正文时就不必再等。"""
    import jieba

    jieba.setLogLevel(60)  # 不打印加载信息
    jieba.initialize()


def serve(site: Path, port: int) -> http.server.ThreadingHTTPServer:
    """在后台线程里提供 ``site``（只监听本机）。"""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(site)
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def watch(root: Path, port: int, interval: float = 0.3) -> None:
    ok, seconds = build(root)
    print(f"[preview] 构建{'完成' if ok else '失败'}，{seconds:.1f} s")
    warm_up()
    server = serve(root / "_build" / "html", port)
    print(f"[preview] 打开 http://127.0.0.1:{server.server_address[1]}")
    state = snapshot(root)
    while True:
        time.sleep(interval)
        now = snapshot(root)
        changed = changed_files(state, now)
        if not changed:
            continue
        state = now
        names = sorted(str(p.relative_to(root)) for p in changed)
        print(f"[preview] 改动：{'、'.join(names[:5])}")
        if any(p.relative_to(root).parts[0] in RESTART for p in changed):
            print("[preview] 扩展或配置改了，重新启动")
            server.shutdown()
            os.execv(sys.executable, [sys.executable, *sys.argv])
        ok, seconds = build(root)
        print(f"[preview] 重新构建{'完成' if ok else '失败'}，{seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        watch(ROOT, args.port)


if __name__ == "__main__":
    main()
