"""代码风格：ruff 检查与格式（配置见 pyproject.toml）。"""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_ruff_check_is_clean():
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_chapter_code_cells_pass_the_same_ruff_settings():
    """各章的代码单元格（经 .ipynb）也通过 ruff check 与 ruff format。

    出问题时运行 ``python scripts/lint_chapters.py --fix`` 自动整理。
    """
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/lint_chapters.py")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
