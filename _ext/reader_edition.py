"""读者版笔记本：每章一个 ``.ipynb``，读起来与网页相同。

网页下载按钮给的 ``.ipynb``、Binder 按钮打开的笔记本，都是这里生成的读者版：

- **正文与网页一字不差。** Sphinx 解析完一章的引用之后
  （``doctree-resolved``），glue 的数字、图号、练习编号、引用、
  ``literalinclude`` 展示的函数都已经填好；这里把这棵 doctree 写成 Markdown
  单元格（``MarkdownWriter``），而不是把 MyST 源文件里的 ``{glue:text}``
  之类原样交给 Jupyter（Jupyter 不认识它们）。术语链接到网站上术语表的条目，
  跨章的引用链接到网站上的那一节，文献引用保留网页上的“作者, 年份”，
  本章引用的文献列在笔记本末尾。
- **代码单元格带着构建时的输出**（取自 ``jupyter_execute/<页>.ipynb``），
  打开就能看到每张图、每个数字；图的下一格是“图 2.1 ……”的图题。
- **网页上看不到的单元格**（``remove-cell``：只为网页记录数字的 glue）
  保留在原来的位置，折叠起来，第一行注释说明它做什么；这样“运行全部”
  仍与构建时执行的代码完全相同。``hide-input`` 的单元格折叠代码，保留输出。
- **解答默认折叠**：练习与“解答 · 练习 2.1”都写成标题，解答的标题在
  JupyterLab 里是折叠的，它下面的单元格都收起来；“运行全部”照样运行它们，
  结果也收在折叠里。
- 写出的 JSON 与 Jupyter 保存时一样（nbformat 4.5，单元格 id 由章名与序号
  确定），所以在 JupyterLab 里打开、保存一个没改过的读者版，文件一字节不变。

``html-page-context`` 时把它写到 ``_sources/<页>.ipynb``（覆盖主题复制的
执行版），并把 Binder 按钮改为打开 ``launch_buttons.binder_branch`` 分支上的
这份 ``.ipynb``：发布网站的工作流把各章的读者版、``code/`` 与 ``binder/``
放到这个分支上（``scripts/binder_branch.py``）。
"""

from __future__ import annotations

import copy
import hashlib
import posixpath
import re
from pathlib import Path

import nbformat
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

STORE = "dlbook_reader_edition"  # app 上：{页面: 读者版笔记本}
# 网页上不显示的代码单元格，第一行加上的说明
GLUE_NOTE = (
    "# 这个单元格只为网页记录数字（glue），网页上不显示；读者可以跳过。"
)
PAGE_ONLY_NOTE = "# 网页上不显示这个单元格（它不属于正文讲的内容）。"
SOLUTION_HINT = "先自己做，再展开下面的解答。"


class UnsupportedNode(Exception):
    """读者版遇到了不会写成 Markdown 的节点：宁可构建失败，也不悄悄丢掉。"""


# 别的扩展定义的块级节点怎样写成 Markdown：节点名 → writer(MarkdownWriter,
# 节点) → 文本（如 quiz.py 的自测题）
BLOCK_WRITERS: dict = {}


# ---------- Markdown 文本 ----------

_ESCAPE = re.compile(r"([\\`*_\[\]<>$|~&])")
_LINE_START = re.compile(r"^(\s*)(?:([#>+=-])|(\d+)([.)]))(?=\s|$)")


_URL = re.compile(r"https?://[^\s<>\"'，。；：、（）！？]+")


def escape(text: str) -> str:
    """正文里的字符按 Markdown 转义（Jupyter 把 ``$`` 当作公式的定界符）。

    网址写成 ``<https://…>``：转义的反斜杠会留在 Jupyter 自动识别出的链接里，
    链接就坏了。网址末尾的句号、逗号不算网址。
    """
    parts, start = [], 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        parts.append(_ESCAPE.sub(r"\\\1", text[start : match.start()]))
        parts.append(f"<{url}>")
        start = match.start() + len(url)
    parts.append(_ESCAPE.sub(r"\\\1", text[start:]))
    return "".join(parts)


