"""每页给读者的信息与分享用的元数据：库做得到的交给库，这里只写它们没有的。

- 版本：只写在 ``pyproject.toml`` 的 ``[project] version``；页脚、首页的
  引用信息（``CITATION.cff`` 与它生成的 BibTeX）、``CHANGELOG.md`` 都与它
  一致（测试检查）；
- 最后修改日期：sphinx-last-updated-by-git 从 git 读出页面源文件最后一次提交的
  日期（UTC），这里把它放进页脚；不在 git 仓库里时不显示；
- “报告错误”链接：在 ``_config.yml`` 的 ``repository.url`` 上新建 issue，
  标题是页面标题，正文是 ``.github/ISSUE_TEMPLATE/report-error.md`` 的
  正文、填好页面路径（没有哪个扩展做这件事）；
- Open Graph：sphinxext-opengraph 写元数据，这里给它每页的标题（去掉
  章节编号）、摘要（页面第一段；它自己拼的摘要在中文的链接两边加空格）
  与类型，并补上 Twitter 卡片的几项；
- 预览图：构建时用随包的中文字体画出，先核对字体里有每一个字
  （sphinxext-opengraph 的卡片用 matplotlib 画，缺字只给一个 Python 警告、
  画成方框）；
- ``sitemap.xml``：列出每一页（sphinx-sitemap 在增量构建时只列出这次重写的
  页面，jdillard/sphinx-sitemap#13）。网址都由 ``_config.yml`` 的
  ``html.baseurl``（只写一次）拼出；没有设置时不生成元数据与站点地图。
"""

from __future__ import annotations

import datetime as _dt
import html
import re
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


def site_url(app: Sphinx, path: str) -> str:
    """网站上 ``path`` 的完整网址（由 ``html.baseurl`` 拼出）。"""
    return app.config.html_baseurl.rstrip("/") + f"/{path}"


def page_url(app: Sphinx, pagename: str) -> str:
    return site_url(app, f"{pagename}.html")


def page_date(app: Sphinx, docname: str) -> str | None:
    """页面源文件最后一次提交的日期（YYYY-MM-DD），取自
    sphinx-last-updated-by-git 记在构建环境里的时间戳，按它的
    ``git_last_updated_timezone`` 换算；不在 git 里时为 None。"""
    data = getattr(app.env, "git_last_updated", {}).get(docname)
    if not data or data[0] is None:
        return None
    moment = _dt.datetime.fromtimestamp(int(data[0]), _dt.UTC)
    zone = app.config.git_last_updated_timezone
    return moment.astimezone(zone).date().isoformat()


def add_page_context(app, pagename, templatename, context, doctree) -> None:
    """给每页的模板提供版本、日期、报告链接，并给分享元数据提供内容。"""
    version = book_version()
    source = source_path(app, pagename)
    site = site_title(app)
    # 页面标题去掉章节编号（“2. 螺旋数据分类”→“螺旋数据分类”）
    title = plain_text(context.get("title") or "")
    title = re.sub(r"^\d+(\.\d+)*\.?\s+", "", title) or site
    repo_url = app.config.html_theme_options.get("repository_url", "")
    items = []  # 页脚的几项（dlbook-page-info.html 用“ · ”连起来）
    date = page_date(app, pagename)
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
    if not app.config.html_baseurl or doctree is None:
        return
    full_title = title if title == site else f"{title} · {site}"
    description = first_paragraph(context.get("body") or "") or site
    # sphinxext-opengraph 用页面的字段（如 :og:title:）覆盖它自己算的值，
    # 写出时只转义引号；复制一份，不改构建环境里的页面元数据
    context["meta"] = {
        **(context.get("meta") or {}),
        "og:title": html.escape(full_title, quote=False),
        "og:description": html.escape(description, quote=False),
        "og:type": (
            "website" if pagename == app.config.root_doc else "article"
        ),
    }
    # 已有 description 时它不写自己拼的那份；Twitter 卡片的这几项它只在
    # 自己画卡片时才写
    tags = {
        "description": description,
        "twitter:title": full_title,
        "twitter:description": description,
        "twitter:image": site_url(app, PREVIEW),
    }
    context["metatags"] = context.get("metatags", "") + "".join(
        f'<meta name="{key}" content="{html.escape(value)}" />\n'
        for key, value in tags.items()
    )


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
        date = page_date(app, docname)
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


def configure_opengraph(app: Sphinx, config) -> None:
    """sphinxext-opengraph 的设置由 ``html.baseurl`` 与书名得出（只写一次）。

    预览图是全书一张（``write_preview`` 画），不用它给每页画的卡片。
    """
    config.ogp_social_cards = {"enable": False}
    if not config.html_baseurl:
        return
    site = config.html_title or config.project
    config.ogp_site_url = config.html_baseurl
    config.ogp_site_name = site
    config.ogp_image = PREVIEW
    config.ogp_image_alt = f"{site}的预览图"
    width, height = PREVIEW_SIZE
    config.ogp_custom_meta_tags = [
        f'<meta property="og:image:width" content="{width}" />',
        f'<meta property="og:image:height" content="{height}" />',
        '<meta property="og:locale" content="zh_CN" />',
        '<meta name="twitter:card" content="summary_large_image" />',
    ]


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", configure_opengraph)
    app.add_directive("dlbook-citation", CitationDirective)
    # 在 sphinxext-opengraph（优先级 500）之前给出每页的标题与摘要
    app.connect("html-page-context", add_page_context, priority=400)
    app.connect("build-finished", write_site_files)
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
