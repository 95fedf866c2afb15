"""每页给读者的信息与分享用的元数据。

- 版本：只写在 ``pyproject.toml`` 的 ``[project] version``；页脚、首页的
  引用信息（``CITATION.cff`` 与它生成的 BibTeX）、``CHANGELOG.md`` 都与它
  一致（测试检查）；
- 最后修改日期：页面源文件在 git 里最后一次提交的日期，同一个提交构建两次得到
  同样的日期；不在 git 仓库里时不显示；
- “报告错误”链接：在 ``_config.yml`` 的 ``repository.url`` 上新建 issue，
  标题是页面标题，正文是 ``.github/ISSUE_TEMPLATE/report-error.md`` 的
  正文、填好页面路径；
- Open Graph 与 Twitter 卡片：标题、摘要（页面第一段）、预览图；
  预览图在构建时用随包的中文字体画出，先核对字体里有每一个字；
- ``sitemap.xml``：列出每一页。网址都由 ``_config.yml`` 的 ``html.baseurl``
  （只写一次）拼出；没有设置时不生成元数据与站点地图。
"""

from __future__ import annotations

import html
import re
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parents[1]
FONT = ROOT / "code" / "dlbasics" / "fonts" / "NotoSansSC-Subset.otf"
REPORT_TEMPLATE = ROOT / ".github" / "ISSUE_TEMPLATE" / "report-error.md"
PAGE_PLACEHOLDER = (
    "（页面的源文件，如 book/spiral.md；从书中“报告错误”链接打开时已经填好）"
)
PREVIEW = "_static/dlbook-preview.png"
PREVIEW_SIZE = (1200, 630)
PREVIEW_SUBTITLE = "可以运行的中文入门书 · PyTorch · 只用 CPU"
DESCRIPTION_CHARS = 120


def book_version(root: Path = ROOT) -> str | None:
    """书的版本号：``pyproject.toml`` 的 ``[project] version``。

    没有 ``pyproject.toml`` 时（例如测试用的临时小书）为 None，页脚不显示版本。
    """
    path = root / "pyproject.toml"
    if not path.is_file():
        return None
    return tomllib.loads(path.read_text("utf-8"))["project"]["version"]