def escape_line_starts(text: str) -> str:
    """行首的 ``#``、``-``、``1.`` 之类会被当成标题或列表：加反斜杠。"""

    def literal(match: re.Match) -> str:
        space, mark, digits, dot = match.groups()
        if mark:
            return f"{space}\\{mark}"
        return f"{space}{digits}\\{dot}"  # 数字前的反斜杠不是转义

    return "\n".join(
        _LINE_START.sub(literal, line) for line in text.split("\n")
    )


def code_span(text: str) -> str:
    ticks = "``" if "`" in text else "`"
    pad = " " if ticks == "``" else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(code: str, language: str = "") -> str:
    ticks = "```"
    while ticks in code:
        ticks += "`"
    return f"{ticks}{language}\n{code.rstrip()}\n{ticks}"


def indent(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    out = [first + lines[0]]
    out += [(rest + line) if line else "" for line in lines[1:]]
    return "\n".join(out)


def quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


class MarkdownWriter:
    """把一章解析完的 doctree 写成笔记本的单元格。

    ``cells`` 按顺序收集 ``("markdown", 文本, 元数据)`` 与
    ``("code", 单元格序号, 元数据)``；代码单元格的源码与输出之后从执行过的
    笔记本里取。
    """

    def __init__(
        self,
        app: Sphinx,
        docname: str,
        executed: nbformat.NotebookNode,
    ) -> None:
        self.app = app
        self.env = app.env
        self.docname = docname
        self.executed = executed
        self.baseurl = app.config.html_baseurl.rstrip("/") + "/"
        self.cells: list[tuple[str, object, dict]] = []
        self.buffer: list[str] = []
        self.in_table = False
        self.solution_level: int | None = None  # 刚结束的解答的标题级别
        self.citations: dict[str, str] = {}  # 锚点 → 网页上的引用文字
        # 网页上没有的代码单元格（remove-cell），按它们在源文件里的行号
        # 插回原处：(行号, 单元格序号)
        self.source_map = executed.metadata.get("source_map", [])
        self.pending: list[tuple[int, int]] = []

    # ----- 单元格 -----

    def plan_removed_cells(self, doctree: nodes.document) -> None:
        shown = {
            node["cell_index"]
            for node in doctree.findall(nodes.container)
            if node.get("nb_element") == "cell_code"
        }
        self.pending = [
            (self.line_of(index), index)
            for index, cell in enumerate(self.executed.cells)
            if cell.cell_type == "code" and index not in shown
        ]

    def line_of(self, index: int) -> int:
        """第 ``index`` 个单元格在源文件里开始的行（从 1 数）。"""
        if index < len(self.source_map):
            return self.source_map[index] + 1
        return 0

    def flush(self) -> None:
        if self.buffer:
            text = "\n\n".join(block for block in self.buffer if block)
            if text.strip():
                self.add("markdown", text, {})
            self.buffer = []

    def add(self, kind: str, payload, meta: dict) -> None:
        if self.solution_level is not None:
            self.close_solution(kind, payload if kind == "markdown" else "")
        self.cells.append((kind, payload, meta))

    def removed_before(self, line: int | None) -> None:
        """源文件里排在 ``line`` 之前、网页上没有的代码单元格，放在这里。"""
        if line is None:
            return
        while self.pending and self.pending[0][0] < line:
            _, index = self.pending.pop(0)
            self.add_removed(index)

    def add_removed(self, index: int) -> None:
        self.flush()
        meta = {
            "jupyter": {"source_hidden": True, "outputs_hidden": True},
            "collapsed": True,
        }
        self.add("removed", index, meta)

    def add_code(self, container: nodes.container) -> None:
        index = container["cell_index"]
        while self.pending and self.pending[0][1] < index:
            self.add_removed(self.pending.pop(0)[1])
        self.flush()
        meta = {}
        tags = container.get("cell_metadata", {}).get("tags", [])
        if "hide-input" in tags:
            meta["jupyter"] = {"source_hidden": True}
        self.add("code", index, meta)
        for figure in container.findall(nodes.figure):
            self.add_caption(figure)

    def add_caption(self, figure: nodes.figure) -> None:
        captions = [c for c in figure.children if isinstance(c, nodes.caption)]
        if not captions:
            return
        number = self.figure_number(figure)
        text = self.inline(captions[0])
        label = f"<strong>{escape(number)}</strong> " if number else ""
        self.add("markdown", label + text, {})

    def figure_number(self, figure: nodes.figure) -> str:
        numbers = self.env.toc_fignumbers.get(self.docname, {}).get(
            "figure", {}
        )
        for figure_id in figure["ids"]:
            if figure_id in numbers:
                number = ".".join(map(str, numbers[figure_id]))
                return self.app.config.numfig_format["figure"] % number
        return ""

    def finish(self) -> None:
        for _, index in self.pending:
            self.add_removed(index)
        self.pending = []
        self.flush()

    # ----- 块级节点 -----

    def walk(self, node: nodes.Node, level: int = 0) -> None:
        """遍历可能含有代码单元格的节点（文档、节、解答）。"""
        for child in node.children:
            self.removed_before(getattr(child, "line", None))
            if isinstance(child, nodes.section):
                self.section(child, level + 1)
            elif self.is_cell(child):
                self.add_code(child)
            elif child.tagname == "solution_node":
                self.solution(child, level)
            elif child.tagname == "exercise_enumerable_node":
                self.flush()
                title, body = self.exercise_parts(child)
                self.buffer.append(self.heading(level + 1, title) + body)
            elif isinstance(child, nodes.target | nodes.comment):
                continue
            else:
                self.buffer.append(self.block(child))

    @staticmethod
    def is_cell(node: nodes.Node) -> bool:
        return (
            isinstance(node, nodes.container)
            and node.get("nb_element") == "cell_code"
        )

    def section(self, section: nodes.section, level: int) -> None:
        self.flush()
        title = section[0]
        number = self.section_number(section, level)
        self.buffer.append(self.heading(level, number + self.inline(title)))
        body = nodes.Element()
        body.children = section.children[1:]
        self.walk(body, level)
        self.flush()

    def section_number(self, section: nodes.section, level: int) -> str:
        """与网页相同的节号（``2.1. ``）；没有编号的页面返回空串。"""
        numbers = self.env.toc_secnumbers.get(self.docname, {})
        anchor = "#" + section["ids"][0] if section["ids"] else ""
        if anchor not in numbers and level == 1:
            anchor = ""
        number = numbers.get(anchor)
        if not number:
            return ""
        suffix = self.app.config.html_secnumber_suffix
        return ".".join(map(str, number)) + suffix

    def heading(self, level: int, text: str) -> str:
        return "#" * min(level, 6) + " " + text

    def solution(self, node: nodes.Element, level: int) -> None:
        """解答：一个折叠起来的小标题，解答的单元格都在它下面。

        JupyterLab 折叠标题时隐藏其下、直到下一个同级或更高级标题之前的
        单元格（``jp-MarkdownHeadingCollapsed``）；练习也写成同级标题，
        所以折叠的恰好是这一道题的解答，“运行全部”时它们照样运行。
        """
        self.flush()
        title = self.inline(node[0]).replace(" ", " · ", 1)
        text = self.heading(level + 1, title) + "\n\n" + SOLUTION_HINT
        meta = {"jp-MarkdownHeadingCollapsed": True}
        self.add("markdown", text, meta)
        body = nodes.Element()
        body.children = [
            child
            for part in node.children[1:]
            for child in (
                part.children if isinstance(part, nodes.section) else [part]
            )
        ]
        self.walk(body, level)
        self.flush()
        self.solution_level = level + 1

    def close_solution(self, kind: str, text: str) -> None:
        """解答之后若不是同级或更高级的标题，补一个标题，折叠到此为止。"""
        level, self.solution_level = self.solution_level, None
        if level is None:
            return
        match = re.match(r"(#{1,6}) ", text) if kind == "markdown" else None
        if match and len(match.group(1)) <= level:
            return
        self.cells.append(("markdown", self.heading(level, "（解答完）"), {}))

    def block(self, node: nodes.Node) -> str:
        """不含代码单元格的块级节点写成 Markdown。"""
        if node.tagname in BLOCK_WRITERS:
            return BLOCK_WRITERS[node.tagname](self, node)
        if isinstance(node, nodes.paragraph):
            return escape_line_starts(self.inline(node))
        if isinstance(node, nodes.bullet_list | nodes.enumerated_list):
            return self.list(node)
        if isinstance(node, nodes.math_block):
            return self.math_block(node)
        if isinstance(node, nodes.literal_block):
            return fence(node.astext(), self.language(node))
        if node.tagname == "exercise_enumerable_node":
            return self.exercise(node)
        if isinstance(node, nodes.Admonition):
            return self.admonition(node)
        if isinstance(node, nodes.block_quote):
            return quote(self.blocks(node.children))
        if isinstance(node, nodes.table):
            return self.table(node)
        if isinstance(node, nodes.transition):
            return "---"
        if isinstance(node, nodes.target | nodes.comment | addnodes.toctree):
            return ""  # 目录树只在网站上有意义（侧栏已经列出各章）
        if isinstance(node, nodes.container | nodes.compound):
            if any(self.is_cell(n) for n in node.findall(nodes.container)):
                raise UnsupportedNode(
                    f"{self.docname}: 代码单元格在 {node.tagname} 里"
                )
            return self.blocks(node.children)
        raise UnsupportedNode(
            f"{self.docname}: 读者版还不会写 {node.tagname} 节点"
            f"（第 {node.line} 行附近）"
        )

    def blocks(self, children) -> str:
        return "\n\n".join(
            text for text in (self.block(c) for c in children) if text
        )

    def list(self, node: nodes.Element) -> str:
        items = []
        start = node.get("start", 1)
        for i, item in enumerate(node.children):
            body = self.blocks(item.children)
            if isinstance(node, nodes.enumerated_list):
                marker = f"{start + i}. "
            else:
                marker = "- "
            items.append(indent(body, marker, " " * len(marker)))
        return "\n".join(items)

    def table(self, node: nodes.table) -> str:
        """表格写成 GFM 表格（Jupyter 的 Markdown 支持它）。"""
        groups = list(node.findall(nodes.tgroup))
        if len(groups) != 1 or any(
            c.get("morecols") or c.get("morerows")
            for c in node.findall(nodes.entry)
        ):
            raise UnsupportedNode(f"{self.docname}: 合并单元格的表格")
        rows = []
        for part in (nodes.thead, nodes.tbody):
            for section in groups[0].findall(part):
                for row in section.children:
                    rows.append([self.cell_text(e) for e in row.children])
        heads = list(groups[0].findall(nodes.thead))
        if not heads:
            raise UnsupportedNode(f"{self.docname}: 没有表头的表格")
        body_row = next(groups[0].findall(nodes.tbody))[0]
        rules = []
        for entry in body_row.children:
            classes = entry.get("classes", [])
            if "text-right" in classes:
                rules.append("---:")
            elif "text-center" in classes:
                rules.append(":---:")
            else:
                rules.append("---")
        header = len(heads[0].children)
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(header, "| " + " | ".join(rules) + " |")
        return "\n".join(lines)

    def cell_text(self, entry: nodes.entry) -> str:
        self.in_table = True
        try:
            return "<br>".join(self.inline(p) for p in entry.children)
        finally:
            self.in_table = False

    def math_block(self, node: nodes.math_block) -> str:
        latex = node.astext().strip()
        if node.get("number"):
            latex += r" \tag{" + str(node["number"]) + "}"
        return f"$$\n{latex}\n$$"

    @staticmethod
    def language(node: nodes.literal_block) -> str:
        source = node.get("source") or ""
        if source.endswith(".py"):
            return "python"
        language = node.get("language", "")
        return "" if language in ("default", "none", "text") else language

    def admonition(self, node: nodes.Element) -> str:
        children = list(node.children)
        if children and isinstance(children[0], nodes.title):
            title = self.inline(children.pop(0))
        else:
            title = escape(self.admonition_label(node))
        body = self.blocks(children)
        return quote(f"<strong>{title}</strong>\n\n{body}")

    @staticmethod
    def admonition_label(node: nodes.Element) -> str:
        from sphinx.locale import admonitionlabels

        return admonitionlabels.get(node.tagname, node.tagname)

    def exercise_parts(self, node: nodes.Element) -> tuple[str, str]:
        """练习的标题（“练习 2.1”，与网页相同）与题目的 Markdown。"""
        title_node = node.children[0]
        # 解析后的标题写在属性里（“练习 %s”），自定义的副标题是子节点
        text = title_node.get("title")
        rest = list(title_node.children)
        if text is None and rest and isinstance(rest[0], nodes.Text):
            text = str(rest.pop(0))
        subtitle = "".join(self.inline_node(c) for c in rest)  # “ (副标题)”
        numbers = self.env.toc_fignumbers.get(self.docname, {}).get(
            "exercise", {}
        )
        number = numbers.get(node["ids"][0]) if node["ids"] else None
        if "%s" in text:
            text = text % (".".join(map(str, number)) if number else "")
        body_nodes = [
            child
            for part in node.children[1:]
            for child in (
                part.children if isinstance(part, nodes.section) else [part]
            )
        ]
        title = escape(text.strip()) + subtitle.rstrip()
        return title, "\n\n" + self.blocks(body_nodes)

    def exercise(self, node: nodes.Element) -> str:
        """嵌在别的块里的练习：写成引用块。"""
        title, body = self.exercise_parts(node)
        return quote(f"<strong>{title}</strong>{body}")

    # ----- 行内节点 -----

    def inline(self, node: nodes.Node) -> str:
        return "".join(self.inline_node(child) for child in node.children)

    def inline_node(self, node: nodes.Node) -> str:
        if isinstance(node, nodes.Text):
            return escape(str(node).replace("\n", " "))
        if isinstance(node, nodes.strong):
            return f"<strong>{self.inline(node)}</strong>"
        if isinstance(node, nodes.emphasis):
            return f"<em>{self.inline(node)}</em>"
        if isinstance(node, nodes.literal):
            code = node.astext()
            if self.in_table:  # GFM 表格里的 | 即使在行内代码里也要转义
                code = code.replace("|", "\\|")
            return code_span(code)
        if isinstance(node, nodes.math):
            latex = node.astext()
            if self.in_table:  # 表格里的 | 会被当成分隔线
                latex = latex.replace("|", r"\vert ")
            return f"${latex}$"
        if isinstance(node, nodes.reference):
            return self.reference(node)
        if isinstance(node, addnodes.number_reference):
            return self.inline(node)
        if isinstance(node, nodes.inline):
            if "bibtex-citation" in node.get("classes", []):
                return self.citation(node)
            return self.inline(node)
        if isinstance(node, nodes.target):
            return ""
        if isinstance(node, nodes.title | nodes.caption | nodes.subtitle):
            return self.inline(node)
        raise UnsupportedNode(
            f"{self.docname}: 读者版还不会写行内的 {node.tagname} 节点"
        )

    def citation(self, node: nodes.inline) -> str:
        """文献引用照网页写（作者, 年份），不加链接；文献列在笔记本末尾。"""
        for ref in node.findall(nodes.reference):
            anchor = ref.get("refuri", "").rpartition("#")[2]
            self.citations.setdefault(anchor, ref.astext())
        return escape(node.astext().replace("\n", " "))

    def reference(self, node: nodes.reference) -> str:
        text = self.inline(node)
        uri = node.get("refuri")
        if uri is None or uri.startswith("#"):  # 本页之内：照网页写文字
            return text
        if "://" not in uri and not uri.startswith("mailto:"):
            uri = self.site_url(uri)
        if node.astext() == uri:
            return f"<{uri}>"
        return f"[{text}]({link_target(uri)})"

    def site_url(self, uri: str) -> str:
        """本页里的相对链接 → 网站上的绝对地址（由 ``html.baseurl`` 拼出）。"""
        path, _, anchor = uri.partition("#")
        here = posixpath.dirname(self.docname)
        full = posixpath.normpath(posixpath.join(here, path)) if path else ""
        return self.baseurl + full + (f"#{anchor}" if anchor else "")


def link_target(uri: str) -> str:
    return f"<{uri}>" if re.search(r"[\s()]", uri) else uri


# ---------- 笔记本 ----------


def cell_id(docname: str, number: int) -> str:
    """确定的单元格 id：两次构建写出同样的文件。"""
    stem = docname.rsplit("/", 1)[-1]
    return f"{stem}-{number:03d}"


def merged_outputs(outputs: list) -> list:
    """相邻的同名文本流并成一个（Jupyter 打开时也会这样合并）。"""
    merged = []
    for output in outputs:
        output = copy.deepcopy(output)
        if (
            merged
            and output.get("output_type") == "stream"
            and merged[-1].get("output_type") == "stream"
            and merged[-1].get("name") == output.get("name")
        ):
            merged[-1]["text"] += output["text"]
        else:
            merged.append(output)
    return merged


def code_cell(source_cell, meta: dict, note: str | None = None):
    cell = nbformat.v4.new_code_cell(
        source=(note + "\n" if note else "") + source_cell.source,
        execution_count=source_cell.get("execution_count"),
        outputs=merged_outputs(source_cell.get("outputs", [])),
    )
    tags = [
        tag
        for tag in source_cell.metadata.get("tags", [])
        if tag in ("raises-exception", "hide-input", "remove-cell")
    ]
    metadata = copy.deepcopy(meta)
    if tags:
        metadata["tags"] = tags
    cell.metadata = metadata
    return cell


def header_cell(app: Sphinx, docname: str) -> str:
    """笔记本开头的说明：它是什么、怎样用、源文件在哪里。"""
    page = app.config.html_baseurl.rstrip("/") + f"/{docname}.html"
    lines = [
        "<strong>读者版笔记本</strong>：正文、数字、图和练习与网页上的这一章"
        f"相同（网页：<{page}>），代码单元格带着构建时的输出。",
        "",
        "- 从头按顺序运行（Run → Run All Cells）会得到与网页相同的数字。",
        "- 代码里的 `glue(...)` 把算出的数字记下来，构建网页时填进正文；"
        "在这里运行它不显示任何东西。第一行写着“网页上不显示”的折叠单元格"
        "可以跳过。",
        "- 练习的解答收在折叠的“解答”标题下：先自己做，再点“… hidden”"
        "展开。展开后 JupyterLab 会认为笔记本改过，关闭时选 Discard"
        "（不保存）即可。",
        "- 这个文件由构建生成；作者编辑的是 MyST Markdown 源文件 "
        f"`{docname}.md`，想改正文或代码，请改它。",
    ]
    return quote("\n".join(lines))


def bibliography_backend():
    """pybtex 的 Markdown 写法，转义与正文相同：网址写成 ``<…>`` 不转义，
    强调用 HTML 标签（中文旁边的 ``*`` 常常不被当作强调）。"""
    from pybtex.backends.markdown import Backend

    tags = {"i": "em", "b": "strong", "tt": "code"}

    class BibliographyMarkdown(Backend):
        def format_str(self, text: str) -> str:
            return escape(text)

        def format_tag(self, tag_name: str, text: str) -> str:
            tag = tags.get(tag_name, tag_name)
            return f"<{tag}>{text}</{tag}>" if text else ""

    return BibliographyMarkdown()


def references_cell(app: Sphinx, citations: dict[str, str]) -> str | None:
    """本章引用的文献，条目与顺序都与网页的参考文献页相同。"""
    if not citations:
        return None
    backend = bibliography_backend()
    cited = [
        citation
        for citation in app.env.get_domain("cite").citations
        if citation.citation_id in citations
    ]
    missing = set(citations) - {c.citation_id for c in cited}
    if missing:
        raise UnsupportedNode(f"找不到这些文献：{sorted(missing)}")
    items = [
        "- " + " ".join(c.formatted_entry.text.render(backend).split("\n"))
        for c in cited
    ]
    return "## 参考文献\n\n" + "\n".join(items)


def reader_notebook(
    app: Sphinx, doctree: nodes.document, docname: str, executed_path: Path
) -> nbformat.NotebookNode:
    """一章的读者版笔记本。"""
    executed = nbformat.read(executed_path, as_version=4)
    writer = MarkdownWriter(app, docname, executed)
    writer.plan_removed_cells(doctree)
    writer.walk(doctree)
    writer.finish()

    cells = [nbformat.v4.new_markdown_cell(header_cell(app, docname))]
    for kind, payload, meta in writer.cells:
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(payload)
            cell.metadata = copy.deepcopy(meta)
        elif kind == "code":
            cell = code_cell(executed.cells[payload], meta)
        else:  # removed
            source = executed.cells[payload]
            note = GLUE_NOTE if "glue(" in source.source else PAGE_ONLY_NOTE
            cell = code_cell(source, meta, note=note)
        cells.append(cell)
    refs = references_cell(app, writer.citations)
    if refs:
        cells.append(nbformat.v4.new_markdown_cell(refs))
    for number, cell in enumerate(cells):
        cell["id"] = cell_id(docname, number)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": kernelspec(executed.metadata["kernelspec"]["name"]),
        "language_info": copy.deepcopy(
            executed.metadata.get("language_info", {"name": "python"})
        ),
    }
    nbformat.validate(notebook)
    return notebook


