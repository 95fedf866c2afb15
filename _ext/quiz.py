"""自测题：``{quiz}`` 指令，每道题一个，在静态网站上就能作答。

一道选择题写成一个指令：题干在前，选项写成定义列表，每个选项下面是它自己的
反馈（为什么对、为什么错）::

    ```{quiz}
    :answer: B
    :explain: 常见错误：先 softmax，再交给 `nn.CrossEntropyLoss`

    `nn.CrossEntropyLoss` 的第一个参数应当是什么？

    softmax 之后的概率
    : 不对：它内部已经做了 log-softmax……

    模型输出的 logits
    : 对：……
    ```

- ``:answer:`` 正确选项的字母（A 是第一个选项）；多选题写几个字母并加
  ``:multiple:``，读者用复选框作答。
- 数值题不写选项，写 ``:value:``（一个数，或 ``glue:键``：取本章 glue 的值，
  实验一变，答案跟着变）、``:tolerance:``（绝对误差，如 ``0.05``；或相对误差，
  如 ``5%``）、可选的 ``:format:``（答案怎样显示，Python 的格式说明，
  默认 ``g``）与 ``:unit:``；定义列表里写 ``提示``（答错时显示）与
  ``解析``（答对或看答案时显示）。
- ``:explain:`` 本章讲解这道题的一节的标题（几节用 ``|`` 隔开）：每条反馈后面
  都链接到那里，链接文字带节号，标题改了构建会报错。

网页上（``static/dlbook-quiz.js`` 与 ``.css``，只在有自测的页面加载）：原生的
单选按钮、复选框和输入框，各有标签；“检查答案”后，结果与所选选项的反馈写进
``role="status"`` 的区域，读屏软件会读出；答错可以改了再查；“显示答案与解析”是
原生的 ``<details>``，不靠脚本也能打开。题目的 id 由页面名和题号决定，HTML 每次
构建都一样；选项不打乱。打印与 PDF 不显示按钮与反馈，章末印出答案
（``quiz_key``，屏幕上带 ``hidden``）。

读者版笔记本（``reader_edition``）里，每道题写成 Markdown：题干、带字母的选项，
答案与每个选项的反馈收在 ``<details>`` 里（JupyterLab 渲染它，点开才看到）。

参考解答的检查：章节里“编程练习”的解答运行 ``dlbasics.check`` 的检查器；
解答里的检查结果若不是通过（输出以 ``FAIL_MARK`` 开头），构建报警告
（``-W`` 时失败），所以构建本身证明参考解答能通过检查。
"""

from __future__ import annotations

import ast
import hashlib
import html
import json
import math
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
SCRIPT = "dlbook-quiz.js"
STYLE = "dlbook-quiz.css"
LETTERS = "ABCDEFGH"
NUMERIC_TERMS = ("提示", "解析")
# dlbasics.checker 打印的报告的第一行（tests/test_check.py 核对两处一致）
PASS_MARK = "✓ 检查通过"
FAIL_MARK = "✗ 检查没有通过"


class quiz_question(nodes.General, nodes.Element):
    """一道题。属性：kind（single/multiple/numeric）、answer（正确选项的
    下标）、value/tolerance/glue/shown（数值题）、explain（讲解的节）、
    docname；number（“5.3”）在解析引用之后填上。"""


class quiz_stem(nodes.General, nodes.Element):
    """题干（块级内容）。"""


class quiz_choices(nodes.General, nodes.Element):
    """选项组：单选按钮或复选框。"""


class quiz_option(nodes.Part, nodes.TextElement):
    """一个选项（行内内容：链接、公式、glue 的数字都可以）；属性 index。"""


class quiz_numeric(nodes.General, nodes.Element):
    """数值题的输入框。"""


class quiz_answer(nodes.General, nodes.Element):
    """“显示答案与解析”：答案与每个选项的反馈。"""


class quiz_feedback(nodes.General, nodes.Element):
    """一条反馈（块级内容）；属性 index（选项下标）或 role（提示/解析）。"""


class quiz_explain(nodes.General, nodes.Element):
    """“讲解：”后面链接到本章的节；属性 titles。"""


class quiz_key(nodes.General, nodes.Element):
    """章末的答案（打印与 PDF 用；屏幕上隐藏）。"""


# ---------- 解析指令 ----------


