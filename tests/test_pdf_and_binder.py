"""较慢的发布检查：整本书的 PDF；按 Binder 的依赖新建的环境能运行每一章。"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXECUTED, ROOT, chapter_pages, glued_text

pytestmark = pytest.mark.slow


def _skip_or_fail(reason: str):
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def test_pdf_has_every_chapter_with_typeset_math(built_site):
    if shutil.which("chromium") is None:
        _skip_or_fail("需要 chromium")
    fonts = subprocess.run(
        ["fc-list", ":lang=zh"], capture_output=True, text=True
    )
    if not fonts.stdout.strip():
        _skip_or_fail("需要中文字体 fonts-noto-cjk")
    result = subprocess.run(
        [sys.executable, "scripts/build_pdf.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (
        result.stdout[-2000:] + result.stderr[-2000:]
    )
    typeset = int(re.search(r"排版后的公式数： (\d+)", result.stdout).group(1))
    assert typeset > 200
    pdf = (built_site / "deep-learning-basics.pdf").read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages > 5 * len(chapter_pages())
    index = (built_site / "book/index.html").read_text("utf-8")
    assert 'href="../deep-learning-basics.pdf"' in index  # 生成后才有链接


RUNNER = r"""
import json, sys, jupytext, nbclient
path, workdir = sys.argv[1], sys.argv[2]
nb = jupytext.read(path)
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                        resources={"metadata": {"path": workdir}}).execute()
glued = {  # display=False 的 glue：键带 application/papermill.record/ 前缀
    out["metadata"]["scrapbook"]["name"]: next(
        v for k, v in out["data"].items() if k.endswith("text/plain"))
    for cell in nb.cells if cell.cell_type == "code"
    for out in cell.get("outputs", [])
    if "scrapbook" in out.get("metadata", {})
}
print(json.dumps(glued))
"""


def binder_python() -> str:
    """Binder（repo2docker）会用的 Python：读 binder/runtime.txt。"""
    runtime = (ROOT / "binder/runtime.txt").read_text("utf-8").strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"binder/runtime.txt 应形如 python-3.11，收到 {runtime!r}"
    version = match.group(1)
    python = shutil.which(f"python{version}")
    if python is None:
        _skip_or_fail(f"需要 Python {version}（与 Binder 相同）")
    return python


def test_binder_python_satisfies_every_pin():
    """Binder 的 Python 版本满足每个钉死的包的 Requires-Python。"""
    from importlib.metadata import metadata

    from packaging.specifiers import SpecifierSet

    runtime = (ROOT / "binder/runtime.txt").read_text("utf-8").strip()
    version = runtime.removeprefix("python-")
    project = (ROOT / "pyproject.toml").read_text("utf-8")
    assert f'requires-python = ">={version}"' in project
    assert f'target-version = "py{version.replace(".", "")}"' in project
    for package in ("numpy", "matplotlib", "scikit-learn", "torch"):
        needs = metadata(package)["Requires-Python"]
        assert version in SpecifierSet(needs), f"{package} 需要 Python {needs}"


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


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory) -> tuple[str, dict]:
    """按 binder/ 的依赖与 postBuild、用 Binder 的 Python 版本新建的环境。

    返回 ``(python, env)``。PyTorch 的 CPU 源在这里连不上，安装时去掉
    ``--`` 开头的那一行，版本要求不变。
    """
    tmp = tmp_path_factory.mktemp("binder")
    venv = tmp / "venv"
    subprocess.run([binder_python(), "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    lines = (ROOT / "binder/requirements.txt").read_text("utf-8").splitlines()
    requirements = [
        line.split("#")[0].strip()
        for line in lines
        if line.strip() and not line.lstrip().startswith(("#", "--"))
    ]
    pip = [python, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, *requirements], check=True, timeout=1200)
    # binder/postBuild 的两步：安装本书的包；让 JupyterLab 把 .md 当笔记本打开
    subprocess.run(
        [*pip, "--no-deps", "-e", str(ROOT)], check=True, timeout=600
    )
    env = {**os.environ, "HOME": str(tmp / "home")}
    viewer = [str(venv / "bin" / "jupytext-config"), "set-default-viewer"]
    subprocess.run([*viewer, "markdown", "myst"], check=True, env=env)
    return python, env


def test_binder_opens_markdown_chapters_as_notebooks(binder_env):
    _, env = binder_env
    overrides = Path(env["HOME"]) / ".jupyter/labconfig"
    settings = json.loads(
        (overrides / "default_setting_overrides.json").read_text()
    )
    plugin = settings["@jupyterlab/docmanager-extension:plugin"]
    assert plugin["defaultViewers"]["markdown"] == "Jupytext Notebook"


def test_binder_environment_runs_every_chapter_to_the_same_numbers(
    binder_env, built_site, tmp_path
):
    """jupytext 打开、nbclient 执行每章（各章同时执行）；每个 glue 的值都与
    构建时的逐位相同：换一个全新环境重新执行，书里的数字可复现、不是旧缓存。
    """
    python, env = binder_env
    runner = tmp_path / "run_chapter.py"
    runner.write_text(RUNNER, "utf-8")
    running = {
        name: subprocess.Popen(
            [
                python,
                str(runner),
                str(ROOT / f"{name}.md"),
                str(ROOT / "book"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in chapter_pages()
    }
    # 先等所有进程结束、关闭管道，再逐章断言（提前失败会把管道留给垃圾回收）
    finished = {}
    for name, process in running.items():
        try:
            finished[name] = process.communicate(timeout=1200)
        except subprocess.TimeoutExpired:
            process.kill()
            finished[name] = process.communicate()
    differences = []
    for name, (stdout, stderr) in finished.items():
        assert running[name].returncode == 0, f"{name}: {stderr[-3000:]}"
        stem = name.rsplit("/", 1)[-1]
        if not (EXECUTED / "book" / f"{stem}.glue.json").exists():
            continue
        fresh, built = json.loads(stdout.splitlines()[-1]), glued_text(stem)
        assert fresh.keys() == built.keys(), name
        differences += [
            f"{stem}.{key}: 构建 {built[key]}，重新执行 {fresh[key]}"
            for key in built
            if not same_number(fresh[key], built[key])
        ]
    assert differences == [], "重新执行得到的数字不同：\n" + "\n".join(
        differences
    )
