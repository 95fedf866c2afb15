"""读者版笔记本（``_ext/reader_edition.py``）：读起来与网页相同。

网页的下载与 Binder 打开的都是它。

每一章都把读者版与构建好的网页逐项对照：网页正文里的每个数字、每个标题、
每张图的图题、每个引用都在笔记本的 Markdown 里；没有留下 MyST 的写法；
解答收在折叠的标题下面；代码单元格与源文件、输出与执行结果一致。
在真正的 JupyterLab 里打开、运行读者版的测试在 ``tests/test_binder.py``。
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jupytext
import nbformat
import pytest
from bs4 import BeautifulSoup

from conftest import (
    EXECUTED,
    ROOT,
    book_config,
    built_page,
    chapter_pages,
)

sys.path.insert(0, str(ROOT / "_ext"))
sys.path.insert(0, str(ROOT / "binder"))
import reader_edition
import stamp_kernel

CHAPTERS = chapter_pages()
MYST_LEFTOVERS = re.compile(
    r"\{(glue|cite|numref|term|ref|eq|doc|download)[:}]|solution-(start|end)"
    r"|^:::|^```\{|^\(.+\)=\s*$|\{[a-z]+\}`",
    re.M,
)


# ---------- 不需要构建：源文件与小工具 ----------


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_source_survives_a_jupytext_round_trip(name):
    """JupyterLab 里用 jupytext 打开、保存一章源文件，文件一字节不变。"""
    text = (ROOT / f"{name}.md").read_text("utf-8")
    again = jupytext.writes(jupytext.reads(text, "md:myst"), "md:myst")
    assert again == text, (
        f"{name}.md 不是 jupytext 的规范写法：用 jupytext 读写一遍再提交"
    )


def test_web_addresses_become_links_without_escapes():
    """网址里的反斜杠会留在 Jupyter 识别出的链接里：网址写成 <…>。"""
    escape = reader_edition.escape
    assert escape("在线版 https://zh.d2l.ai。本书") == (
        "在线版 <https://zh.d2l.ai>。本书"
    )
    assert escape("见 https://a.org/x_y.") == "见 <https://a.org/x_y>."
    assert escape("a_b https://a.org") == r"a\_b <https://a.org>"


def test_markdown_escaping_keeps_text_literal():
    text = r"a_b*c `d` [e](f) <g> $h$ | ~ & \ "
    escaped = reader_edition.escape(text)
    assert re.sub(r"\\(.)", r"\1", escaped) == text
    assert "$" not in escaped.replace(r"\$", "")  # 不会变成公式
    lines = reader_edition.escape_line_starts(
        "# 不是标题\n- 不是列表\n1. 也不是"
    )
    assert lines.splitlines() == [
        r"\# 不是标题",
        r"\- 不是列表",
        r"1\. 也不是",
    ]
    assert reader_edition.code_span("a`b") == "`` a`b ``"
    assert reader_edition.fence("x = '```'", "python").startswith("````python")


def test_streams_are_merged_as_jupyter_does():
    outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="a\n"),
        nbformat.v4.new_output("stream", name="stdout", text="b\n"),
        nbformat.v4.new_output("stream", name="stderr", text="c\n"),
    ]
    merged = reader_edition.merged_outputs(outputs)
    assert [(o.name, o.text) for o in merged] == [
        ("stdout", "a\nb\n"),
        ("stderr", "c\n"),
    ]
    assert outputs[0].text == "a\n"  # 原来的输出不变


def test_stamp_kernel_writes_this_environments_kernel(tmp_path):
    """Binder 的 postBuild 把内核说明改成那里的内核报告的值；再改一次不变。"""
    from ipykernel.ipkernel import IPythonKernel

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# 标题")]
    )
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "旧的"},
        "language_info": {"name": "python", "version": "3.0.0"},
    }
    path = tmp_path / "a.ipynb"
    path.write_text(reader_edition.notebook_text(notebook), "utf-8")
    assert stamp_kernel.stamp(path) is True
    stamped = nbformat.read(path, as_version=4)
    info = stamped.metadata.language_info
    assert info.version == IPythonKernel.language_info["version"]
    assert stamped.metadata.kernelspec.display_name != "旧的"
    text = path.read_text("utf-8")
    assert text == reader_edition.notebook_text(stamped)  # Jupyter 的格式
    assert stamp_kernel.stamp(path) is False


# ---------- 构建好的网站与读者版 ----------


@pytest.fixture(scope="module")
def site(built_site) -> Path:
    return built_site


def reader(site: Path, name: str) -> nbformat.NotebookNode:
    return nbformat.read(site / "_sources" / f"{name}.ipynb", as_version=4)


def article(site: Path, name: str) -> BeautifulSoup:
    """页面的正文（只读：要删掉一部分时先 ``copy.copy``）。"""
    return built_page(site, name).select_one("article")


def plain(markdown: str) -> str:
    """Markdown 单元格里的文字：去掉强调标签、链接地址和转义。"""
    text = re.sub(r"</?(strong|em|br)>", "", markdown)
    text = re.sub(r"\[([^\]]*)\]\((<[^>]*>|[^)]*)\)", r"\1", text)
    text = re.sub(r"(?<!\\)(`+) ?(.*?) ?\1", r"\2", text)  # 行内代码
    text = re.sub(r"\\(.)", r"\1", text)
    return re.sub(r"\s+", " ", text)


def markdown_text(notebook) -> str:
    return "\n".join(
        c.source for c in notebook.cells if c.cell_type == "markdown"
    )


def headings(notebook) -> list[tuple[int, str, dict]]:
    found = []
    for cell in notebook.cells:
        match = re.match(r"(#{1,6}) (.*)", cell.source)
        if cell.cell_type == "markdown" and match:
            found.append((len(match.group(1)), match.group(2), cell))
    return found


def hidden_cells(notebook) -> list:
    """JupyterLab 打开时被折叠的标题收起来的单元格。

    一个标题折叠时，它下面直到下一个同级或更高级标题之前的单元格都不显示
    （标题本身仍显示）。
    """
    hidden, level = [], None
    for cell in notebook.cells:
        match = re.match(r"(#{1,6}) ", cell.source)
        if cell.cell_type == "markdown" and match:
            here = len(match.group(1))
            if level is not None and here <= level:
                level = None
            if level is None and cell.metadata.get(
                "jp-MarkdownHeadingCollapsed"
            ):
                level = here
                continue
        if level is not None:
            hidden.append(cell)
    return hidden


@pytest.mark.parametrize("name", CHAPTERS)
def test_reader_prose_has_every_number_heading_and_reference_of_the_page(
    site, name
):
    notebook = reader(site, name)
    soup = article(site, name)
    text = plain(markdown_text(notebook))
    for span in soup.select("span.pasted-text"):
        assert span.get_text() in text, f"{name}：缺少数字 {span.get_text()}"
    titles = [h for _, h, _ in headings(notebook)]
    for tag in soup.find_all(["h1", "h2", "h3", "h4"]):
        title = tag.get_text().rstrip("#").strip()
        assert plain(title) in [plain(t) for t in titles], (
            f"{name}：缺少标题 {title}"
        )
    for ref in soup.select("a.reference.internal"):
        label = ref.get_text().strip()
        if re.fullmatch(r"(图|练习) \d+\.\d+", label):
            assert label in text, f"{name}：缺少引用 {label}"
    for citation in soup.select(".bibtex-citation"):
        assert plain(citation.get_text()) in text
    leftovers = MYST_LEFTOVERS.findall(markdown_text(notebook))
    assert leftovers == [], f"{name}：留下了 MyST 的写法 {leftovers}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_figure_output_is_followed_by_its_numbered_caption(site, name):
    notebook = reader(site, name)
    captions = [
        re.sub(r"\s+", " ", fig.get_text(" ", strip=True).rstrip("#")).strip()
        for fig in article(site, name).select("figcaption")
    ]
    found = []
    for cell, after in zip(notebook.cells, notebook.cells[1:], strict=False):
        if cell.cell_type == "code" and after.source.startswith("<strong>图 "):
            found.append(plain(after.source).strip())
            assert cell.outputs, f"{name}：图题前的单元格没有输出"
    assert [c.replace(" ", "") for c in found] == [
        c.replace(" ", "") for c in captions
    ]


@pytest.mark.parametrize("name", CHAPTERS)
def test_solutions_are_collapsed_under_their_own_heading(site, name):
    """每个解答是一个折叠的标题，收起的恰好是网页上解答里的内容。"""
    notebook = reader(site, name)
    soup = article(site, name)
    solutions = soup.select("div.solution")
    collapsed = [
        (level, title)
        for level, title, cell in headings(notebook)
        if cell.metadata.get("jp-MarkdownHeadingCollapsed")
    ]
    expected = [
        re.sub(r"\s+", " ", s.select_one(".admonition-title").get_text())
        .strip()
        .replace("解答 ", "解答 · ", 1)
        for s in solutions
    ]
    assert [plain(title) for _, title in collapsed] == expected
    hidden = hidden_cells(notebook)
    page_cells = [
        cell.select_one(".cell_input pre").get_text()
        for solution in solutions
        for cell in solution.select("div.cell")
    ]
    hidden_code = [c.source for c in hidden if c.cell_type == "code"]
    assert [s.strip() for s in hidden_code] == [s.strip() for s in page_cells]
    hidden_text = plain("\n".join(c.source for c in hidden))
    for solution in solutions:
        for span in solution.select("span.pasted-text"):
            assert span.get_text() in hidden_text
    # 练习的题目本身不折叠
    for _, title, cell in headings(notebook):
        if title.startswith("练习"):
            assert cell not in hidden


@pytest.mark.parametrize("name", CHAPTERS)
def test_reader_code_cells_are_the_chapter_code_with_its_outputs(site, name):
    """代码单元格与源文件一一对应（网页上不显示的也在，折叠起来），
    输出与构建时执行的结果相同；“运行全部”执行的正是构建时的代码。"""
    notebook = reader(site, name)
    source = jupytext.read(ROOT / f"{name}.md")
    executed = nbformat.read(EXECUTED / f"{name}.ipynb", as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    want = [c for c in source.cells if c.cell_type == "code"]
    ran = [c for c in executed.cells if c.cell_type == "code"]
    assert len(code) == len(want)
    for cell, src, out in zip(code, want, ran, strict=True):
        tags = src.metadata.get("tags", [])
        body = cell.source
        if "remove-cell" in tags:
            note = (
                reader_edition.GLUE_NOTE
                if "glue(" in src.source
                else reader_edition.PAGE_ONLY_NOTE
            )
            assert body.startswith(note + "\n")
            body = body.removeprefix(note + "\n")
            assert cell.metadata["jupyter"] == {
                "source_hidden": True,
                "outputs_hidden": True,
            }
        if "hide-input" in tags:
            assert cell.metadata["jupyter"]["source_hidden"] is True
        assert body == src.source
        assert cell.metadata.get("tags", []) == [
            t
            for t in tags
            if t in ("raises-exception", "hide-input", "remove-cell")
        ]
        assert cell.outputs == reader_edition.merged_outputs(out.outputs)


@pytest.mark.parametrize("name", CHAPTERS)
def test_reader_notebook_is_written_the_way_jupyter_saves_it(site, name):
    """Jupyter 的格式（nbformat 4.5，确定的单元格 id）与本机内核的说明：
    打开、保存一个没改过的笔记本不会改写它（JupyterLab 里的检查见
    tests/test_binder.py）。"""
    path = site / "_sources" / f"{name}.ipynb"
    text = path.read_text("utf-8")
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    assert (notebook.nbformat, notebook.nbformat_minor) == (4, 5)
    assert text == reader_edition.notebook_text(copy.deepcopy(notebook))
    stem = name.rsplit("/", 1)[-1]
    assert [c.id for c in notebook.cells] == [
        f"{stem}-{i:03d}" for i in range(len(notebook.cells))
    ]
    assert notebook.metadata.kernelspec == reader_edition.kernelspec("python3")
    first = notebook.cells[0].source
    page = book_config()["html"]["baseurl"] + f"{name}.html"
    assert f"<{page}>" in first and f"`{name}.md`" in first


def test_glossary_links_point_at_entries_on_the_glossary_page(site):
    baseurl = book_config()["html"]["baseurl"]
    glossary = BeautifulSoup(
        (site / "book/glossary.html").read_text("utf-8"), "html.parser"
    )
    anchors = {tag["id"] for tag in glossary.select("dt[id]")}
    linked = set()
    for name in CHAPTERS:
        for anchor in re.findall(
            re.escape(baseurl + "book/glossary.html#") + r"([\w-]+)",
            markdown_text(reader(site, name)),
        ):
            linked.add(anchor)
    assert linked and linked <= anchors, sorted(linked - anchors)


def test_chapter_references_are_listed_at_the_end(site):
    notebook = reader(site, "book/spiral")
    last = notebook.cells[-1].source
    assert last.startswith("## 参考文献")
    assert "Cybenko" in last and "Kingma" in last
    assert "Bishop" not in last  # 本章没有引用的不列


@pytest.mark.parametrize("name", CHAPTERS)
def test_launch_button_opens_the_reader_notebook_on_the_binder_branch(
    site, name
):
    repo = book_config()["repository"]
    branch = book_config()["launch_buttons"]["binder_branch"]
    assert branch != repo["branch"]
    soup = built_page(site, name)
    links = [
        a["href"]
        for a in soup.find_all("a", href=True)
        if "mybinder.org" in a["href"]
    ]
    assert len(links) == 1, f"{name} 应有一个 Binder 链接"
    url = urlparse(links[0])
    org_repo = urlparse(repo["url"]).path.strip("/")
    assert url.scheme == "https" and url.netloc == "mybinder.org"
    assert url.path == f"/v2/gh/{org_repo}/{branch}"
    assert parse_qs(url.query)["urlpath"] == [f"lab/tree/{name}.ipynb"]
    hrefs = {a["href"] for a in soup.find_all("a", href=True)}
    assert f"../_sources/{name}.ipynb" in hrefs  # 下载的也是读者版


def test_binder_branch_holds_the_reader_notebooks_and_the_package(
    site, tmp_path
):
    sys.path.insert(0, str(ROOT / "scripts"))
    import binder_branch

    out = tmp_path / "branch"
    notebooks = binder_branch.assemble(out)
    assert notebooks == [f"{name}.ipynb" for name in CHAPTERS]
    for name in CHAPTERS:
        assert (out / f"{name}.ipynb").read_bytes() == (
            site / "_sources" / f"{name}.ipynb"
        ).read_bytes()
    for path in ("pyproject.toml", "LICENSE", "README.md"):
        assert (out / path).is_file()
    assert (out / "code/dlbasics/__init__.py").is_file()
    assert (out / "code/dlbasics/fonts/NotoSansSC-Subset.otf").is_file()
    assert not list(out.rglob("__pycache__"))
    assert (out / "binder/postBuild").stat().st_mode & 0o111
    assert sorted(p.name for p in (out / "binder").iterdir()) == sorted(
        binder_branch.BINDER_FILES
    )
    # 没有章节的源文件：分支里只有读者版
    assert [p.name for p in out.rglob("*.md")] == ["README.md"]
    assert (
        binder_branch.branch_name()
        == (book_config()["launch_buttons"]["binder_branch"])
    )


def test_pages_workflow_publishes_the_binder_branch():
    """发布网站的工作流把 scripts/binder_branch.py 写出的内容推到
    _config.yml 指定的分支，内容没变时不推（Binder 沿用镜像）。"""
    import yaml

    workflow = yaml.safe_load(
        (ROOT / ".github/workflows/pages.yml").read_text("utf-8")
    )
    build = workflow["jobs"]["build"]
    runs = "\n".join(step.get("run", "") for step in build["steps"])
    assert "scripts/binder_branch.py _build/binder-branch" in runs
    assert "binder_branch.py --name" in runs
    job = workflow["jobs"]["binder"]
    assert job["needs"] == "build"
    assert job["permissions"] == {"contents": "write"}
    push = job["steps"][-1]
    assert push["env"]["BRANCH"] == "${{ needs.build.outputs.binder_branch }}"
    assert "git diff --quiet FETCH_HEAD HEAD" in push["run"]
    assert "chmod +x binder/postBuild" in push["run"]


def without_math(node) -> str:
    """网页元素的文字，去掉公式与空白（公式在网页与 Markdown 里写法不同）。"""
    node = copy.copy(node)
    for math in node.select(".math"):
        math.decompose()
    return re.sub(r"\s+", "", node.get_text())


def markdown_without_math(markdown: str) -> str:
    return re.sub(r"\s+", "", plain(re.sub(r"\$[^$]*\$", "", markdown)))


@pytest.mark.parametrize("name", CHAPTERS)
def test_quiz_is_readable_and_answerable_in_the_reader_notebook(site, name):
    """每道自测题：题号、题干、带字母的选项（数值题写明容许误差），答案、
    每个选项的反馈和讲解的一节收在 <details> 里（JupyterLab 点开才看到）；
    打印用的章末答案不进笔记本。"""
    notebook = reader(site, name)
    questions = article(site, name).select("div.dlbook-quiz")
    cells = "\n".join(
        c.source
        for c in notebook.cells
        if c.cell_type == "markdown" and "<strong>自测 " in c.source
    )
    blocks = re.split(r"(?=<strong>自测 \d)", cells)[1:]
    assert len(blocks) == len(questions) >= 4
    for block, question in zip(blocks, questions, strict=True):
        question = copy.copy(question)  # 下面要删去标题与反馈的标头
        assert "<details><summary>显示答案与解析</summary>\n\n" in block
        assert block.rstrip().endswith("</details>")
        shown, _, hidden = block.partition("<details>")
        shown, hidden = (
            markdown_without_math(shown),
            markdown_without_math(hidden),
        )
        stem = question.select_one(".dlbook-quiz-stem")
        title = stem.select_one(".dlbook-quiz-title")
        assert without_math(title.strong) in shown
        title.decompose()
        assert without_math(stem) in shown
        for option in question.select(".dlbook-quiz-option label"):
            assert without_math(option) in shown
        answer = question.select_one(".dlbook-quiz-solution")
        assert without_math(answer) in hidden
        for note in question.select(".dlbook-quiz-note"):
            note.select_one(".dlbook-quiz-note-head").decompose()
            assert without_math(note) in hidden
        assert (
            without_math(question.select_one(".dlbook-quiz-explain")) in hidden
        )
    assert "自测答案" not in markdown_text(notebook)
