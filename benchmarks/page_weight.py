"""每页第一次与再次访问时浏览器下载多少字节：真实浏览器，像静态网站主机那样压缩。

用法（在仓库根目录，先按 README 构建全书）::

    .venv/bin/python benchmarks/page_weight.py

- 网站从 ``_build/html`` 由 127.0.0.1 上的本地服务器提供，像 GitHub Pages：
  文本类文件（HTML、JS、CSS、JSON、SVG、XML）在浏览器声明支持时以 gzip
  发送，图片与 woff/woff2 字体本来就是压缩格式、原样发送；每个文件带
  ``Last-Modified`` 与 ``Cache-Control: max-age=600``（GitHub Pages 的
  缓存时间）。
- 浏览器是系统的 Chromium（Playwright 驱动，与 ``tests/test_browser.py``
  相同）。
- 第一次访问：空的浏览器缓存，打开这一页，等到网络空闲、公式排版完、
  字体加载完。
- 再次访问：读者已经读过别的一章，各页共用的文件（主题、MathJax）已在
  浏览器缓存里：同一个浏览器先打开阅读顺序里的上一页（上一页是首页、或
  没有上一页时，用下一页），再打开这一页；只计这一页还要下载的。从首页
  直接进入第一个有公式的页面时，还要下载一次 MathJax（首页没有公式，
  不加载它），那属于第一次访问的开销。
- 每个文件记下原始大小与服务器实际发出的字节数（压缩后）；直接从浏览器
  缓存取的文件服务器收不到请求，不计。

目标（issue 29）：每章第一次访问 ≤ 1 MB（gzip 后），再次访问 ≤ 0.3 MB，
最大的单个文件 ≤ 300 KB（gzip 后）。结果写到 ``benchmarks/results/`` 的
``page_weight.json`` 与 ``page_weight.md``（不提交）。它只测量、只报告，
不是测试。
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import io
import json
import shutil
import sys
import threading
from email.utils import formatdate
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bookfacts import toc_files  # noqa: E402

OUT = ROOT / "benchmarks" / "results"
COMPRESSED_TYPES = (
    "text/",
    "application/javascript",
    "application/json",
    "application/xml",
    "image/svg+xml",
)
LIMITS = {"first": 1_000_000, "repeat": 300_000, "largest": 300_000}
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class StaticHost(http.server.SimpleHTTPRequestHandler):
    """像静态网站主机那样发送文件，并记下每个请求发出了多少字节。"""

    log: list[dict]
    gz_cache: dict[Path, bytes]
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "max-age=600")
        super().end_headers()

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            self.send_error(404)
            self._record(path, 0, 0, 404)
            return None
        ctype = self.guess_type(str(path))
        raw = path.read_bytes()
        accepts = "gzip" in self.headers.get("Accept-Encoding", "")
        body = raw
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if accepts and ctype.startswith(COMPRESSED_TYPES):
            with self.lock:
                if path not in self.gz_cache:
                    self.gz_cache[path] = gzip.compress(raw, 6, mtime=0)
                body = self.gz_cache[path]
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        modified = formatdate(path.stat().st_mtime, usegmt=True)
        self.send_header("Last-Modified", modified)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._record(path, len(raw), len(body), 200)
        return io.BytesIO(body)

    def _record(self, path: Path, raw: int, sent: int, status: int) -> None:
        with self.lock:
            self.log.append(
                {
                    "path": self.path.split("?")[0],
                    "raw": raw,
                    "sent": sent,
                    "status": status,
                }
            )


def serve(site: Path):
    handler = type("Handler", (StaticHost,), {"log": [], "gz_cache": {}})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler.log


SETTLED = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await document.fonts.ready;
  return document.querySelectorAll('mjx-container').length;
}"""


def visit(context, url: str, log: list[dict]) -> list[dict]:
    """打开 ``url``，等页面稳定，返回这期间服务器发出的文件。"""
    start = len(log)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="networkidle")
    page.evaluate(SETTLED)
    page.wait_for_load_state("networkidle")
    page.close()
    if errors:
        print(f"  注意：{url} 有脚本错误：{errors[:2]}", file=sys.stderr)
    return log[start:]


