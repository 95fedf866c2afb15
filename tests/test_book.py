"""全书的检查：书稿源文件（不需构建）与构建好的网站。"""

from __future__ import annotations

import ast
import importlib
import re
import textwrap
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import (
    EXECUTED,
    GLUE_ROLE,
    ROOT,
    built_page,
    chapter_budgets,
    chapter_pages,
    glued_values,
    search_index,
    toc_files,
)

CHAPTERS = sorted((ROOT / "book").glob("*.md"))


def visible_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return soup.get_text(" ")


# ---------- 书稿源文件 ----------


def test_every_toc_entry_has_a_source_file():
    for name in toc_files():
        assert (ROOT / f"{name}.md").is_file(), (
            f"_toc.yml 列出的 {name} 不存在"
        )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_literalincludes_point_at_real_objects(chapter):
    """每个 literalinclude 的文件都存在，:pyobject: 能在包里找到。"""
    text = chapter.read_text("utf-8")
    pattern = r"```\{literalinclude\} (\S+)\n((?::\S+:.*\n)*)"
    for path, options in re.findall(pattern, text):
        source = ROOT / path.lstrip("/")
        assert source.is_file(), f"{chapter.name}: 找不到 {path}"
        match = re.search(r":pyobject: (\S+)", options)
        if match and source.suffix == ".py" and "code" in source.parts:
            module = ".".join(
                source.relative_to(ROOT / "code").with_suffix("").parts
            )
            obj = importlib.import_module(module)
            for attr in match.group(1).split("."):
                obj = getattr(obj, attr)
            assert callable(obj)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_glued_key_is_defined_in_its_chapter(chapter):
    text = chapter.read_text("utf-8")
    used = {m.split(":")[0] for m in GLUE_ROLE.findall(text)}
    # glue("key") 或 glue(f"reg_{tag}_gap")：f 字符串里的 {...} 当作通配
    templates = re.findall(r"glue\(\s*f?\"([^\"]+)\"", text)
    patterns = [
        re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(s)) for s in templates
    ]
    undefined = sorted(
        k for k in used if not any(re.fullmatch(p, k) for p in patterns)
    )
    assert undefined == [], f"未定义的 glue 键：{undefined}"


# 第一周读者可以跳过的内容：关键词 -> 所在章节
OPTIONAL_TOPICS = {
    "李雅普诺夫": "activations",
    "正齐次": "activations",
    "黑塞矩阵": "optimizers",
    "Montúfar": "width_depth",
    "Hanin": "width_depth",
    "有效秩": "width_depth",
}


def section_titles(text: str) -> list[tuple[int, str]]:
    """(行号, 标题) 列表：Markdown 标题与带标题的 exercise。"""
    titles = []
    for number, line in enumerate(text.splitlines()):
        heading = re.match(r"#{2,4} (.+)", line)
        exercise = re.match(r"`{3,4}\{exercise\} (.+)", line)
        if heading or exercise:
            titles.append((number, (heading or exercise).group(1)))
    return titles


@pytest.mark.parametrize("keyword", sorted(OPTIONAL_TOPICS))
def test_advanced_material_sits_in_optional_sections(keyword):
    """选读内容用同一种方式标出：所在小节（或练习）的标题以“选读：”开头。"""
    text = (ROOT / f"book/{OPTIONAL_TOPICS[keyword]}.md").read_text("utf-8")
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if keyword in line)
    enclosing = [t for n, t in section_titles(text) if n <= first][-1]
    assert enclosing.startswith("选读："), (keyword, enclosing)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_optional_marker_has_one_form(chapter):
    for _, title in section_titles(chapter.read_text("utf-8")):
        if "选读" in title:
            assert title.startswith("选读："), title


def test_search_dictionary_holds_the_domain_terms():
    words = {
        line.split()[0]
        for line in (ROOT / "book/_static/jieba_userdict.txt")
        .read_text("utf-8")
        .splitlines()
        if line.strip()
    }
    assert {"反向传播", "梯度下降", "激活函数", "螺旋数据"} <= words