def kernelspec(name: str) -> dict:
    """内核的说明，照 Jupyter 打开笔记本时写进去的样子（取自内核自己）。

    JupyterLab 连上内核后会把这几项改成内核报告的值，不同就算改动；
    Binder 的 postBuild 还会按那里的内核再写一遍
    （``binder/stamp_kernel.py``）。
    """
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(name)
    return {
        "display_name": spec.display_name,
        "language": spec.language,
        "name": name,
    }


def notebook_text(notebook: nbformat.NotebookNode) -> str:
    """与 Jupyter 保存时相同的 JSON：缩进 1、键排序、中文不转义。"""
    text = nbformat.writes(notebook, version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


# ---------- Sphinx 事件 ----------


def is_chapter(app: Sphinx, docname: str) -> bool:
    return "kernelspec" in app.env.metadata.get(docname, {})


def executed_notebook(app: Sphinx, docname: str) -> Path:
    return Path(app.outdir).parent / "jupyter_execute" / f"{docname}.ipynb"


def on_doctree_resolved(app: Sphinx, doctree, docname: str) -> None:
    if app.builder.name != "html" or not is_chapter(app, docname):
        return
    path = executed_notebook(app, docname)
    if not path.is_file():  # 这一章执行失败时没有：失败另有报告
        logger.warning(
            f"{docname} 没有执行过的笔记本 {path}，不生成读者版",
            type="dlbook",
            subtype="reader_edition",
            location=docname,
        )
        return
    try:
        notebook = reader_notebook(app, doctree, docname, path)
    except UnsupportedNode as err:  # 警告（-W 时构建失败），其余页面照常
        logger.warning(
            f"读者版：{err}",
            type="dlbook",
            subtype="reader_edition",
            location=docname,
        )
        return
    store = getattr(app, STORE, None)
    if store is None:
        store = {}
        setattr(app, STORE, store)
    store[docname] = notebook_text(notebook)


def binder_branch(app: Sphinx) -> str | None:
    launch = app.config.html_theme_options.get("launch_buttons", {})
    return launch.get("binder_branch")


def on_page_context(app, pagename, templatename, context, doctree) -> None:
    """写出读者版（覆盖主题复制的执行版），Binder 按钮改为打开它。"""
    text = getattr(app, STORE, {}).pop(pagename, None)
    if text is None:
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, "utf-8")
    context["ipynb_source"] = f"{pagename}.ipynb"
    branch = binder_branch(app)
    if not branch:  # 没有配置 binder 分支：按钮照旧打开源分支上的 .md
        return
    source_branch = app.config.html_theme_options.get("repository_branch")
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []):
            url = button.get("url", "")
            if "/v2/gh/" in url:
                url = url.replace(f"/{source_branch}?", f"/{branch}?", 1)
                button["url"] = re.sub(r"\.md$", ".ipynb", url)


def setup(app: Sphinx) -> dict:
    # 这个模块改了，所有页面都要重写（读者版随之重新生成）：把它的摘要作为
    # 一个影响 html 的配置值，Sphinx 发现配置变了就重写全部页面
    source = Path(__file__).read_bytes()
    version = hashlib.sha256(source).hexdigest()[:16]
    app.add_config_value("dlbook_reader_edition", version, "html")
    app.connect("doctree-resolved", on_doctree_resolved)
    # 主题在优先级 501 复制执行版并生成按钮；这里在它之后
    app.connect("html-page-context", on_page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": False}
