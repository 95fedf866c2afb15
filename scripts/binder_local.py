"""在本机搭一个与 Binder 相同的环境，用它打开读者版笔记本。

mybinder.org 用 repo2docker 构建镜像：先装 repo2docker 自带的基础环境
（Python 3.11 与固定版本的 JupyterLab、notebook、ipykernel……），再在上面装
``binder/requirements.txt``，最后在仓库（这里是 binder 分支）里运行
``binder/postBuild``。这里照同样的顺序来：

1. 新建虚拟环境，装 ``binder/repo2docker-base.txt``（从 repo2docker 的
   锁文件抄下的基础环境）；
2. 装 ``binder/requirements.txt``；
3. 用 ``scripts/binder_branch.py`` 写出 binder 分支的内容，在里面运行
   ``binder/postBuild``。

两次 pip 的输出都留在环境目录里（``pip.log``）：Binder 的构建日志里不该有
``ERROR`` 行。测试（``tests/test_binder.py``）也用这里的函数。

用法（在仓库根目录，先构建全书）::

    .venv/bin/python scripts/binder_local.py DIR          # 建环境，报告用时
    .venv/bin/python scripts/binder_local.py DIR --serve  # 再启动 JupyterLab
    .venv/bin/python scripts/binder_local.py DIR --no-cpu-index

最后一种用于连不上 PyTorch 的 CPU 源的机器（torch 的版本要求不变）。
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from binder_branch import assemble  # noqa: E402

# 无头 Chromium 的启动参数（测试与基准共用）：不连外网、不弹首次运行的页面
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# 浏览器里：当前笔记本的内核已经就绪（``window.jupyterapp`` 见 start_lab）
KERNEL_IDLE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const kernel = w && w.sessionContext && w.sessionContext.session
    && w.sessionContext.session.kernel;
  return kernel && kernel.status === "idle";
}"""