def git_dates(root: Path) -> dict[str, str]:
    """仓库里每个文件最后一次提交的日期，一次 ``git log`` 读出。

    与逐个文件运行 ``git log -1 --format=%cs -- <文件>`` 的结果相同；构建时
    每页都要日期，一次读完比每页启动一个 git 进程快（改正文后的重建要快）。
    """
    try:
        result = subprocess.run(
            ["git", "log", "--format=%x00%cs", "--name-only"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if result.returncode != 0:
        return {}
    dates: dict[str, str] = {}
    for block in result.stdout.split("\0")[1:]:
        date, _, names = block.partition("\n")
        for name in names.split("\n"):
            if name.strip():
                dates.setdefault(name.strip(), date.strip())
    return dates


def page_date(app: Sphinx, source: str | None) -> str | None:
    """页面源文件最后一次提交的日期（每次构建只读一次 git 历史）。"""
    if source is None:
        return None
    if getattr(app, "dlbook_git_dates", None) is None:
        app.dlbook_git_dates = git_dates(Path(app.srcdir))
    return app.dlbook_git_dates.get(source)


def report_body(source: str) -> str:
    """issue 模板的正文（去掉开头的 YAML），填上页面的源文件路径。"""
    text = REPORT_TEMPLATE.read_text("utf-8")
    body = text.split("---", 2)[2].strip() + "\n"
    if PAGE_PLACEHOLDER not in body:
        raise ValueError(
            f"{REPORT_TEMPLATE} 里找不到页面路径的占位文字，"
            f"请保留“{PAGE_PLACEHOLDER}”或同时修改 _ext/page_meta.py"
        )
    return body.replace(PAGE_PLACEHOLDER, source)


def report_url(repo_url: str, title: str, source: str) -> str:
    """在仓库上新建“报告错误” issue 的链接，标题与正文已经填好。"""
    query = urlencode(
        {"title": f"[报告错误] {title}", "body": report_body(source)}
    )
    return f"{repo_url.rstrip('/')}/issues/new?{query}"


def plain_text(markup: str) -> str:
    """去掉 HTML 标签、还原实体、压缩空白。"""
    text = html.unescape(re.sub(r"<[^>]+>", "", markup))
    return re.sub(r"\s+", " ", text).strip()


def first_paragraph(body: str) -> str:
    """正文里第一段的纯文本，截到 DESCRIPTION_CHARS 个字。"""
    for match in re.finditer(r"<p>(.*?)</p>", body, re.S):
        text = plain_text(match.group(1))
        if len(text) >= 10:
            if len(text) > DESCRIPTION_CHARS:
                text = text[: DESCRIPTION_CHARS - 1] + "…"
            return text
    return ""


@cache
def font_characters() -> frozenset[str]:
    """随包字体里有字形的全部字符。"""
    from fontTools.ttLib import TTFont

    cmap = TTFont(str(FONT)).getBestCmap()
    return frozenset(chr(code) for code in cmap)


def missing_glyphs(text: str) -> list[str]:
    """``text`` 里随包字体没有字形的字符（空白不算）。"""
    have = font_characters()
    return sorted({ch for ch in text if not ch.isspace() and ch not in have})


def preview_lines(title: str, version: str) -> list[tuple[str, int]]:
    """预览图上的几行字与字号（没有版本号时不写版本那一行）。"""
    lines = [(title, 120), (PREVIEW_SUBTITLE, 44)]
    return lines + ([(f"版本 {version}", 36)] if version else [])


def draw_preview(title: str, version: str) -> bytes:
    """分享卡片的预览图（PNG，1200×630）：书名、一句介绍与版本。"""
    import io

    from PIL import Image, ImageDraw, ImageFont

    lines = preview_lines(title, version)
    missing = missing_glyphs("".join(text for text, _ in lines))
    if missing:
        raise ValueError(
            f"预览图里的这些字在随包字体中没有字形，会画成方框：{missing}；"
            "改用别的字，或用 scripts/make_font_subset.py 重新生成字体"
        )
    image = Image.new("RGB", PREVIEW_SIZE, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 40, PREVIEW_SIZE[1]), fill="#0072B2")
    y = 150
    colors = ("#1a1a1a", "#333333", "#0072B2")
    for (text, size), color in zip(lines, colors[: len(lines)], strict=True):
        font = ImageFont.truetype(str(FONT), size)
        draw.text((110, y), text, font=font, fill=color)
        y += int(size * 1.5) + 30
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def source_path(app: Sphinx, pagename: str) -> str | None:
    """页面的源文件（相对仓库根目录）；不是由源文件生成的页面为 None。"""
    if pagename not in app.env.found_docs:
        return None
    return str(app.env.doc2path(pagename, base=False)).replace("\\", "/")


def site_title(app: Sphinx) -> str:
    """书名：``_config.yml`` 的 ``title``（Jupyter Book 放在 html_title）。"""
    return app.config.html_title or app.config.project


def page_url(app: Sphinx, pagename: str) -> str:
    return app.config.html_baseurl.rstrip("/") + f"/{pagename}.html"


def add_page_context(app, pagename, templatename, context, doctree) -> None:
    """给每页的模板提供版本、日期、报告链接，并加上分享用的元数据。"""
    version = book_version()
    source = source_path(app, pagename)
    site = site_title(app)
    # 页面标题去掉章节编号（“2. 螺旋数据分类”→“螺旋数据分类”）
    title = plain_text(context.get("title") or "")
    title = re.sub(r"^\d+(\.\d+)*\.?\s+", "", title) or site
    repo_url = app.config.html_theme_options.get("repository_url", "")
    items = []  # 页脚的几项（dlbook-page-info.html 用“ · ”连起来）
    date = page_date(app, source)
    if date:
        items.append(f'本页最后修改于 <time datetime="{date}">{date}</time>')
    if version:
        items.append(f'<span class="dlbook-version">版本 {version}</span>')
    if source and repo_url and REPORT_TEMPLATE.is_file():
        url = html.escape(report_url(repo_url, title, source))
        items.append(
            f'<a class="dlbook-report" href="{url}" target="_blank" '
            'rel="noopener" title="在 GitHub 上新建 issue，'
            '本页的标题与路径已经填好">报告错误</a>'
        )
    context["dlbook_footer_items"] = items
    if not app.config.html_baseurl:
        return
    full_title = title if title == site else f"{title} · {site}"
    description = first_paragraph(context.get("body") or "") or site
    image = app.config.html_baseurl.rstrip("/") + f"/{PREVIEW}"
    tags = {
        "og:type": "website" if pagename == app.config.root_doc else "article",
        "og:site_name": site,
        "og:title": full_title,
        "og:description": description,
        "og:url": page_url(app, pagename),
        "og:image": image,
        "og:image:width": str(PREVIEW_SIZE[0]),
        "og:image:height": str(PREVIEW_SIZE[1]),
        "og:image:alt": f"{site}的预览图",
        "og:locale": "zh_CN",
    }
    meta = [
        f'<meta property="{key}" content="{html.escape(value)}">'
        for key, value in tags.items()
    ]
    twitter = {
        "twitter:card": "summary_large_image",
        "twitter:title": full_title,
        "twitter:description": description,
        "twitter:image": image,
    }
    meta += [
        f'<meta name="{key}" content="{html.escape(value)}">'
        for key, value in twitter.items()
    ]
    meta.append(
        f'<meta name="description" content="{html.escape(description)}">'
    )
    context["metatags"] = context.get("metatags", "") + "\n".join(meta) + "\n"


def write_preview(app: Sphinx) -> None:
    """把预览图写到网站的 _static/ 下。"""
    out = Path(app.outdir)
    preview = out / PREVIEW
    version = book_version() or ""
    # 画图要零点几秒：书名、版本、字体都没变时沿用上次的图（改正文时要快）
    key = f"{site_title(app)}|{version}|{PREVIEW_SUBTITLE}|"
    key += str(FONT.stat().st_size)
    key_file = out / "_static" / ".dlbook-preview-key"
    fresh = key_file.exists() and key_file.read_text("utf-8") == key
    if not (preview.exists() and fresh):
        preview.parent.mkdir(parents=True, exist_ok=True)
        preview.write_bytes(draw_preview(site_title(app), version))
        key_file.write_text(key, "utf-8")


def write_sitemap(app: Sphinx) -> None:
    """网站根目录的 sitemap.xml：每一页的网址与最后修改日期。"""
    entries = []
    for docname in sorted(app.env.found_docs):
        date = page_date(app, source_path(app, docname))
        lastmod = f"<lastmod>{date}</lastmod>" if date else ""
        entries.append(
            f"  <url><loc>{html.escape(page_url(app, docname))}</loc>"
            f"{lastmod}</url>"
        )
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + "\n".join(entries)
        + "\n</urlset>\n"
    )
    (Path(app.outdir) / "sitemap.xml").write_text(sitemap, "utf-8")


