"""Binder：按 mybinder.org 的做法搭出的环境里，读者版笔记本装得上、打得开、
跑得出与网页相同的数字。

环境由 ``scripts/binder_local.py`` 搭建（repo2docker 的基础环境，
加 ``binder/requirements.txt``，在 binder 分支的内容里运行
``binder/postBuild``），同一次测试运行里只搭一次；依赖清单没变时下一次测试直接沿用
（``_build/binder-env/``）。PyTorch 的 CPU 源在这里连不上，安装时去掉那一行，
版本要求不变。
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import nbformat
import pytest
from bs4 import BeautifulSoup

from conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    EXECUTED,
    ROOT,
    chapter_budgets,
    chapter_pages,
    exclusive,
    glued_text,
)

sys.path.insert(0, str(ROOT / "scripts"))
import binder_local

pytestmark = pytest.mark.slow

ENV_FILES = (
    "binder/repo2docker-base.txt",
    "binder/requirements.txt",
    "binder/runtime.txt",
)


def _skip_or_fail(reason: str):
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def binder_env(built_site) -> binder_local.BinderEnv:
    """搭好的 Binder 环境，binder 分支的内容来自这次构建。

    并行测试时各进程排队拿锁：虚拟环境按依赖清单的摘要缓存，
    postBuild 在每次测试运行（``PYTEST_XDIST_TESTRUNUID``）里只运行一次。
    """
    try:
        python = binder_local.binder_python()
    except FileNotFoundError as err:
        _skip_or_fail(str(err))
    digest = hashlib.sha256()
    for name in ENV_FILES:
        digest.update((ROOT / name).read_bytes())
    root = ROOT / "_build" / "binder-env" / digest.hexdigest()[:12]
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "") or str(os.getpid())
    with exclusive(root.parent / ".lock") as lock:
        if not (root / "ready.json").is_file():
            for old in root.parent.glob("*"):
                if old.is_dir():
                    shutil.rmtree(old)
            env = binder_local.create(root, cpu_index=False, python=python)
            (root / "ready.json").write_text(json.dumps(env.timings))
        env = binder_local.BinderEnv(root)
        lock.seek(0)
        if lock.read() != run:
            binder_local.post_build(env)
            lock.seek(0)
            lock.truncate()
            lock.write(run)
    return env


def test_binder_build_log_has_no_error_and_extensions_are_compatible(
    binder_env,
):
    """在 repo2docker 的基础环境上装 binder/requirements.txt，pip 不报依赖
    ERROR；JupyterLab 的每个扩展都与它兼容。"""
    assert binder_env.error_lines() == []
    listing = re.sub(  # 去掉终端的颜色代码
        r"\x1b\[[0-9;]*m", "", binder_local.labextensions(binder_env)
    )
    extensions = [
        line
        for line in listing.splitlines()
        if " enabled" in line or " disabled" in line
    ]
    assert extensions, listing
    assert "incompatible" not in listing.lower(), listing
    assert all(" OK" in line for line in extensions), listing
    # postBuild 把内核说明写成这个环境的（打开时 JupyterLab 不必改写它们）
    notebook = json.loads(
        (binder_env.tree / "book/spiral.ipynb").read_text("utf-8")
    )
    done = subprocess.run(
        [
            binder_env.python,
            "-c",
            "import platform;print(platform.python_version())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    version = notebook["metadata"]["language_info"]["version"]
    assert version == done.stdout.strip()


RUNNER = r"""
import json, sys, nbclient, nbformat
path, workdir = sys.argv[1], sys.argv[2]
for attempt in range(3):  # 几个内核同时启动可能抢到同一个端口：重试
    nb = nbformat.read(path, as_version=4)
    try:
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": workdir}}
                                ).execute()
        break
    except RuntimeError as err:
        if "kernel_info" not in str(err) or attempt == 2:
            raise
