"""几个扩展在构建环境里按页面记下的数据（``{页面: 值}``），统一放在这里管。

``exec_cache`` 记每章的依赖摘要，``search_dict`` 记每页的正文，
``glossary_tips`` 记术语表的条目。它们都要在并行读取（Sphinx 在子进程里
读页面，再把环境合并回来）时取回子进程读的那些页面的值，大多还要在页面
重读前清掉旧值；这两件事只在这里写一次。这个模块不是 Sphinx 扩展，
由上面几个扩展导入。
"""

from __future__ import annotations

from sphinx.application import Sphinx


def per_doc(env, key: str) -> dict:
    """环境里名为 ``key`` 的 ``{页面: 值}`` 字典；第一次用时建一个空的。"""
    store = getattr(env, key, None)
    if store is None:
        store = {}
        setattr(env, key, store)
    return store


def keep_per_doc(app: Sphinx, key: str, *, purge: bool = True) -> None:
    """让 ``env.<key>`` 在并行读取后合并；``purge`` 时页面重读前清掉旧值。"""

    def merge(app, env, docnames, other) -> None:
        theirs = getattr(other, key, {})
        store = per_doc(env, key)
        for docname in docnames:
            if docname in theirs:
                store[docname] = theirs[docname]

    def forget(app, env, docname) -> None:
        per_doc(env, key).pop(docname, None)

    app.connect("env-merge-info", merge)
    if purge:
        app.connect("env-purge-doc", forget)