def write_site_files(app: Sphinx, exception: Exception | None) -> None:
    """构建成功后写出预览图与 sitemap.xml。"""
    if exception is not None or app.builder.format != "html":
        return
    if FONT.is_file():  # 测试用的临时小书里没有随包字体
        write_preview(app)
    if app.config.html_baseurl and app.builder.name == "html":
        write_sitemap(app)


def citation_bibtex(root: Path = ROOT) -> str:
    """由 ``CITATION.cff`` 生成的 BibTeX（版本号取自 pyproject.toml）。"""
    import yaml

    cff = yaml.safe_load((root / "CITATION.cff").read_text("utf-8"))
    book = cff.get("preferred-citation", cff)
    authors = " and ".join(
        a.get("name") or f"{a['family-names']}, {a['given-names']}"
        for a in book["authors"]
    )
    fields = {
        "title": book["title"],
        "author": authors,
        "year": str(book["year"]),
        "edition": f"版本 {book_version(root)}",
        "url": book["url"],
    }
    body = ",\n".join(
        f"  {key} = {{{value}}}" for key, value in fields.items()
    )
    return f"@book{{dlbasics{book['year']},\n{body}\n}}"


class CitationDirective(Directive):
    """``{dlbook-citation}``：首页的 BibTeX 引用块，由 CITATION.cff 生成。"""

    has_content = False

    def run(self):
        env = self.state.document.settings.env
        env.note_dependency(str(ROOT / "CITATION.cff"))
        env.note_dependency(str(ROOT / "pyproject.toml"))
        text = citation_bibtex()
        block = nodes.literal_block(text, text, language="bibtex")
        return [block]


def setup(app: Sphinx) -> dict:
    app.add_directive("dlbook-citation", CitationDirective)
    app.connect("html-page-context", add_page_context)
    app.connect("build-finished", write_site_files)
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
