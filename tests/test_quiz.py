"""自测题（``_ext/quiz.py``）：指令的解析、构建好的每一章、写错时的报错。

浏览器里的行为（键盘作答、反馈、深色模式、手机宽度、打印）见
``tests/test_browser.py``；读者版笔记本里的样子见
``tests/test_reader_edition.py``；写错的题让构建失败、写对的题在小书里
正常显示，见 ``tests/test_build_failures.py``（与那里的小书一起构建）。
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import ROOT, built_page, chapter_pages, glued_values

sys.path.insert(0, str(ROOT / "_ext"))
import quiz

CHAPTERS = chapter_pages()


# ---------- 不需要构建 ----------


def test_tolerance_and_answer_letters_are_parsed():
    assert quiz.parse_tolerance("0.05") == (0.05, False)
    assert quiz.parse_tolerance("5%") == (0.05, True)
    assert quiz.parse_tolerance("0") == (0.0, False)
    with pytest.raises(ValueError):
        quiz.parse_tolerance("-1")
    assert quiz.parse_letters("B", 3) == [1]
    assert quiz.parse_letters("A C", 4) == [0, 2]
    assert quiz.parse_letters("a，c", 4) == [0, 2]
    for bad in ("", "E", "1", "B?"):
        with pytest.raises(ValueError):
            quiz.parse_letters(bad, 4)


def test_numeric_answers_count_within_the_tolerance_only():
    exact = {"value": 4.0, "tolerance": 0.0, "relative": False}
    assert quiz.is_correct_value(exact, 4.0)
    assert not quiz.is_correct_value(exact, 4.001)
    absolute = {"value": 0.5514, "tolerance": 0.005, "relative": False}
    assert quiz.is_correct_value(absolute, 0.555)
    assert not quiz.is_correct_value(absolute, 0.5575)
    relative = {"value": 0.001, "tolerance": 0.1, "relative": True}
    assert quiz.is_correct_value(relative, 0.00105)
    assert not quiz.is_correct_value(relative, 0.0012)


# ---------- 构建好的网站 ----------


@pytest.fixture(scope="module")
def site(built_site) -> Path:
    return built_site


def page(site: Path, name: str) -> BeautifulSoup:
    return built_page(site, name)  # 只读


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_quiz_is_complete_labelled_and_linked(site, name):
    """4–8 道题；每个选项有标签与反馈；每道题链接到本章讲解它的一节；
    id 由页面名与题号决定；至少一道数值题的答案就是本章 glue 的值；
    章末有（打印用的）答案；解答里的检查器输出都是通过。"""
    soup = page(site, name)
    stem = name.rsplit("/", 1)[-1]
    questions = soup.select("div.dlbook-quiz")
    assert 4 <= len(questions) <= 8, len(questions)
    section_ids = {s["id"] for s in soup.select("section[id]")}
    number = soup.select_one("article h1 .section-number").get_text()
    chapter = number.strip().rstrip(".")
    glued = glued_values(stem)
    numbers_from_glue = 0
    for i, question in enumerate(questions, 1):
        qid = f"quiz-{stem}-{i}"
        assert question["id"] == qid
        title = question.select_one(".dlbook-quiz-title").get_text()
        assert title.startswith(f"自测 {chapter}.{i}（")
        assert question.select_one(".dlbook-quiz-stem").get_text().strip()
        live = question.select_one(".dlbook-quiz-feedback")
        assert live["role"] == "status" and live["aria-live"] == "polite"
        for control in question.select("input"):
            assert soup.select_one(f'label[for="{control["id"]}"]')
            assert control.has_attr("disabled")  # 脚本运行后才启用
        notes = question.select(".dlbook-quiz-note")
        assert all(n.get_text(strip=True) for n in notes)
        kind = question["data-kind"]
        if kind == "numeric":
            assert [n["data-role"] for n in notes] == ["hint", "explanation"]
            if question.get("data-glue"):
                value = glued[question["data-glue"]]
                assert float(question["data-value"]) == float(value)
                numbers_from_glue += 1
        else:
            options = question.select(".dlbook-quiz-option input")
            answer = json.loads(question["data-answer"])
            assert {o["type"] for o in options} == {
                "checkbox" if kind == "multiple" else "radio"
            }
            assert [n["data-option"] for n in notes] == [
                str(k) for k in range(len(options))
            ]
            assert [n["data-correct"] == "true" for n in notes] == [
                k in answer for k in range(len(options))
            ]
            assert 2 <= len(options) and answer
        links = question.select(".dlbook-quiz-explain a.reference.internal")
        assert links, f"{qid} 没有链接到讲解的一节"
        for link in links:
            assert link["href"].lstrip("#") in section_ids
            assert re.match(rf"{chapter}(\.\d+)+ ", link.get_text())
    assert numbers_from_glue >= 1, f"{name} 没有答案取自 glue 的题"
    key = soup.select_one("div.dlbook-quiz-key")
    assert key is not None and key.has_attr("hidden")
    key_text = key.get_text()
    for i in range(1, len(questions) + 1):
        assert f"自测 {chapter}.{i}：" in key_text
    outputs = [
        pre.get_text()
        for solution in soup.select("div.solution")
        for pre in solution.select(".cell_output pre")
        if quiz.PASS_MARK in pre.get_text() or quiz.FAIL_MARK in pre.get_text()
    ]
    assert outputs, f"{name} 的解答里没有运行检查器"
    assert all(text.startswith(quiz.PASS_MARK) for text in outputs)
    scripts = [s.get("src", "") for s in soup.select("script[src]")]
    assert any("dlbook-quiz.js" in s for s in scripts)


def test_pages_without_a_quiz_do_not_load_its_script(site):
    for name in ("book/index", "book/glossary", "book/faq"):
        html = (site / f"{name}.html").read_text("utf-8")
        assert "dlbook-quiz" not in html
