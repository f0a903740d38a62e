"""The security headers of the console's responses (under /ui), and nosniff on all."""

from __future__ import annotations

CONSOLE_PREFIX = "/ui"


def content_security_policy() -> str:
    """Scripts and styles from the console's own files only: no inline script, no eval,
    no plug-ins, no framing, forms and <base> bound to this site."""
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        # no inline style either: an injected style attribute is refused too
        "style-src 'self'",
        # the favicon is an empty data: URL (base.html)
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


CONSOLE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", content_security_policy().encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
NOSNIFF = (b"x-content-type-options", b"nosniff")


def is_console(path: str) -> bool:
    """Whether a path is the console's (its pages, error pages, fragments and files)."""
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


def add_headers(path: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with the security headers `path` gets; a response that set one itself
    keeps its own (a downloaded attachment's stricter sandbox policy)."""
    extra = (*CONSOLE_HEADERS, NOSNIFF) if is_console(path) else (NOSNIFF,)
    present = {name.lower() for name, _ in headers}
    return headers + [(name, value) for name, value in extra if name not in present]
