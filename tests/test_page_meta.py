"""读者用的页面信息（_ext/page_meta.py、_ext/glossary_tips.py）：版本、引用、
更新记录与发布流程、每页的修改日期与“报告错误”链接、分享卡片、站点地图、
术语提示的数据。浏览器里的行为见 test_browser.py。"""

from __future__ import annotations

import datetime
import io
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from bs4 import BeautifulSoup
from PIL import Image

from conftest import ROOT, book_config, built_page, toc_files

sys.path.insert(0, str(ROOT / "_ext"))
sys.path.insert(0, str(ROOT / "scripts"))
import changelog
import page_meta

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))[
    "project"
]["version"]


def git_date(root: Path, *paths: str) -> str | None:
    """对照用：``paths`` 中任一文件最后一次提交的日期（UTC），问 git。

    与 sphinx-last-updated-by-git 的定义相同：作者日期，合并提交也算
    （``-m``），按 UTC 取日期（``_config.yml`` 的 git_last_updated_timezone）。
    """
    command = ["git", "log", "-1", "-m", "--author-date-order", "--format=%at"]
    result = subprocess.run(
        [*command, "--", *paths],
        cwd=root,
        capture_output=True,
        text=True,
    )
    stamp = result.stdout.strip() if result.returncode == 0 else ""
    if not stamp:
        return None
    moment = datetime.datetime.fromtimestamp(int(stamp), datetime.UTC)
    return moment.date().isoformat()


def page_sources(name: str) -> list[str]:
    """决定页面日期的源文件：页面本身，加上它内容所取自的文件。

    参考文献页的条目由 ``references.bib`` 生成，bib 改了页面就变了；
    sphinx-last-updated-by-git 把它算作这一页的依赖（其余依赖，如 ``code/``
    与 ``README.md``，在 ``git_exclude_patterns`` 里排除）。
    """
    sources = [f"{name}.md"]
    if "{bibliography}" in (ROOT / f"{name}.md").read_text("utf-8"):
        sources += book_config()["bibtex_bibfiles"]
    return sources


def cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text("utf-8"))


# ---------- 版本、引用、更新记录、发布 ----------


def test_version_is_the_same_everywhere():
    import dlbasics

    assert page_meta.book_version() == VERSION
    assert dlbasics.__version__ == VERSION
    assert str(cff()["version"]) == VERSION
    text = (ROOT / "CHANGELOG.md").read_text("utf-8")
    assert changelog.versions(text)[0] == VERSION, "CHANGELOG 最上面一节"


