/* 术语链接的提示框：悬停或获得焦点时显示术语表里的解释（见 _ext/glossary_tips.py）。
   数据在 dlbook-glossary-data.js（window.DLBOOK_GLOSSARY = {页面: {锚点: {term, definition}}}）。 */
(function () {
  "use strict";
  var TIP_ID = "dlbook-term-tip";

  function lookup(link) {
    var data = window.DLBOOK_GLOSSARY || {};
    var url;
    try {
      url = new URL(link.href, document.baseURI);
    } catch (e) {
      return null;
    }
    var anchor = decodeURIComponent(url.hash.slice(1));
    for (var page in data) {
      var path = url.pathname;
      if ((path === "/" + page || path.slice(-(page.length + 1)) === "/" + page) &&
          data[page][anchor]) {
        return data[page][anchor];
      }
    }
    return null;
  }

  function hide() {
    var old = document.getElementById(TIP_ID);
    if (old) {
      old.remove();
    }
    var owners = document.querySelectorAll("[aria-describedby='" + TIP_ID + "']");
    for (var i = 0; i < owners.length; i++) {
      owners[i].removeAttribute("aria-describedby");
    }
  }

  function show(link) {
    var entry = lookup(link);
    if (!entry) {
      return;
    }
    hide();
    var tip = document.createElement("div");
    tip.id = TIP_ID;
    tip.className = "dlbook-term-tip";
    tip.setAttribute("role", "tooltip");
    var name = document.createElement("strong");
    name.textContent = entry.term;
    tip.appendChild(name);
    tip.appendChild(document.createTextNode("：" + entry.definition));
    document.body.appendChild(tip);
    var box = link.getBoundingClientRect();
    var width = tip.offsetWidth;
    var left = Math.max(8, Math.min(box.left, window.innerWidth - width - 8));
    tip.style.left = (left + window.scrollX) + "px";
    tip.style.top = (box.bottom + window.scrollY + 6) + "px";
    link.setAttribute("aria-describedby", TIP_ID);
  }

  function init() {
    var terms = document.querySelectorAll("a.reference .xref.std-term");
    for (var i = 0; i < terms.length; i++) {
      var link = terms[i].closest("a");
      if (!link || !lookup(link)) {
        continue;
      }
      link.addEventListener("mouseenter", function () { show(this); });
      link.addEventListener("focus", function () { show(this); });
      link.addEventListener("mouseleave", hide);
      link.addEventListener("blur", hide);
    }
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        hide();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
