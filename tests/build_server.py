"""小书构建用的“预热”进程：先导入构建要用的第三方库，每次构建 fork 一份。

测试里的小书（``conftest.ScratchBook``）要构建二十多次，每次启动新的
``jupyter-book`` 进程都要花约 2 秒导入 Sphinx、MyST-NB、matplotlib 等库，
比构建一页小书本身还久。这个进程只导入一次这些库（不导入小书自己 ``_ext/``
里的扩展：它们由每次构建从小书里导入），然后对每个请求 ``os.fork()``：
子进程换上请求的工作目录、环境变量与 ``sys.argv``，把标准输出与标准错误接到
文件上，调用 ``jupyter-book`` 命令的入口函数 ``jupyter_book.cli.main:main``，
参数与 README 的构建命令相同。每次构建都从同一个没有构建过的父进程复制出来，
彼此不共享任何构建状态。

协议（一行一个 JSON）：请求 ``{"argv", "cwd", "env", "timeout"}``，
回复 ``{"returncode", "stdout", "stderr", "timed_out"}``。标准输入关闭时退出。

与新启动的进程不同的只有启动时就定下的东西：哈希种子、区域与标准输出的
编码、``PYTHONWARNINGS``、``TMPDIR`` 等在这个进程启动时读一次，请求里的环境
变量改不了它们（``conftest.run_build`` 遇到这类变量就改用新进程）；jieba
载入词典的日志不进构建的输出。向整个进程树发信号的测试（按 Ctrl-C 停止并行
执行、结束构建后工作进程跟着退出，见 test_cache.py）直接启动 ``jupyter-book``。
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

# 构建一页小书要导入的第三方库（少了哪个只是慢一点，不影响结果）
PRELOAD = (
    "jupyter_book.cli.main",
    "jupyter_book.sphinx",
    "sphinx.application",
    "sphinx.builders.html",
    "sphinx.builders.singlehtml",
    "myst_nb.sphinx_ext",
    "myst_parser.sphinx_ext.main",
    "sphinx_togglebutton",
    "sphinx_copybutton",
    "sphinx_comments",
    "sphinx_external_toc",
    "sphinx.ext.intersphinx",
    "sphinx_design",
    "sphinx_book_theme",
    "pydata_sphinx_theme",
    "sphinxcontrib.bibtex",
    "sphinx_exercise",
    "sphinx-mathjax-offline",
    "sphinxext.opengraph",
    "sphinx_last_updated_by_git",
    "sphinx.search.zh",
    "matplotlib.pyplot",
    "fontTools.subset",
    "fontTools.ttLib",
    "PIL.Image",
    "nbclient",
    "nbformat",
    "jupyter_client",
    "jupyter_cache.cache.main",
    "yaml",
    "bs4",
    "IPython",
    "ipykernel.kernelspec",
    "ipython_pygments_lexers",
    "sphinx_jupyterbook_latex",
    "sphinx_multitoc_numbering",
    "a11y_pygments",
    "alabaster",
    "psutil",
    "multiprocessing",
    "concurrent.futures",
    "sqlite3",
    "pybtex.plugin",
    "pygments.lexers",
    "docutils.parsers.rst",
)


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # 装不上的库留给构建自己报错
            pass
    try:  # 中文分词的词典（每次构建都要载入，约 0.5 秒）
        import jieba

        jieba.initialize()
    except Exception:  # 同上
        pass


def child(request: dict, out: int, err: int) -> None:
    """fork 出的子进程：像从命令行启动 ``jupyter-book`` 那样运行一次构建。

    入口函数以 ``SystemExit``（或别的异常，如 KeyboardInterrupt）结束，异常
    一直传到解释器顶层：退出码、回溯、atexit 与等待线程都与真的命令行进程相同。
    """
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # 与 python 启动 jupyter-book 脚本时的 sys.path 相同：脚本所在目录，
    # 然后是 PYTHONPATH，然后是标准库与 site-packages
    # （site 把每一项换成绝对路径，空项就是当前目录，重复的只留第一个）
    value = os.environ.get("PYTHONPATH", "")
    paths = (
        [os.path.abspath(p) for p in value.split(os.pathsep)] if value else []
    )
    script = str(Path(request["argv"][0]).parent)
    sys.path[:] = list(dict.fromkeys([script, *paths, *BASE_PATH]))
    sys.argv = list(request["argv"])
    from jupyter_book.cli.main import main

    main(args=sys.argv[1:], prog_name="jupyter-book")


def serve_one(request: dict) -> dict:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:
            child(request, out.fileno(), err.fileno())
            sys.exit(0)
        deadline = time.monotonic() + request.get("timeout", 1800)
        timed_out = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                timed_out = True
                break
            time.sleep(0.02)
        texts = []
        for handle in (out, err):
            handle.seek(0)
            texts.append(handle.read().decode("utf-8", errors="replace"))
    return {
        "returncode": os.waitstatus_to_exitcode(status),
        "stdout": texts[0],
        "stderr": texts[1],
        "timed_out": timed_out,
    }


def main() -> None:
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # 父进程自己不往标准输出写东西：那是回复用的管道
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    preload()
    replies.write('{"ready": true}\n')
    replies.flush()
    for line in sys.stdin:
        reply = serve_one(json.loads(line))
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


BASE_PATH = [p for p in sys.path[1:] if p]  # 去掉本文件所在的 tests/

if __name__ == "__main__":
    main()
