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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import (
    EXECUTED,
    ROOT,
    chapter_budgets,
    chapter_pages,
    glued_text,
)

pytestmark = pytest.mark.slow


def _skip_or_fail(reason: str):
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


PDF_HREF = 'href="../deep-learning-basics.pdf"'


def test_pdf_has_every_chapter_with_typeset_math(built_site):
    """README 的构建命令不生成 PDF：首页只说明怎样生成，不放死链接；
    scripts/build_pdf.py 生成 PDF 之后，首页才换上下载链接。

    首页只有这个测试会改写，所以“构建后的首页”也在这里检查（测试并行运行，
    放在别的测试里会与改写争先后）。
    """
    index_page = built_site / "book/index.html"
    before = index_page.read_text("utf-8")
    if PDF_HREF not in before:  # 之前没有生成过 PDF（CI 的全新检出总是如此）
        assert "scripts/build_pdf.py" in before
        assert 'class="pdf-download"' in before
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
    assert PDF_HREF in index_page.read_text("utf-8")  # 生成后才有链接


RUNNER = r"""
import json, sys, jupytext, nbclient
path, workdir = sys.argv[1], sys.argv[2]
for attempt in range(3):  # 几个内核同时启动可能抢到同一个端口：重试
    nb = jupytext.read(path)
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


@pytest.fixture
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
    # --no-compile：不预先把几千个 .py 编译成 .pyc（安装快一倍）；
    # 章节用到的模块在第一次导入时照样编译，数字不受影响
    pip = [python, "-m", "pip", "install", "-q", "--no-compile"]
    subprocess.run([*pip, *requirements], check=True, timeout=1200)
    # binder/postBuild 的两步：安装本书的包；让 JupyterLab 把 .md 当笔记本打开
    subprocess.run(
        [*pip, "--no-deps", "-e", str(ROOT)], check=True, timeout=600
    )
    env = {**os.environ, "HOME": str(tmp / "home")}
    viewer = [str(venv / "bin" / "jupytext-config"), "set-default-viewer"]
    subprocess.run([*viewer, "markdown", "myst"], check=True, env=env)
    # 章节要导入的包先导入一次，由一个进程把它们编译成 .pyc
    warm = "import dlbasics, ipykernel, jupytext, matplotlib.pyplot, "
    warm += "myst_nb, nbclient, sklearn, torch"
    subprocess.run([python, "-c", warm], check=True, env=env, timeout=600)
    return python, env


def test_binder_environment_runs_every_chapter_to_the_same_numbers(
    binder_env, built_site, tmp_path
):
    """postBuild 让 JupyterLab 把 .md 当作笔记本打开；jupytext 打开、nbclient
    执行每章（每核同时执行一章），每个 glue 的值都与构建时的逐位相同：换一个
    全新环境重新执行，书里的数字可复现、不是旧缓存。
    """
    python, env = binder_env
    # postBuild 让 JupyterLab 把 .md 当作笔记本打开
    overrides = Path(env["HOME"]) / ".jupyter/labconfig"
    settings = json.loads(
        (overrides / "default_setting_overrides.json").read_text()
    )
    plugin = settings["@jupyterlab/docmanager-extension:plugin"]
    assert plugin["defaultViewers"]["markdown"] == "Jupytext Notebook"

    runner = tmp_path / "run_chapter.py"
    runner.write_text(RUNNER, "utf-8")

    def run(name: str) -> subprocess.CompletedProcess:
        chapter = str(ROOT / f"{name}.md")
        return subprocess.run(
            [python, str(runner), chapter, str(ROOT / "book")],
            capture_output=True,
            text=True,
            env=env,
            timeout=1200,
        )

    # 每核一章，预算长的先开始
    budgets = chapter_budgets()
    names = sorted(
        chapter_pages(),
        key=lambda name: -budgets.get(name.rsplit("/", 1)[-1], 0),
    )
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        finished = dict(zip(names, pool.map(run, names), strict=True))
    differences = []
    for name, done in finished.items():
        assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
        stem = name.rsplit("/", 1)[-1]
        if not (EXECUTED / "book" / f"{stem}.glue.json").exists():
            continue
        fresh = json.loads(done.stdout.splitlines()[-1])
        built = glued_text(stem)
        assert fresh.keys() == built.keys(), name
        differences += [
            f"{stem}.{key}: 构建 {built[key]}，重新执行 {fresh[key]}"
            for key in built
            if not same_number(fresh[key], built[key])
        ]
    assert differences == [], "重新执行得到的数字不同：\n" + "\n".join(
        differences
    )
