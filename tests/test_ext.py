"""本地 Sphinx 扩展（_ext/）里对上游输出的每一处改写：目标还在时照常改，
目标不见了（上游升级）时大声失败，而不是悄悄不起作用。"""

from __future__ import annotations

import sys

import pytest
from sphinx.errors import ExtensionError

from conftest import ROOT

sys.path.insert(0, str(ROOT / "_ext"))
import dlbook
import zh_ui


def test_entry_point_loads_every_job_module():
    for name in dlbook.MODULES:
        assert (ROOT / "_ext" / f"{name}.py").is_file()


def test_toggle_label_is_replaced_or_the_build_fails():
    parts = ["<details>\n", '<summary aria-label="Toggle hidden content">\n']
    replaced = zh_ui.replace_toggle_label(parts)
    assert 'aria-label="展开或折叠"' in replaced[1]
    with pytest.raises(ExtensionError, match="myst-nb"):
        zh_ui.replace_toggle_label(['<summary aria-label="Toggle">\n'])


def test_citation_role_fix_or_the_build_fails():
    body = '<div role="list" class="citation-list"><div>x</div></div>'
    assert 'role="list"' not in zh_ui.fix_citation_list_role(body)
    assert zh_ui.fix_citation_list_role("<p>没有参考文献</p>") == (
        "<p>没有参考文献</p>"
    )
    with pytest.raises(ExtensionError, match="citation-list"):
        zh_ui.fix_citation_list_role('<ul class="citation-list"></ul>')


def test_overridden_templates_match_the_pinned_theme():
    zh_ui.check_overridden_templates()


def test_a_changed_upstream_template_fails_loudly(monkeypatch):
    name = "layout.html"
    package, path, _ = zh_ui.OVERRIDDEN_TEMPLATES[name]
    monkeypatch.setitem(
        zh_ui.OVERRIDDEN_TEMPLATES, name, (package, path, "0" * 16)
    )
    with pytest.raises(ExtensionError, match="主题升级"):
        zh_ui.check_overridden_templates()
    monkeypatch.setitem(
        zh_ui.OVERRIDDEN_TEMPLATES, name, (package, "no/such.html", "0" * 16)
    )
    with pytest.raises(ExtensionError, match="不见了"):
        zh_ui.check_overridden_templates()


def test_theme_packages_the_extension_patches_are_pinned():
    pins = (ROOT / "requirements.txt").read_text("utf-8")
    for package in ("sphinx-book-theme", "pydata-sphinx-theme", "myst-nb"):
        assert f"\n{package}==" in pins, package


def test_page_text_for_phrase_search_skips_code_and_math():
    """搜索页用来查找完整短语的正文：去掉空白、转成小写，不含代码与公式。"""
    import search_dict
    from docutils import nodes
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document

    doc = new_document("<test>", get_default_settings(Parser))
    doc += nodes.paragraph(text="张量的 形状\n叫 Shape。")
    doc += nodes.literal_block(text="x = torch.zeros(2, 3)  # 张量的形状")
    doc += nodes.math_block(text="y = Wx")
    assert search_dict.page_text(doc) == "张量的形状叫shape。"
    assert search_dict.PhraseSearchChinese.lang == "zh"
    assert "splitQuery" in search_dict.PhraseSearchChinese.js_splitter_code


def test_per_page_data_merges_only_the_pages_a_worker_read():
    import types

    import doc_store

    handlers = {}
    app = types.SimpleNamespace(
        connect=lambda event, fn: handlers.setdefault(event, fn)
    )
    doc_store.keep_per_doc(app, "dlbook_demo")
    env = types.SimpleNamespace()
    doc_store.per_doc(env, "dlbook_demo").update({"a": 1, "b": 2})
    worker = types.SimpleNamespace(dlbook_demo={"a": 1, "b": 20, "c": 30})
    handlers["env-merge-info"](app, env, {"b", "c"}, worker)
    assert env.dlbook_demo == {"a": 1, "b": 20, "c": 30}
    handlers["env-purge-doc"](app, env, "a")
    assert env.dlbook_demo == {"b": 20, "c": 30}
    # purge=False：页面重读前不清（exec_cache 的依赖摘要）
    handlers.clear()
    doc_store.keep_per_doc(app, "dlbook_deps", purge=False)
    assert set(handlers) == {"env-merge-info"}
