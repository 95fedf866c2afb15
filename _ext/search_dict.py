"""中文全文搜索：确认 jieba 可用，并把用户词典换成绝对路径，从任何工作
目录构建都能加载（找不到词典时 Sphinx 会悄悄忽略）。"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError

USER_DICT = Path("book") / "_static" / "jieba_userdict.txt"


def _configure(app: Sphinx, config: Config) -> None:
    try:
        import jieba  # noqa: F401
    except ImportError as err:
        # 没有 jieba 时 Sphinx 只索引拉丁字母，中文搜索会静默失效
        raise ConfigError(
            "中文搜索需要 jieba：请先 pip install -r requirements.txt"
        ) from err
    user_dict = Path(app.srcdir) / USER_DICT
    if not user_dict.is_file():
        raise ConfigError(f"找不到 jieba 用户词典 {user_dict}")
    options = dict(config.html_search_options or {})
    options["dict"] = str(user_dict)
    config.html_search_options = options


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