def test_every_chapter_has_a_budget_and_the_readme_states_them():
    budgets = chapter_budgets()
    stems = [name.removeprefix("book/") for name in chapter_pages()]
    assert sorted(budgets) == sorted(stems)
    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme.split("<!-- chapter-budgets -->")[1].split("<!-- /")[0]
    rows = re.findall(r"^\| (\w+)（[^）]+） \| (\d+) \|$", table, re.M)
    assert [stem for stem, _ in rows] == stems  # 按阅读顺序
    assert {stem: float(b) for stem, b in rows} == budgets


# ---------- 构建好的网站 ----------


@pytest.fixture(scope="module")
def site(built_site) -> Path:
    return built_site


def page_html(site: Path, name: str) -> str:
    return (site / f"{name}.html").read_text("utf-8")


def test_every_toc_page_is_built_without_execution_reports(site):
    for name in toc_files():
        assert (site / f"{name}.html").is_file(), f"{name}.html 没有生成"
    # 执行失败的章节会在 reports/ 下留下日志
    assert list(site.glob("reports/**/*.log")) == []


@pytest.mark.parametrize("name", toc_files())
def test_pages_are_chinese_with_no_english_ui_left(site, name):
    html = page_html(site, name)
    assert '<html lang="zh-CN"' in html
    soup = built_page(site, name)
    leftovers = [
        "Show code cell",
        "Hide code cell",
        "Search this book",
        "Click to show",
        "Click to hide",
        "Copyright",
        "Print to PDF",
        "列印",
        "Toggle primary",
        "Toggle secondary",
        "Link to this",
        "Color mode",
        "System Settings",
        "Skip to main content",
        "Toggle hidden content",
        "显示source",
        "显示outputs",
        "Back to top",
        "Launch",
    ]
    texts = [visible_text(html)]
    for el in soup.find_all(True):
        texts += [
            str(el.get(a))
            for a in ("title", "aria-label", "placeholder")
            if el.get(a)
        ]
    joined = "\n".join(texts)
    assert [s for s in leftovers if s in joined] == []


@pytest.mark.parametrize("name", toc_files())
def test_pages_show_no_warning_traceback_or_stderr(site, name):
    soup = BeautifulSoup(page_html(site, name), "html.parser")
    for cell in soup.select(".tag_raises-exception"):
        cell.decompose()  # 有意的报错可以显示
    text = visible_text(str(soup))
    assert not re.search(r"Glyph \d+ .{0,40}missing", text)
    assert not re.search(r"\w+Warning:", text)
    assert "Traceback (most recent call last)" not in text
    assert not soup.select("div.output.stderr, .cell_output .stderr")


@pytest.mark.parametrize("name", toc_files())
def test_tables_are_tables_not_raw_pipes(site, name):
    """代码输出的 Markdown 表格要渲染成 <table>，不能剩下一行竖线。"""
    soup = BeautifulSoup(page_html(site, name), "html.parser")
    for tag in soup(["script", "style", "pre", "code"]):
        tag.decompose()
    for tag in soup.select(".math"):
        tag.decompose()
    for text in soup.find_all(string=True):
        assert text.count("|") < 3, f"{name} 有没渲染的表格：{text[:80]!r}"


@pytest.mark.parametrize("name", chapter_pages())
def test_intentional_errors_show_only_the_message(site, name):
    """每个 raises-exception 单元格都真的报错，只显示最后一行，没有空图。"""
    soup = built_page(site, name)
    for cell in soup.select(".tag_raises-exception"):
        errors = cell.select(".cell_output .traceback")
        assert len(errors) == 1, f"{name}：有意报错的单元格没有报错输出"
        lines = [ln for ln in errors[0].get_text().splitlines() if ln.strip()]
        assert len(lines) == 1 and re.match(
            r"\w+(Error|Exception): ", lines[0]
        ), lines
        assert not cell.select(".cell_output img"), (
            f"{name}：报错单元格留下了图"
        )


# 展示的函数体里可以出现的 raise：它本身就是这个函数要讲的内容
# （函数名 -> 理由）。参数检查不在此列，它们放在 @validated_by 的检查函数里。
IDEA_RAISES = {
    "broadcast_shape": "两个形状不能广播时报错，正是广播规则的一部分",
}


