"""本书的本地 Sphinx 扩展的入口：按职责分在同一目录的几个模块里。

- ``exec_cache``：每章的执行缓存按它用到的模块失效（``chapter_deps``），
  需要执行的章节并行执行；
- ``search_dict``：中文全文搜索用 jieba 与本书的用户词典；浏览器里按索引的词表
  切分查询、含完整短语的页面排在最前（``phrase_search.js``）；
- ``zh_ui``：界面翻译、覆盖写死英文的主题组件，并在上游升级时失败提醒；
- ``exec_stats``：``exec-stats`` 指令，执行统计的中文表格；
- ``build_guards``：出过问题的页面绝不被当作成功发布；
- ``page_meta``：版本、每页的修改日期与“报告错误”链接、分享卡片、站点地图、
  首页的引用信息；
- ``glossary_tips``：术语链接在悬停或获得焦点时显示术语表里的解释；
- ``lean_pages``：读者用不到的不下载（图标字体的子集、搜索索引只在搜索页、
  MathJax 只在有公式的页、调色板 PNG、滑块图的帧按需下载）；
- ``reader_edition``：每章的读者版笔记本（下载与 Binder 打开的 .ipynb），
  读起来与网页相同；
- ``quiz``：每章的自测题（``{quiz}`` 指令），在静态网站上作答、看反馈，
  章末印出答案；构建核对编程练习的参考解答通过检查器。

``doc_store`` 不是扩展：上面几个模块按页面记在构建环境里的数据，
在并行读取后怎样合并、页面重读前怎样清理，都由它处理。

每个模块的文档字符串说明它做什么、为什么。
"""

from __future__ import annotations

from sphinx.application import Sphinx

MODULES = (
    "exec_cache",
    "search_dict",
    "zh_ui",
    "exec_stats",
    "build_guards",
    "page_meta",
    "glossary_tips",
    "lean_pages",
    "reader_edition",
    "quiz",
)


def setup(app: Sphinx) -> dict:
    for name in MODULES:
        app.setup_extension(name)
    return {
        "version": "2.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
