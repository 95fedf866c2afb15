"""打印 CHANGELOG.md 里某个版本的一节，作为 GitHub 发布页的说明。

用法（发布工作流 .github/workflows/release.yml 调用）::

    python scripts/changelog.py 0.1.0 > release-notes.md

找不到这个版本的一节时以失败退出：发布前必须先写好更新记录。
只用标准库，不需要先装本书的依赖。
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CHANGELOG = Path(__file__).resolve().parents[1] / "CHANGELOG.md"
HEADING = re.compile(r"^## (\d+\.\d+\.\d+)\b.*$", re.M)


def versions(text: str) -> list[str]:
    """更新记录里按出现顺序列出的版本号（最新的在前）。"""
    return HEADING.findall(text)


def section(text: str, version: str) -> str:
    """``version`` 这一节的正文（不含标题）；没有这一节时抛出 ValueError。"""
    matches = list(HEADING.finditer(text))
    for i, match in enumerate(matches):
        if match.group(1) == version:
            end = matches[i + 1].start() if i + 1 < len(matches) else None
            return text[match.end() : end].strip() + "\n"
    raise ValueError(
        f"CHANGELOG.md 里没有版本 {version} 的一节（已有：{versions(text)}）；"
        f"发布前先加上“## {version}”一节"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("用法：python scripts/changelog.py <版本号>", file=sys.stderr)
        return 2
    try:
        print(section(CHANGELOG.read_text("utf-8"), argv[0]), end="")
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