def argument_checks_in_shown_code(code: str) -> list[str]:
    """``code``（一段展示的源码）里，函数体中的参数检查。

    函数体里调用 ``check_*``/``_check_*``，或 ``raise``（``IDEA_RAISES``
    里的函数除外），都算；装饰器行不算（``@validated_by(_check_…)`` 正是
    检查该在的地方）。返回 ``["函数名: 语句", …]``。
    """
    found = []
    for node in ast.walk(ast.parse(textwrap.dedent(code))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for stmt in node.body:
            for sub in ast.walk(stmt):
                if isinstance(sub, ast.Call):
                    callee = sub.func
                    name = getattr(callee, "id", None) or getattr(
                        callee, "attr", ""
                    )
                    if re.match(r"_?check_", name):
                        found.append(f"{node.name}: {name}(…)")
                elif isinstance(sub, ast.Raise) and (
                    node.name not in IDEA_RAISES
                ):
                    found.append(f"{node.name}: {ast.unparse(sub)[:60]}")
    return found


def test_argument_check_finder_catches_checks_in_the_body():
    checked = """
    @validated_by(_check_scale)
    def scale(x, factor):
        return x * factor
    """
    assert argument_checks_in_shown_code(checked) == []
    inline = """
    def scale(x, factor):
        check_tensor("x", x)
        if factor <= 0:
            raise ValueError("factor 应为正")
        return x * factor
    """
    assert argument_checks_in_shown_code(inline) == [
        "scale: check_tensor(…)",
        "scale: raise ValueError('factor 应为正')",
    ]
    method = """
    class Net:
        def __init__(self, width):
            self.width = _check_width(width)
    """
    assert argument_checks_in_shown_code(method) == [
        "__init__: _check_width(…)"
    ]


def shown_sources(site: Path, name: str) -> list[str]:
    """页面上 literalinclude 展示的源码（代码单元格之外的代码块）。"""
    soup = built_page(site, name)
    return [
        block.get_text()
        for block in soup.select("div[class*='highlight-']")
        if not block.find_parent("div", class_="cell")
    ]


@pytest.mark.parametrize("name", chapter_pages())
def test_shown_functions_contain_no_argument_checks(site, name):
    """页面上展示的函数只写思路：参数检查都在 ``@validated_by`` 的检查里。"""
    source = (ROOT / f"{name}.md").read_text("utf-8")
    n_includes = len(re.findall(r"```\{literalinclude\} \S+\.py\n", source))
    shown = [code for code in shown_sources(site, name) if "def " in code]
    assert len(shown) == n_includes  # 每个 literalinclude 都被找到、检查了
    found = [f for code in shown for f in argument_checks_in_shown_code(code)]
    assert found == [], f"{name}：展示的函数体里有参数检查：{found}"


@pytest.mark.parametrize("name", chapter_pages())
def test_setup_cell_shows_no_stray_value(site, name):
    """每章的第一个代码单元格（导入与设置）不显示最后一个表达式的值，
    例如 ``use_book_style()`` 返回的字体名；有意的 print 可以。"""
    import json

    notebook = json.loads((EXECUTED / f"{name}.ipynb").read_text("utf-8"))
    first = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    values = [
        o for o in first["outputs"] if o["output_type"] == "execute_result"
    ]
    assert values == [], f"{name}：{values}"


def test_front_page_names_the_spiral_chapters_forward_uses(site):
    """首页说螺旋数据一章先用了交叉熵、反向传播与 Adam，并链接到讲它们的章；
    螺旋一章自己也链接到这三章。"""
    index = visible_text(page_html(site, "book/index"))
    assert "例外是" in index and "螺旋数据分类" in index
    spiral = (ROOT / "book/spiral.md").read_text("utf-8")
    for label in ("chap-softmax", "chap-backprop", "chap-optimizers"):
        assert f"<{label}>" in spiral, label
        assert f"<{label}>" in (ROOT / "book/index.md").read_text("utf-8")


def test_backprop_chapter_links_the_video_the_notes_cite(site):
    html = page_html(site, "book/backprop")
    assert 'href="https://www.bilibili.com/video/BV16x411V7Qg"' in html


def test_copyright_year_is_current(site):
    import datetime

    footer = BeautifulSoup(
        page_html(site, "book/index"), "html.parser"
    ).select_one("footer .footer-item, .bd-footer-content")
    assert str(datetime.date.today().year) in footer.get_text()


@pytest.mark.parametrize("name", toc_files())
def test_pages_load_nothing_from_other_hosts(site, name):
    """数学公式、字体、脚本都随网站发布，阅读时不访问任何外部服务器。"""
    soup = built_page(site, name)
    for tag, attr in [
        ("script", "src"),
        ("link", "href"),
        ("img", "src"),
        ("iframe", "src"),
    ]:
        for el in soup.find_all(tag):
            url = el.get(attr) or ""
            if (
                tag == "link"
                and "stylesheet" not in (el.get("rel") or [])
                and "preload" not in (el.get("rel") or [])
            ):
                continue
            assert not re.match(r"(https?:)?//", url), (
                f"{name} 从外部加载了 {url}"
            )


def test_math_renderer_is_bundled(site):
    html = page_html(site, "book/spiral")
    assert 'src="../_static/mathjax/tex-chtml.js' in html
    assert (site / "_static/mathjax/tex-chtml.js").is_file()
    assert (site / "_static/mathjax/output/chtml/fonts/woff-v2").is_dir()


def docs_for(mapping: dict, term: str) -> set[int]:
    docs = mapping.get(term, [])
    return set(docs if isinstance(docs, list) else [docs])


def test_search_index_holds_chinese_terms_from_the_body(site):
    """正文中的术语要成为索引词：这需要 jieba 与本书的用户词典。

    Sphinx 会把出现在标题里的词只记在 titleterms 中，所以两处都查。
    反向传播、梯度下降只出现在正文，而 jieba 的默认词典会把它们切开，
    只有加载了用户词典才能被搜到。
    """
    index = search_index(site)
    spiral = index["docnames"].index("book/spiral")
    for term in ["反向传播", "梯度下降", "激活函数", "螺旋数据", "决策区域"]:
        docs = docs_for(index["terms"], term) | docs_for(
            index["titleterms"], term
        )
        assert spiral in docs, f"搜索索引里找不到指向螺旋数据一章的“{term}”"
    for term in ["反向传播", "梯度下降"]:
        assert spiral in docs_for(index["terms"], term)


# ---------- 正文里的数字 = 包算出的数字 ----------


def chapters_with_glue() -> list[str]:
    return [p.stem for p in CHAPTERS if GLUE_ROLE.search(p.read_text("utf-8"))]


@pytest.mark.parametrize("stem", chapters_with_glue())
def test_glued_numbers_on_the_page_are_the_values_the_chapter_computed(
    site, stem
):
    """页面上每个 {glue:text} 数字都等于执行时 glue 的值（按正文里的格式）。

    这些值由章节调用 dlbasics 的函数算出；它们说的话由 tests/test_<章>.py
    的叙述性测试检查，两次执行是否逐位相同由 Binder 测试检查。
    """
    source = (ROOT / f"book/{stem}.md").read_text("utf-8")
    roles = GLUE_ROLE.findall(source)
    values = glued_values(stem)
    missing = sorted({r.split(":")[0] for r in roles} - set(values))
    assert missing == [], f"执行结果里没有这些 glue 键：{missing}"
    soup = built_page(site, f"book/{stem}")
    shown = [span.get_text() for span in soup.select("span.pasted-text")]
    assert len(shown) == len(roles)
    for role, text in zip(roles, shown, strict=True):
        key, _, fmt = role.partition(":")
        want = format(values[key], fmt) if fmt else str(values[key])
        assert text == want, f"{key}: 页面上是 {text}，执行时算出 {want}"


def test_spiral_page_has_its_figures_and_rendered_math_source(site):
    soup = built_page(site, "book/spiral")
    figures = soup.select("figure")
    assert len(figures) >= 5
    for img in soup.select(".cell_output img"):
        assert (site / "book" / img["src"]).is_file()
    # 滑块图的帧在网站上是单独的文件：只有默认帧随页面下载，其余按需下载
    frames = soup.select(".dlbook-slider .dlbook-slider-frames img")
    assert len(soup.select(".dlbook-slider")) == 1 and len(frames) > 2
    lazy = [img.get("loading") == "lazy" for img in frames]
    hidden = [img.has_attr("hidden") for img in frames]
    assert lazy == hidden and lazy.count(False) == 1
    assert all(img["width"] and img["height"] for img in frames)
    # MathJax 的源：行内 \(...\) 与行间 \[...\] 交给浏览器中的 MathJax 渲染
    assert soup.select("div.math") and soup.select("span.math")


# ---------- 阅读功能：Binder、下载、术语表、404 ----------


@pytest.mark.parametrize("name", chapter_pages())
def test_chapter_can_be_downloaded_as_md_and_ipynb(site, name):
    """下载按钮给出源文件 .md 与读者版 .ipynb（读者版的检查见
    tests/test_reader_edition.py）。"""
    soup = built_page(site, name)
    hrefs = {a["href"] for a in soup.find_all("a", href=True)}
    for suffix in (".md", ".ipynb"):
        assert f"../_sources/{name}{suffix}" in hrefs, (
            f"{name} 缺少 {suffix} 下载"
        )
        assert (site / "_sources" / f"{name}{suffix}").is_file()


def test_binder_environment_files_match_the_book():
    """Binder 装的运行时依赖与根目录钉的版本相同；JupyterLab 与内核用
    repo2docker 基础环境里的（钉了就与它冲突），读者版也不需要 jupytext。"""
    requirements = (ROOT / "binder/requirements.txt").read_text("utf-8")
    pins = dict(
        line.split("#")[0].strip().split("==")
        for line in requirements.splitlines()
        if "==" in line and not line.startswith("#")
    )
    root_pins = dict(
        line.split("#")[0].strip().split("==")
        for line in (ROOT / "requirements.txt").read_text("utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert set(pins) == {
        "torch",
        "numpy",
        "matplotlib",
        "scikit-learn",
        "myst-nb",
    }
    for package, version in pins.items():
        assert version == root_pins[package]
    assert "download.pytorch.org/whl/cpu" in requirements
    post_build = (ROOT / "binder/postBuild").read_text("utf-8")
    for step in (
        "pip install --no-deps -e .",
        "python binder/stamp_kernel.py",
        "python binder/lab_settings.py",
        "jupyter trust",
    ):
        assert step in post_build
    assert (ROOT / "binder/postBuild").stat().st_mode & 0o111  # 可执行
    base = (ROOT / "binder/repo2docker-base.txt").read_text("utf-8")
    for package in ("jupyterlab", "notebook", "ipykernel"):
        assert re.search(rf"^{package}==\S+$", base, re.M)


def test_every_install_path_takes_the_same_cpu_torch():
    """README 的两条命令、发布网站的工作流、Binder 装的是同一个 CPU 版
    torch；测试环境就是按 README 装的，所以也是它。"""
    import torch

    cpu_index = "--extra-index-url https://download.pytorch.org/whl/cpu"
    torch_req = (ROOT / "requirements-torch.txt").read_text("utf-8")
    root_req = (ROOT / "requirements.txt").read_text("utf-8")
    binder_req = (ROOT / "binder/requirements.txt").read_text("utf-8")
    assert cpu_index in torch_req.splitlines()
    assert cpu_index in binder_req.splitlines()
    # 主依赖清单不走 CPU 源（否则每个包都要去那里查一遍）
    assert "download.pytorch.org" not in root_req
    pin = re.search(r"^torch==(\S+)", torch_req, re.M).group(1)
    for text in (root_req, binder_req):
        assert re.search(rf"^torch=={re.escape(pin)}\s*(#.*)?$", text, re.M)
    step = "pip install --no-deps -r requirements-torch.txt"
    readme = (ROOT / "README.md").read_text("utf-8")
    assert readme.count(step) == 2  # 构建命令与测试命令
    workflow = (ROOT / ".github/workflows/pages.yml").read_text("utf-8")
    assert step in workflow and "-r requirements.txt" in workflow
    assert torch.version.cuda is None, "测试环境里装成了 CUDA 版的 torch"
    assert torch.__version__.split("+")[0] == pin
    runtime = (ROOT / "binder/runtime.txt").read_text("utf-8").strip()
    assert f'python-version: "{runtime.removeprefix("python-")}"' in workflow


def test_pages_workflow_uses_the_runners_browser_and_installs_only_fonts():
    workflow = (ROOT / ".github/workflows/pages.yml").read_text("utf-8")
    installs = re.findall(r"apt-get install[^\n]*", workflow)
    assert installs and all("chromium" not in line for line in installs)
    assert "fonts-noto-cjk" in installs[0]
    assert "CHROMIUM=" in workflow and "::error::" in workflow


def test_glossary_terms_are_linked_from_the_chapters(site):
    glossary = BeautifulSoup(page_html(site, "book/glossary"), "html.parser")
    for link in glossary.select("dl.glossary dt a.headerlink"):
        link.decompose()
    terms = [
        dt.get_text(strip=True) for dt in glossary.select("dl.glossary dt")
    ]
    assert len(terms) >= 15
    linked = set()
    for name in chapter_pages():
        soup = built_page(site, name)
        linked |= {a.get_text() for a in soup.select("a .std-term")}
    unused = sorted(set(terms) - linked)
    assert unused == [], f"这些术语没有任何章节链接到：{unused}"


@pytest.mark.parametrize("name", chapter_pages())
def test_no_markdown_markup_leaks_into_the_page_text(site, name):
    """没配对上的 **（如紧贴汉字的 **{term}`x`**）会原样显示成星号。"""
    soup = BeautifulSoup(page_html(site, name), "html.parser")
    for node in soup.select("div.cell, pre, code, script, style, .math"):
        node.decompose()
    text = soup.get_text(" ")
    leaks = re.findall(r".{0,15}(?:\*\*|\{term\}|\{glue:text\}).{0,15}", text)
    assert leaks == [], f"{name} 的正文里有没渲染的标记：{leaks}"
    # {numref} 自己带着“练习”“图”等字样，前面再写一遍就成了“练习 练习 9.2”
    doubled = re.findall(r".{0,10}(练习|图|表)\s*\1\s*\d.{0,5}", text)
    assert doubled == [], f"{name} 的编号引用前多写了一遍名称：{doubled}"


def test_404_page_and_exec_stats_are_built(site):
    page = (site / "404.html").read_text("utf-8")
    assert '<html lang="zh-CN">' in page and "找不到这个页面" in page
    stats = built_page(site, "book/exec_stats")
    headers = [th.get_text(strip=True) for th in stats.select("table th")]
    assert headers == ["章节", "本次构建", "执行用时（秒）", "结果"]
    rows = stats.select("table tbody tr")
    assert len(rows) == len(chapter_pages())
    for row in rows:
        how = row.select("td")[1].get_text(strip=True)
        assert how == "重新执行" or how.startswith("取自缓存"), how


def test_pages_with_slider_figures_stay_within_the_page_weight_target(site):
    """滑块图把每一帧都嵌在页面里；这样的页面仍不超过 1.5 MB。

    1.5 MB 是 README 性能表里每页自身重量的目标。
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_build", ROOT / "benchmarks" / "build.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    stems = list(chapter_budgets())  # 与基准测试报告的是同一组章节
    weights, _ = bench.page_weights(site, stems)
    sliders = [
        stem
        for stem in stems
        if 'class="dlbook-slider"' in page_html(site, f"book/{stem}")
    ]
    assert len(sliders) >= 4, f"有滑块图的章节：{sliders}"
    heavy = {s: weights[s] / 1e6 for s in sliders if weights[s] > 1.5e6}
    assert heavy == {}, f"超过 1.5 MB 的页面（MB）：{heavy}"
