"""The shared page's Markdown: what a model writes can format the answer, never run in it."""

import re

import pytest

from sharing.markdown_render import markdown_html

SCRIPTED_LINKS = [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](java%0Ascript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2Zy8+)",
    "<javascript:alert(1)>",
    "[x][r]\n\n[r]: javascript:alert(1)",
]


@pytest.mark.parametrize("text", SCRIPTED_LINKS)
def test_a_link_that_would_run_code_is_left_as_text(text):
    html = markdown_html(text)
    assert "href" not in html, html


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<iframe src="https://evil.example"></iframe>',
        '<a href="javascript:alert(1)">x</a>',
        "<div onclick=alert(1)>x</div>",
        "<svg onload=alert(1)>",
    ],
)
def test_raw_html_is_shown_as_text(text):
    html = markdown_html(f"before {text} after")
    assert not re.search(r"<(script|img|iframe|a|div|svg)\b", html), html
    assert "&lt;" in html


def test_markdown_still_formats_and_links_open_safely():
    html = markdown_html(
        "**bold**, `code`, [docs](https://example.com/a?b=1&c=2), ![cat](https://cdn.example/c.png)"
        "\n\n```python\nprint('<b>')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" target="_blank"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    # A picture a model names is a link to it, not a request for it.
    assert "<img" not in html and '<a href="https://cdn.example/c.png"' in html
    assert "<code class=\"language-python\">print('&lt;b&gt;')" in html
    assert "<table>" in html
