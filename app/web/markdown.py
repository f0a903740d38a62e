"""Markdown as safe HTML for the console: briefs, article text, notes.

markdown-it-py (CommonMark) runs with raw HTML off, so a `<script>` someone typed is
shown as text, and it refuses `javascript:`/`data:` links; nh3 (the Ammonia sanitiser)
then keeps only an allowlist of tags and attributes, so no parser option or plugin added
later can let markup through. Single line breaks are kept (`breaks`), as people type them.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from app.web.render import templates

_PARSER = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "hr", "ul", "ol", "li", "a",
    "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


def to_html(text: str | None, heading: int = 3) -> Markup:
    """Markdown as sanitised HTML; `#` becomes `<h{heading}>` (and deeper levels follow),
    so the text's headings sit under the page's own."""
    if not text:
        return Markup("")
    tokens = _PARSER.parse(str(text))
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            level = min(6, int(token.tag[1]) + heading - 1)
            token.tag = f"h{level}"
    html = _PARSER.renderer.render(tokens, _PARSER.options, {})
    clean = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)


# `{{ text|md }}` or `{{ text|md(4) }}` in any console template
templates.env.filters["md"] = to_html
