"""检查（或补上）各章第一次用到术语表中的术语时的 ``{term}`` 链接。

    python scripts/glossary_links.py          # 只检查：有问题时退出码非 0
    python scripts/glossary_links.py --fix    # 在每章第一次出现处加上链接

只看正文：代码单元格、``literalinclude``、标题、行内代码、公式、其他
角色（``{ref}``、``{glue:text}`` 等）里的文字都不算“用到”。一个术语
出现在更长的术语里（“梯度下降”在“随机梯度下降”里）也不算。
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bookfacts import chapter_pages  # noqa: E402

GLOSSARY = ROOT / "book" / "glossary.md"
# 不按“第一次出现”检查的术语与原因（它们仍须在定义处链接）
EXEMPT = {
    "轮": "单字，常出现在“轮流”等词里；在讲一轮是什么的地方链接",
}
SKIPPED_FENCES = ("code-cell", "literalinclude", "code", "glossary")
TERM_ROLE = re.compile(r"\{term\}`([^`<]*?)(?:\s*<([^`>]+)>)?`")
MASKED = [
    re.compile(r"\{(?!term\})[\w:-]+\}`[^`]*`"),  # 其他角色
    re.compile(r"``.+?``|`[^`\n]+`"),  # 行内代码
    re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S),  # 公式
    re.compile(r"\]\([^)]*\)"),  # 链接地址
]


def glossary_terms() -> list[str]:
    """术语表里的全部术语（``{glossary}`` 块中不缩进的行）。"""
    text = GLOSSARY.read_text("utf-8")
    block = text.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    return [
        line.strip()
        for line in block.splitlines()
        if line.strip() and not line.startswith((" ", "\t"))
    ]


def prose_mask(text: str) -> str:
    """与 text 等长的字符串：非正文的字符都换成空格（换行保留）。"""
    out = list(text)

    def blank(start: int, end: int) -> None:
        for i in range(start, end):
            if out[i] != "\n":
                out[i] = " "

    pos = 0
    fence: str | None = None  # 正在跳过的围栏（反引号串）
    in_front_matter = text.startswith("---\n")
    for line in text.splitlines(keepends=True):
        start, end = pos, pos + len(line)
        pos = end
        stripped = line.strip()
        if in_front_matter:
            blank(start, end)
            if stripped == "---" and start > 0:
                in_front_matter = False
            continue
        if fence is not None:
            blank(start, end)
            if stripped == fence:
                fence = None
            continue
        opening = re.match(r"^(`{3,})\{?([\w-]*)", stripped)
        if opening:
            blank(start, end)
            if opening.group(2) in SKIPPED_FENCES:
                fence = opening.group(1)
            continue
        if stripped.startswith(("#", ":")) or re.match(r"^\(.+\)=$", stripped):
            blank(start, end)
    # 先把 {term} 角色换成不含反引号的占位符，免得被当成行内代码
    masked = "".join(out)
    roles = [m.span() for m in TERM_ROLE.finditer(masked)]
    work = list(masked)
    for a, b in roles:
        work[a:b] = "\x01" * (b - a)
    work = "".join(work)
    for pattern in MASKED:
        for match in pattern.finditer(work):
            blank(*match.span())
    return "".join(out)


def _term_pattern(term: str) -> re.Pattern:
    if re.fullmatch(r"[A-Za-z]+", term):
        # 英文术语：整词，允许复数 s；不算 log-softmax 这种复合词
        return re.compile(rf"(?<![\w-]){re.escape(term)}s?(?![\w-])")
    return re.compile(re.escape(term))


@dataclass
class Problem:
    chapter: str
    term: str
    line: int
    start: int  # 第一次未链接出现的位置
    end: int

    def __str__(self) -> str:
        return (
            f"book/{self.chapter}.md:{self.line}：“{self.term}”第一次出现"
            "时没有链接到术语表"
        )


def problems(text: str, chapter: str, terms: list[str]) -> list[Problem]:
    """这一章里，第一次出现时没有链接的术语。"""
    masked = prose_mask(text)
    linked_at: dict[str, int] = {}
    for match in TERM_ROLE.finditer(masked):
        target = (match.group(2) or match.group(1)).strip()
        linked_at.setdefault(target, match.start())
    # 链接本身也遮住，剩下的才是“未链接的出现”
    plain = TERM_ROLE.sub(lambda m: " " * len(m.group(0)), masked)
    spans = {
        term: [m.span() for m in _term_pattern(term).finditer(plain)]
        for term in terms
    }
    found = []
    for term in terms:
        if term in EXEMPT:
            continue
        longer = [
            span
            for other in terms
            if len(other) > len(term) and term in other
            for span in spans[other]
        ]
        for s, e in spans[term]:
            if any(a <= s and e <= b for a, b in longer):
                continue
            if s < linked_at.get(term, len(text)):
                line = text.count("\n", 0, s) + 1
                found.append(Problem(chapter, term, line, s, e))
            break
    return found


def fix(text: str, found: list[Problem]) -> str:
    """在每个问题的位置加上 ``{term}`` 链接（从后往前改，位置不乱）。"""
    for p in sorted(found, key=lambda p: p.start, reverse=True):
        word = text[p.start : p.end]
        role = (
            f"{{term}}`{word}`"
            if word == p.term
            else f"{{term}}`{word} <{p.term}>`"
        )
        start, end = p.start, p.end
        if text[start - 2 : start] == "**" and text[end : end + 2] == "**":
            # 链接本身已有样式；紧贴汉字的 **{term}`…`** 在 MyST 里不算加粗，
            # 会把星号原样显示出来，所以去掉加粗
            start, end = start - 2, end + 2
        text = text[:start] + role + text[end:]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="写回 book/*.md")
    args = parser.parse_args(argv)
    terms = glossary_terms()
    total = []
    for chapter in chapter_pages():
        path = ROOT / "book" / f"{chapter.removeprefix('book/')}.md"
        text = path.read_text("utf-8")
        found = problems(text, path.stem, terms)
        if found and args.fix:
            path.write_text(fix(text, found), "utf-8")
            found = problems(path.read_text("utf-8"), path.stem, terms)
        total += found
    for problem in total:
        print(problem)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
