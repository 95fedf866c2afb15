/* 自测题（_ext/quiz.py 写出 HTML）：检查答案，把结果与所选选项的反馈写进
 * role="status" 的区域（读屏软件会读出）。答错可以改了再查；答案与全部反馈
 * 在原生的 <details> 里，不靠脚本也能打开。选项不打乱：页面每次构建都一样。 */
(function () {
  "use strict";

  var NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

  /* 读者输入的数：全角数字与符号、千位分隔的逗号、百分号都认。 */
  function parseNumber(text, unit) {
    var s = text
      .trim()
      .replace(/[\uFF10-\uFF19]/g, function (c) {
        return String.fromCharCode(c.charCodeAt(0) - 0xfee0);
      })
      .replace(/[．。]/g, ".")
      .replace(/[－−–]/g, "-")
      .replace(/＋/g, "+")
      .replace(/[％]/g, "%")
      .replace(/\s+/g, "");
    var scale = 1;
    if (s.slice(-1) === "%") {
      s = s.slice(0, -1);
      scale = unit === "%" ? 1 : 0.01;
    }
    if (/^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$/.test(s)) s = s.replace(/,/g, "");
    if (!NUMBER.test(s)) return null;
    return Number(s) * scale;
  }

  function copyNote(note, withHead) {
    var copy = note.cloneNode(true);
    if (!withHead) {
      var head = copy.querySelector(".dlbook-quiz-note-head");
      if (head) head.remove();
    }
    return copy;
  }

  function setup(quiz) {
    var form = quiz.querySelector("form");
    var live = quiz.querySelector(".dlbook-quiz-feedback");
    var answer = quiz.querySelector(".dlbook-quiz-answer");
    var explain = answer.querySelector(".dlbook-quiz-explain");
    var kind = quiz.getAttribute("data-kind");
    var options = quiz.querySelectorAll(".dlbook-quiz-option");

    function say(state, verdict, notes) {
      quiz.setAttribute("data-state", state);
      live.textContent = "";
      var p = document.createElement("p");
      p.className = "dlbook-quiz-verdict";
      p.textContent = verdict;
      live.appendChild(p);
      (notes || []).forEach(function (n) {
        live.appendChild(n);
      });
      if (explain && state !== "empty") {
        live.appendChild(explain.cloneNode(true));
      }
    }

    function note(selector) {
      return answer.querySelector(".dlbook-quiz-note" + selector);
    }

    function clearMarks() {
      for (var i = 0; i < options.length; i++) {
        options[i].classList.remove("is-right", "is-wrong");
      }
    }

    function checkChoice() {
      var right = JSON.parse(quiz.getAttribute("data-answer"));
      var chosen = [];
      for (var i = 0; i < options.length; i++) {
        if (options[i].querySelector("input").checked) chosen.push(i);
      }
      clearMarks();
      if (chosen.length === 0) {
        say(
          "empty",
          kind === "multiple" ? "请先选出你认为对的选项。" : "请先选一个选项。"
        );
        return;
      }
      var notes = [];
      var wrong = 0;
      chosen.forEach(function (i) {
        var ok = right.indexOf(i) >= 0;
        if (!ok) wrong++;
        options[i].classList.add(ok ? "is-right" : "is-wrong");
        notes.push(
          copyNote(note('[data-option="' + i + '"]'), kind === "multiple")
        );
      });
      var missing = right.filter(function (i) {
        return chosen.indexOf(i) < 0;
      }).length;
      if (wrong === 0 && missing === 0) {
        say("correct", "✓ 正确！", notes);
      } else if (kind === "single") {
        say("wrong", "✗ 还不对，改了可以再检查。", notes);
      } else {
        var parts = [];
        if (wrong) parts.push("选了 " + wrong + " 个错的选项");
        if (missing) parts.push("还有 " + missing + " 个对的选项没选");
        say("wrong", "✗ 还不对：" + parts.join("，") + "。", notes);
      }
    }

    function checkNumber() {
      var input = quiz.querySelector("input");
      var unit = quiz.getAttribute("data-unit") || "";
      if (!input.value.trim()) {
        say("empty", "请先填一个数。");
        return;
      }
      var guess = parseNumber(input.value, unit);
      if (guess === null || !isFinite(guess)) {
        say("empty", "请填一个数，例如 0.25、-3 或 1e-3。");
        return;
      }
      var value = Number(quiz.getAttribute("data-value"));
      var tol = Number(quiz.getAttribute("data-tolerance"));
      var relative = quiz.getAttribute("data-relative") === "true";
      var bound = relative ? Math.abs(value) * tol : tol;
      var shown = quiz.getAttribute("data-shown");
      if (Math.abs(guess - value) <= bound * (1 + 1e-9) + 1e-12) {
        say("correct", "✓ 正确！答案是 " + shown + "。", [
          copyNote(note('[data-role="explanation"]'), false),
        ]);
      } else {
        var way = guess > value ? "偏大" : "偏小";
        say("wrong", "✗ 你填的 " + input.value.trim() + " " + way + "了。", [
          copyNote(note('[data-role="hint"]'), false),
        ]);
      }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (kind === "numeric") checkNumber();
      else checkChoice();
    });
    form.addEventListener("change", function () {
      clearMarks();
      quiz.removeAttribute("data-state");
    });
    var controls = quiz.querySelectorAll("input, button");
    for (var i = 0; i < controls.length; i++) controls[i].disabled = false;
  }

  function init() {
    var quizzes = document.querySelectorAll(".dlbook-quiz");
    for (var i = 0; i < quizzes.length; i++) setup(quizzes[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