def parse_tolerance(text: str) -> tuple[float, bool]:
    """``"0.05"`` → (0.05, False)；``"5%"`` → (0.05, True)（相对误差）。"""
    text = text.strip()
    relative = text.endswith("%")
    number = float(text.rstrip("%").strip())
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"容许误差应是非负的数，收到 {text!r}")
    return (number / 100 if relative else number), relative


def parse_letters(text: str, count: int) -> list[int]:
    """``"B"``、``"A C"``、``"A,C"`` → 选项下标（从 0 数）。"""
    letters = re.findall(r"[A-Za-z]", text)
    if not letters or re.sub(r"[A-Za-z,，、\s]", "", text):
        raise ValueError(
            f"answer 应写正确选项的字母，如 B 或 A C，收到 {text!r}"
        )
    indices = sorted({LETTERS.index(c.upper()) for c in letters})
    if indices[-1] >= count:
        raise ValueError(f"只有 {count} 个选项，answer 却写了 {text!r}")
    return indices


def tolerance_text(question: quiz_question) -> str:
    if question["relative"]:
        return f"±{question['tolerance'] * 100:g}%"
    return f"±{question['tolerance']:g}"


def is_correct_value(question: quiz_question, guess: float) -> bool:
    """浏览器里同样的判定（``dlbook-quiz.js``）：误差不超过容许误差。"""
    value, tol = question["value"], question["tolerance"]
    bound = abs(value) * tol if question["relative"] else tol
    return abs(guess - value) <= bound * (1 + 1e-9) + 1e-12


class QuizDirective(SphinxDirective):
    """``{quiz}``：一道自测题（见模块说明）。"""

    has_content = True
    option_spec = {  # noqa: RUF012  （docutils 的接口）
        "answer": directives.unchanged_required,
        "multiple": directives.flag,
        "value": directives.unchanged_required,
        "tolerance": directives.unchanged_required,
        "format": directives.unchanged_required,
        "unit": directives.unchanged_required,
        "explain": directives.unchanged_required,
    }

    def run(self) -> list[nodes.Node]:
        body = nodes.Element()
        self.state.nested_parse(self.content, self.content_offset, body)
        children = list(body.children)
        if not children or not isinstance(children[-1], nodes.definition_list):
            raise self.error(
                "自测题的最后应是定义列表：选择题每个选项一项（选项文字，"
                "下一行以“: ”开头写反馈）；数值题写“提示”与“解析”两项"
            )
        items = children[-1].children
        stem_nodes = children[:-1]
        if not stem_nodes:
            raise self.error("自测题缺少题干")
        explain = [
            t.strip() for t in self.options.get("explain", "").split("|")
        ]
        explain = [t for t in explain if t]
        if not explain:
            raise self.error(
                ":explain: 应写本章讲解这道题的一节的标题（几节用 | 隔开）"
            )
        question = quiz_question()
        question["docname"] = self.env.docname
        question["explain"] = explain
        self.set_source_info(question)
        question += quiz_stem("", *stem_nodes)
        if "value" in self.options:
            self.numeric(question, items)
        else:
            self.choices(question, items)
        return [question]

    def item_parts(self, item) -> tuple[nodes.term, nodes.definition]:
        terms = [c for c in item.children if isinstance(c, nodes.term)]
        definitions = [
            c for c in item.children if isinstance(c, nodes.definition)
        ]
        if len(terms) != 1 or len(definitions) != 1:
            raise self.error("定义列表的每一项应是一行选项文字加一段反馈")
        if not definitions[0].astext().strip():
            raise self.error(f"选项“{terms[0].astext()}”没有反馈")
        return terms[0], definitions[0]

    def choices(self, question: quiz_question, items) -> None:
        if len(items) < 2 or len(items) > len(LETTERS):
            raise self.error(
                f"选择题应有 2 到 {len(LETTERS)} 个选项，收到 {len(items)} 个"
            )
        for name in ("tolerance", "format", "unit"):
            if name in self.options:
                raise self.error(f":{name}: 只用于数值题（写了 :value: 的题）")
        try:
            answer = parse_letters(self.options.get("answer", ""), len(items))
        except ValueError as err:
            raise self.error(str(err)) from None
        multiple = "multiple" in self.options
        if not multiple and len(answer) != 1:
            raise self.error("单选题只能有一个答案；多选题请加 :multiple:")
        question["kind"] = "multiple" if multiple else "single"
        question["answer"] = answer
        group = quiz_choices()
        answer_node = quiz_answer()
        for index, item in enumerate(items):
            term, definition = self.item_parts(item)
            group += quiz_option("", "", *term.children, index=index)
            answer_node += quiz_feedback("", *definition.children, index=index)
        question += group
        question += answer_node

    def numeric(self, question: quiz_question, items) -> None:
        if "answer" in self.options or "multiple" in self.options:
            raise self.error("数值题用 :value: 给答案，不写 :answer:")
        raw = self.options["value"].strip()
        glue_key = None
        try:
            if raw.startswith("glue:"):
                glue_key = raw.removeprefix("glue:").strip()
                value = glued_number(self.state.document, glue_key)
            else:
                value = float(raw)
            if "tolerance" not in self.options:
                raise ValueError(
                    "数值题要写 :tolerance:（如 0.05，或相对误差 5%）"
                )
            tolerance, relative = parse_tolerance(self.options["tolerance"])
            fmt = self.options.get("format", "g")
            shown = format(value, fmt)
        except (ValueError, KeyError) as err:
            raise self.error(f"数值题：{err}") from None
        if not math.isfinite(value):
            raise self.error(f"数值题的答案应是有限的数，收到 {value}")
        terms = {}
        for item in items:
            term, definition = self.item_parts(item)
            terms[term.astext().strip()] = definition
        if sorted(terms) != sorted(NUMERIC_TERMS):
            raise self.error(
                "数值题的定义列表应正好有“提示”（答错时显示）与"
                f"“解析”（答对时显示）两项，收到 {sorted(terms)}"
            )
        question["kind"] = "numeric"
        question["value"] = value
        question["tolerance"] = tolerance
        question["relative"] = relative
        question["shown"] = shown
        question["unit"] = self.options.get("unit", "")
        question["glue"] = glue_key
        question += quiz_numeric()
        answer_node = quiz_answer()
        for role in NUMERIC_TERMS:
            answer_node += quiz_feedback("", *terms[role].children, role=role)
        question += answer_node


