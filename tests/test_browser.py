"""在无头 Chromium 中像读者一样打开网站（服务在 127.0.0.1 上）。

需要 Debian 的 chromium（apt-get install chromium）；Playwright 在这里
不能自己下载浏览器，所以通过 executable_path 使用系统的 Chromium。
本机没有 Chromium 时跳过，但在 CI（环境变量 CI=true）里缺少它算失败。
"""

from __future__ import annotations

import functools
import http.server
import io
import os
import sys
import threading
import typing
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

from conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # 不把访问日志打到测试输出里
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # 测试关掉标签页时，浏览器断开还没读完的连接：那不是网站的错
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def site_url(built_site: Path):
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def chromium_browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI 中必须安装 chromium（apt-get install chromium）")
        pytest.skip(
            "没有找到 chromium；Debian 上用 apt-get install chromium 安装"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def open_page(browser, url: str, wait_until: str = "networkidle"):
    """打开页面并记录控制台错误、页面异常与所有请求。"""
    page = browser.new_page()
    log = {"errors": [], "requests": []}
    page.on(
        "console",
        lambda m: m.type == "error" and log["errors"].append(m.text),
    )
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    page.on("request", lambda r: log["requests"].append(r.url))
    page.goto(url, wait_until=wait_until)
    return page, log


def open_search(browser, url: str, settle: bool = False):
    """打开搜索页（地址里带着 ``?q=``），等到搜索做完：结果逐条显示（每条
    还要取那一页的摘要），全部显示完才写出“搜索完成”的摘要。

    ``settle``：再等到网络空闲（最后几条摘要的请求也结束了），要检查控制台
    错误的测试用它，免得晚到的报错漏掉。"""
    page, log = open_page(browser, url, wait_until="load")
    page.wait_for_function(
        "() => typeof Search !== 'undefined' && Search.status"
        " && Search.status.innerText.trim() !== ''",
        timeout=20000,
    )
    if settle:
        page.wait_for_load_state("networkidle")
    return page, log


def toc_pages() -> list[str]:
    from conftest import toc_files

    return toc_files()


def body_term(site: Path, page: str) -> str | None:
    """这一页正文里的一个中文索引词（不取标题里的词：标题不用分词也能搜到）。"""
    from conftest import search_index

    index = search_index(site)
    doc = index["docnames"].index(page)
    titles = set(index["titleterms"])
    for term, docs in sorted(
        index["terms"].items(), key=lambda kv: -len(kv[0])
    ):
        docs = docs if isinstance(docs, list) else [docs]
        cjk = all("\u4e00" <= ch <= "\u9fff" for ch in term)
        if doc in docs and cjk and len(term) >= 3 and term not in titles:
            return term
    return None


# 代码高亮的几千个 <span> 只有几十种样子：同一种样子（颜色、字号、字重、
# 透明度与背后每一层的底色都相同）的对比度也相同。axe 的对比度检查按元素
# 逐个计算（一章要几秒钟），所以每种样子只留一个 axe 判得了的样本，其余的
# 不交给对比度规则；其他规则照常检查每个元素。判得了：完全看得见（没有被
# 横向滚动裁掉，被裁掉的 axe 只报“待查”），去掉标点后至少两个字母或数字
# （只有标点、空白的 span 对比度规则不适用，只有一个字符的不合格时也只报
# “待查”，所以它们本来就不会报成违规）。一种样子找不到这样的样本时，这一种
# 全部照常检查。
MARK_SAME_LOOKING_CODE = """() => {
  const memo = new Map();
  const layers = el => {  // 这个元素与它所有祖先的底色、透明度等
    if (!el) return "";
    if (!memo.has(el)) {
      const s = getComputedStyle(el);
      memo.set(el, [s.backgroundColor, s.backgroundImage, s.opacity,
        s.filter, s.mixBlendMode, layers(el.parentElement)].join("|"));
    }
    return memo.get(el);
  };
  const clipped = (el, rect) => {
    for (let a = el.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === "visible" && s.overflowY === "visible") continue;
      const box = a.getBoundingClientRect();
      if (rect.left < box.left || rect.right > box.left + a.clientWidth
          || rect.top < box.top || rect.bottom > box.top + a.clientHeight)
        return true;
    }
    return false;
  };
  const groups = new Map();
  for (const el of document.querySelectorAll(".highlight pre span")) {
    if (el.children.length || el.attributes.length !== 1 || !el.className)
      continue;  // 只管 Pygments 的纯文本 span（只有 class）
    const s = getComputedStyle(el);
    const key = [s.color, s.fontSize, s.fontWeight, s.textShadow,
      s.textDecorationLine, s.visibility, layers(el)].join("|");
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(el);
  }
  let skipped = 0;
  for (const members of groups.values()) {
    const sample = members.find(el => {
      if ((el.textContent.match(/[\\p{L}\\p{N}]/gu) || []).length < 2)
        return false;
      const rect = el.getBoundingClientRect();
      return rect.width > 0 && rect.height > 0 && !clipped(el, rect);
    });
    if (!sample) continue;
    for (const el of members) {
      if (el === sample) continue;
      el.setAttribute("data-axe-same-look", "");
      skipped++;
    }
  }
  return [groups.size, skipped];
}"""
# axe 注入之后、运行之前：对比度规则跳过标出来的重复样子（规则原来的
# selector 是 "*"，只改它；其他规则与整页的范围都不变）
SKIP_SAME_LOOK = """() => axe.configure({rules: [{id: "color-contrast",
  selector: "*:not([data-axe-same-look])"}]})"""


def axe_violations(tab) -> list[dict]:
    """整页的 axe 检查（axe-playwright-python 的默认选项：只要 violations），
    样子相同的代码高亮 span 只查一个 axe 判得了的样本的对比度。"""
    from axe_playwright_python.sync_playwright import Axe

    tab.evaluate(MARK_SAME_LOOKING_CODE)
    try:
        tab.evaluate(Axe().axe_script)
        tab.evaluate(SKIP_SAME_LOOK)
        return tab.evaluate(
            "() => axe.run({resultTypes: ['violations']})"
            ".then(r => r.violations)"
        )
    finally:
        tab.evaluate(
            "() => { if (window.axe) axe.reset(); document.querySelectorAll("
            "'[data-axe-same-look]').forEach("
            "e => e.removeAttribute('data-axe-same-look')); }"
        )


@pytest.mark.parametrize("page", toc_pages())
def test_every_page_loads_cleanly_offline_and_accessibly(
    chromium_browser, site_url, built_site, page
):
    tab, log = open_page(chromium_browser, f"{site_url}/{page}.html")
    has_math = tab.locator("div.math, span.math").count() > 0
    if has_math:  # 等 MathJax 排版完
        tab.wait_for_function(
            "() => document.querySelectorAll('mjx-container').length > 0",
            timeout=20000,
        )
    assert log["errors"] == []
    hosts = {
        urlparse(u).hostname
        for u in log["requests"]
        if not u.startswith("data:")
    }
    assert hosts == {"127.0.0.1"}, (
        f"{page} 访问了外部地址：{hosts - {'127.0.0.1'}}"
    )
    # 读者用不到的不下载（_ext/lean_pages.py）：图标由字体子集画出，
    # 不加载 fontawesome.js 与完整的图标字体；搜索索引只在搜索页；
    # MathJax 只在有公式的页面
    paths = [urlparse(u).path for u in log["requests"]]
    unneeded = [
        p
        for p in paths
        if p.endswith(("fontawesome.js", ".woff2", "searchindex.js"))
    ]
    assert unneeded == [], f"{page} 下载了用不到的文件"
    assert any("/_static/dlbook-icons/" in p for p in paths), "图标字体"
    assert any(p.endswith("/tex-chtml.js") for p in paths) == has_math
    broken = tab.eval_on_selector_all(  # 按需下载的滑块帧此时还没有下载
        "img:not([loading=lazy])",
        "els => els.filter(e => !(e.complete && e.naturalWidth > 0))"
        ".map(e => e.src)",
    )
    assert broken == []
    assert tab.locator("mjx-merror").count() == 0
    if has_math:
        assert tab.locator("mjx-container").count() > 0, "公式没有被排版"
    assert tab.locator("html").get_attribute("lang") == "zh-CN"
    # 页脚的“报告错误”：在仓库上新建 issue，正文里写好了这一页的源文件
    report = tab.locator("a.dlbook-report")
    assert report.count() == 1 and report.is_visible()
    href = report.get_attribute("href")
    assert urlparse(href).path.endswith("/issues/new")
    assert quote(f"{page}.md", safe="") in href
    violations = axe_violations(tab)
    serious = [
        (v["id"], v["nodes"][0]["target"])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{page} 的无障碍问题：{serious}"
    # 每一章的自测题（同一次打开页面里检查，省去再打开一次的时间）
    assert (tab.locator(".dlbook-quiz").count() > 0) == (
        page in quiz_chapters()
    )
    if page in quiz_chapters():
        answer_every_quiz_then_dark_phone_and_print(tab, log, page)
    tab.close()


@pytest.mark.parametrize("page", toc_pages())
def test_search_finds_each_page_by_a_body_term(
    chromium_browser, site_url, built_site, page
):
    term = body_term(built_site, page)
    if term is None:
        pytest.skip(f"{page} 的正文里没有合适的中文索引词")
    tab, _ = open_search(
        chromium_browser, f"{site_url}/search.html?q={quote(term)}"
    )
    links = tab.eval_on_selector_all(
        "#search-results ul.search li a", "els => els.map(e => e.href)"
    )
    assert any(f"{page}.html" in href for href in links), (
        f"搜索“{term}”没有找到 {page}"
    )
    tab.close()


CLIPPED_AND_VISIBLE_CODE = """<!doctype html><html lang="zh-CN">
<head><title>对比度</title><style>
  pre { background: #fff; font: 14px monospace; margin: 0; }
  .scrolled pre { width: 120px; overflow-x: auto; }
  .c1 { color: #e4e4e4; }  .k { color: #000; }
</style></head><body><main><h1>对比度</h1>
<div class="highlight scrolled"><pre><span class="k">x</span>{gap}<span
class="c1">pale</span></pre></div>
<div class="highlight"><pre><span class="k">y</span><span
class="c1">.</span><span class="c1">x</span> <span class="c1">pale</span>
<span class="k">z</span> <span class="c1">pale</span></pre></div>
</main></body></html>"""


def test_code_contrast_is_checked_on_a_visible_sample_of_each_look(
    chromium_browser,
):
    """同一种样子的代码 span 只查一个：查的是 axe 判得了的那个（被横向滚动
    裁掉的、只有标点或只有一个字符的排在前面也不选它），浅得看不清的颜色照样
    报出来；查完不留标记。"""
    tab = chromium_browser.new_page()
    tab.set_content(CLIPPED_AND_VISIBLE_CODE.replace("{gap}", " " * 60))
    violations = axe_violations(tab)
    contrast = [v for v in violations if v["id"] == "color-contrast"]
    assert len(contrast) == 1, violations
    (node,) = contrast[0]["nodes"]
    # 第二个代码块里的第一个“pale”（第一个代码块里的那个被裁掉了，
    # “.”对比度规则不适用，“x”不合格时 axe 只报“待查”）
    assert tab.evaluate(
        "t => document.querySelector(t)"
        " === document.querySelectorAll('.c1')[3]",
        node["target"][0],
    )
    assert tab.locator("[data-axe-same-look]").count() == 0
    tab.close()


def test_dark_mode_toggle_switches_theme_and_keeps_figures_on_light(
    chromium_browser, site_url, built_site
):
    tab, log = open_page(chromium_browser, f"{site_url}/book/spiral.html")
    html = tab.locator("html")
    modes = []
    for _ in range(3):  # 浅色、深色、跟随系统之间循环
        tab.locator("button.theme-switch-button").first.click()
        modes.append(html.get_attribute("data-theme"))
    assert "dark" in modes and "light" in modes
    while html.get_attribute("data-theme") != "dark":
        tab.locator("button.theme-switch-button").first.click()
    # 深色模式下，图片仍放在浅色底板上，白底的 matplotlib 图可读
    background = tab.eval_on_selector(
        "div.cell_output img", "e => getComputedStyle(e).backgroundColor"
    )
    rgb = [
        int(v)
        for v in background[background.index("(") + 1 : -1].split(",")[:3]
    ]
    assert sum(rgb) / 3 > 150, f"深色模式下图片底色是 {background}"
    # 截图留在 _build/ 里，供人查看深色模式下的效果
    tab.screenshot(path=str(built_site.parent / "dark-mode-spiral.png"))
    assert log["errors"] == []
    tab.close()


def test_glossary_term_shows_its_definition_on_hover_and_focus(
    chromium_browser, site_url, built_site
):
    import json

    raw = (built_site / "_static/dlbook-glossary-data.js").read_text("utf-8")
    terms = json.loads(raw[raw.index("=") + 1 : raw.rindex(";")])
    terms = terms["book/glossary.html"]
    tab, log = open_page(chromium_browser, f"{site_url}/book/spiral.html")
    link = tab.locator("a.reference:has(.xref.std-term)").first
    anchor = link.get_attribute("href").split("#")[1]
    tip = tab.locator("#dlbook-term-tip")
    assert tip.count() == 0
    link.hover()
    assert tip.is_visible()
    assert tip.inner_text() == (
        f"{terms[anchor]['term']}：{terms[anchor]['definition']}"
    )
    assert link.get_attribute("aria-describedby") == "dlbook-term-tip"
    tab.mouse.move(0, 0)
    assert tip.count() == 0
    link.focus()  # 键盘：Tab 移到链接上
    assert tip.is_visible() and tip.get_attribute("role") == "tooltip"
    box, view = tip.bounding_box(), tab.viewport_size
    assert 0 <= box["x"] and box["x"] + box["width"] <= view["width"]
    tab.keyboard.press("Escape")
    assert tip.count() == 0
    assert log["errors"] == []
    tab.close()


# 有滑块图的章节（dlbasics.slider）；每章至少一个
SLIDER_PAGES = ("spiral", "activations", "softmax", "optimizers")

SLIDER_STATE = """root => {
  const input = root.querySelector('input[type=range]');
  const shown = [...root.querySelectorAll('.dlbook-slider-frames img')]
    .filter(img => getComputedStyle(img).display !== 'none');
  return {
    value: input.value,
    valuetext: input.getAttribute('aria-valuetext'),
    label: input.labels.length ? input.labels[0].textContent : '',
    output: root.querySelector('output').textContent,
    shown: shown.map(img => img.src.slice(-80)),
    alt: shown.map(img => img.alt),
    values: JSON.parse(root.dataset.values),
  };
}"""


FRAMES_LOADED = """root =>
  [...root.querySelectorAll('.dlbook-slider-frames img')]
  .filter(img => img.complete && img.naturalWidth > 0).length"""


@pytest.mark.parametrize("stem", SLIDER_PAGES)
def test_slider_figure_moves_with_the_keyboard(
    chromium_browser, site_url, stem
):
    tab, log = open_page(chromium_browser, f"{site_url}/book/{stem}.html")
    slider = tab.locator(".dlbook-slider").first
    control = slider.locator("input[type=range]")
    assert control.is_enabled(), "脚本没有运行：滑块仍是禁用的"
    start = slider.evaluate(SLIDER_STATE)
    assert start["label"], "滑块没有标签"
    assert len(start["shown"]) == 1, "打开时应只显示一帧"
    assert (
        start["output"]
        == start["valuetext"]
        == start["values"][int(start["value"])]
    )
    assert start["output"] in start["alt"][0]
    # 页面只下载显示的那一帧；焦点到了滑块上，其余帧才下载
    assert slider.evaluate(FRAMES_LOADED) == 1

    control.focus()
    tab.wait_for_function(
        f"root => ({FRAMES_LOADED})(root) === {len(start['values'])}",
        arg=slider.element_handle(),
    )
    key = "ArrowLeft" if int(start["value"]) > 0 else "ArrowRight"
    tab.keyboard.press(key)
    moved = slider.evaluate(SLIDER_STATE)
    assert abs(int(moved["value"]) - int(start["value"])) == 1
    assert len(moved["shown"]) == 1
    assert moved["shown"] != start["shown"], "按键后图没有变"
    assert moved["output"] == moved["valuetext"] != start["output"]
    assert moved["output"] in moved["alt"][0]

    tab.keyboard.press("Home")
    first = slider.evaluate(SLIDER_STATE)
    assert first["value"] == "0" and first["output"] == first["values"][0]
    tab.keyboard.press("End")
    last = slider.evaluate(SLIDER_STATE)
    assert last["output"] == last["values"][-1]
    assert len({first["shown"][0], last["shown"][0], start["shown"][0]}) >= 2

    assert log["errors"] == []
    tab.close()


def test_slider_is_readable_and_accessible_in_dark_mode(
    chromium_browser, site_url
):
    from axe_playwright_python.sync_playwright import Axe

    tab = chromium_browser.new_page(color_scheme="dark")
    tab.goto(f"{site_url}/book/spiral.html", wait_until="networkidle")
    assert tab.locator("html").get_attribute("data-theme") == "dark"
    frame = tab.locator(".dlbook-slider .dlbook-slider-frames img:visible")
    background = frame.evaluate("e => getComputedStyle(e).backgroundColor")
    rgb = [
        int(v)
        for v in background[background.index("(") + 1 : -1].split(",")[:3]
    ]
    assert sum(rgb) / 3 > 150, f"深色模式下滑块图的底色是 {background}"
    violations = Axe().run(tab).response["violations"]
    on_slider = [
        (v["id"], node["target"])
        for v in violations
        for node in v["nodes"]
        if "dlbook-slider" in str(node["target"])
        or "-input" in str(node["target"])
    ]
    assert on_slider == [], f"滑块的无障碍问题：{on_slider}"
    tab.close()


def test_slider_prints_its_default_state_and_fits_a_phone(
    chromium_browser, site_url
):
    tab, _ = open_page(chromium_browser, f"{site_url}/book/softmax.html")
    slider = tab.locator(".dlbook-slider").first
    start = slider.evaluate(SLIDER_STATE)
    slider.locator("input[type=range]").focus()
    tab.keyboard.press("End")  # 读者拖动过，打印的仍是默认状态
    tab.emulate_media(media="print")
    printed = slider.evaluate(SLIDER_STATE)
    assert printed["shown"] == start["shown"]
    assert not slider.locator(".dlbook-slider-control").is_visible()
    note = slider.locator(".dlbook-slider-print")
    assert note.is_visible() and start["output"] in note.inner_text()
    tab.emulate_media(media="screen")
    assert note.is_hidden()

    tab.set_viewport_size({"width": 360, "height": 740})
    box = slider.bounding_box()
    image = slider.locator(".dlbook-slider-frames img:visible").bounding_box()
    control = slider.locator("input[type=range]").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert image["width"] <= box["width"] + 1
    assert control["x"] + control["width"] <= 360
    tab.close()


def test_spiral_page_shows_its_figures_and_typesets_all_math(
    chromium_browser, site_url
):
    """通用检查见上面逐页的测试；这里核对螺旋数据一章特有的内容。"""
    tab, _ = open_page(chromium_browser, f"{site_url}/book/spiral.html")
    tab.wait_for_function(
        "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
        " && document.querySelectorAll('mjx-container').length > 0",
        timeout=20000,
    )
    tab.evaluate("() => MathJax.startup.promise")
    assert tab.locator(".cell_output img").count() >= 5
    assert tab.locator("mjx-container").count() > 20
    # 公式已被替换：正文里不应残留原始的 \( \) 或 $$ 标记
    body_text = tab.locator("article").inner_text()
    assert "\\(" not in body_text and "$$" not in body_text
    tab.close()


@pytest.mark.parametrize("term", ["螺旋数据", "反向传播", "梯度下降"])
def test_search_finds_the_spiral_chapter(chromium_browser, site_url, term):
    page, log = open_search(
        chromium_browser,
        f"{site_url}/search.html?q={quote(term)}",
        settle=True,
    )
    summary = page.locator("#search-results p.search-summary")
    links = page.eval_on_selector_all(
        "#search-results ul.search li a", "els => els.map(e => e.href)"
    )
    assert any("book/spiral.html" in href for href in links), (
        f"搜索“{term}”没有找到螺旋数据一章：{summary.inner_text()}"
    )
    assert log["errors"] == []
    page.close()


# 读者连着输入的问题（不带空格）：应当排在第一的，是回答它的那一章
PHRASES = {
    "张量的形状": "tensors",
    "梯度消失的原因": "activations",
    "学习率太大会怎样": "optimizers",
    "为什么要用验证集": "generalization",
}


@pytest.mark.parametrize(("phrase", "chapter"), PHRASES.items())
def test_search_understands_phrases_without_spaces(
    chromium_browser, site_url, phrase, chapter
):
    """查询按索引的词表切开（_ext/phrase_search.js），回答它的那一章排第一。"""
    page, log = open_search(
        chromium_browser,
        f"{site_url}/search.html?q={quote(phrase)}",
        settle=True,
    )
    terms = page.evaluate("(q) => splitQuery(q)", phrase)
    vocabulary = page.evaluate(
        "(ts) => ts.every((t) => t in Search._index.terms"
        " || t in Search._index.titleterms)",
        terms,
    )
    assert len(terms) >= 2 and vocabulary, terms  # 切成了索引里的词
    links = page.eval_on_selector_all(
        "#search-results ul.search li a", "els => els.map(e => e.href)"
    )
    assert links and f"book/{chapter}.html" in links[0], (
        f"搜索“{phrase}”（切成 {terms}）排第一的是 {links[:3]}"
    )
    assert log["errors"] == []
    page.close()


def test_search_from_a_file_url_ranks_without_fetching_snippets(
    chromium_browser, built_site
):
    """直接打开 _build/html 里的文件时，搜索照样能用、排序相同，且不报错
    （取不到的摘要不去取）。"""
    phrase, chapter = "学习率太大会怎样", PHRASES["学习率太大会怎样"]
    url = (built_site / "search.html").as_uri() + f"?q={quote(phrase)}"
    page, log = open_search(chromium_browser, url, settle=True)
    links = page.eval_on_selector_all(
        "#search-results ul.search li a", "els => els.map(e => e.href)"
    )
    assert links and f"book/{chapter}.html" in links[0], links[:3]
    assert log["errors"] == []  # 没有取摘要时的 CORS 报错
    page.close()


def test_a_chapter_opened_from_a_file_url_works(chromium_browser, built_site):
    """直接打开 _build/html 里的文件：图标、公式、滑块图照常，没有报错。"""
    url = (built_site / "book" / "spiral.html").as_uri()
    page, log = open_page(chromium_browser, url)
    page.wait_for_function(
        "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
        " && document.querySelectorAll('mjx-container').length > 0",
        timeout=20000,
    )
    page.evaluate("() => MathJax.startup.promise")
    icons = page.evaluate(
        """async () => {
          await document.fonts.ready;
          return [...document.fonts]
            .filter(f => f.family.includes('Font Awesome'))
            .map(f => f.status);
        }"""
    )
    assert "loaded" in icons, icons
    slider = page.locator(".dlbook-slider").first
    slider.locator("input[type=range]").focus()
    page.keyboard.press("End")
    page.wait_for_function(
        "root => [...root.querySelectorAll('.dlbook-slider-frames img')]"
        ".filter(i => !i.hidden).every(i => i.complete && i.naturalWidth)",
        arg=slider.element_handle(),
    )
    assert log["errors"] == []
    page.close()


def test_a_whole_indexed_word_is_searched_as_it_is(chromium_browser, site_url):
    """查询本身就是索引里的词时不再切分（精确搜索照旧）。"""
    page, _ = open_search(chromium_browser, f"{site_url}/search.html?q=x")
    assert page.evaluate("splitQuery('梯度消失')") == ["梯度消失"]
    assert page.evaluate("splitQuery('ReLU 的导数')") == ["ReLU", "导数"]
    page.close()


class _PagesHandler(http.server.SimpleHTTPRequestHandler):
    """像 GitHub Pages 那样服务网站：可以挂在子路径下；不存在的地址返回
    状态 404 与网站根目录的 404.html；``extra`` 里的路径返回给定的内容。"""

    prefix = "/"
    extra: typing.ClassVar[dict[str, bytes]] = {}
    hidden: typing.ClassVar[set[str]] = set()

    def log_message(self, *args):
        pass

    def _site_path(self) -> str | None:
        path = self.path.split("?")[0]
        if not path.startswith(self.prefix):
            return None
        return "/" + path[len(self.prefix) :]

    def send_head(self):
        path = self._site_path()
        if path in self.extra:
            body = self.extra[path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)
        if path in self.hidden:
            path = None
        target = None if path is None else Path(self.directory) / path[1:]
        if target is not None and target.is_dir():
            target = target / "index.html"
        if target is None or not target.is_file():
            body = (Path(self.directory) / "404.html").read_bytes()
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)
        self.path = path
        return super().send_head()


def serve_like_pages(site: Path, prefix: str, extra=None, hidden=()):
    handler = type(
        "Handler",
        (_PagesHandler,),
        {"prefix": prefix, "extra": extra or {}, "hidden": set(hidden)},
    )
    server = _Server(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("prefix", ["/", "/deep-learning-basics/"])
def test_404_page_links_home_wherever_the_site_is_hosted(
    chromium_browser, built_site, prefix
):
    server, origin = serve_like_pages(built_site, prefix)
    try:
        tab, log = open_page(
            chromium_browser, f"{origin}{prefix}no/such/page.html"
        )
        assert "找不到这个页面" in tab.content()
        link = tab.locator("#home-link")
        tab.wait_for_function(
            "() => document.getElementById('home-link').dataset.resolved"
        )
        assert link.get_attribute("data-resolved") == "true"
        link.click()
        tab.wait_for_load_state("networkidle")
        assert urlparse(tab.url).path == f"{prefix}book/index.html"
        assert "深度学习基础" in tab.title()
        # 404 页本身与找根目录的探测请求都是 404，浏览器各记一条；别的错不许有
        unexpected = [e for e in log["errors"] if "status of 404" not in e]
        assert unexpected == []
        assert all(
            urlparse(u).hostname == "127.0.0.1" for u in log["requests"]
        )
        tab.close()
    finally:
        server.shutdown()
        server.server_close()


# ---------- 自测题（_ext/quiz.py 与 static/dlbook-quiz.js） ----------


def quiz_chapters() -> list[str]:
    from conftest import chapter_pages

    return chapter_pages()


# 文字里去掉公式（MathJax 排版后的文字与源码不同），空白合成一个
TEXT_OF = """node => {
  const copy = node.cloneNode(true);
  copy.querySelectorAll('mjx-container, .math, .dlbook-quiz-note-head')
    .forEach(e => e.remove());
  return copy.textContent.replace(/\\s+/g, ' ').trim();
}"""

QUIZ_STATE = f"""quiz => ({{
  state: quiz.getAttribute('data-state'),
  live: ({TEXT_OF})(quiz.querySelector('.dlbook-quiz-feedback')),
}})"""

NOTE_TEXT = f"""(quiz, selector) =>
  ({TEXT_OF})(quiz.querySelector('.dlbook-quiz-answer ' + selector))"""


def quiz_state(quiz) -> dict:
    return quiz.evaluate(QUIZ_STATE)


def answer_choice(tab, quiz, chosen: list[int], before: list[int]) -> None:
    """只用键盘：在选项上按空格选中（复选框再按一次取消），再到按钮上按回车。"""
    inputs = quiz.locator(".dlbook-quiz-option input")
    radio = quiz.get_attribute("data-kind") == "single"
    for k in chosen if radio else sorted(set(before) ^ set(chosen)):
        inputs.nth(k).focus()
        tab.keyboard.press("Space")
    quiz.locator(".dlbook-quiz-check").focus()
    tab.keyboard.press("Enter")


def answer_number(tab, quiz, text: str) -> None:
    field = quiz.locator(".dlbook-quiz-numeric input")
    field.focus()
    tab.keyboard.press("Control+A")
    tab.keyboard.press("Backspace")
    tab.keyboard.type(text)
    tab.keyboard.press("Enter")  # 输入框里按回车就是检查


def answer_every_quiz_then_dark_phone_and_print(tab, log, name) -> None:
    """每一章的每道自测题（由上面逐页的测试调用）：键盘作答，错的选项显示
    它自己的反馈，对的标为正确；数值题在容许误差之内算对、之外算错；结果写进
    role=status 的区域；没有控制台错误。然后同一页：深色模式下自测题的对比度
    够，360 px 宽的手机上不超出屏幕，打印时按钮与反馈不见、章末印出答案。"""
    import json

    from axe_playwright_python.sync_playwright import Axe

    # 只看这里以后的控制台错误：上面整页的 axe 检查会去取一个不存在的
    # basic.css（它按页面而不是样式表的地址解析 @import），那不是页面的错
    seen = len(log["errors"])
    quizzes = tab.locator(".dlbook-quiz")
    count = quizzes.count()
    assert count >= 4
    # 单选组只占一个 Tab 位置：从第一个选项按 Tab，不再经过组里的其他选项
    # （选项里的公式可以获得焦点，是 MathJax 的无障碍菜单），就到“检查答案”
    single = tab.locator('.dlbook-quiz[data-kind="single"]').first
    single.locator("input").first.focus()
    for _ in range(10):
        tab.keyboard.press("Tab")
        focused = tab.evaluate(
            "() => [document.activeElement.className,"
            " document.activeElement.type]"
        )
        assert focused[1] != "radio", "Tab 停在了同一组的其他选项上"
        if focused[0] == "dlbook-quiz-check":
            break
    assert focused[0] == "dlbook-quiz-check"
    for i in range(count):
        quiz = quizzes.nth(i)
        assert quiz.locator(".dlbook-quiz-check").is_enabled(), "脚本没有运行"
        if quiz.get_attribute("data-kind") == "numeric":
            value = float(quiz.get_attribute("data-value"))
            tol = float(quiz.get_attribute("data-tolerance"))
            if quiz.get_attribute("data-relative") == "true":
                tol *= abs(value)
            outside = value + 2 * tol + max(abs(value), 1)
            answer_number(tab, quiz, f"{outside:.12g}")
            state = quiz_state(quiz)
            hint = quiz.evaluate(NOTE_TEXT, '[data-role="hint"]')
            assert state["state"] == "wrong" and "偏大" in state["live"]
            assert hint in state["live"]
            answer_number(tab, quiz, f"{value + tol / 2:.12g}")
            state = quiz_state(quiz)
            explanation = quiz.evaluate(NOTE_TEXT, '[data-role="explanation"]')
            assert state["state"] == "correct" and "正确" in state["live"]
            assert explanation in state["live"]
            continue
        right = json.loads(quiz.get_attribute("data-answer"))
        options = quiz.locator(".dlbook-quiz-option").count()
        wrong = next(k for k in range(options) if k not in right)
        answer_choice(tab, quiz, [wrong], [])
        state = quiz_state(quiz)
        feedback = quiz.evaluate(NOTE_TEXT, f'[data-option="{wrong}"]')
        assert state["state"] == "wrong" and "✗" in state["live"]
        assert feedback in state["live"], (name, i)
        answer_choice(tab, quiz, right, [wrong])  # 改了再查
        state = quiz_state(quiz)
        assert state["state"] == "correct" and "✓ 正确" in state["live"]
        for k in right:
            assert (
                quiz.evaluate(NOTE_TEXT, f'[data-option="{k}"]')
                in (state["live"])
            )
    assert log["errors"][seen:] == []

    tab.evaluate("document.documentElement.dataset.theme = 'dark'")
    # 浅色模式下整页的无障碍检查在上面逐页的测试里；深色模式只变颜色
    contrast = {"runOnly": ["color-contrast"], "resultTypes": ["violations"]}
    result = Axe().run(tab, context=".dlbook-quiz", options=contrast)
    violations = [
        (v["id"], n["target"])
        for v in result.response["violations"]
        for n in v["nodes"]
    ]
    assert violations == [], "深色模式下自测题的对比度不够"
    tab.evaluate("document.documentElement.dataset.theme = 'light'")

    tab.set_viewport_size({"width": 360, "height": 740})
    for i in range(count):
        quiz = quizzes.nth(i)
        box = quiz.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360
        assert quiz.evaluate("e => e.scrollWidth <= e.clientWidth + 1")

    tab.emulate_media(media="print")
    key = tab.locator(".dlbook-quiz-key")
    assert key.is_visible()
    chapter = tab.locator("article h1 .section-number").inner_text().strip()
    assert f"自测 {chapter.rstrip('.')}.{count}：" in key.inner_text()
    assert quizzes.first.locator(".dlbook-quiz-stem").is_visible()
    for hidden in (".dlbook-quiz-check", ".dlbook-quiz-answer summary"):
        assert not quizzes.first.locator(hidden).is_visible()
