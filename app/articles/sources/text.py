"""Article text from another tool: HTML sanitised (nh3) and converted to Markdown
(markdownify), never executed; then one rule splits it into title, issue, steps, cause and
escalate_when (docs/knowledge.md, "Importing from other tools").

Markdown files take the same road (rendered to HTML first), so one sanitiser sees every
foreign text: scripts, styles, iframes and the like go with their content, event handlers
and every other attribute but a link's address go, and so do `javascript:` and `data:`
links. What is stored is plain text; lists in the issue, cause and escalation stay as
`- ` lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import nh3
from bs4 import BeautifulSoup
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from markdownify import markdownify

from app.articles.models import Modality
from app.search.named import modalities_in

KEEP_TAGS = {
    "p", "br", "div", "span", "h1", "h2", "h3", "h4", "h5", "h6", "ol", "ul", "li", "a",
    "b", "strong", "i", "em", "u", "s", "code", "pre", "blockquote", "hr", "table",
    "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd",
}  # fmt: skip
# dropped with everything inside them (nh3 keeps the text of other unknown tags)
DROP_WITH_CONTENT = {
    "script", "style", "iframe", "frame", "frameset", "noscript", "object", "embed",
    "applet", "template", "svg", "math", "canvas", "audio", "video", "form", "button",
    "select", "textarea", "head", "title",
}  # fmt: skip
_FROM_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table")
_PARSER = MarkdownIt("commonmark", {"html": False}).enable("table")

# headings (or a bold label opening a paragraph) that name a field, lowercased
SECTIONS = {
    **dict.fromkeys(("issue", "symptom", "symptoms", "problem", "description"), "issue"),
    **dict.fromkeys(("cause", "causes", "root cause", "reason"), "cause"),
    **dict.fromkeys(
        ("resolution", "solution", "steps", "fix", "workaround", "procedure", "what to do"),
        "steps",
    ),
    **dict.fromkeys(
        ("escalate when", "when to escalate", "escalate", "escalation"), "escalate_when"
    ),
    **dict.fromkeys(("also reported as", "reported as"), "reported_as"),
}
_TIER2 = re.compile(r"^\[tier2(?::\s*([^\]]*))?\]\s*", re.IGNORECASE)
# modality codes count in a name only written in capitals ("US scanners", not "contact us")
_CODES = {m.value: m for m in Modality} | {"MRI": Modality.MR, "PACS": Modality.IT}


class Problem(ValueError):
    """Why a record cannot become an article: the article field at fault and what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass
class Parts:
    """An article's text fields as the rule found them."""

    title: str
    issue: str
    steps: list[dict[str, object]]
    cause: str = ""
    escalate_when: str = ""
    reported_as: list[str] = field(default_factory=list)


def sanitise(html: str) -> str:
    """HTML with only text-structure tags and http(s)/mailto link addresses left."""
    return nh3.clean(
        html,
        tags=KEEP_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        clean_content_tags=DROP_WITH_CONTENT,
        strip_comments=True,
        link_rel=None,
    )


def html_to_markdown(html: str) -> str:
    """Sanitised HTML as Markdown (escaped so that text never turns into markup)."""
    return str(markdownify(sanitise(html), heading_style="ATX", bullets="-", escape_misc=True))


def markdown_to_markdown(text: str) -> str:
    """Markdown through the same sanitiser as HTML (raw HTML in it included)."""
    return html_to_markdown(_FROM_MARKDOWN.render(text))


def html_title(html: str) -> str | None:
    """The text of a document's <title>, if it has one."""
    found = BeautifulSoup(html, "html.parser").title
    text = " ".join(found.get_text(" ").split()) if found else ""
    return text or None


def named_modality(name: str | None) -> Modality | None:
    """The one modality a section, category or folder name names, else None."""
    if not name:
        return None
    if name.strip().upper() in _CODES:  # a name that is a code alone ("us/", "IT")
        return _CODES[name.strip().upper()]
    found = {_CODES[w] for w in re.findall(r"[A-Z]+", name) if w in _CODES}
    found |= {Modality(code) for code in modalities_in(name)}
    return found.pop() if len(found) == 1 else None


def keywords(values: Iterable[str]) -> tuple[list[str], list[str]]:
    """Labels or keywords as (phrasings, tags): a phrase of several words is how callers
    put it (`reported_as`), a single word a tag; repeats dropped."""
    phrasings: list[str] = []
    tags: list[str] = []
    seen: set[str] = set()
    for value in values:
        text = " ".join(str(value).split())
        if not text or text.lower() in seen:
            continue
        seen.add(text.lower())
        (phrasings if " " in text else tags).append(text)
    return phrasings, tags


def split(markdown: str, *, title: str | None, fallback: str | None = None) -> Parts:
    """The rule: title (given, else the first heading, else `fallback`), then the
    sections the headings name; without them the first numbered list (else the first
    bulleted one) is the steps, the text before it the issue and the text after it when
    to escalate."""
    nodes = list(SyntaxTreeNode(_PARSER.parse(markdown)).children)
    title = _take_title(nodes, title, fallback)
    buckets: dict[str, list[SyntaxTreeNode]] = {"issue": []}
    current = "issue"
    for node in nodes:
        named, rest = _section(node)
        if named is None:
            buckets[current].append(node)
            continue
        current = named
        buckets.setdefault(current, [])
        if rest:
            buckets[current].append(rest)
    escalate = buckets.get("escalate_when", [])
    if "steps" in buckets:
        steps = [s for node in buckets["steps"] for s in _steps_of(node)]
        issue = buckets["issue"]
    else:
        issue, found, after = _first_list(buckets["issue"])
        steps = [_item_text(item) for item in found.children] if found else []
        escalate = after + escalate
    if not any(steps):
        raise Problem(
            "steps",
            "no list to take the steps from: write them as a numbered or bulleted list, "
            "or under a 'Resolution' heading",
        )
    phrasings = [p for node in buckets.get("reported_as", []) for p in _steps_of(node)]
    return Parts(
        title=title,
        issue=_text(issue) or title,
        steps=[_step(text) for text in steps if text],
        cause=_text(buckets.get("cause", [])),
        escalate_when=_text(escalate),
        reported_as=phrasings,
    )