def glued_number(document: nodes.document, key: str) -> float:
    """本章 glue 的值（``glue(key, value)``），作为一个数。"""
    from myst_nb.ext.glue.utils import RetrievalError, retrieve_glue_data

    try:
        data = retrieve_glue_data(document, key)
    except RetrievalError:
        raise KeyError(f"本章没有 glue 键 {key!r}") from None
    text = data.data.get("text/plain", "")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"glue 键 {key!r} 的值 {text!r} 不是数") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"glue 键 {key!r} 的值 {text!r} 不是数")
    return float(value)


# ---------- 解析引用之后：题号、讲解的链接、章末答案 ----------


def chapter_of(node: nodes.Node) -> nodes.Element | None:
    """``node`` 所在的一章：单页 HTML 里是它那一章的 start_of_file。"""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, addnodes.start_of_file):
            return parent
        parent = parent.parent
    return None


def section_links(app: Sphinx, scope: nodes.Element, docname: str) -> dict:
    """本章的节：标题文字 → (id, “5.4 标题”)。"""
    numbers = app.env.toc_secnumbers.get(docname, {})
    found: dict[str, tuple[str, str]] = {}
    for section in scope.findall(nodes.section):
        if not section["ids"] or not isinstance(section[0], nodes.title):
            continue
        title = section[0].astext().strip()
        number = numbers.get("#" + section["ids"][0])
        label = ".".join(map(str, number)) + " " if number else ""
        found.setdefault(title, (section["ids"][0], label + title))
    return found


def chapter_number(app: Sphinx, docname: str) -> str:
    number = app.env.toc_secnumbers.get(docname, {}).get("")
    return ".".join(map(str, number)) if number else ""


def answer_text(question: quiz_question) -> str:
    if question["kind"] == "numeric":
        unit = f" {question['unit']}" if question["unit"] else ""
        tol = tolerance_text(question)
        return f"{question['shown']}{unit}（{tol} 以内都算对）"
    return "、".join(LETTERS[i] for i in question["answer"])


