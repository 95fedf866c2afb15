"""Binder 的基准：读者要等多久。在当前机器上测量，写出 JSON 与 Markdown 表格。

用法（在仓库根目录，先构建全书）::

    .venv/bin/python benchmarks/binder.py                 # 用 CPU 源
    .venv/bin/python benchmarks/binder.py --no-cpu-index  # 连不上 CPU 源时

在临时目录里按 ``scripts/binder_local.py`` 的做法从头搭一个 Binder 环境
（repo2docker 的基础环境、``binder/requirements.txt``、在 binder 分支的内容里
运行 ``binder/postBuild``），记下每一步的用时（镜像构建时间的主要部分；
mybinder.org 另有拉取基础镜像、打包镜像的时间，这里量不到），再启动
JupyterLab，在无头 Chromium 里依次按网页上 Binder 按钮的 ``urlpath`` 打开
每一章，量从打开地址到显示出第一个单元格、到内核就绪的时间（启动服务器的
时间单独记下）。

结果写到 benchmarks/results/binder.json 与 binder.md。它只测量、只报告，
不是测试。
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import binder_local  # noqa: E402

from bookfacts import chapter_pages  # noqa: E402

OUT = ROOT / "benchmarks" / "results"


def launch_urlpath(name: str) -> str:
    from bs4 import BeautifulSoup

    html = (ROOT / "_build/html" / f"{name}.html").read_text("utf-8")
    soup = BeautifulSoup(html, "html.parser")
    href = next(
        a["href"]
        for a in soup.find_all("a", href=True)
        if "mybinder.org" in a["href"]
    )
    return parse_qs(urlparse(href).query)["urlpath"][0]


def open_times(env: binder_local.BinderEnv) -> tuple[float, dict]:
    """启动 JupyterLab 的时间，与每章打开到第一个单元格、到内核就绪的时间。"""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    start = time.perf_counter()
    server, url = binder_local.start_lab(env)
    server_seconds = time.perf_counter() - start
    times = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium, args=binder_local.CHROMIUM_ARGS
            )
            for name in chapter_pages():
                for saved in env.home.rglob("workspaces"):
                    shutil.rmtree(saved)  # 每章都像第一次打开
                page = browser.new_page()
                begin = time.perf_counter()
                page.goto(f"{url}/{launch_urlpath(name)}")
                page.wait_for_selector(
                    ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell",
                    timeout=120_000,
                )
                first = time.perf_counter() - begin
                page.wait_for_function(
                    binder_local.KERNEL_IDLE, timeout=120_000
                )
                ready = time.perf_counter() - begin
                times[name] = {"第一个单元格": first, "内核就绪": ready}
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return server_seconds, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cpu-index", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = binder_local.create(
            Path(tmp) / "env", cpu_index=not args.no_cpu_index
        )
        binder_local.post_build(env)
        server, chapters = open_times(env)
        errors = env.error_lines()
    result = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "build": {k: round(v, 1) for k, v in env.timings.items()},
        "pip_error_lines": errors,
        "jupyterlab_start": round(server, 1),
        "chapters": {
            name: {k: round(v, 1) for k, v in t.items()}
            for name, t in chapters.items()
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "binder.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=1), "utf-8"
    )
    lines = [
        f"# Binder 基准（{result['date']}，{result['machine']}）",
        "",
        "| 步骤 | 秒 |",
        "| --- | ---: |",
        *(f"| {k} | {v} |" for k, v in result["build"].items()),
        f"| 启动 JupyterLab | {result['jupyterlab_start']} |",
        "",
        "| 章 | 打开到第一个单元格（秒） | 打开到内核就绪（秒） |",
        "| --- | ---: | ---: |",
        *(
            f"| {name} | {t['第一个单元格']} | {t['内核就绪']} |"
            for name, t in result["chapters"].items()
        ),
        "",
        f"pip 的 ERROR 行：{errors or '没有'}",
    ]
    (OUT / "binder.md").write_text("\n".join(lines) + "\n", "utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
