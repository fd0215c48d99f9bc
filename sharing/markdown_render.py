"""Model answers as Markdown rendered on the server, with the web app's safety
(static/app/markdown.js, marked + DOMPurify) kept here by construction:

- raw HTML in an answer is never parsed: markdown-it's `html` option is off, so `<script>`,
  `<img onerror=...>` and the like come out as escaped text;
- links and images may only point to http(s), mailto or a relative address: `javascript:`,
  `data:`, `vbscript:` and every other scheme leave the text unlinked;
- links open in a new tab without a referrer (`rel="noopener noreferrer nofollow"`);
- images a model writes become links, so opening a shared chat makes no request to an
  address a model chose.

Everything else markdown-it writes is escaped by it (text, code, attribute values). The page
also carries the site's Content-Security-Policy (no inline script), a second wall."""

from __future__ import annotations

import re
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


def link_allowed(url: str) -> bool:
    """Whether a (normalised) link target may be rendered: no scheme, or one we allow.
    Control characters and spaces are dropped first, as a browser does when it reads one."""
    cleaned = _INVISIBLE.sub("", unquote(url)).lower()
    scheme = _SCHEME.match(cleaned)
    return scheme is None or scheme[1] in LINK_SCHEMES


class _SafeMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        return link_allowed(url)


def _link_open(self, tokens, idx, options, env):
    token = tokens[idx]
    token.attrSet("target", "_blank")
    token.attrSet("rel", "noopener noreferrer nofollow")
    return self.renderToken(tokens, idx, options, env)


def _image(self, tokens, idx, options, env):
    token = tokens[idx]
    href = str(token.attrGet("src") or "")
    label = self.renderInlineAsText(token.children or [], options, env) or href
    return (
        f'<a href="{escapeHtml(href)}" target="_blank" rel="noopener noreferrer nofollow">'
        f"{escapeHtml(label)}</a>"
    )


def _parser() -> MarkdownIt:
    md = _SafeMarkdown("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])  # GitHub's tables and ~~strike~~, as marked's gfm
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("image", _image)
    return md


_MARKDOWN = _parser()


def markdown_html(text: str) -> str:
    """Safe HTML for an answer's Markdown."""
    return _MARKDOWN.render(text or "")
