// 首页的“下载 PDF”：PDF 由 scripts/build_pdf.py 另外生成，只有网站里真有这个文件时
// 才显示下载链接；否则保留页面上写好的说明（告诉读者怎样生成）。
document.addEventListener("DOMContentLoaded", async function () {
  for (const slot of document.querySelectorAll(".pdf-download[data-pdf]")) {
    const url = slot.dataset.pdf;
    try {
      const response = await fetch(url, { method: "HEAD" });
      if (!response.ok) continue;
    } catch (error) {
      continue;  // file:// 打开时不能检查，保留说明
    }
    const link = document.createElement("a");
    link.href = url;
    link.textContent = "下载 PDF";
    slot.replaceChildren(link);
    slot.dataset.available = "true";
  }
});
