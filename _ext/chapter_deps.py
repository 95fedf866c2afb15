"""一章的执行结果依赖哪些文件：它导入的 ``code/`` 下的模块（逐层追到底）、
这些包随带的数据文件（如字体），以及依赖清单。

执行缓存的键由这些文件的内容算出（见 ``exec_cache.py``）：改了一个模块，
只有导入了它（直接或间接）的章节重新执行。
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
import tomllib
from pathlib import Path

CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```$", re.S | re.M)
# 与代码无关、却能改变结果的文件：依赖清单
REQUIREMENT_FILES = ("requirements.txt", "requirements-torch.txt")
NOT_DATA = (".py", ".pyc")


def chapter_code(text: str) -> str:
    """一章全部代码单元格的代码（去掉选项行；IPython 魔法命令换成 pass）。"""
    cells = []
    for match in CODE_CELL.finditer(text):
        body = re.sub(r"\A---\n.*?\n---\n", "", match.group(1), flags=re.S)
        lines = [
            "pass" if line.lstrip().startswith(("%", "!")) else line
            for line in body.splitlines()
            if not re.match(r"^:[\w-]+:", line)
        ]
        cells.append("\n".join(lines))
    return "\n\n".join(cells)


@functools.lru_cache(maxsize=512)
def _read(path: Path, stamp: tuple[int, int]) -> bytes:
    """文件内容；``stamp``（修改时间与大小）变了就重新读。"""
    return path.read_bytes()


def read_bytes(path: Path) -> bytes:
    stat = path.stat()
    return _read(path, (stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=512)
def _imported_names(source: str, package: str | None) -> frozenset[str]:
    """源码里导入的模块的全名（``from a import b`` 记 a 与 a.b）。"""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return frozenset()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and package:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(name for name in names if name)


def _module_file(code_dir: Path, name: str) -> Path | None:
    path = code_dir.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_files(code_dir: Path, source: str) -> list[Path]:
    """``source`` 直接或间接导入的、位于 ``code_dir`` 下的全部模块文件。

    导入 ``a.b`` 也会执行 ``a/__init__.py``，所以它也算在内。
    """
    found: dict[Path, None] = {}
    queue = [(source, None)]
    while queue:
        text, package = queue.pop()
        for name in sorted(_imported_names(text, package)):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                path = _module_file(code_dir, prefix)
                if path is None or path in found:
                    continue
                found[path] = None
                own_package = (
                    prefix
                    if path.name == "__init__.py"
                    else prefix.rpartition(".")[0]
                )
                source = read_bytes(path).decode("utf-8")
                queue.append((source, own_package or None))
    return sorted(found)


def data_files(code_dir: Path, modules: list[Path]) -> list[Path]:
    """这些模块所在的顶层包随带的非代码文件（字体、数据）。"""
    packages = {
        code_dir / m.relative_to(code_dir).parts[0]
        for m in modules
        if len(m.relative_to(code_dir).parts) > 1
    }
    files = []
    for package in sorted(packages):
        files += [
            p
            for p in package.rglob("*")
            if p.is_file()
            and p.suffix not in NOT_DATA
            and "__pycache__" not in p.parts
            and not any(part.endswith(".egg-info") for part in p.parts)
        ]
    return sorted(files)


def project_dependencies(root: Path) -> bytes:
    """pyproject.toml 里影响安装结果的部分（[project] 表），其余设置不算。"""
    path = root / "pyproject.toml"
    if not path.is_file():
        return b""
    project = tomllib.loads(path.read_text("utf-8")).get("project", {})
    return json.dumps(project, sort_keys=True, ensure_ascii=False).encode()


def chapter_files(root: Path, chapter: Path) -> list[Path]:
    """一章的执行依赖的文件（不含 pyproject，它另算）。"""
    code_dir = root / "code"
    source = chapter_code(chapter.read_text("utf-8"))
    modules = module_files(code_dir, source) if code_dir.is_dir() else []
    requirements = [
        root / f for f in REQUIREMENT_FILES if (root / f).is_file()
    ]
    return [*modules, *data_files(code_dir, modules), *requirements]


def chapter_digest(root: Path, chapter: Path) -> str:
    """一章依赖的文件（路径与内容）与 [project] 表的 SHA-256 摘要前 16 位。"""
    digest = hashlib.sha256()
    for path in chapter_files(root, chapter):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(read_bytes(path) + b"\0")
    digest.update(project_dependencies(root))
    return digest.hexdigest()[:16]