def test_citation_file_points_at_the_configured_repository_and_site():
    data = cff()
    config = book_config()
    assert data["cff-version"] == "1.2.0"
    assert data["repository-code"] == config["repository"]["url"]
    assert data["url"] == config["html"]["baseurl"]
    book = data["preferred-citation"]
    assert book["type"] == "book" and book["url"] == config["html"]["baseurl"]
    assert data["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text("utf-8").startswith("MIT License")


def test_bibtex_is_generated_from_the_citation_file():
    bibtex = page_meta.citation_bibtex()
    book = cff()["preferred-citation"]
    assert bibtex.startswith("@book{")
    assert f"title = {{{book['title']}}}" in bibtex
    assert f"year = {{{book['year']}}}" in bibtex
    assert f"版本 {VERSION}" in bibtex
    assert bibtex.count("{") == bibtex.count("}")


def test_changelog_section_is_printed_and_a_missing_version_fails():
    text = (ROOT / "CHANGELOG.md").read_text("utf-8")
    assert "第一个版本" in changelog.section(text, VERSION)
    run = subprocess.run(
        [sys.executable, "scripts/changelog.py", "99.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "99.0.0" in run.stderr
    two = "## 0.2.0\n新的\n\n## 0.1.0\n旧的\n"
    assert changelog.section(two, "0.2.0") == "新的\n"
    assert changelog.section(two, "0.1.0") == "旧的\n"


def test_release_workflow_builds_the_site_and_pdf_and_attaches_both():
    flow = yaml.safe_load(
        (ROOT / ".github/workflows/release.yml").read_text("utf-8")
    )
    trigger = flow[True]  # YAML 把 on 读成 True
    assert trigger["push"]["tags"] == ["v*"]
    assert flow["permissions"]["contents"] == "write"
    steps = flow["jobs"]["release"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    checkout = steps[0]
    assert checkout["with"]["fetch-depth"] == 0  # 修改日期要完整的历史
    assert 'test "$GITHUB_REF_NAME" = "v$version"' in runs
    assert "scripts/changelog.py" in runs
    assert "pip install --no-deps -r requirements-torch.txt" in runs
    assert ".venv/bin/jupyter-book build . -n -W --keep-going" in runs
    assert ".venv/bin/python scripts/build_pdf.py" in runs
    release = re.search(r"gh release create .*", runs).group(0)
    assert '"$site"' in release and '"$pdf"' in release
    assert "--notes-file release-notes.md" in release


# ---------- 报告错误、日期、预览图 ----------


def test_report_link_fills_in_the_page_and_uses_the_template():
    url = page_meta.report_url(
        "https://github.com/a/b/", "螺旋数据分类", "book/spiral.md"
    )
    parsed = urlparse(url)
    assert url.startswith("https://github.com/a/b/issues/new?")
    query = parse_qs(parsed.query)
    assert query["title"] == ["[报告错误] 螺旋数据分类"]
    body = query["body"][0]
    assert "**页面**：book/spiral.md" in body
    assert page_meta.PAGE_PLACEHOLDER not in body
    template = (ROOT / ".github/ISSUE_TEMPLATE/report-error.md").read_text(
        "utf-8"
    )
    front = yaml.safe_load(template.split("---")[1])
    assert front["name"] == "报告错误" and front["title"] == "[报告错误] "


def test_page_dates_are_each_files_last_commit():
    """sphinx-last-updated-by-git 记下的时间戳换成 UTC 的日期；没有日期
    （不在 git 仓库里、还没提交）时不显示。各页的日期与逐个文件问 git 的
    结果相同，见下面构建好的网站的测试。"""
    from babel.dates import get_timezone

    stamp = 1796352645  # 2026-12-04 02:50:45 UTC
    env = SimpleNamespace(
        git_last_updated={
            "a": (str(stamp).encode(), True),
            "new": (None, True),
        }
    )
    for zone, date in (
        ("UTC", "2026-12-04"),
        ("America/Chicago", "2026-12-03"),
    ):
        config = SimpleNamespace(git_last_updated_timezone=get_timezone(zone))
        app = SimpleNamespace(env=env, config=config)
        assert page_meta.page_date(app, "a") == date
        assert page_meta.page_date(app, "new") is None
        assert page_meta.page_date(app, "missing") is None
    # 只算页面源文件：它引用的代码、图片、README 等不改变页面的日期
    excluded = book_config()["sphinx"]["config"]["git_exclude_patterns"]
    assert {"code/**", "_build/**", "README.md"} <= set(excluded)


def test_preview_image_has_every_glyph_in_the_bundled_font():
    lines = page_meta.preview_lines("深度学习基础", VERSION)
    assert page_meta.missing_glyphs("".join(t for t, _ in lines)) == []
    png = page_meta.draw_preview("深度学习基础", VERSION)
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.size == page_meta.PREVIEW_SIZE
    assert image.getextrema()[0] < 60  # 有深色的字
    assert page_meta.missing_glyphs("𠀾") == ["𠀾"]
    with pytest.raises(ValueError, match="方框"):
        page_meta.draw_preview("𠀾", VERSION)


def test_description_is_the_first_real_paragraph():
    body = (
        "<p>短</p><p>这是<em>第一段</em>正文，&amp; 有实体。</p><p>第二段</p>"
    )
    assert page_meta.first_paragraph(body) == "这是第一段正文，& 有实体。"
    long = "<p>" + "字" * 300 + "</p>"
    assert len(page_meta.first_paragraph(long)) == page_meta.DESCRIPTION_CHARS


# ---------- 构建好的网站 ----------


@pytest.fixture(scope="module")
def site(built_site) -> Path:
    return built_site


def soup_of(site: Path, name: str) -> BeautifulSoup:
    return built_page(site, name)  # 只读


@pytest.mark.parametrize("name", toc_files())
def test_every_page_has_share_metadata_a_date_and_a_report_link(site, name):
    soup = soup_of(site, name)
    base = book_config()["html"]["baseurl"]
    meta = {
        tag.get("property") or tag.get("name"): tag["content"]
        for tag in soup.find_all("meta")
        if tag.get("content") is not None
    }
    assert meta["og:url"] == base + f"{name}.html"
    assert meta["og:image"] == base + page_meta.PREVIEW
    assert meta["twitter:card"] == "summary_large_image"
    assert meta["og:title"] and meta["twitter:title"] == meta["og:title"]
    assert len(meta["og:description"]) >= 10
    assert meta["description"] == meta["og:description"]
    footer = soup.select_one(".dlbook-page-info")
    date = git_date(ROOT, *page_sources(name))
    if date is None:  # 还没提交的新页面：不显示日期
        assert footer.find("time") is None
    else:
        assert footer.find("time")["datetime"] == date
    assert f"版本 {VERSION}" in footer.get_text()
    link = footer.select_one("a.dlbook-report")["href"]
    assert link.startswith(book_config()["repository"]["url"] + "/issues/new?")
    assert f"{name}.md" in parse_qs(urlparse(link).query)["body"][0]


def test_sitemap_lists_every_page_with_its_date(site):
    text = (site / "sitemap.xml").read_text("utf-8")
    base = book_config()["html"]["baseurl"]
    urls = dict(
        re.findall(r"<loc>([^<]+)</loc>(?:<lastmod>([^<]+)</lastmod>)?", text)
    )
    for name in toc_files():
        date = git_date(ROOT, *page_sources(name))
        assert urls[base + f"{name}.html"] == (date or "")


def test_preview_image_and_citation_are_published(site):
    with Image.open(site / page_meta.PREVIEW) as image:
        assert image.size == page_meta.PREVIEW_SIZE
    front = soup_of(site, "book/index")
    block = front.select_one("div.highlight-bibtex pre").get_text()
    assert block.strip() == page_meta.citation_bibtex()
    links = {a.get("href") for a in front.find_all("a")}
    assert "faq.html#chap-faq" in links or "faq.html" in links


def test_glossary_tips_have_every_term_of_the_glossary(site):
    raw = (site / "_static/dlbook-glossary-data.js").read_text("utf-8")
    data = json.loads(raw[raw.index("=") + 1 : raw.rindex(";")])
    terms = data["book/glossary.html"]
    glossary = soup_of(site, "book/glossary")
    ids = [dt["id"] for dt in glossary.select("dl.glossary dt")]
    assert sorted(ids) == sorted(terms)
    first = glossary.select_one("dl.glossary dt")
    assert terms[first["id"]]["term"] == first.get_text().strip("#¶ \n")
    assert all(len(entry["definition"]) > 5 for entry in terms.values())


def test_publishing_workflows_fetch_the_history_the_dates_come_from():
    for name in ("pages.yml", "release.yml"):
        flow = yaml.safe_load(
            (ROOT / ".github/workflows" / name).read_text("utf-8")
        )
        job = next(iter(flow["jobs"].values()))
        checkout = next(
            s for s in job["steps"] if "actions/checkout" in s.get("uses", "")
        )
        assert checkout["with"]["fetch-depth"] == 0, name
