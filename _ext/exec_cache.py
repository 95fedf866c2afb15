"""执行缓存按内容分目录：改了 ``code/`` 下的任何文件（或依赖清单），下一次
构建就换用新的缓存目录，章节重新执行，不会再显示旧数字；只改正文时缓存
目录不变，什么也不重新执行。（jupyter-cache 自己只看代码单元格的内容。）
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

# 能改变章节输出的文件：code/ 下的全部文件（含随包字体）与依赖清单
HASHED_GLOBS = (
    "code/**/*",
    "requirements.txt",
    "requirements-torch.txt",
    "pyproject.toml",
)
NOT_HASHED = ("__pycache__", ".egg-info", ".pyc")


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
    # 缓存目录 = _build/.jupyter_cache/<代码摘要>
    cache_root = Path(app.outdir).parent / ".jupyter_cache"
    config.nb_execution_cache_path = str(
        cache_root / code_digest(Path(app.srcdir))
    )
    app.env_build_started = _dt.datetime.now().timestamp()  # 供执行统计区分


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