glued = {  # display=False 的 glue：键带 application/papermill.record/ 前缀
    out["metadata"]["scrapbook"]["name"]: next(
        v for k, v in out["data"].items() if k.endswith("text/plain"))
    for cell in nb.cells if cell.cell_type == "code"
    for out in cell.get("outputs", [])
    if "scrapbook" in out.get("metadata", {})
}
printed = [  # 每个代码单元格打印的文字
    "".join(out["text"] for out in cell.get("outputs", [])
            if out.get("output_type") == "stream")
    for cell in nb.cells if cell.cell_type == "code"
]
print(json.dumps({"glued": glued, "printed": printed}))
"""


def same_number(a: str, b: str) -> bool:
    """两个 glue 值（文本表示）相同。

    float64 的 LAPACK 结果（如最小二乘解）在不同的 BLAS 实现下可能差在
    最后一位，所以浮点数允许 1e-12 的相对差；float32 的差别（约 1e-7）
    与其他一切不同都算不同。
    """
    if a == b:
        return True
    x, y = ast.literal_eval(a), ast.literal_eval(b)
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-12)
    return False


def differences_from_build(
    name: str, result: dict, reader: nbformat.NotebookNode
) -> list[str]:
    """Binder 环境里从头执行 ``name`` 得到的 ``result``（``glued``：glue 的
    名字到文本值，``printed``：每个代码单元格打印的文字）与构建时不同的地方；
    ``reader`` 是执行之前的读者版（存着构建时打印的文字）。"""
    stem = name.rsplit("/", 1)[-1]
    if not (EXECUTED / "book" / f"{stem}.glue.json").exists():
        return []
    fresh = result["glued"]
    built = glued_text(stem)
    # 打印出来的文字也一样：没有固定种子的随机数会在这里露出来
    stored = [
        "".join(o["text"] for o in c.outputs if o.output_type == "stream")
        for c in reader.cells
        if c.cell_type == "code"
    ]
    differences = [
        f"{stem} 第 {i} 个代码单元格打印的文字不同：\n"
        f"构建 {was[:300]!r}\n重新执行 {now[:300]!r}"
        for i, (was, now) in enumerate(
            zip(stored, result["printed"], strict=True)
        )
        if was != now
    ]
    if fresh.keys() != built.keys():
        return [*differences, f"{stem}: glue 的名字不同"]
    return differences + [
        f"{stem}.{key}: 构建 {built[key]}，重新执行 {fresh[key]}"
        for key in built
        if not same_number(fresh[key], built[key])
    ]


def run_in_jupyterlab_too(request) -> tuple[str, ...]:
    """这次测试运行里，JupyterLab 的测试也会“运行全部”的章节：它们的数字由
    那个测试逐项对照（同一个 Binder 环境、全新的内核），这里不必再执行一遍。
    那个测试没被选中、或者没有 Chromium 而跳过时，这里照样执行它们。"""
    lab = "test_reader_notebooks_open_unchanged_and_run_in_jupyterlab"
    selected = any(item.name == lab for item in request.session.items)
    return LAB_CHAPTERS if selected and CHROMIUM is not None else ()


def test_binder_environment_runs_every_chapter_to_the_same_numbers(
    binder_env, tmp_path, request
):
    """Binder 打开的读者版笔记本（解答与只为网页记数字的单元格也在其中），
    在那个环境里从头执行（每核同时执行一章），每个 glue 的值都与构建时的
    逐位相同，每个单元格打印的文字也与读者版里存的相同：换一个全新环境
    重新执行，书里的数字可复现、不是旧缓存，读者运行得到的就是页面上的。
    JupyterLab 的测试里“运行全部”的章节在那里对照（run_in_jupyterlab_too）。"""
    runner = tmp_path / "run_chapter.py"
    runner.write_text(RUNNER, "utf-8")
    book = binder_env.tree / "book"

    def run(name: str) -> subprocess.CompletedProcess:
        notebook = binder_env.tree / f"{name}.ipynb"
        return subprocess.run(
            [binder_env.python, str(runner), str(notebook), str(book)],
            capture_output=True,
            text=True,
            env=binder_env.environ(),
            timeout=1200,
        )

    # 每核一章，预算长的先开始
    budgets = chapter_budgets()
    elsewhere = run_in_jupyterlab_too(request)
    names = sorted(
        (name for name in chapter_pages() if name not in elsewhere),
        key=lambda name: -budgets.get(name.rsplit("/", 1)[-1], 0),
    )
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        finished = dict(zip(names, pool.map(run, names), strict=True))
    differences = []
    for name, done in finished.items():
        assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
        result = json.loads(done.stdout.splitlines()[-1])
        reader = nbformat.read(binder_env.tree / f"{name}.ipynb", as_version=4)
        differences += differences_from_build(name, result, reader)
    assert differences == [], "重新执行得到的结果不同：\n" + "\n".join(
        differences
    )


# ---------- 真正的 JupyterLab ----------

# 在 JupyterLab 里打开、运行的两章：一章有故意的报错（raises-exception），
# 一章有滑块图与带代码的解答（重新运行后 JupyterLab 显示新生成的滑块图，
# 控制台不能有错误）。“运行全部”得到的数字与打印的文字也在这里与构建对照，
# 上面从头执行的测试就不再执行这两章（见 run_in_jupyterlab_too）
LAB_CHAPTERS = ("book/tensors", "book/spiral")
ALL_RUN = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const kernel = w.sessionContext.session.kernel;
  return kernel.status === "idle" && w.content.widgets.every(
    c => c.model.type !== "code" || (c.model.executionCount !== null
      && !c.promptNode.textContent.includes("*")));
}"""
# “运行全部”之后笔记本里的结果，与 RUNNER 打印的相同：glue 的值（文本）与
# 每个代码单元格打印的文字
LAB_RESULTS = """() => {
  const text = t => Array.isArray(t) ? t.join("") : t;
  const glued = {}, printed = [];
  for (const c of window.jupyterapp.shell.currentWidget.content.widgets) {
    if (c.model.type !== "code") continue;
    const outputs = c.model.outputs.toJSON();
    printed.push(outputs.filter(o => o.output_type === "stream")
      .map(o => text(o.text)).join(""));
    for (const o of outputs) {
      const record = o.metadata && o.metadata.scrapbook;
      if (!record) continue;
      const key = Object.keys(o.data).find(k => k.endsWith("text/plain"));
      glued[record.name] = text(o.data[key]);
    }
  }
  return {glued, printed};
}"""
CELL_RESULTS = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(c => c.model.type === "code")
  .map(c => ({
    id: c.model.id,
    tags: c.model.getMetadata("tags") || [],
    errors: c.model.outputs.toJSON()
      .filter(o => o.output_type === "error").map(o => o.ename),
  }))"""


def launch_urlpath(site: Path, name: str) -> str:
    """网页上 Binder 按钮的 ``urlpath``，如 ``lab/tree/book/x.ipynb``。"""
    soup = BeautifulSoup(
        (site / f"{name}.html").read_text("utf-8"), "html.parser"
    )
    href = next(
        a["href"]
        for a in soup.find_all("a", href=True)
        if "mybinder.org" in a["href"]
    )
    return parse_qs(urlparse(href).query)["urlpath"][0]


def check_slider_keys(page) -> None:
    """读者版受信任，滑块的脚本运行了；方向键移动滑块，不会被 JupyterLab
    拿去切换单元格。"""
    notebook = "window.jupyterapp.shell.currentWidget.content"
    index = page.evaluate(
        f"""() => {notebook}.widgets.findIndex(c =>
          JSON.stringify(c.model.toJSON()).includes("dlbook-slider"))"""
    )
    assert index >= 0
    # JupyterLab 只渲染看得见的单元格：先滚到那里
    page.evaluate(f"() => {notebook}.scrollToItem({index}, 'center')")
    control = page.locator(".dlbook-slider input[type=range]").first
    control.wait_for(state="visible", timeout=30_000)
    assert control.is_enabled()
    control.focus()
    active = (
        "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex"
    )
    cell = page.evaluate(active)
    value = int(control.input_value())
    page.keyboard.press("ArrowLeft")
    assert int(control.input_value()) == value - 1
    assert page.evaluate(active) == cell


@pytest.mark.browser
def test_reader_notebooks_open_unchanged_and_run_in_jupyterlab(
    binder_env, built_site
):
    """像读者点了网页上的 Binder 按钮：在 Binder 环境的 JupyterLab 里按按钮的
    ``urlpath`` 打开读者版，打开时就看得到输出、滑块能拖（postBuild 信任了
    读者版），没改过的笔记本不显示为已修改、保存后一字节不变；“运行全部”
    之后只有故意的报错，控制台没有错误，每个 glue 的值与打印的文字都与构建
    时的相同（与上面从头执行的测试同样对照）。"""
    if CHROMIUM is None:
        _skip_or_fail("需要 chromium（apt-get install chromium）")
    from playwright.sync_api import sync_playwright

    log_path = binder_env.root / "lab.log"
    with log_path.open("w") as log:
        server, url = binder_local.start_lab(binder_env, log=log)
    messages, differences = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
            for name in LAB_CHAPTERS:
                # 像新来的读者：没有上次打开的标签页
                for saved in binder_env.home.rglob("workspaces"):
                    shutil.rmtree(saved)
                path = binder_env.tree / f"{name}.ipynb"
                before = path.read_bytes()
                page = browser.new_page(
                    viewport={"width": 1200, "height": 900}
                )
                page.on(
                    "console",
                    lambda m: (
                        m.type in ("error", "warning")
                        and messages.append(f"{m.type}: {m.text}")
                    ),
                )
                page.on("pageerror", lambda e: messages.append(str(e)))
                start = time.perf_counter()
                page.goto(f"{url}/{launch_urlpath(built_site, name)}")
                page.wait_for_selector(
                    ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell",
                    timeout=120_000,
                )
                first_cell = time.perf_counter() - start
                print(f"{name}：{first_cell:.1f} s 后显示出第一个单元格")
                page.wait_for_function(
                    binder_local.KERNEL_IDLE, timeout=120_000
                )
                widget = "window.jupyterapp.shell.currentWidget"
                assert page.evaluate(f"() => {widget}.context.path") == (
                    f"{name}.ipynb"
                )
                # 打开就有构建时的输出（内核可能先就绪，输出随后才画出来）
                page.locator(".jp-OutputArea-output img").first.wait_for(
                    state="attached", timeout=30_000
                )
                if name == "book/spiral":
                    check_slider_keys(page)
                # 不弹出“要不要接收 Jupyter 新闻”的提示框（lab_settings.py）
                assert page.get_by_text("official Jupyter news").count() == 0
                dirty = page.evaluate(f"() => {widget}.context.model.dirty")
                assert dirty is False, f"{name}：没改过就显示为已修改"
                page.evaluate(
                    "() => window.jupyterapp.commands.execute("
                    "'docmanager:save')"
                )
                page.wait_for_function(
                    f"() => !{widget}.context.model.dirty", timeout=30_000
                )
                time.sleep(1)
                assert path.read_bytes() == before, f"{name}：保存后改变了"
                page.evaluate(
                    "() => window.jupyterapp.commands.execute("
                    "'notebook:run-all-cells')"
                )
                page.wait_for_function(ALL_RUN, timeout=600_000, polling=500)
                for cell in page.evaluate(CELL_RESULTS):
                    if "raises-exception" in cell["tags"]:
                        assert cell["errors"], f"{cell['id']} 应当报错"
                    else:
                        assert cell["errors"] == [], cell
                # 读者在 JupyterLab 里运行得到的就是网页上的数字（这两章
                # 不在上面从头执行的测试里再执行一遍）
                # 与打开之前的文件比（JupyterLab 自动保存会改写它）
                reader = nbformat.reads(before.decode("utf-8"), as_version=4)
                differences += differences_from_build(
                    name, page.evaluate(LAB_RESULTS), reader
                )
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert differences == [], "运行全部得到的结果不同：\n" + "\n".join(
        differences
    )
    assert not [m for m in messages if "not found" in m.lower()], messages
    assert messages == [], messages
