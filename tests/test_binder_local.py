"""``scripts/binder_local.py`` 里不用搭环境就能检查的部分（搭环境、在里面
执行各章的测试在 ``tests/test_binder.py``，标为 slow）。"""

from __future__ import annotations

import subprocess
import sys

import binder_local
import pytest


def test_environment_writes_bytecode_like_a_pip_compiled_image(
    tmp_path, monkeypatch
):
    """Binder 镜像里的包带着 pip 编译好的 .pyc；本机的环境用 --no-compile
    装得快，靠 Python 第一次导入时自己写 .pyc，所以继承来的
    PYTHONDONTWRITEBYTECODE 不能带进去。"""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = binder_local.BinderEnv(tmp_path / "env")
    environ = env.environ()
    assert "PYTHONDONTWRITEBYTECODE" not in environ
    assert environ["HOME"] == str(env.home)
    assert environ["PATH"].split(":")[0] == str(env.bin)
    # 在这样的环境变量下导入一个模块，确实留下了 .pyc
    (tmp_path / "some_module.py").write_text("VALUE = 1\n", "utf-8")
    subprocess.run(
        [sys.executable, "-c", "import some_module"],
        cwd=tmp_path,
        env=environ,
        check=True,
    )
    assert list((tmp_path / "__pycache__").glob("some_module.*.pyc"))


def test_runtime_file_must_name_a_python_version(tmp_path):
    (tmp_path / "binder").mkdir()
    (tmp_path / "binder/runtime.txt").write_text("3.11\n", "utf-8")
    with pytest.raises(ValueError, match=r"python-3\.11"):
        binder_local.binder_python(tmp_path)
