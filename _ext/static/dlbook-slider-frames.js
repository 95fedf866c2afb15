/* 滑块图的其余帧按需下载（见 _ext/lean_pages.py）：页面打开时只下载显示的那一帧，
   读者的指针移到滑块图上、或键盘焦点到了滑块上时，其余帧开始下载，拖动时就不用等。 */
(function () {
  "use strict";
  function loadFrames(event) {
    var root = event.target.closest && event.target.closest(".dlbook-slider");
    if (!root) return;
    root.querySelectorAll("img[loading=lazy]").forEach(function (img) {
      img.removeAttribute("loading");
    });
  }
  document.addEventListener("pointerover", loadFrames);
  document.addEventListener("focusin", loadFrames);
})();
