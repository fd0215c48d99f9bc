// Model answers as Markdown, safely. Raw HTML in an answer is shown as text, never parsed;
// the HTML marked produces is sanitized by DOMPurify before it reaches the page; links open
// in a new tab without a referrer; images in answers become links (no request is made to
// an address a model wrote). Code blocks get highlighting (highlight.js, loaded the first
// time an answer has code) and a copy button.

import { Marked } from "../vendor/marked/marked.esm.js";
import DOMPurify from "../vendor/dompurify/purify.es.js";
import { copyText } from "./clipboard.js";
import { icon } from "./icons.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const marked = new Marked({ gfm: true, breaks: false });
marked.use({
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text }) {
      const label = text || href;
      return `<a href="${escapeHtml(href)}">${escapeHtml(label)}</a>`;
    },
  },
});

const PURIFY = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "img", "svg", "math", "form", "input", "button", "textarea", "select",
    "iframe", "object", "embed", "video", "audio", "source", "picture", "link", "meta", "base"],
  FORBID_ATTR: ["style", "id", "name"],
  RETURN_DOM_FRAGMENT: true,
};

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

let highlighter = null;
let loading = null;
function loadHighlighter() {
  if (!loading) {
    loading = import("../vendor/highlight/highlight.min.js").then((module) => {
      highlighter = module.default;
      highlighter.configure({ ignoreUnescapedHTML: true });
      return highlighter;
    });
  }
  return loading;
}

function highlight(code) {
  const language = (code.className.match(/language-([\w+#.-]+)/) || [])[1];
  if (language && !highlighter.getLanguage(language)) return;
  highlighter.highlightElement(code);
}


function decorateCodeBlocks(root) {
  let needsHighlighter = false;
  for (const pre of root.querySelectorAll("pre")) {
    const code = pre.querySelector("code");
    if (!code) continue;
    const language = (code.className.match(/language-([\w+#.-]+)/) || [])[1] || "";
    const block = document.createElement("div");
    block.className = "code-block";
    const head = document.createElement("div");
    head.className = "code-head";
    const name = document.createElement("span");
    name.className = "code-lang";
    name.textContent = language || "text";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "code-copy";
    copy.setAttribute("aria-label", "Copy code");
    const label = document.createElement("span");
    label.className = "copy-label";
    label.textContent = "Copy";
    copy.append(icon("copy", "icon icon-small"), label);
    copy.addEventListener("click", () => copyText(copy, code.textContent.replace(/\n$/, "")));
    head.append(name, copy);
    pre.replaceWith(block);
    // Focusable, so a long line can be scrolled sideways from the keyboard.
    pre.tabIndex = 0;
    block.append(head, pre);
    if (highlighter) highlight(code);
    else needsHighlighter = true;
  }
  return needsHighlighter;
}

// Renders `text` as Markdown into `element`, replacing what was there.
export function renderMarkdown(element, text) {
  const html = marked.parse(text || "");
  const fragment = DOMPurify.sanitize(html, PURIFY);
  const needsHighlighter = decorateCodeBlocks(fragment);
  element.replaceChildren(fragment);
  if (needsHighlighter) {
    loadHighlighter().then(() => {
      for (const code of element.querySelectorAll("pre code:not(.hljs)")) highlight(code);
    });
  }
}
