"""What a file is, from its bytes; and a name that is safe to hand back."""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Kind:
    """An accepted type: its media type and the extensions a download may keep."""

    content_type: str
    extensions: tuple[str, ...]  # the first is added when the name has none of them


PNG = Kind("image/png", (".png",))
JPEG = Kind("image/jpeg", (".jpg", ".jpeg", ".jpe", ".jfif"))
GIF = Kind("image/gif", (".gif",))
WEBP = Kind("image/webp", (".webp",))
PDF = Kind("application/pdf", (".pdf",))
ZIP = Kind("application/zip", (".zip",))
GZIP = Kind("application/gzip", (".gz", ".tgz"))
# no .html, .svg or .xml: a text file saved under such a name would run in a browser
TEXT = Kind("text/plain", (".txt", ".log", ".csv", ".tsv", ".json", ".md"))
KINDS = (PNG, JPEG, GIF, WEBP, PDF, ZIP, GZIP, TEXT)
ACCEPTED = [k.content_type for k in KINDS]

# (offset, signature): the bytes each binary kind starts with
_MAGIC: tuple[tuple[int, bytes, Kind], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", PNG),
    (0, b"\xff\xd8\xff", JPEG),
    (0, b"GIF87a", GIF),
    (0, b"GIF89a", GIF),
    (8, b"WEBP", WEBP),  # after "RIFF" and a length, checked below
    (0, b"%PDF-", PDF),
    (0, b"PK\x03\x04", ZIP),
    (0, b"PK\x05\x06", ZIP),  # an empty archive
    (0, b"\x1f\x8b\x08", GZIP),
)
HEAD_BYTES = 16


def served_as(content_type: str) -> str:
    """The Content-Type of a download: text is always UTF-8 (that is how it was checked)."""
    return f"{content_type}; charset=utf-8" if content_type == "text/plain" else content_type


# NUL and the C0 controls no text file holds; tab, newlines, form feed and ESC (colour
# codes in logs) are allowed
_NOT_TEXT = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


@dataclass
class Sniffer:
    """Fed a file's bytes in order, tells what kind of file it is (None: refused)."""

    head: bytes = b""
    text: bool = True
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")()
    )

    def feed(self, chunk: bytes) -> None:
        """The next bytes of the file."""
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        if self.text:
            self._check_text(chunk, final=False)

    def _check_text(self, chunk: bytes, *, final: bool) -> None:
        try:
            decoded = self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError:
            self.text = False
            return
        if _NOT_TEXT.search(decoded):
            self.text = False

    def kind(self) -> Kind | None:
        """The file's kind, once every byte was fed."""
        for offset, signature, kind in _MAGIC:
            if self.head[offset : offset + len(signature)] == signature:
                if kind is WEBP and not self.head.startswith(b"RIFF"):
                    continue
                return kind
        if self.text:
            self._check_text(b"", final=True)  # a sequence cut off at the end
        return TEXT if self.text else None


MAX_NAME_BYTES = 200
# characters Windows refuses in a name, and the path separators
_UNSAFE = re.compile(r'[<>:"/\\|?*]')
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\.|$)", re.IGNORECASE)


def _printable(c: str) -> str:
    """Any space as a plain one; control, format (bidi overrides) and line characters
    dropped."""
    category = unicodedata.category(c)
    if category == "Zs":
        return " "
    return "" if category[0] == "C" or category in {"Zl", "Zp"} else c


def clean_filename(raw: str | None, kind: Kind) -> str:
    """The uploaded name without its folders, control or format characters (bidi
    overrides), characters Windows refuses or leading dots; at most 200 UTF-8 bytes; its
    extension one the content allows (else the kind's own is added)."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(_printable(c) for c in name)
    name = _UNSAFE.sub("_", name).strip(" .") or "attachment"
    if _RESERVED.match(name):
        name = "_" + name
    stem, dot, ext = name.rpartition(".")
    if not (dot and stem and "." + ext.lower() in kind.extensions):
        stem, ext = name, kind.extensions[0].lstrip(".")
    suffix = "." + ext
    budget = MAX_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:budget].decode(errors="ignore").rstrip(" .") or "attachment"
    return stem + suffix
