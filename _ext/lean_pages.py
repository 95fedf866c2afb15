"""读者用不到的不下载：每章第一次访问 ≤ 1 MB、再次访问 ≤ 0.3 MB（gzip 后）。

``benchmarks/page_weight.py`` 在真实浏览器里测量。做法都是主题支持的模板覆盖或
构建步骤，离线、深色模式、打印、PDF 与直接打开文件（``file://``）照常：

1. 图标：主题的样式表本来就用 Font Awesome 的图标字体画出每个图标，它另外每页
   加载的 ``fontawesome.js``（1.49 MB，把 ``<i>`` 换成 SVG）不再加载
   （``templates/layout.html`` 用这里的 ``dlbook_without`` 过滤器去掉它）；
   三个图标字体（0.27 MB）换成只含网站用到的字形的子集
   （``_static/dlbook-icons/``，``dlbook-icons.css`` 里同名的 ``@font-face``
   覆盖主题的，``unicode-range`` 之外的字符仍由主题的完整字体画）。
   用到的字形：页面与脚本里出现的 ``fa-*`` 类名，加上样式表里直接写的图标字符。
2. 搜索：``searchindex.js`` 与搜索脚本只在搜索页加载（主题每页都加载，
   供本书没有打开的“边输入边搜索”用）。
3. MathJax 只在自己有公式的页面加载（Sphinx 把目录里含公式的页面也算上，
   首页因此也加载）。
4. 插图：执行结果里的 PNG 转成 256 色的调色板 PNG（看不出差别，约为原来的
   三分之一）；只改构建生成的文件，不改仓库里的图。
5. 滑块图：各帧在笔记本里以 ``data:`` URI 嵌在 HTML 里（JupyterLab 与单独的
   HTML 也能显示）；网站上存成 ``_images/`` 下的文件，页面只下载显示的那一帧，
   其余帧 ``loading="lazy"``，读者指向、聚焦或拖动滑块时才下载
   （``static/dlbook-slider-frames.js``）。
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

STATIC = Path(__file__).with_name("static")
ICON_CSS = "dlbook-icons.css"
ICON_DIR = "dlbook-icons"
THEME_CSS = "styles/pydata-sphinx-theme.css"
SLIDER_SCRIPT = "dlbook-slider-frames.js"
# 图标字体的私用区字符：样式表里写成 "\f0c9" 或直接写字符
ICON_CHAR = re.compile(r"\\([ef][0-9a-f]{3})|([\ue000-\uf8ff])")
CLASS_MAP_RULE = re.compile(
    r"((?:\.fa-[a-z0-9-]+:before,?)+)\{content:\"([^\"]+)\"\}"
)
FONT_FACE = re.compile(r"@font-face\{([^}]*)\}")
DATA_IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


# ---------- 去掉页面不需要的脚本 ----------


def without_scripts(markup: str, *names: str) -> str:
    """去掉 ``markup`` 里加载 ``names``（文件名）的 ``<script>`` 与预加载
    ``<link>``；某个文件名找不到时报错（主题改了写法，这里就不再起作用）。"""
    for name in names:
        pattern = re.compile(
            r"\s*<(script|link)\b[^>]*(?:src|href)=\"(?:[^\"]*/)?"
            + re.escape(name)
            + r"(?:\?[^\"]*)?\"[^>]*>(?:</script>)?"
        )
        markup, count = pattern.subn("", markup)
        if count == 0:
            raise ExtensionError(
                f"模板里找不到加载 {name} 的标签（多半是主题升级了）："
                "请检查 _ext/templates/layout.html 与 _ext/lean_pages.py "
                "是否还需要去掉它"
            )
    return markup


def _register_filter(app: Sphinx) -> None:
    templates = getattr(app.builder, "templates", None)
    if templates is not None and hasattr(templates, "environment"):
        templates.environment.filters["dlbook_without"] = without_scripts


def _drop_unused_mathjax(app, pagename, templatename, context, doctree):
    """页面自己没有公式时去掉 MathJax（Sphinx 把目录里的页面也算上）。

    单页 HTML（PDF 用它打印）整本书在一页上，Jupyter Book 让它总是加载。
    """
    if app.registry.html_assets_policy == "always" or doctree is None:
        return
    math = app.env.domaindata.get("math", {}).get("has_equations", {})
    if math.get(pagename) or "script_files" not in context:
        return
    mathjax = app.config.mathjax_path
    context["script_files"][:] = [
        js
        for js in context["script_files"]
        if not (
            (getattr(js, "filename", "") or "").endswith(mathjax)
            or js.attributes.get("body", "").startswith("window.MathJax")
        )
    ]


# ---------- 图标字体的子集 ----------


def css_codepoints(css: str) -> set[int]:
    """样式表里直接写出的图标字符（不算 ``.fa-*:before`` 的类名表）。"""
    rest = CLASS_MAP_RULE.sub("", css)
    return {
        int(escaped, 16) if escaped else ord(char)
        for escaped, char in ICON_CHAR.findall(rest)
    }


def class_codepoints(css: str) -> dict[str, int]:
    """主题样式表里的类名表：``fa-bars`` → 0xf0c9。"""
    table = {}
    for selectors, content in CLASS_MAP_RULE.findall(css):
        found = ICON_CHAR.findall(content)
        if not found:
            continue
        escaped, char = found[0]
        point = int(escaped, 16) if escaped else ord(char)
        for name in re.findall(r"\.(fa-[a-z0-9-]+):before", selectors):
            table[name] = point
    return table


def font_faces(css: str) -> list[dict[str, str]]:
    """样式表里 Font Awesome 的 ``@font-face``：字体名、粗细与字体文件。"""
    faces = []
    for body in FONT_FACE.findall(css):
        fields = dict(
            part.split(":", 1) for part in body.split(";") if ":" in part
        )
        family = re.sub(r"\\(.)", r"\1", fields.get("font-family", ""))
        family = family.strip("\"' ")
        ttf = re.search(r"url\(([^)]+\.ttf)\)", fields.get("src", ""))
        if family.startswith("Font Awesome") and ttf:
            faces.append(
                {
                    "family": family,
                    "weight": fields.get("font-weight", "400"),
                    "style": fields.get("font-style", "normal"),
                    "ttf": ttf.group(1),
                }
            )
    return faces


def used_codepoints(outdir: Path, css: str) -> set[int]:
    """网站用到的图标字符：页面与脚本里的 ``fa-*`` 类名 + 样式表里的字符。"""
    table = class_codepoints(css)
    names: set[str] = set()
    files = [*outdir.rglob("*.html"), *(outdir / "_static").rglob("*.js")]
    for path in files:
        mathjax = path.relative_to(outdir).parts[:2] == ("_static", "mathjax")
        if path.name == "fontawesome.js" or mathjax:
            continue  # 图标库本身列着所有图标；MathJax（21 MB）不用图标
        text = path.read_text("utf-8", errors="replace")
        names.update(re.findall(r"\bfa-[a-z0-9-]+", text))
    points = {table[name] for name in names if name in table}
    for sheet in (outdir / "_static").rglob("*.css"):
        if sheet.name != ICON_CSS:
            points |= css_codepoints(sheet.read_text("utf-8", errors="ignore"))
    return points


def subset_font(source: Path, points: set[int]) -> tuple[bytes, set[int]]:
    """``source`` 里只留 ``points`` 中它有的字形，存成 WOFF；返回字形范围。"""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(str(source))
    have = set(font.getBestCmap()) & points
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = []
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(have))
    subsetter.subset(font)
    out = io.BytesIO()
    font.flavor = "woff"
    font.save(out)
    return out.getvalue(), have


def unicode_range(points: set[int]) -> str:
    return ",".join(f"U+{p:X}" for p in sorted(points))


def write_icon_fonts(app: Sphinx, exception: Exception | None) -> None:
    """构建结束后：按网站用到的图标重写字体子集与 dlbook-icons.css。"""
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    static = outdir / "_static"
    theme_css = static / THEME_CSS
    if not theme_css.is_file():  # 别的主题：没有要覆盖的图标字体
        (static / ICON_CSS).write_text("", "utf-8")
        return
    css = theme_css.read_text("utf-8")
    faces = font_faces(css)
    if not faces:
        raise ExtensionError(
            f"{THEME_CSS} 里找不到 Font Awesome 的 @font-face"
            "（多半是主题升级了）：请检查 _ext/lean_pages.py 的图标字体子集"
            "是否还适用"
        )
    points = used_codepoints(outdir, css)
    # 图标与主题都没变时沿用上次的子集（改正文后的重建要快）
    key = json.dumps([sorted(points), faces], sort_keys=True)
    key_file = static / ICON_DIR / ".key"
    if key_file.is_file() and key_file.read_text("utf-8") == key:
        return
    (static / ICON_DIR).mkdir(parents=True, exist_ok=True)
    rules = []
    for face in faces:
        source = (theme_css.parent / face["ttf"]).resolve()
        data, have = subset_font(source, points)
        if not have:
            continue
        name = Path(face["ttf"]).with_suffix(".woff").name
        (static / ICON_DIR / name).write_bytes(data)
        rules.append(
            "@font-face{font-display:block;"
            f'font-family:"{face["family"]}";font-style:{face["style"]};'
            f"font-weight:{face['weight']};"
            f'src:url({ICON_DIR}/{name}) format("woff");'
            f"unicode-range:{unicode_range(have)}}}"
        )
    header = "/* 网站用到的图标字形（_ext/lean_pages.py 构建时生成） */\n"
    (static / ICON_CSS).write_text(header + "\n".join(rules) + "\n", "utf-8")
    key_file.write_text(key, "utf-8")


# ---------- 插图：调色板 PNG ----------


def palette_png(data: bytes) -> bytes | None:
    """不透明的真彩色 PNG 转成 256 色的调色板 PNG；已经是调色板、有透明部分
    或转了反而更大时为 None。"""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    if image.format != "PNG" or image.mode not in ("RGB", "RGBA"):
        return None
    if image.mode == "RGBA" and image.getextrema()[3][0] < 255:
        return None
    out = io.BytesIO()
    image.convert("RGB").quantize(colors=256).save(
        out, format="PNG", optimize=True
    )
    return out.getvalue() if len(out.getvalue()) < len(data) else None


def _shrink_generated_images(app: Sphinx, doctree: nodes.document) -> None:
    """读页面时：执行结果里的 PNG（构建目录里生成的文件）转成调色板 PNG。

    在 Sphinx 记下页面的读取时间之前改写，所以不会让页面在下次构建时过期；
    已经转过的文件保持不变。
    """
    build_dir = Path(app.outdir).resolve().parent
    srcdir = Path(app.srcdir)
    for image in doctree.findall(nodes.image):
        uri = image.get("uri", "")
        if not uri.endswith(".png") or "://" in uri:
            continue
        path = (srcdir / uri.lstrip("/")).resolve()
        if build_dir not in path.parents or not path.is_file():
            continue
        smaller = palette_png(path.read_bytes())
        if smaller is not None:
            path.write_bytes(smaller)


# ---------- 滑块图：帧存成文件，按需下载 ----------


def png_size(data: bytes) -> tuple[int, int]:
    """PNG 的宽与高（IHDR 里的两个 32 位整数）。"""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(
        data[20:24], "big"
    )


def externalize_frames(body: str, save, uri) -> tuple[str, bool]:
    """把 ``data:`` URI 的 PNG 换成文件：``save(name, data)`` 写文件，
    ``uri(name)`` 给出页面里引用它的地址。隐藏的帧（``hidden``）加上
    ``loading="lazy"``；都写上宽高，下载前就占好位置。返回新的 HTML 与
    是否换过。"""

    def replace(match: re.Match) -> str:
        data = base64.b64decode(match.group(1))
        name = f"frame-{hashlib.sha256(data).hexdigest()[:20]}.png"
        save(name, data)
        width, height = png_size(data)
        return f'<img src="{uri(name)}" width="{width}" height="{height}"'

    new, count = DATA_IMG.subn(replace, body)
    new = re.sub(  # dlbasics.slider 写的是 hidden="hidden"
        r'(<img src="[^"]+" width="\d+" height="\d+"[^>]*?)'
        r' hidden(="hidden")?(?=[\s>])',
        r'\1 hidden="hidden" loading="lazy"',
        new,
    )
    return new, count > 0


def _frames_to_files(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if not body or "data:image/png;base64," not in body:
        return
    images = Path(app.outdir) / "_images"

    def save(name: str, data: bytes) -> None:
        target = images / name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def uri(name: str) -> str:
        return context["pathto"](f"_images/{name}", 1)

    context["body"], changed = externalize_frames(body, save, uri)
    if changed:
        app.add_js_file(SLIDER_SCRIPT)  # 只加在这一页


def _add_static(app: Sphinx, config) -> None:
    if str(STATIC) not in config.html_static_path:
        config.html_static_path.append(str(STATIC))


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _add_static)
    app.connect("builder-inited", _register_filter)
    app.connect("doctree-read", _shrink_generated_images)
    app.connect("html-page-context", _drop_unused_mathjax, priority=600)
    app.connect("html-page-context", _frames_to_files)
    app.connect("build-finished", write_icon_fonts)
    app.add_css_file(ICON_CSS)
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