def summary(files: list[dict]) -> dict:
    ok = [f for f in files if f["status"] == 200]
    largest = max(ok, key=lambda f: f["sent"], default=None)
    return {
        "files": len(ok),
        "raw": sum(f["raw"] for f in ok),
        "sent": sum(f["sent"] for f in ok),
        "largest": largest,
        "detail": sorted(ok, key=lambda f: -f["sent"]),
        "missing": [f["path"] for f in files if f["status"] != 200],
    }


def measure(site: Path, pages: list[str]) -> dict[str, dict]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("需要系统的 chromium（Debian：apt-get install chromium）")
    server, log = serve(site)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    results = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium, args=LAUNCH_ARGS
            )
            for i, name in enumerate(pages):
                url = f"{origin}/{name}.html"
                context = browser.new_context()
                first = visit(context, url, log)
                context.close()
                before = pages[i - 1] if i > 1 else pages[i + 1]
                context = browser.new_context()
                visit(context, f"{origin}/{before}.html", log)
                repeat = visit(context, url, log)
                context.close()
                results[name] = {
                    "first": summary(first),
                    "repeat": summary(repeat),
                    "warmed_by": before,
                }
                first_mb = results[name]["first"]["sent"] / 1e6
                repeat_mb = results[name]["repeat"]["sent"] / 1e6
                print(
                    f"{name}: 第一次 {first_mb:.2f}，再次 {repeat_mb:.2f} MB"
                )
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return results


def mb(n: int) -> str:
    return f"{n / 1e6:.2f}"


def markdown(results: dict[str, dict]) -> str:
    lines = [
        "| 页面 | 第一次：文件数 | 第一次：原始 MB | 第一次：gzip 后 MB "
        "| 再次：gzip 后 MB | 最大的文件（gzip 后 KB） |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in results.items():
        first, repeat = r["first"], r["repeat"]
        big = first["largest"]
        lines.append(
            f"| {name.split('/')[-1]} | {first['files']} | {mb(first['raw'])} "
            f"| {mb(first['sent'])} | {mb(repeat['sent'])} "
            f"| {big['path'].split('/')[-1]} {big['sent'] / 1e3:.0f} |"
        )
    worst = {
        "first": max(r["first"]["sent"] for r in results.values()),
        "repeat": max(r["repeat"]["sent"] for r in results.values()),
        "largest": max(
            r["first"]["largest"]["sent"] for r in results.values()
        ),
    }
    lines += [
        "",
        "| 限值 | 最大实测 | 目标 | 达到 |",
        "| --- | ---: | ---: | --- |",
    ]
    names = {
        "first": "第一次访问（MB）",
        "repeat": "再次访问（MB）",
        "largest": "最大的文件（MB）",
    }
    for key, label in names.items():
        ok = "是" if worst[key] <= LIMITS[key] else "否"
        lines.append(
            f"| {label} | {mb(worst[key])} | {mb(LIMITS[key])} | {ok} |"
        )
    heaviest = max(results, key=lambda n: results[n]["first"]["sent"])
    lines += [
        "",
        f"第一次访问最重的一页（{heaviest}）下载的文件：",
        "",
        "| 文件 | 原始 KB | gzip 后 KB |",
        "| --- | ---: | ---: |",
    ]
    for f in results[heaviest]["first"]["detail"]:
        lines.append(
            f"| {f['path']} | {f['raw'] / 1e3:.1f} | {f['sent'] / 1e3:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument(
        "--name", default="page_weight", help="结果文件名（不含扩展名）"
    )
    args = parser.parse_args()
    if not (args.site / "index.html").is_file():
        sys.exit(f"{args.site} 里没有构建好的网站：先运行 README 的构建命令")
    results = measure(args.site, toc_files())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False), "utf-8"
    )
    text = markdown(results)
    (OUT / f"{args.name}.md").write_text(text, "utf-8")
    print(text)
    failed = any(
        r["first"]["missing"] or r["repeat"]["missing"]
        for r in results.values()
    )
    if failed:
        print("有文件返回 404：", file=sys.stderr)
        for name, r in results.items():
            if r["first"]["missing"]:
                print(f"  {name}: {r['first']['missing']}", file=sys.stderr)


if __name__ == "__main__":
    main()
