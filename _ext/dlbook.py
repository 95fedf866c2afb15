"""本书的本地 Sphinx 扩展：让构建可复现、不过期、在中文环境下正确。

1. 执行缓存按 ``code/`` 下的全部文件（及依赖清单）分目录存放：改了包里的代码，
   下一次构建就换用新的缓存目录，章节全部重新执行，不会再显示旧数字；
   只改正文时缓存目录不变，什么也不重新执行。
   （jupyter-cache 自己只看代码单元格的内容。）
2. 中文全文搜索：确认 jieba 可用，并把用户词典换成绝对路径，
   从任何工作目录构建都能加载（找不到词典时 Sphinx 会悄悄忽略）。
3. 页脚的版权年份取构建时的当年。
4. 界面全部中文：补全主题缺失的 zh_CN 翻译（locales/），
   覆盖写死英文提示的主题组件（templates/）与 myst-nb 的折叠按钮。
5. ``exec-stats`` 指令：各章执行用时的中文表格（myst-nb 自带的表头是英文）。
6. 参考文献列表去掉 ``role="list"``：docutils 给子元素标的是
   doc-biblioentry 而不是 listitem，axe 判为严重的无障碍问题。
7. 标了 ``raises-exception`` 的单元格必须真的报错：库升级后代码变得合法时，
   构建发出警告（-W 下即失败），而不是让正文继续描述一个不存在的报错。
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

FIRST_YEAR = 2026
# 能改变章节输出的文件：code/ 下的全部文件（含随包字体）与依赖清单
HASHED_GLOBS = ("code/**/*", "requirements.txt", "pyproject.toml")
NOT_HASHED = ("__pycache__", ".egg-info", ".pyc")
USER_DICT = Path("book") / "_static" / "jieba_userdict.txt"
HERE = Path(__file__).resolve().parent
logger = logging.getLogger(__name__)
ENGLISH_TOGGLE_LABEL = 'aria-label="Toggle hidden content"'


def code_digest(root: Path) -> str:
    """``HASHED_GLOBS`` 所列文件的路径与内容的 SHA-256 摘要（前 16 位）。"""
    digest = hashlib.sha256()
    files = sorted(
        {
            p
            for pattern in HASHED_GLOBS
            for p in root.glob(pattern)
            if p.is_file()
        }
    )
    for path in files:
        text = path.as_posix()
        if any(part in text for part in NOT_HASHED):
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _configure(app: Sphinx, config: Config) -> None:
    root = Path(app.srcdir)
    app.env_build_started = _dt.datetime.now().timestamp()  # 供执行统计区分
    # 1. 缓存目录 = _build/.jupyter_cache/<代码摘要>
    cache_root = Path(app.outdir).parent / ".jupyter_cache"
    config.nb_execution_cache_path = str(cache_root / code_digest(root))

    # 2. 中文搜索
    try:
        import jieba  # noqa: F401
    except (
        ImportError
    ) as err:  # 没有 jieba 时 Sphinx 只索引拉丁字母，中文搜索会静默失效
        raise ConfigError(
            "中文搜索需要 jieba：请先 pip install -r requirements.txt"
        ) from err
    user_dict = root / USER_DICT
    if not user_dict.is_file():
        raise ConfigError(f"找不到 jieba 用户词典 {user_dict}")
    options = dict(config.html_search_options or {})
    options["dict"] = str(user_dict)
    config.html_search_options = options

    # 3. 版权年份
    year = _dt.date.today().year
    years = str(year) if year <= FIRST_YEAR else f"{FIRST_YEAR}–{year}"
    config.copyright = years


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
    """主题自带的 booktheme 翻译有繁体用语：让我们的在前，主题的作后备。"""
    import gettext

    from sphinx import locale

    ours = gettext.translation(
        "booktheme", _locale_dir(app), [app.config.language], fallback=True
    )
    existing = locale.translators.get(("general", "booktheme"))
    if existing is not None:
        ours.add_fallback(existing)
    locale.translators[("general", "booktheme")] = ours


def _chinese_hidden_cell_label(app: Sphinx, config: Config) -> None:
    """myst-nb 给折叠的代码单元格写死了英文的 aria-label，换成中文。

    在 config-inited 时注册：此时 myst-nb 已注册过这个节点，用 override 覆盖。
    """
    from myst_nb import sphinx_ as mystnb_sphinx

    def visit(self, node) -> None:
        start = len(self.body)
        mystnb_sphinx.visit_HideCellInput(self, node)
        self.body[start:] = [
            part.replace(ENGLISH_TOGGLE_LABEL, 'aria-label="展开或折叠"')
            for part in self.body[start:]
        ]

    handlers = (visit, mystnb_sphinx.depart_HideCellInput)
    app.add_node(
        mystnb_sphinx.HideCodeCellNode,
        override=True,
        html=handlers,
        singlehtml=handlers,  # scripts/build_pdf.sh 用单页 HTML 构建
    )


def _locale_dir(app: Sphinx) -> str:
    return str(Path(app.outdir).parent / ".locale")


class ExecStatsNode(nodes.General, nodes.Element):
    """占位节点：所有章节都读完后，由 ``ExecStatsTransform`` 换成表格。"""


class ExecStatsDirective(SphinxDirective):
    """``exec-stats``：列出每个执行过的章节、执行方式、用时与是否成功。"""

    def run(self) -> list[nodes.Node]:
        return [ExecStatsNode()]


def _cell(content: nodes.Node | str) -> nodes.entry:
    paragraph = nodes.paragraph()
    paragraph += nodes.Text(content) if isinstance(content, str) else content
    return nodes.entry("", paragraph)


def _how_executed(info: dict, started: float | None) -> str:
    """这一章在本次构建中是重新执行的，还是取自执行缓存。

    myst-nb 对两种情况都记 method="cache"；区别在 mtime：重新执行时是
    执行结束的时刻（晚于构建开始），取自缓存时是当初执行的时刻。
    """
    if info.get("method") == "off":
        return "不执行"
    mtime = info.get("mtime")
    if started is not None and mtime is not None and mtime >= started:
        return "重新执行"
    if mtime is None:
        return "取自缓存"
    when = _dt.datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M")
    return f"取自缓存（{when} 执行）"


class ExecStatsTransform(SphinxPostTransform):
    default_priority = 5  # 在交叉引用解析（优先级 10）之前，好让章节链接被解析

    def run(self, **kwargs) -> None:
        from myst_nb.sphinx_ import NbMetadataCollector

        data = NbMetadataCollector.get_doc_data(self.env)
        started = getattr(self.app, "env_build_started", None)
        for node in list(self.document.findall(ExecStatsNode)):
            table = nodes.table(classes=["colwidths-auto"])
            group = nodes.tgroup(cols=4)
            table += group
            group += [nodes.colspec(colwidth=25) for _ in range(4)]
            head = nodes.thead()
            row = nodes.row()
            for text in ["章节", "本次构建", "执行用时（秒）", "结果"]:
                row += _cell(text)
            head += row
            body = nodes.tbody()
            for docname in sorted(data):
                info = data[docname].get("exec_data")
                if not info:
                    continue
                link = pending_xref(
                    refdoc=self.env.docname, reftarget="/" + docname,
                    reftype="doc", refdomain="std", refexplicit=False,
                )  # fmt: skip
                link += nodes.inline(text=docname)
                runtime = info.get("runtime")
                row = nodes.row()
                row += _cell(link)
                row += _cell(_how_executed(info, started))
                row += _cell("-" if runtime is None else f"{runtime:.1f}")
                row += _cell("成功" if info.get("succeeded") else "失败")
                body += row
            group += [head, body]
            node.replace_self(table)


def _check_raises_exception_cells(app: Sphinx, doctree: nodes.document):
    """标了 raises-exception 的单元格如果没有报错输出，就发出警告。"""
    for cell in doctree.findall(nodes.container):
        if "tag_raises-exception" not in cell.get("classes", []):
            continue
        shows_error = any(
            "traceback" in node.get("classes", [])
            for node in cell.findall(nodes.Element)
        )
        if not shows_error:
            logger.warning(
                "单元格标了 raises-exception，执行时却没有报错："
                "代码已经合法了（可能是库升级），请改写这个例子和描述它的正文",
                location=cell,
            )


def _fix_citation_list_role(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body and 'role="list" class="citation-list"' in body:
        context["body"] = body.replace(
            '<div role="list" class="citation-list">',
            '<div class="citation-list">',
        )


def setup(app: Sphinx) -> dict:
    app.setup_extension("build_guards")  # _ext/build_guards.py
    app.connect("html-page-context", _fix_citation_list_role)
    app.connect("doctree-read", _check_raises_exception_cells)
    app.add_node(ExecStatsNode)
    app.add_directive("exec-stats", ExecStatsDirective)
    app.add_post_transform(ExecStatsTransform)
    app.connect("config-inited", _configure)
    app.connect("config-inited", _chinese_hidden_cell_label)
    _compile_catalogs(Path(_locale_dir(app)))
    # sphinx 域：Sphinx 与 pydata 主题缺的条目由这里补上（作为后备即可生效）
    app.add_message_catalog("sphinx", _locale_dir(app))
    app.connect("builder-inited", _prefer_our_booktheme_translations)
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
