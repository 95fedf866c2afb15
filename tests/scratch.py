"""在临时目录里用本书真实的配置搭一本只有一页的小书。

复制 _config.yml、_ext/、book/_static/ 与 book/_extra/，目录只有 book/index。

构建行为（缓存、报错、警告）的测试都在这样的小书上进行，几秒钟就能构建完。
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import ROOT, run_build

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

"""


class ScratchBook:
    """临时目录中的一页小书：``book/index.md`` 加可选的 ``code/`` 模块。"""

    def __init__(self, root: Path):
        self.root = root
        shutil.copytree(
            ROOT / "_ext",
            root / "_ext",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        shutil.copy(ROOT / "_config.yml", root / "_config.yml")
        for folder in (
            "book/_static",
            "book/_extra",
        ):  # _config.yml 引用的目录
            shutil.copytree(ROOT / folder, root / folder)
        shutil.copy(ROOT / "book/references.bib", root / "book/")
        (root / "_toc.yml").write_text(
            "format: jb-book\nroot: book/index\n", "utf-8"
        )

    def write_page(self, body: str, name: str = "index") -> None:
        """写一页；``name`` 不是 index 时把它加进目录。"""
        (self.root / f"book/{name}.md").write_text(HEADER + body, "utf-8")
        if name != "index":
            pages = sorted(p.stem for p in (self.root / "book").glob("*.md"))
            chapters = "".join(
                f"  - file: book/{p}\n" for p in pages if p != "index"
            )
            (self.root / "_toc.yml").write_text(
                f"format: jb-book\nroot: book/index\nchapters:\n{chapters}",
                "utf-8",
            )

    def write_module(self, name: str, source: str) -> None:
        path = self.root / "code" / name / "__init__.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, "utf-8")

    def build(self):
        """运行 README 的构建命令；页面可以导入小书 code/ 下的模块。"""
        return run_build(
            self.root, env={"PYTHONPATH": str(self.root / "code")}
        )

    def html(self, name: str = "index") -> str:
        return (self.root / f"_build/html/book/{name}.html").read_text("utf-8")
