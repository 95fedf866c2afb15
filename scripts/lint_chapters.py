"""用与 dlbasics 相同的 ruff 设置检查（或整理）各章的代码单元格。

每章的代码单元格按顺序放进一个临时的 .ipynb（ruff 认识笔记本：逐格处理
IPython 魔法命令，单元格开头的 import 不算 E402），在上面运行 ruff。

    python scripts/lint_chapters.py          # 只检查：有问题时退出码非 0
    python scripts/lint_chapters.py --fix    # 格式化并自动修复，写回 book/*.md

单元格的选项（``:tags:`` 行或 ``---`` 包围的 YAML 头）原样保留。
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```$", re.S | re.M)


@dataclass
class Cell:
    start: int  # 代码在 .md 文本中的起止位置
    end: int
    code: str


def code_cells(text: str) -> list[Cell]:
    """一章中全部代码单元格的代码（去掉选项行与 YAML 头）。"""
    cells = []
    for match in CELL.finditer(text):
        body, offset = match.group(1), match.start(1)
        header = re.match(r"---\n.*?\n---\n|(?::[\w-]+:[^\n]*\n)+", body, re.S)
        skip = header.end() if header else 0
        if body[skip:].startswith("\n"):
            skip += 1  # 选项与代码之间的空行
        cells.append(Cell(offset + skip, match.end(1), body[skip:]))
    return cells


def notebook(cells: list[Cell]) -> dict:
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": cell.code.rstrip("\n"),
            }
            for i, cell in enumerate(cells)
        ],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def ruff(*args: str) -> subprocess.CompletedProcess:
    config = ROOT / "pyproject.toml"
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--config", str(config)],
        capture_output=True,
        text=True,
    )


def lint(chapters: list[Path], fix: bool) -> int:
    """检查（或整理）这些章节；返回出问题的章节数。"""
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for chapter in chapters:
            text = chapter.read_text("utf-8")
            cells = code_cells(text)
            if not cells:
                continue
            nb_path = Path(tmp) / f"{chapter.stem}.ipynb"
            nb_path.write_text(json.dumps(notebook(cells)), "utf-8")
            if fix:
                ruff("check", "--fix", "-q", str(nb_path))
                ruff("format", "-q", str(nb_path))
                fixed = json.loads(nb_path.read_text("utf-8"))["cells"]
                for cell, new in zip(
                    reversed(cells), reversed(fixed), strict=True
                ):
                    source = "".join(new["source"]).rstrip("\n") + "\n"
                    text = text[: cell.start] + source + text[cell.end :]
                chapter.write_text(text, "utf-8")
            problems = [
                r.stdout + r.stderr
                for r in (
                    ruff("check", "-q", str(nb_path)),
                    ruff("format", "--check", "-q", str(nb_path)),
                )
                if r.returncode != 0
            ]
            if problems:
                failures += 1
                report = "\n".join(problems).replace(str(nb_path), "")
                print(f"== {chapter.relative_to(ROOT)} ==\n{report}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="格式化并写回")
    parser.add_argument("chapters", nargs="*", type=Path)
    args = parser.parse_args()
    chapters = args.chapters or sorted((ROOT / "book").glob("*.md"))
    sys.exit(1 if lint([p.resolve() for p in chapters], args.fix) else 0)


if __name__ == "__main__":
    main()
