"""把笔记本里的内核说明改成这个环境的内核报告的值（Binder 的 postBuild 调用）。

JupyterLab 连上内核后，会把笔记本的 ``kernelspec`` 与 ``language_info`` 改成
内核报告的值；与文件里的不同（例如 Python 的补丁版本不同），没动过的笔记本
也算作已修改，几分钟后自动保存、关闭时问要不要保存。构建镜像时先按这个环境
写好，打开、保存一个没改过的笔记本，文件就一字节不变。

用法：``python binder/stamp_kernel.py book/*.ipynb``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def kernel_metadata(name: str) -> tuple[dict, dict]:
    """这个环境里名为 ``name`` 的内核：``(kernelspec, language_info)``。"""
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(name)
    kernelspec = {
        "display_name": spec.display_name,
        "language": spec.language,
        "name": name,
    }
    return kernelspec, dict(IPythonKernel.language_info)


def stamp(path: Path) -> bool:
    """改写 ``path`` 的内核说明；返回文件是否改变。"""
    text = path.read_text("utf-8")
    notebook = json.loads(text)
    name = notebook["metadata"]["kernelspec"]["name"]
    kernelspec, language_info = kernel_metadata(name)
    notebook["metadata"]["kernelspec"] = kernelspec
    notebook["metadata"]["language_info"] = language_info
    # 与 Jupyter 保存笔记本时的格式相同（nbformat.writes）
    new = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False)
    new += "\n"
    if new == text:
        return False
    path.write_text(new, "utf-8")
    return True


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit("用法：python binder/stamp_kernel.py 笔记本.ipynb …")
    for name in paths:
        changed = stamp(Path(name))
        print(f"{name}：{'已改写' if changed else '不用改'}")


if __name__ == "__main__":
    main(sys.argv[1:])
