"""本书几个事实的唯一出处，测试、基准脚本与 CI 都从这里读：

- 阅读顺序与可执行的章节：``_toc.yml``；
- 构建与测试两条命令：README 里 ``<!-- build-command -->`` 与
  ``<!-- test-command -->`` 之后的第一个 bash 代码块；
- 各章在 2 核 CPU 上的执行时间预算：``pyproject.toml`` 的
  ``[tool.dlbook.chapter-budgets]``。

只用标准库（读 _toc.yml 时才需要 PyYAML），全新机器上的
``python3 scripts/bookfacts.py command build-command`` 也能运行。
"""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_command(marker: str, root: Path = ROOT) -> str:
    """README 里 ``<!-- marker -->`` 之后第一个 bash 代码块的内容。"""
    text = (root / "README.md").read_text("utf-8")
    if f"<!-- {marker} -->" not in text:
        raise ValueError(f"README.md 里没有 <!-- {marker} --> 标记")
    after = text.split(f"<!-- {marker} -->", 1)[1]
    match = re.search(r"```bash\n(.*?)\n```", after, re.S)
    if match is None:
        raise ValueError(
            f"README.md 的 <!-- {marker} --> 之后没有 bash 代码块"
        )
    return match.group(1).strip()


def build_args(root: Path = ROOT) -> list[str]:
    """README 构建命令里 jupyter-book 的参数，如 ["build", ".", "-n", …]。"""
    for step in readme_command("build-command", root).split("&&"):
        words = shlex.split(step)
        if words and words[0].endswith("jupyter-book"):
            return words[1:]
    raise ValueError("README 的构建命令里没有 jupyter-book")


def toc_files(root: Path = ROOT) -> list[str]:
    """_toc.yml 列出的页面（如 book/spiral），按阅读顺序。"""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text("utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def chapter_pages(root: Path = ROOT) -> list[str]:
    """带 kernelspec 的页面（构建时执行的章节），按阅读顺序。"""
    return [
        name
        for name in toc_files(root)
        if "kernelspec:" in (root / f"{name}.md").read_text("utf-8")
    ]


def chapter_budgets(root: Path = ROOT) -> dict[str, float]:
    """各章执行时间预算（秒），键是章节文件名（如 spiral）。"""
    project = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    return dict(project["tool"]["dlbook"]["chapter-budgets"])


def main() -> None:
    usage = (
        "用法：python3 scripts/bookfacts.py command build-command|test-command"
    )
    if len(sys.argv) != 3 or sys.argv[1] != "command":
        sys.exit(usage)
    try:
        print(readme_command(sys.argv[2]))
    except ValueError as err:
        sys.exit(str(err))


if __name__ == "__main__":
    main()
