"""GitHub Actions 的工作流：红了的 main 不发布；用的 action 都是当前的大版本；
工作流另装的包与 requirements-dev.txt 钉的版本相同。"""

from __future__ import annotations

import re

import yaml

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"

# 每个用到的 action 的当前大版本（2026 年 7 月查的各仓库标签；它们都已改用
# Node 24，Node 20 的旧版本会被 GitHub 停用）。用到新的 action 时先查它的
# 当前大版本，加在这里。
CURRENT_MAJORS = {
    "actions/checkout": 7,
    "actions/setup-python": 7,
    "actions/upload-artifact": 7,
    "actions/download-artifact": 8,
    "actions/upload-pages-artifact": 5,
    "actions/deploy-pages": 5,
}


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def test_pages_are_deployed_only_after_the_readme_test_command_passes():
    workflow = yaml.safe_load((WORKFLOWS / "pages.yml").read_text("utf-8"))
    build = steps(workflow, "build")
    runs = [step.get("run", "") for step in build]
    uses = [step.get("uses", "") for step in build]
    tests = next(
        i for i, run in enumerate(runs) if "command test-command" in run
    )
    # README 的测试命令原样取自 README（与 .ci/run 相同），不另写一份
    assert "scripts/bookfacts.py command test-command" in runs[tests]
    assert runs[tests].startswith("bash -euo pipefail")
    building = next(i for i, run in enumerate(runs) if "jupyter-book" in run)
    uploading = next(
        i for i, use in enumerate(uses) if "upload-pages-artifact" in use
    )
    assert tests < building < uploading
    assert not build[tests].get("continue-on-error")
    assert workflow["jobs"]["deploy"]["needs"] == "build"


def test_workflows_use_current_major_versions_of_actions():
    found = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for action, version in re.findall(
            r"uses:\s*([\w.-]+/[\w.-]+)@(\S+)", path.read_text("utf-8")
        ):
            found.setdefault(action, set()).add(version)
    assert found, "工作流里没有找到 action"
    unknown = sorted(set(found) - set(CURRENT_MAJORS))
    assert unknown == [], (
        f"新的 action：查它的当前大版本，加进 CURRENT_MAJORS：{unknown}"
    )
    for action, versions in found.items():
        assert versions == {f"v{CURRENT_MAJORS[action]}"}, (action, versions)


def test_packages_installed_by_workflows_match_the_dev_pins():
    """工作流在 requirements.txt 之外另装的包（生成 PDF 用的 playwright、
    pypdf）与 requirements-dev.txt 钉的版本相同。"""
    dev = (ROOT / "requirements-dev.txt").read_text("utf-8")
    pins = dict(re.findall(r"^([\w.-]+)==(\S+)", dev, re.M))
    checked = set()
    for path in sorted(WORKFLOWS.glob("*.yml")):
        text = path.read_text("utf-8")
        for extra in re.findall(
            r"pip install -r requirements\.txt (.+)", text
        ):
            for package, version in re.findall(r"([\w.-]+)==(\S+)", extra):
                assert pins.get(package) == version, (path.name, package)
                checked.add(package)
    assert {"playwright", "pypdf"} <= checked
