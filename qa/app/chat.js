// The residents' chat in the browser: [n] opens and shows its source, "复制回答" copies plain
// text, and Gradio's own labels and notices follow the page's language (Chinese). Listeners sit
// on the document, so bubbles rendered later are handled too.
(() => {
  if (window.__qaChat) return;
  window.__qaChat = true;

  const flash = (element) => {
    element.classList.add("qa-flash");
    setTimeout(() => element.classList.remove("qa-flash"), 1600);
  };

  const SHOW_FOR_MS = 1500;
  const inView = (element) => {
    const box = element.getBoundingClientRect();
    let top = 0, bottom = window.innerHeight;
    for (let node = element.parentElement; node; node = node.parentElement) {
      if (node.scrollHeight > node.clientHeight && getComputedStyle(node).overflowY !== "visible") {
        const frame = node.getBoundingClientRect();
        top = Math.max(top, frame.top);
        bottom = Math.min(bottom, frame.bottom);
      }
    }
    return box.top >= top && box.top + Math.min(box.height, 40) <= bottom;
  };
  const keepShown = (element, show) => {
    const onScroll = () => { if (!inView(element)) show(); };
    document.addEventListener("scroll", onScroll, true);
    setTimeout(() => document.removeEventListener("scroll", onScroll, true), SHOW_FOR_MS);
  };

  const copyText = async (text) => {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      const area = document.createElement("textarea");
      area.value = text;
      area.style.position = "fixed";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      const done = document.execCommand("copy");
      area.remove();
      return done;
    }
  };

  document.addEventListener("click", async (event) => {
    const cite = event.target.closest && event.target.closest("a.qa-cite");
    if (cite) {
      event.preventDefault();
      event.stopPropagation();
      const id = decodeURIComponent((cite.getAttribute("href") || "").slice(1));
      const bubble = cite.closest(".qa-bubble") || document;
      const target = bubble.querySelector(`[id="${CSS.escape(id)}"]`) || document.getElementById(id);
      if (!target) return;
      const details = target.closest("details");
      if (details) details.open = true;
      // Gradio scrolls the chat to its bottom up to ~300 ms after an answer arrives, which would
      // hide a source opened in that moment: for a short while, bring it back after any scroll.
      const show = () => target.scrollIntoView({ block: "center" });
      show();
      keepShown(target, show);
      flash(target);
      return;
    }
    const copy = event.target.closest && event.target.closest("button.qa-copy");
    if (copy) {
      event.preventDefault();
      event.stopPropagation();
      const bubble = copy.closest(".qa-bubble");
      const plain = bubble && bubble.querySelector(".qa-plain");
      if (!plain) return;
      const copied = bubble.querySelector(".qa-copied");
      if ((await copyText(plain.textContent)) && copied) {
        copied.style.display = "inline";
        setTimeout(() => { copied.style.display = "none"; }, 2000);
      }
    }
  }, true);

  // Gradio picks its interface language from the browser; this page is for Chinese readers, so
  // its buttons, upload notices and table menus are set to Chinese (Gradio's own zh-CN texts).
  const setChinese = async () => {
    const core = performance.getEntriesByType("resource")
      .map((entry) => entry.name).find((name) => /\/assets\/core-[^/]*\.js$/.test(name));
    if (!core) return false;
    try {
      const module = await import(core);
      if (typeof module.changeLocale !== "function") return true;
      module.changeLocale("zh-CN");
    } catch (error) {
      console.warn("界面语言未能切换为中文", error);
    }
    return true;
  };
  let tries = 0;
  const retry = async () => {
    if (!(await setChinese()) && ++tries < 40) setTimeout(retry, 250);
  };
  retry();
})();