def resolve_questions(app: Sphinx, doctree: nodes.document, docname) -> None:
    """题号、讲解的链接、章末的答案；出了问题报警告（``-W`` 时构建失败）。"""
    questions = list(doctree.findall(quiz_question))
    if not questions:
        check_reference_solutions(doctree, docname)
        return
    by_chapter: dict[str, list[quiz_question]] = {}
    for question in questions:
        by_chapter.setdefault(question["docname"], []).append(question)
    for chapter_doc, group in by_chapter.items():
        scope = chapter_of(group[0]) or doctree
        links = section_links(app, scope, chapter_doc)
        prefix = chapter_number(app, chapter_doc)
        for number, question in enumerate(group, 1):
            question["number"] = (
                f"{prefix}.{number}" if prefix else str(number)
            )
            stem = "quiz-" + chapter_doc.rsplit("/", 1)[-1]
            question["html_id"] = f"{stem}-{number}"
            add_explain_links(question, links)
        scope += key_node(group)
    check_reference_solutions(doctree, docname)


def add_explain_links(question: quiz_question, links: dict) -> None:
    explain = quiz_explain()
    paragraph = nodes.paragraph()
    paragraph += nodes.Text("讲解：")
    for i, title in enumerate(question["explain"]):
        if title not in links:
            logger.warning(
                f"自测 {question['number']}：本章没有标题为“{title}”的一节"
                f"（:explain: 要写节的标题，现有：{'、'.join(links)}）",
                type="dlbook",
                subtype="quiz",
                location=question,
            )
            continue
        refid, label = links[title]
        if i:
            paragraph += nodes.Text("；")
        reference = nodes.reference("", "", internal=True, refid=refid)
        reference += nodes.Text(label)
        paragraph += reference
    explain += paragraph
    answer = next(iter(question.findall(quiz_answer)))
    answer += explain


def key_node(questions: list[quiz_question]) -> quiz_key:
    """章末的答案：每题一行，加上正确选项（或数值题的解析）的反馈。"""
    key = quiz_key()
    key += nodes.paragraph("", "", nodes.strong("", "自测答案"))
    items = nodes.bullet_list()
    for question in questions:
        item = nodes.list_item()
        line = nodes.paragraph()
        line += nodes.strong("", f"自测 {question['number']}：")
        line += nodes.Text(answer_text(question))
        item += line
        for feedback in question.findall(quiz_feedback):
            index = feedback.get("index")
            if feedback.get("role") == "解析" or (
                index is not None and index in question.get("answer", [])
            ):
                for child in feedback.children:
                    copy = child.deepcopy()
                    # 复制的 glue 数字不再算作页面上的 glue（每个只数一次）
                    for pasted in copy.findall(nodes.inline):
                        if "pasted-text" in pasted["classes"]:
                            pasted["classes"].remove("pasted-text")
                    item += copy
        items += item
    key += items
    return key


def check_reference_solutions(doctree: nodes.document, docname: str) -> None:
    """解答里运行检查器的输出必须是“通过”：构建证明参考解答是对的。"""
    for solution in doctree.findall(
        lambda n: getattr(n, "tagname", "") == "solution_node"
    ):
        for block in solution.findall(nodes.literal_block):
            if FAIL_MARK in block.astext():
                logger.warning(
                    f"{docname}：解答里的参考代码没有通过检查器："
                    f"{block.astext().strip().splitlines()[0]}",
                    type="dlbook",
                    subtype="quiz",
                    location=block,
                )


# ---------- HTML ----------


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def visit_question(self, node: quiz_question) -> None:
    qid = node.get("html_id", "quiz")
    data = {"data-kind": node["kind"]}
    if node["kind"] == "numeric":
        data.update(
            {
                "data-value": repr(node["value"]),
                "data-tolerance": repr(node["tolerance"]),
                "data-relative": "true" if node["relative"] else "false",
                "data-shown": node["shown"],
                "data-unit": node["unit"],
            }
        )
        if node.get("glue"):
            data["data-glue"] = node["glue"]
    else:
        data["data-answer"] = json.dumps(node["answer"])
    attributes = "".join(f' {k}="{esc(v)}"' for k, v in data.items())
    self.body.append(
        f'<div class="dlbook-quiz" id="{esc(qid)}"{attributes}>'
        f'<form class="dlbook-quiz-form" novalidate>'
    )


def depart_question(self, node: quiz_question) -> None:
    self.body.append("</form></div>\n")


