"""JupyterLab 的默认设置（Binder 的 postBuild 调用）：不弹出新闻提示框。

“要不要接收 Jupyter 新闻”的提示框出现在第一屏的右下角，遮住正文。
设置写进用户配置目录里的 ``labconfig/default_setting_overrides.json``
（JupyterLab 启动时读取的默认值，读者仍可在设置里改回来），
已有的其他设置保留。

用法：``python binder/lab_settings.py``
"""

from __future__ import annotations

import json
from pathlib import Path

OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
}


def overrides_path() -> Path:
    from jupyter_core.paths import jupyter_config_dir

    return (
        Path(jupyter_config_dir())
        / "labconfig"
        / "default_setting_overrides.json"
    )


def main() -> None:
    path = overrides_path()
    settings = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    for plugin, values in OVERRIDES.items():
        settings.setdefault(plugin, {}).update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n", "utf-8")
    print(f"写入 {path}")


if __name__ == "__main__":
    main()
