"""构建与页面的基准测试：在当前机器上测量，写出 JSON 与 Markdown 表格。

用法（在仓库根目录，先按 README 建好 .venv）::

    .venv/bin/python benchmarks/build.py

在临时目录里复制一份仓库（只含 git 跟踪的文件），依次测量：

- 下限：每章用 jupytext 转成 Python 脚本后直接运行的时间之和；
- 全新构建（没有 _build）的时间及其与下限之比；
- 只改一章正文后的重新构建（不应重新执行任何章节）：用 README 的构建命令，
  以及用 ``scripts/preview.py`` 的常驻进程（连改五次，报告中位数与最大值）；
- 只改一章自己的模块（``dlbasics/<章>.py``）后的重新构建（只重新执行这一章）；
- 改各章共用的模块（``dlbasics/utils.py``）后的重新构建（所有章节重新执行）；
- 每章的执行时间（取自执行缓存）；
- 每个页面自身的重量（HTML 与只属于它的图片等）、各页共用资源的大小、
  整个网站的大小。

结果写到 benchmarks/results/build.json 与 build.md。它只测量、只报告，
不是测试；目标见 README 的“性能”一节。
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bookfacts import build_args, chapter_budgets, chapter_pages  # noqa: E402

OUT = ROOT / "benchmarks" / "results"


def copy_repo(target: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in files:
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest)


def timed(
    cmd: list[str], cwd: Path, env: dict | None = None
) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} 失败：\n{result.stderr[-2000:]}")
    return elapsed, result.stdout


def chapter_stems(repo: Path) -> list[str]:
    return [name.split("/")[-1] for name in chapter_pages(repo)]


def floor_times(repo: Path, stems: list[str]) -> dict[str, float]:
    """每章的代码单元格作为一个普通脚本运行的时间。

    用 jupytext 读出代码单元格；标了 raises-exception 的单元格放进 try 里运行。
    """
    import jupytext

    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(repo / "code")}
    times = {}
    for stem in stems:
        notebook = jupytext.read(repo / "book" / f"{stem}.md")
        cells = []
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            code_lines = [
                line
                for line in cell.source.splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            ]
            if code_lines and all(
                ln.lstrip().startswith("%") for ln in code_lines
            ):
                continue  # IPython 魔法命令（如 %xmode）只影响显示，脚本里跳过
            if "raises-exception" in cell.metadata.get("tags", []):
                # 有意的报错：照常运行（后面可能用到它定义的变量），吞掉异常
                body = textwrap.indent(cell.source, "    ")
                cells.append(f"try:\n{body}\nexcept Exception:\n    pass")
            else:
                cells.append(cell.source)
        script = repo / "book" / f"_bench_{stem}.py"
        code = "\n\n".join(cells).replace("plt.show()", "plt.close('all')")
        script.write_text(code, "utf-8")
        times[stem], _ = timed(
            [sys.executable, script.name], repo / "book", env
        )
        script.unlink()
    return times


def build(repo: Path) -> tuple[float, str]:
    jb = Path(sys.executable).with_name("jupyter-book")
    return timed([str(jb), *build_args(repo)], repo)


PREVIEW_PROBE = """
import sys
from pathlib import Path
sys.path.insert(0, "scripts")
import preview
preview.build()
preview.warm_up()
page = Path("book/{stem}.md")
text = page.read_text("utf-8")
times = []
for i in range(5):
    page.write_text(text + f"\\n（基准测试改动 {{i}}。）\\n", "utf-8")
    ok, seconds = preview.build()
    assert ok, "preview 构建失败"
    times.append(seconds)
