"""``exec-stats`` 指令：各章在这次构建中是重新执行还是取自缓存、执行用时、
是否成功，写成中文表格（myst-nb 自带的表头是英文）。"""

from __future__ import annotations

import datetime as _dt

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective


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


def setup(app: Sphinx) -> dict:
    app.add_node(ExecStatsNode)
    app.add_directive("exec-stats", ExecStatsDirective)
    app.add_post_transform(ExecStatsTransform)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
