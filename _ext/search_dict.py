"""中文全文搜索。

- 确认 jieba 可用，并把用户词典换成绝对路径，从任何工作目录构建都能加载
  （找不到词典时 Sphinx 会悄悄忽略）；
- 查询按索引自己的词表切词、含有完整短语的页面排在最前（``phrase_search.js``，
  作为中文搜索的 ``js_splitter_code`` 放进 ``language_data.js``）；
- 每页去掉空白的正文写到 ``_static/dlbook-page-text.js``，只有搜索页载入，
  用来判断哪一页含有完整的短语；
- Sphinx 的中文搜索把见过的拉丁词记在一个类属性的列表里，每个词都要在整个
  列表里查一遍：输出越长越慢（平方级：打印 20 MB 的一章要构建 644 秒），
  而且这个列表在同一个进程里跨构建累积（``scripts/preview.py``）。这里改成
  每次构建新建的集合，查找结果不变。
"""

from __future__ import annotations

import json
from pathlib import Path

from doc_store import keep_per_doc, per_doc
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.search.zh import SearchChinese

try:
    import jieba
except ImportError:  # _configure 会说明怎样安装
    jieba = None

USER_DICT = Path("book") / "_static" / "jieba_userdict.txt"


def _configure(app: Sphinx, config: Config) -> None:
    if jieba is None:
        # 没有 jieba 时 Sphinx 只索引拉丁字母，中文搜索会静默失效
        raise ConfigError(
            "中文搜索需要 jieba：请先 pip install -r requirements.txt"
        )
    user_dict = Path(app.srcdir) / USER_DICT
    if not user_dict.is_file():
        raise ConfigError(f"找不到 jieba 用户词典 {user_dict}")
    options = dict(config.html_search_options or {})
    options["dict"] = str(user_dict)
    config.html_search_options = options


class PhraseSearchChinese(SearchChinese):
    """Sphinx 的中文搜索，加上浏览器里按索引词表切分查询的 splitQuery；
    见过的拉丁词放在每个实例（每次构建一个）自己的集合里。"""

    js_splitter_code = (
        Path(__file__).with_name("phrase_search.js").read_text("utf-8")
    )

    def init(self, options: dict[str, str]) -> None:
        super().init(options)
        self.latin_terms: set[str] = set()

    def split(self, input: str) -> list[str]:
        # 与上游的 SearchChinese.split 相同，只是记进集合而不是类属性的列表
        chinese = list(jieba.cut_for_search(input)) if jieba else []
        latin = [term.strip() for term in self.latin1_letters.findall(input)]
        self.latin_terms.update(latin)
        return chinese + latin


PAGE_TEXT = "dlbook-page-text.js"
SKIPPED = (nodes.literal_block, nodes.math, nodes.math_block, nodes.raw)


def page_text(doctree: nodes.document) -> str:
    """页面正文（不含代码、公式），去掉所有空白、转成小写：用来查找短语。"""
    return "".join(
        "".join(node.astext().split())
        for node in doctree.findall(nodes.Text)
        if not any(isinstance(a, SKIPPED) for a in _ancestors(node))
    ).lower()


def _ancestors(node: nodes.Node):
    while node.parent is not None:
        node = node.parent
        yield node


def _record_text(app: Sphinx, doctree: nodes.document) -> None:
    per_doc(app.env, "dlbook_page_text")[app.env.docname] = page_text(doctree)


def _missing_text(app, env, added, changed, removed) -> list[str]:
    """``env-get-outdated``：还没有记下正文的页面（如旧版本建的环境）重读一次。"""
    texts = per_doc(env, "dlbook_page_text")
    return sorted(env.found_docs - added - changed - set(texts))


def _add_page_text(app, pagename, templatename, context, doctree) -> None:
    if pagename == "search":
        context["script_files"].append(f"_static/{PAGE_TEXT}")


def _write_page_text(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    texts = per_doc(app.env, "dlbook_page_text")
    data = json.dumps(dict(sorted(texts.items())), ensure_ascii=False)
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / PAGE_TEXT).write_text(
        f"var DLBOOK_PAGE_TEXT = {data};\n", "utf-8"
    )


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _configure)
    app.add_search_language(PhraseSearchChinese)
    app.connect("doctree-read", _record_text)
    app.connect("env-get-outdated", _missing_text)
    keep_per_doc(app, "dlbook_page_text")
    app.connect("html-page-context", _add_page_text)
    app.connect("build-finished", _write_page_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