def _take_title(nodes: list[SyntaxTreeNode], title: str | None, fallback: str | None) -> str:
    """The given title (a first heading repeating it is dropped), or the first heading
    that names no section, taken out of the body, or the fallback."""
    headings = [n for n in nodes if n.type == "heading" and _section(n)[0] is None]
    if title:
        if nodes and nodes[0] in headings and _plain(nodes[0]).lower() == title.lower():
            nodes.pop(0)
        return title
    if not headings:
        if fallback:
            return fallback
        raise Problem("title", "no heading (or <title>) to take the title from")
    nodes.remove(headings[0])
    return _plain(headings[0])


def _section(node: SyntaxTreeNode) -> tuple[str | None, SyntaxTreeNode | None]:
    """The field a heading or a paragraph's bold opening label names, and what follows
    the label in that paragraph (as a paragraph of its own)."""
    if node.type == "heading":
        return SECTIONS.get(_name(_plain(node))), None
    if node.type != "paragraph":
        return None, None
    inline = node.children[0]
    parts = [c for c in inline.children if not (c.type == "text" and not c.content.strip())]
    if not parts or parts[0].type != "strong":
        return None, None
    named = SECTIONS.get(_name(_plain(parts[0])))
    if named is None:
        return None, None
    inline.children = parts[1:]
    if inline.children and inline.children[0].token is not None:  # "**Cause**: the ..."
        first = inline.children[0].token
        first.content = first.content.lstrip(" :.-–—")
    return named, node if _plain(node) else None


def _name(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _first_list(
    nodes: list[SyntaxTreeNode],
) -> tuple[list[SyntaxTreeNode], SyntaxTreeNode | None, list[SyntaxTreeNode]]:
    """The blocks before the steps list, the list, and the blocks after it."""
    for kind in ("ordered_list", "bullet_list"):
        for n, node in enumerate(nodes):
            if node.type == kind:
                return nodes[:n], node, nodes[n + 1 :]
    return nodes, None, []


def _steps_of(node: SyntaxTreeNode) -> list[str]:
    """In a steps section, each list item is a step, and each other block."""
    if node.type in ("ordered_list", "bullet_list"):
        return [_item_text(item) for item in node.children]
    if node.type == "hr":
        return []
    return [line for line in _text([node]).splitlines() if line.strip()]


def _item_text(item: SyntaxTreeNode) -> str:
    """A list item as one line; a nested list joins in with semicolons."""
    parts: list[str] = []
    for child in item.children:
        if child.type in ("ordered_list", "bullet_list"):
            if parts and not parts[-1].endswith((":", ".", ";", ",", "?", "!")):
                parts[-1] += ":"
            parts.append("; ".join(_item_text(sub) for sub in child.children))
        else:
            parts.append(" ".join(_text([child]).split()))
    return " ".join(p for p in parts if p)


def _step(text: str) -> dict[str, object]:
    """A step; a leading `[tier2: why]`, as in the seed library, marks it tier 2 only."""
    tier2 = _TIER2.match(text)
    if tier2 is None:
        return {"text": text}
    reason = (tier2.group(1) or "").strip() or None
    return {"text": text[tier2.end() :].strip(), "tier1_allowed": False, "restriction": reason}


def _text(nodes: Iterable[SyntaxTreeNode]) -> str:
    """Blocks as plain text: paragraphs apart by a blank line, list items as `- ` lines."""
    out: list[str] = []
    for node in nodes:
        if node.type in ("paragraph", "heading"):
            out.append(_plain(node))
        elif node.type in ("ordered_list", "bullet_list"):
            out.append("\n".join(f"- {_item_text(item)}" for item in node.children))
        elif node.type in ("fence", "code_block"):
            out.append(node.content.rstrip())
        elif node.type == "table":
            rows = [r for part in node.children for r in part.children]
            out.append("\n".join(" | ".join(_plain(c) for c in row.children) for row in rows))
        elif node.type == "blockquote":
            out.append(_text(node.children))
    return "\n\n".join(part for part in out if part.strip()).strip()


def _plain(node: SyntaxTreeNode) -> str:
    """A block's inline text without markup; a link keeps its address in brackets."""
    if node.type == "text" or node.type == "code_inline":
        return node.content
    if node.type == "softbreak":
        return " "
    if node.type == "hardbreak":
        return "\n"
    inner = "".join(_plain(child) for child in node.children)
    if node.type == "link":
        href = str(node.attrs.get("href") or "")
        if href and href not in inner:
            inner = f"{inner} ({href})" if inner.strip() else href
    if node.type in ("paragraph", "heading", "th", "td"):
        return "\n".join(" ".join(line.split()) for line in inner.split("\n")).strip()
    return inner
