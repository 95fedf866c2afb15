"""术语表：至少 40 个术语，每章第一次用到一个术语时链接到它。

检查逻辑在 ``scripts/glossary_links.py``（``--fix`` 自动补上链接）。
"""

from __future__ import annotations

import glossary_links as gl
from conftest import ROOT, chapter_pages


def test_glossary_has_at_least_forty_terms_including_the_new_ones():
    terms = gl.glossary_terms()
    assert len(terms) >= 40
    assert len(set(terms)) == len(terms)
    needed = {"轮", "小批量", "池化", "暂退法", "权重衰减", "独热编码"}
    needed |= {"logit", "验证集", "初始化", "计算图", "互相关", "早停"}
    assert needed <= set(terms)


def test_every_chapter_links_the_first_use_of_each_term():
    terms = gl.glossary_terms()
    found = []
    for name in chapter_pages():
        path = ROOT / f"{name}.md"
        found += gl.problems(path.read_text("utf-8"), path.stem, terms)
    assert found == [], (
        "运行 python scripts/glossary_links.py --fix 补上链接：\n"
        + "\n".join(map(str, found))
    )


def test_only_prose_counts_as_a_use():
    text = "\n".join(
        [
            "---",
            "kernelspec: x",
            "---",
            "# 梯度下降的标题",
            "```{code-cell} ipython3",
            "梯度下降 = 1",
            "```",
            "公式 $\\text{梯度下降}$、代码 `梯度下降`、{ref}`梯度下降 <x>`。",
            "这里是随机梯度下降，不算“梯度下降”的单独出现吗？",
        ]
    )
    terms = ["梯度下降", "随机梯度下降"]
    found = {p.term: p.line for p in gl.problems(text, "t", terms)}
    # 第 9 行先出现“随机梯度下降”（它自己的第一次），再出现单独的“梯度下降”
    assert found == {"随机梯度下降": 9, "梯度下降": 9}
    fixed = gl.fix(text, gl.problems(text, "t", terms))
    assert "这里是{term}`随机梯度下降`" in fixed
    assert "不算“{term}`梯度下降`”" in fixed
    assert gl.problems(fixed, "t", terms) == []


def test_a_later_link_does_not_excuse_an_earlier_plain_use():
    text = "先出现 logits，后来才链接 {term}`logit`。"
    (problem,) = gl.problems(text, "t", ["logit"])
    assert text[problem.start : problem.end] == "logits"
    assert "{term}`logits <logit>`" in gl.fix(text, [problem])
    assert (
        gl.problems("先 {term}`logits <logit>`，再 logits。", "t", ["logit"])
        == []
    )


def test_a_bold_first_use_becomes_a_plain_link():
    # “叫**{term}`x`**（”里的星号紧贴汉字，MyST 不把它当加粗，会原样显示
    text = "这个运算叫**互相关**（cross-correlation）。"
    fixed = gl.fix(text, gl.problems(text, "t", ["互相关"]))
    assert fixed == "这个运算叫{term}`互相关`（cross-correlation）。"