page.write_text(text, "utf-8")
preview.build()
print("PREVIEW", sorted(times)[2], max(times))
"""


def preview_rebuild(repo: Path, stem: str) -> tuple[float, float]:
    """preview.py 的常驻进程里连改五次正文：重新构建秒数的中位数与最大值。"""
    probe = PREVIEW_PROBE.format(stem=stem)
    _, log = timed([sys.executable, "-c", probe], repo)
    median, worst = re.search(r"PREVIEW ([\d.]+) ([\d.]+)", log).groups()
    return float(median), float(worst)


def executed(log: str) -> list[str]:
    """日志里这次执行了的章节（逐章执行与并行执行的两种记录）。"""
    pattern = r"book/(\w+)\.md: Execut(?:ed notebook|ing notebook in parallel)"
    return sorted(set(re.findall(pattern, log)))


def page_resources(site: Path, name: str) -> set[Path]:
    """打开页面时浏览器加载的本站文件：``<script src>``、``<img src>``、
    样式表与图标的 ``<link href>``。下载链接（.md、.ipynb、PDF）不算。"""
    from bs4 import BeautifulSoup

    page = site / "book" / f"{name}.html"
    soup = BeautifulSoup(page.read_text("utf-8"), "html.parser")
    refs = {tag.get("src") for tag in soup.find_all(["script", "img"])}
    refs |= {
        link.get("href")
        for link in soup.find_all("link")
        if {"stylesheet", "icon"} & set(link.get("rel") or [])
    }
    files = {page}
    for ref in refs - {None}:
        if not ref.startswith(("http", "data:")):
            target = (page.parent / ref.split("?")[0]).resolve()
            if target.is_file():
                files.add(target)
    return files


def page_weights(site: Path, stems: list[str]) -> tuple[dict[str, int], int]:
    """每页自己的重量（HTML、图片等只属于这一页的文件）与各章共用的资源大小。

    共用资源（主题脚本、样式、MathJax）浏览器只下载一次，单独报告；首页没有
    公式，不加载 MathJax，所以共用资源按各章算。浏览器实际下载多少（压缩后、
    按需下载的滑块帧不算）见 ``benchmarks/page_weight.py``。
    """
    resources = {
        name: page_resources(site, name) for name in ["index", *stems]
    }
    shared = set.intersection(*(resources[stem] for stem in stems))
    own = {
        name: sum(f.stat().st_size for f in files - shared)
        for name, files in resources.items()
    }
    return own, sum(f.stat().st_size for f in shared)


def site_size(site: Path) -> int:
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file())


def markdown(report: dict) -> str:
    lines = [
        f"测量于 {report['machine']}，{report['cpus']} 个 CPU 核。",
        "",
        "| 项目 | 数值 | 目标 |",
        "| --- | ---: | --- |",
        f"| 下限（各章脚本运行时间之和） | {report['floor_s']:.1f} s | |",
        f"| 全新构建 | {report['clean_build_s']:.1f} s | ≤ 0.75 × 下限 |",
        f"| 全新构建 / 下限 | {report['clean_over_floor']:.2f} | ≤ 0.75 |",
        f"| 改正文后重新构建（构建命令） | {report['prose_rebuild_s']:.1f} s "
        "| ≤ 2 s |",
        "| 改正文后重新构建（scripts/preview.py，中位数，最慢） | "
        f"{report['preview_rebuild_s']:.2f} s，"
        f"{report['preview_rebuild_max_s']:.2f} s | ≤ 2 s |",
        f"| 改正文时重新执行 | {len(report['prose_reexecuted'])} 章 | 0 章 |",
        f"| 改一章的模块后重新构建 | {report['module_rebuild_s']:.1f} s | |",
        "| 改一章的模块时重新执行 | "
        + ", ".join(report["module_reexecuted"])
        + f" | 只有 {report['module_chapter']} |",
        f"| 改共用模块后的重新构建 | {report['code_rebuild_s']:.1f} s | |",
        f"| 改共用模块时重新执行 | {len(report['code_reexecuted'])} 章 "
        "| 全部 |",
        f"| 整个网站 | {report['site_mb']:.1f} MB | |",
        f"| 共用资源 | {report['shared_assets_mb']:.2f} MB | 只下载一次 |",
        "",
        "| 章节 | 脚本运行 (s) | 预算 (s) | 页面自身重量 (MB，目标 ≤ 1.5) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for stem, seconds in report["floor_by_chapter"].items():
        weight = report["page_mb"][stem]
        budget = chapter_budgets().get(stem, "")
        lines.append(f"| {stem} | {seconds:.1f} | {budget} | {weight:.2f} |")
    lines.append(f"| index |  |  | {report['page_mb']['index']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "book"
        copy_repo(repo)
        stems = chapter_stems(repo)
        floor = floor_times(repo, stems)
        clean_s, _ = build(repo)
        chapter = repo / "book" / f"{stems[0]}.md"
        chapter.write_text(
            chapter.read_text("utf-8") + "\n（基准测试改动的一句正文。）\n"
        )
        prose_s, prose_log = build(repo)
        preview_s, preview_max_s = preview_rebuild(repo, stems[-1])
        own = repo / "code" / "dlbasics" / "conv.py"
        own.write_text(own.read_text("utf-8") + "\n# 基准测试改动的一行注释\n")
        module_s, module_log = build(repo)
        module = repo / "code" / "dlbasics" / "utils.py"
        module.write_text(
            module.read_text("utf-8") + "\n# 基准测试改动的一行注释\n"
        )
        code_s, code_log = build(repo)
        site = repo / "_build" / "html"
        weights, shared = page_weights(site, stems)
        report = {
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "floor_by_chapter": floor,
            "floor_s": sum(floor.values()),
            "clean_build_s": clean_s,
            "clean_over_floor": clean_s / sum(floor.values()),
            "prose_rebuild_s": prose_s,
            "prose_reexecuted": executed(prose_log),
            "preview_rebuild_s": preview_s,
            "preview_rebuild_max_s": preview_max_s,
            "module_chapter": "conv",
            "module_rebuild_s": module_s,
            "module_reexecuted": executed(module_log),
            "code_rebuild_s": code_s,
            "code_reexecuted": executed(code_log),
            "page_mb": {k: v / 1e6 for k, v in weights.items()},
            "shared_assets_mb": shared / 1e6,
            "site_mb": site_size(site) / 1e6,
        }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "build.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False)
    )
    (OUT / "build.md").write_text(markdown(report), "utf-8")
    print(markdown(report))


if __name__ == "__main__":
    main()
