"""测试的公共设置：单线程 torch（与书中一致）、Agg 后端、构建好的网站。"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
BUILD_CMD = ["build", ".", "-n", "-W", "--keep-going"]


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    # 书中各章都用单线程执行；同样设置才能逐位复现书里的数字
    torch.set_num_threads(1)


def bad_input(match: str):
    """期望参数检查失败（ValueError 或 TypeError），信息里有 ``match``。"""
    return pytest.raises((ValueError, TypeError), match=match)


def jupyter_book() -> str:
    exe = Path(sys.executable).with_name("jupyter-book")
    return (
        str(exe)
        if exe.exists()
        else shutil.which("jupyter-book") or "jupyter-book"
    )


def run_build(root: Path, *extra: str, env: dict | None = None):
    """在 ``root`` 运行 README 里的构建命令，返回 CompletedProcess。"""
    return subprocess.run(
        [jupyter_book(), *BUILD_CMD, *extra],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=1800,
    )


@pytest.fixture(scope="session")
def built_site() -> Path:
    """用 README 的构建命令构建全书。

    加 ``--all`` 重新读取所有页面，警告不会被增量构建藏起来。

    执行结果取自按代码内容分目录的缓存，所以只有代码变了才会重新执行章节。
    设置环境变量 DLBOOK_USE_EXISTING_BUILD=1 可直接使用已有的 _build/html。
    """
    if os.environ.get("DLBOOK_USE_EXISTING_BUILD") == "1" and SITE.is_dir():
        return SITE
    result = run_build(ROOT, "--all")
    if result.returncode != 0:
        reports = (
            sorted((SITE / "reports").rglob("*.log")) if SITE.exists() else []
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
    return SITE
