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


def test_extension_list_is_jupyter_books_without_thebe():
    """_config.yml 列出全部扩展，替换 Jupyter Book 的默认列表：只少了
    sphinx_thebe（它在每页把同一个 const 声明内联两次，浏览器报 SyntaxError）。
    Jupyter Book 升级后默认列表多了扩展时，这里提醒把它加进来。"""
    from jupyter_book.config import get_default_sphinx_config

    from conftest import book_config

    ours = book_config()["sphinx"]["config"]["extensions"]
    default = get_default_sphinx_config()["extensions"]
    assert "sphinx_thebe" in default and "sphinx_thebe" not in ours
    assert set(default) - set(ours) == {"sphinx_thebe"}
    assert len(ours) == len(set(ours)) and ours[-1] == "dlbook"


def test_unneeded_scripts_are_dropped_or_the_build_fails():
    import lean_pages

    head = (
        '<script src="../_static/searchtools.js"></script>\n'
        '  <script defer src="_static/scripts/fontawesome.js?digest=1">'
        "</script>\n"
        '<link rel="preload" as="script" href="../searchindex.js" />\n'
        '<script src="../_static/doctools.js"></script>'
    )
    kept = lean_pages.without_scripts(
        head, "fontawesome.js", "searchtools.js", "searchindex.js"
    )
    assert kept.strip() == '<script src="../_static/doctools.js"></script>'
    with pytest.raises(ExtensionError, match="主题升级"):
        lean_pages.without_scripts(head, "no-such.js")


def test_icon_glyphs_are_the_classes_and_characters_the_site_uses():
    import lean_pages

    css = (
        '.fa-bars:before,.fa-navicon:before{content:"\\f0c9"}'
        '.fa-rocket:before{content:"\\f135"}'
        ':root{--pst-icon-bell:"\uf0f3"}.x:after{content:"\\f303"}'
        "@font-face{font-display:block;font-family:Font Awesome\\ 6 Free;"
        "font-style:normal;font-weight:900;src:url(../w/fa-solid-900.woff2)"
        ' format("woff2"),url(../w/fa-solid-900.ttf) format("truetype")}'
    )
    assert lean_pages.class_codepoints(css) == {
        "fa-bars": 0xF0C9,
        "fa-navicon": 0xF0C9,
        "fa-rocket": 0xF135,
    }
    assert lean_pages.css_codepoints(css) == {0xF0F3, 0xF303}
    (face,) = lean_pages.font_faces(css)
    assert face == {
        "family": "Font Awesome 6 Free",
        "weight": "900",
        "style": "normal",
        "ttf": "../w/fa-solid-900.ttf",
    }


def test_icons_are_collected_from_pages_and_scripts_but_not_mathjax(
    tmp_path,
):
    import lean_pages

    css = (
        '.fa-bars:before{content:"\\f0c9"}.fa-rocket:before{content:"\\f135"}'
    )
    site = tmp_path / "mathjax" / "html"  # 网站所在的目录名不算
    for path, text in {
        "book/a.html": '<i class="fa fa-bars"></i>',
        "_static/app.js": "icon('fa-rocket')",
        "_static/mathjax/sre/x.js": "fa-bars fa-rocket",
        "_static/scripts/fontawesome.js": "fa-rocket",
    }.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text, "utf-8")
    assert lean_pages.used_codepoints(site, css) == {0xF0C9, 0xF135}
    (site / "_static/app.js").unlink()
    assert lean_pages.used_codepoints(site, css) == {0xF0C9}


def test_slider_frames_become_files_and_hidden_ones_load_on_demand():
    import base64
    import io

    import lean_pages
    from PIL import Image

    def png(color) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (30, 20), color).save(out, format="PNG")
        return out.getvalue()

    frames = [png("red"), png("blue")]
    red, blue = (base64.b64encode(f).decode() for f in frames)
    body = (
        f'<img src="data:image/png;base64,{red}" class="dlbook-slider-default"'
        f' alt="a"><img src="data:image/png;base64,{blue}" hidden="hidden"'
        f' alt="b">'
    )
    saved = {}
    new, changed = lean_pages.externalize_frames(
        body, saved.__setitem__, lambda name: f"../_images/{name}"
    )
    assert changed and "data:" not in new
    assert sorted(saved.values()) == sorted(frames)
    first, second = new.split("><")
    assert 'width="30" height="20"' in first and "loading" not in first
    assert 'hidden="hidden" loading="lazy" alt="b"' in second
    assert lean_pages.externalize_frames("<p>无图</p>", None, None) == (
        "<p>无图</p>",
        False,
    )


def test_generated_figures_become_palette_pngs():
    import io

    import lean_pages
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (200, 100), "white")
    draw = ImageDraw.Draw(image)
    for i in range(20):  # 抗锯齿的斜线：真彩色里有很多种颜色
        draw.line(
            (0, i * 5, 200, 100 - i * 3), fill=(i * 12, 80, 200), width=2
        )
    out = io.BytesIO()
    image.save(out, format="PNG")
    smaller = lean_pages.palette_png(out.getvalue())
    assert smaller is not None and len(smaller) < len(out.getvalue())
    assert Image.open(io.BytesIO(smaller)).mode == "P"
    assert lean_pages.palette_png(smaller) is None  # 已经是调色板
    clear = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(clear, format="PNG")
    assert lean_pages.palette_png(clear.getvalue()) is None  # 有透明部分


def test_chinese_search_keeps_latin_terms_per_build_in_a_set():
    """Sphinx 的中文搜索把拉丁词记在类属性的列表里、每个词在整个列表里查一遍
    （输出越长越慢，且在同一进程里跨构建累积）。本书的子类每次构建一个集合，
    切词与词干的结果与上游相同。"""
    import search_dict
    from sphinx.search.zh import SearchChinese

    text = "张量 Tensor 的形状 shape，ReLU 与 GPU 上的 backward()"
    ours = search_dict.PhraseSearchChinese({})
    upstream = SearchChinese({})
    words = ours.split(text)
    assert words == upstream.split(text)
    assert [ours.stem(w) for w in words] == [upstream.stem(w) for w in words]
    assert ours.stem("GPU") == "gpu"  # 短的缩写词不做词干化
    assert isinstance(ours.latin_terms, set)
    assert "ReLU" in ours.latin_terms
    # 下一次构建（新的实例）从空集合开始，上一次的词不会带过来
    assert search_dict.PhraseSearchChinese({}).latin_terms == set()