KIND_NAMES = {"single": "单选", "multiple": "多选", "numeric": "填一个数"}
KIND_HINTS = {
    "single": "单选",
    "multiple": "多选：选出所有正确的答案",
    "numeric": "填一个数",
}


def visit_stem(self, node: quiz_stem) -> None:
    question = node.parent
    qid = question.get("html_id", "quiz")
    self.body.append(
        f'<div class="dlbook-quiz-stem" id="{esc(qid)}-stem">'
        f'<p class="dlbook-quiz-title"><strong>自测 '
        f"{esc(question.get('number', ''))}</strong>"
        f'<span class="dlbook-quiz-kind">（{KIND_HINTS[question["kind"]]}）'
        "</span></p>"
    )


def depart_stem(self, node: quiz_stem) -> None:
    self.body.append("</div>")


def controls(qid: str) -> str:
    """“检查答案”按钮与读屏软件会读出的结果区。脚本运行后才启用按钮。"""
    return (
        '<div class="dlbook-quiz-actions">'
        '<button type="submit" class="dlbook-quiz-check" disabled>'
        "检查答案</button></div>"
        f'<div class="dlbook-quiz-feedback" id="{esc(qid)}-feedback" '
        'role="status" aria-live="polite"></div>'
    )


def visit_choices(self, node: quiz_choices) -> None:
    qid = node.parent.get("html_id", "quiz")
    self.body.append(
        f'<fieldset class="dlbook-quiz-choices" '
        f'aria-labelledby="{esc(qid)}-stem">'
    )


def depart_choices(self, node: quiz_choices) -> None:
    qid = node.parent.get("html_id", "quiz")
    self.body.append("</fieldset>" + controls(qid))


def visit_option(self, node: quiz_option) -> None:
    question = node.parent.parent
    qid = question.get("html_id", "quiz")
    kind = "checkbox" if question["kind"] == "multiple" else "radio"
    index = node["index"]
    self.body.append(
        f'<div class="dlbook-quiz-option" data-option="{index}">'
        f'<input type="{kind}" id="{esc(qid)}-{index}" name="{esc(qid)}" '
        f'value="{index}" disabled>'
        f'<label for="{esc(qid)}-{index}">'
        f'<span class="dlbook-quiz-letter">{LETTERS[index]}.</span> '
    )


def depart_option(self, node: quiz_option) -> None:
    self.body.append("</label></div>")


def visit_numeric(self, node: quiz_numeric) -> None:
    question = node.parent
    qid = question.get("html_id", "quiz")
    unit = f"（单位：{esc(question['unit'])}）" if question["unit"] else ""
    self.body.append(
        '<div class="dlbook-quiz-numeric">'
        f'<label for="{esc(qid)}-input">你的答案{unit}，'
        f"与正确答案相差 {esc(tolerance_text(question))} 以内都算对：</label>"
        f'<input type="text" inputmode="decimal" autocomplete="off" '
        f'spellcheck="false" id="{esc(qid)}-input" name="{esc(qid)}" '
        "disabled></div>" + controls(qid)
    )
    raise nodes.SkipNode


def depart_numeric(self, node: quiz_numeric) -> None:
    pass


def visit_answer(self, node: quiz_answer) -> None:
    question = node.parent
    self.body.append(
        '<details class="dlbook-quiz-answer">'
        "<summary>显示答案与解析</summary>"
        f'<p class="dlbook-quiz-solution"><strong>答案：'
        f"{esc(answer_text(question))}</strong></p>"
    )


def depart_answer(self, node: quiz_answer) -> None:
    self.body.append("</details>")


def visit_feedback(self, node: quiz_feedback) -> None:
    question = node.parent.parent
    if node.get("role"):
        label = node["role"]
        marker = f'data-role="{"hint" if label == "提示" else "explanation"}"'
        head = f"{label}："
    else:
        index = node["index"]
        right = index in question["answer"]
        marker = f'data-option="{index}" data-correct="{str(right).lower()}"'
        head = f"{LETTERS[index]} {'✓' if right else '✗'}"
    self.body.append(
        f'<div class="dlbook-quiz-note" {marker}>'
        f'<p class="dlbook-quiz-note-head"><strong>{esc(head)}</strong></p>'
    )