@dataclass
class BinderEnv:
    """本机的 Binder 环境：虚拟环境、HOME、binder 分支的内容。"""

    root: Path  # 环境目录
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.root / "venv" / "bin"

    @property
    def python(self) -> str:
        return str(self.bin / "python")

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tree(self) -> Path:
        return self.root / "branch"

    @property
    def log(self) -> Path:
        return self.root / "pip.log"

    def environ(self) -> dict[str, str]:
        """在这个环境里运行命令用的环境变量（像 Binder 里的用户那样）。

        Binder 镜像里的包是 pip 按默认设置装的，带着编译好的 ``.pyc``；这里
        为了装得快用了 ``--no-compile``，所以让 Python 第一次导入时自己写
        ``.pyc``（只编译用到的模块）。继承来的 ``PYTHONDONTWRITEBYTECODE``
        因此去掉：带着它，每个内核都要重新编译 torch 等几千个文件，每章的
        执行多出约 6 秒，Binder 里的读者并不付这个代价。
        """
        env = {
            **os.environ,
            "HOME": str(self.home),
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(self.root / "venv"),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def error_lines(self) -> list[str]:
        """pip 输出里的 ``ERROR`` 行（依赖冲突等）。"""
        return [
            line
            for line in self.log.read_text("utf-8").splitlines()
            if line.startswith("ERROR")
        ]


def requirement_lines(path: Path, cpu_index: bool = True) -> list[str]:
    """依赖清单里的要求（去掉注释）。

    ``cpu_index=False`` 时去掉 ``--`` 开头的行（PyTorch 的 CPU 源）。
    """
    lines = []
    for line in path.read_text("utf-8").splitlines():
        line = line.split("#")[0].strip()
        if not line or (line.startswith("--") and not cpu_index):
            continue
        lines.extend(line.split() if line.startswith("--") else [line])
    return lines


def binder_python(root: Path = ROOT) -> str:
    """``binder/runtime.txt`` 指定版本的 Python；找不到时报错。"""
    runtime = (root / "binder/runtime.txt").read_text("utf-8").strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    if not match:
        raise ValueError(f"binder/runtime.txt 应形如 python-3.11：{runtime!r}")
    python = shutil.which(f"python{match.group(1)}")
    if python is None:
        raise FileNotFoundError(
            f"需要 Python {match.group(1)}（与 Binder 相同）"
        )
    return python


def create(
    root: Path, *, cpu_index: bool = True, python: str | None = None
) -> BinderEnv:
    """在 ``root`` 建环境（repo2docker 的两步 pip），不含 binder 分支。"""
    env = BinderEnv(root)
    root.mkdir(parents=True, exist_ok=True)
    env.home.mkdir(exist_ok=True)
    start = time.perf_counter()
    subprocess.run(
        [python or binder_python(), "-m", "venv", str(root / "venv")],
        check=True,
    )
    # --no-compile：不预先把几千个 .py 编译成 .pyc（安装快一倍）；用到的模块
    # 在第一次导入时编译、写下 .pyc（见 BinderEnv.environ）
    pip = [env.python, "-m", "pip", "install", "--no-compile"]
    steps = [
        ("基础环境", ROOT / "binder/repo2docker-base.txt"),
        ("binder/requirements.txt", ROOT / "binder/requirements.txt"),
    ]
    with env.log.open("w", encoding="utf-8") as log:
        for name, path in steps:
            begin = time.perf_counter()
            done = subprocess.run(
                [*pip, *requirement_lines(path, cpu_index)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env.environ(),
                timeout=1800,
            )
            env.timings[name] = time.perf_counter() - begin
            if done.returncode != 0:
                raise RuntimeError(f"pip 安装 {name} 失败，见 {env.log}")
    env.timings["环境合计"] = time.perf_counter() - start
    return env


def post_build(env: BinderEnv, root: Path = ROOT) -> list[str]:
    """写出 binder 分支的内容并运行 postBuild；返回读者版笔记本的路径。"""
    if env.tree.exists():
        shutil.rmtree(env.tree)
    notebooks = assemble(env.tree, root)
    start = time.perf_counter()
    subprocess.run(
        ["bash", "binder/postBuild"],
        cwd=env.tree,
        env=env.environ(),
        check=True,
        capture_output=True,
        timeout=600,
    )
    env.timings["postBuild"] = time.perf_counter() - start
    return notebooks


def labextensions(env: BinderEnv) -> str:
    """``jupyter labextension list`` 的输出（它写在 stderr 里）。"""
    done = subprocess.run(
        [str(env.bin / "jupyter"), "labextension", "list"],
        env=env.environ(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout + done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_lab(env: BinderEnv, port: int | None = None, *, log=None):
    """在 binder 分支的内容里启动 JupyterLab（只监听本机，不要口令）。

    返回 ``(进程, 地址)``；``window.jupyterapp`` 可供浏览器里的测试调用命令。
    """
    port = port or free_port()
    process = subprocess.Popen(
        [
            str(env.bin / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={env.tree}",
            "--LabApp.expose_app_in_browser=True",
        ],
        cwd=env.tree,
        env=env.environ(),
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("JupyterLab 没有启动") from None
            time.sleep(0.2)
    return process, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="环境目录（会新建）")
    parser.add_argument("--serve", action="store_true", help="启动 JupyterLab")
    parser.add_argument(
        "--no-cpu-index",
        action="store_true",
        help="不用 PyTorch 的 CPU 源（连不上时；torch 的版本要求不变）",
    )
    args = parser.parse_args()
    env = create(args.dir, cpu_index=not args.no_cpu_index)
    post_build(env)
    report = {name: round(seconds, 1) for name, seconds in env.timings.items()}
    print(json.dumps(report, ensure_ascii=False))
    errors = env.error_lines()
    print("pip 的 ERROR 行：", errors or "没有")
    if args.serve:
        process, url = start_lab(env, 8888)
        print(f"JupyterLab：{url}/lab/tree/book/spiral.ipynb（Ctrl+C 退出）")
        try:
            process.wait()
        except KeyboardInterrupt:
            process.terminate()


if __name__ == "__main__":
    main()
