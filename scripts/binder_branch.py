"""binder 分支的内容：各章的读者版笔记本，加上运行它们所需的最少文件。

网页上的 Binder 按钮打开 ``_config.yml`` 里 ``launch_buttons.binder_branch``
这个分支上的 ``book/<章>.ipynb``。发布网站的工作流在构建之后运行本脚本，
把结果推到那个分支（内容没变就不推，Binder 的镜像缓存得以沿用）。分支里有：

- ``book/<章>.ipynb``：构建生成的读者版（``_build/html/_sources/`` 下，
  与网页上的下载相同）；
- ``code/``、``pyproject.toml``、``LICENSE``：本书的代码包 ``dlbasics``
  （postBuild 安装它）；
- ``binder/``：Binder 的依赖清单、Python 版本与 postBuild；
- ``README.md``：说明这个分支是生成的、源文件在哪里。

用法（在仓库根目录，先构建全书）::

    .venv/bin/python scripts/binder_branch.py OUT     # 写到空目录 OUT
    .venv/bin/python scripts/binder_branch.py --name  # 打印分支名
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bookfacts import chapter_pages  # noqa: E402

BINDER_FILES = (
    "requirements.txt",
    "runtime.txt",
    "postBuild",
    "stamp_kernel.py",
)

README = """# 《深度学习基础》读者版笔记本

这个分支由发布网站的工作流自动生成，供网页上的 Binder 按钮使用，
请不要直接修改。

- `book/` 里是每一章的读者版笔记本：正文、数字、图和练习与网页相同，
  代码单元格带着构建时的输出；
- `code/` 是随书的代码包 `dlbasics`，`binder/` 是 Binder 的运行环境。

书的源文件（MyST Markdown）、代码与测试在 {branch} 分支：{url}
"""


def book_config(root: Path = ROOT) -> dict:
    import yaml

    return yaml.safe_load((root / "_config.yml").read_text("utf-8"))


def branch_name(root: Path = ROOT) -> str:
    """``_config.yml`` 的 ``launch_buttons.binder_branch``。"""
    launch = book_config(root).get("launch_buttons", {})
    name = launch.get("binder_branch")
    if not name:
        raise SystemExit("_config.yml 的 launch_buttons 里没有 binder_branch")
    return name


def package_files(root: Path) -> list[Path]:
    """``code/`` 里的文件：在 git 仓库里取受版本控制的那些。"""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "code"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if listed.returncode == 0 and listed.stdout:
        return [root / name for name in listed.stdout.split("\0") if name]
    return [
        path
        for path in sorted((root / "code").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]


def assemble(out: Path, root: Path = ROOT) -> list[str]:
    """把 binder 分支的内容写到 ``out``；返回写出的读者版笔记本。"""
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} 不是空目录")
    site = root / "_build" / "html" / "_sources"
    notebooks = []
    for page in chapter_pages(root):
        source = site / f"{page}.ipynb"
        if not source.is_file():
            raise SystemExit(f"没有 {source}：请先构建全书")
        target = out / f"{page}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        notebooks.append(f"{page}.ipynb")
    for path in package_files(root):
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    for name in ("pyproject.toml", "LICENSE"):
        shutil.copy(root / name, out / name)
    (out / "binder").mkdir()
    for name in BINDER_FILES:
        shutil.copy2(root / "binder" / name, out / "binder" / name)
    repository = book_config(root).get("repository", {})
    (out / "README.md").write_text(
        README.format(
            branch=repository.get("branch", "main"),
            url=repository.get("url", ""),
        ),
        "utf-8",
    )
    return notebooks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, help="输出目录")
    parser.add_argument("--name", action="store_true", help="只打印分支名")
    args = parser.parse_args()
    if args.name:
        print(branch_name())
        return
    if args.out is None:
        parser.error("需要输出目录 OUT（或 --name）")
    branch_name()  # 没有配置分支时直接报错
    notebooks = assemble(args.out)
    print(f"写出 {len(notebooks)} 章的读者版与运行环境到 {args.out}")


if __name__ == "__main__":
    main()