def depart_feedback(self, node: quiz_feedback) -> None:
    self.body.append("</div>")


def visit_explain(self, node: quiz_explain) -> None:
    self.body.append('<div class="dlbook-quiz-explain">')


def depart_explain(self, node: quiz_explain) -> None:
    self.body.append("</div>")


def visit_key(self, node: quiz_key) -> None:
    # 屏幕上不显示（答案在每道题的“显示答案与解析”里）；打印时显示
    self.body.append('<div class="dlbook-quiz-key" hidden="hidden">')


def depart_key(self, node: quiz_key) -> None:
    self.body.append("</div>\n")


def add_assets(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """脚本与样式只加在有自测题的页面上。"""
    if doctree is not None and next(doctree.findall(quiz_question), None):
        app.add_js_file(SCRIPT)
        app.add_css_file(STYLE)


# ---------- 读者版笔记本 ----------


def question_markdown(writer, node: quiz_question) -> str:
    """读者版里的一道题：题干与选项，答案和反馈收在 ``<details>`` 里。"""
    kind = KIND_NAMES[node["kind"]]
    title = f"<strong>自测 {node.get('number', '')}</strong>（{kind}）"
    stem = next(iter(node.findall(quiz_stem)))
    parts = [title, writer.blocks(stem.children)]
    if node["kind"] == "numeric":
        unit = f"，单位：{node['unit']}" if node["unit"] else ""
        parts.append(
            f"（填一个数{unit}；与正确答案相差 "
            f"{tolerance_text(node)} 以内都算对。）"
        )
    else:
        options = [
            f"- {LETTERS[option['index']]}. {writer.inline(option)}"
            for option in node.findall(quiz_option)
        ]
        parts.append("\n".join(options))
    answer = [f"<strong>答案：{answer_text(node)}</strong>"]
    for feedback in node.findall(quiz_feedback):
        if feedback.get("role"):
            head = f"{feedback['role']}："
        else:
            right = feedback["index"] in node["answer"]
            mark = "✓" if right else "✗"
            head = f"{LETTERS[feedback['index']]} {mark} "
        body = writer.blocks(feedback.children)
        answer.append(f"<strong>{head}</strong>{body}")
    for explain in node.findall(quiz_explain):
        answer.append(writer.blocks(explain.children))
    details = (
        "<details><summary>显示答案与解析</summary>\n\n"
        + "\n\n".join(answer)
        + "\n\n</details>"
    )
    return "\n\n".join([*parts, details])


def register_reader_edition() -> None:
    import reader_edition

    reader_edition.BLOCK_WRITERS["quiz_question"] = question_markdown
    reader_edition.BLOCK_WRITERS["quiz_key"] = lambda writer, node: ""


# ---------- setup ----------


def add_static_path(app: Sphinx, config) -> None:
    if str(STATIC) not in config.html_static_path:
        config.html_static_path.append(str(STATIC))


def setup(app: Sphinx) -> dict:
    # 这个模块或脚本、样式改了，所有页面都要重写
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for name in (SCRIPT, STYLE):
        digest.update((STATIC / name).read_bytes())
    app.add_config_value("dlbook_quiz", digest.hexdigest()[:16], "html")
    app.connect("config-inited", add_static_path)
    app.add_directive("quiz", QuizDirective)
    pairs = {
        quiz_question: (visit_question, depart_question),
        quiz_stem: (visit_stem, depart_stem),
        quiz_choices: (visit_choices, depart_choices),
        quiz_option: (visit_option, depart_option),
        quiz_numeric: (visit_numeric, depart_numeric),
        quiz_answer: (visit_answer, depart_answer),
        quiz_feedback: (visit_feedback, depart_feedback),
        quiz_explain: (visit_explain, depart_explain),
        quiz_key: (visit_key, depart_key),
    }
    for node, handlers in pairs.items():
        # 单页 HTML（PDF 用它打印）要单独登记：别的扩展登记了 singlehtml 的
        # 节点时，Sphinx 不再回退到 html 的处理函数
        app.add_node(
            node, html=handlers, singlehtml=handlers, dirhtml=handlers
        )
    # 在读者版（优先级 500）之前：题号与章末答案要先填好
    app.connect("doctree-resolved", resolve_questions, priority=400)
    app.connect("html-page-context", add_assets)
    register_reader_edition()
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
