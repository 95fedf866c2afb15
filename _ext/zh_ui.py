"""界面全部中文，并且在上游升级后不会悄悄失效。

1. 补全主题缺失的 zh_CN 翻译（locales/ 下的 .po，构建时编译）；主题自带的
   booktheme 翻译有繁体用语，让我们的在前、主题的作后备。
2. 覆盖写死英文提示的主题组件（templates/）：每个覆盖都是某个上游模板的
   改写，这里记着上游原件的摘要；上游一变，构建立即失败，提醒对照更新。
3. myst-nb 折叠代码单元格的按钮写死了英文 aria-label：换成中文；找不到
   要换的文字时构建失败。
4. 参考文献列表去掉 ``role="list"``（docutils 给子元素标的是 doc-biblioentry
   而不是 listitem，axe 判为严重的无障碍问题）；上游改了写法时构建失败。
5. 页脚的版权年份取构建时的当年。
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

HERE = Path(__file__).resolve().parent
FIRST_YEAR = 2026
ENGLISH_TOGGLE_LABEL = 'aria-label="Toggle hidden content"'
CHINESE_TOGGLE_LABEL = 'aria-label="展开或折叠"'
CITATION_LIST_WITH_ROLE = '<div role="list" class="citation-list">'

# 覆盖的模板 -> (上游包, 上游模板在包里的路径, 上游原件 SHA-256 的前 16 位)
OVERRIDDEN_TEMPLATES = {
    "layout.html": (
        "sphinx_book_theme",
        "theme/sphinx_book_theme/layout.html",
        "2cd2fbbe2caedf3a",
    ),
    "sbt-sidebar-nav.html": (
        "sphinx_book_theme",
        "theme/sphinx_book_theme/components/sbt-sidebar-nav.html",
        "38342bd744042ee1",
    ),
    "toggle-primary-sidebar.html": (
        "sphinx_book_theme",
        "theme/sphinx_book_theme/components/toggle-primary-sidebar.html",
        "316c98ec6677c656",
    ),
    "toggle-secondary-sidebar.html": (
        "sphinx_book_theme",
        "theme/sphinx_book_theme/components/toggle-secondary-sidebar.html",
        "0cf39e5b61b02a71",
    ),
}


def _locale_dir(app: Sphinx) -> str:
    return str(Path(app.outdir).parent / ".locale")


def _compile_catalogs(target: Path) -> Path:
    """把 locales/ 下的 .po 编译成 gettext 需要的 .mo，放到 ``target``。"""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (HERE / "locales").rglob("*.po"):
        mo = target / po.relative_to(HERE / "locales").with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as src, mo.open("wb") as dst:
            write_mo(dst, read_po(src))
    return target


def _prefer_our_booktheme_translations(app: Sphinx) -> None:
    import gettext

    from sphinx import locale

    ours = gettext.translation(
        "booktheme", _locale_dir(app), [app.config.language], fallback=True
    )
    existing = locale.translators.get(("general", "booktheme"))
    if existing is not None:
        ours.add_fallback(existing)
    locale.translators[("general", "booktheme")] = ours


def upstream_template_digest(package: str, relative: str) -> str | None:
    """上游模板的 SHA-256 前 16 位；文件不存在时为 None。"""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def check_overridden_templates() -> None:
    """每个覆盖的模板，上游原件还在、而且没有变。"""
    for name, (package, relative, digest) in OVERRIDDEN_TEMPLATES.items():
        if not (HERE / "templates" / name).is_file():
            raise ExtensionError(
                f"OVERRIDDEN_TEMPLATES 列了 {name}，却没有这个文件"
            )
        found = upstream_template_digest(package, relative)
        if found != digest:
            state = "不见了" if found is None else "内容变了"
            raise ExtensionError(
                f"_ext/templates/{name} 覆盖的上游模板 {package}/{relative} "
                f"{state}（多半是主题升级了）。请把上游的新版与我们的覆盖对照、"
                f"保留中文改动后，更新 _ext/zh_ui.py 里记录的摘要"
                f"（新摘要 {found}）"
            )
    # 以 dlbook- 开头的是本书自己的组件（如页脚的 dlbook-page-info.html），
    # 不覆盖上游的任何模板
    extra = {
        p.name
        for p in (HERE / "templates").glob("*.html")
        if not p.name.startswith("dlbook-")
    }
    unknown = extra - set(OVERRIDDEN_TEMPLATES)
    if unknown:
        raise ExtensionError(
            f"_ext/templates 里有没登记的覆盖 {sorted(unknown)}："
            "请在 _ext/zh_ui.py 的 OVERRIDDEN_TEMPLATES 里记下它覆盖的上游原件"
        )


def replace_toggle_label(parts: list[str]) -> list[str]:
    """把 myst-nb 写死的英文 aria-label 换成中文；找不到就报错。"""
    if not any(ENGLISH_TOGGLE_LABEL in part for part in parts):
        raise ExtensionError(
            "myst-nb 折叠按钮的 HTML 里找不到 "
            f"{ENGLISH_TOGGLE_LABEL}（多半是 myst-nb 升级了）："
            "请检查 _ext/zh_ui.py 的替换是否还需要、该换成什么"
        )
    return [
        p.replace(ENGLISH_TOGGLE_LABEL, CHINESE_TOGGLE_LABEL) for p in parts
    ]


def _chinese_hidden_cell_label(app: Sphinx, config: Config) -> None:
    """config-inited 时注册：myst-nb 已注册过这个节点，用 override 覆盖。"""
    from myst_nb import sphinx_ as mystnb_sphinx

    def visit(self, node) -> None:
        start = len(self.body)
        mystnb_sphinx.visit_HideCellInput(self, node)
        self.body[start:] = replace_toggle_label(self.body[start:])

    handlers = (visit, mystnb_sphinx.depart_HideCellInput)
    app.add_node(
        mystnb_sphinx.HideCodeCellNode,
        override=True,
        html=handlers,
        singlehtml=handlers,  # scripts/build_pdf.py 用单页 HTML 构建
    )


def fix_citation_list_role(body: str) -> str:
    """去掉参考文献列表上的 role="list"；上游不再这样写时报错。"""
    if 'class="citation-list"' not in body:
        return body
    if CITATION_LIST_WITH_ROLE not in body:
        raise ExtensionError(
            "参考文献列表的 HTML 不再是 "
            f"{CITATION_LIST_WITH_ROLE}（多半是 docutils 或 "
            "sphinxcontrib-bibtex 升级了）：请检查 _ext/zh_ui.py 的修正"
            "是否还需要"
        )
    return body.replace(CITATION_LIST_WITH_ROLE, '<div class="citation-list">')


def _fix_citation_list_role(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body:
        context["body"] = fix_citation_list_role(body)


def _copyright_year(app: Sphinx, config: Config) -> None:
    year = _dt.date.today().year
    config.copyright = (
        str(year) if year <= FIRST_YEAR else f"{FIRST_YEAR}–{year}"
    )


def setup(app: Sphinx) -> dict:
    check_overridden_templates()
    app.connect("config-inited", _copyright_year)
    app.connect("config-inited", _chinese_hidden_cell_label)
    app.connect("html-page-context", _fix_citation_list_role)
    _compile_catalogs(Path(_locale_dir(app)))
    # sphinx 域：Sphinx 与 pydata 主题缺的条目由这里补上（作为后备即可生效）
    app.add_message_catalog("sphinx", _locale_dir(app))
    app.connect("builder-inited", _prefer_our_booktheme_translations)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
