"""术语链接在悬停或获得键盘焦点时，就地显示术语表里的解释。

构建时从术语表页（``{glossary}`` 指令）取出每个术语的锚点、名字和解释，写成
``_static/dlbook-glossary-data.js``；``_static/dlbook-glossary.js``（本目录
``static/`` 下）给每个指向术语表的链接加上提示框：鼠标移上去或用 Tab 键
移到链接上时出现，移开、失去焦点或按 Esc 时消失，读屏软件通过
``aria-describedby`` 读出它。两个脚本都随网站发布，不从别的网站加载任何东西。
"""

from __future__ import annotations

import json
from pathlib import Path

from doc_store import keep_per_doc, per_doc
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx

STATIC = Path(__file__).with_name("static")
DATA_FILE = "dlbook-glossary-data.js"


def collect_terms(app: Sphinx, doctree: nodes.document) -> None:
    """读到含 glossary 的页面时，记下每个术语：锚点 → (名字, 解释)。"""
    env = app.env
    docname = env.docname
    terms = {}
    for glossary in doctree.findall(addnodes.glossary):
        for item in glossary.findall(nodes.definition_list_item):
            term_nodes = list(item.findall(nodes.term))
            definitions = list(item.findall(nodes.definition))
            if not term_nodes or not definitions:
                continue
            text = " ".join(definitions[0].astext().split())
            for term in term_nodes:
                for anchor in term["ids"]:
                    terms[anchor] = (term.astext(), text)
    if terms:
        per_doc(env, "dlbook_glossary")[docname] = terms


def glossary_data(env) -> dict[str, dict[str, str]]:
    """``{页面: {锚点: {"term": 名字, "definition": 解释}}}``。"""
    return {
        docname: {
            anchor: {"term": term, "definition": text}
            for anchor, (term, text) in sorted(terms.items())
        }
        for docname, terms in sorted(per_doc(env, "dlbook_glossary").items())
    }


def write_data(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    data = {
        app.builder.get_target_uri(docname).split("#")[0]: terms
        for docname, terms in glossary_data(app.env).items()
    }
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    target = Path(app.outdir) / "_static" / DATA_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"window.DLBOOK_GLOSSARY = {text};\n", "utf-8")


def add_static_path(app: Sphinx, config) -> None:
    if str(STATIC) not in config.html_static_path:
        config.html_static_path.append(str(STATIC))


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", add_static_path)
    app.connect("doctree-read", collect_terms)
    keep_per_doc(app, "dlbook_glossary")
    app.connect("build-finished", write_data)
    app.add_js_file(DATA_FILE)
    app.add_js_file("dlbook-glossary.js")
    app.add_css_file("dlbook-glossary.css")
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
