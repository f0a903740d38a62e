"""A folder of Markdown and HTML files, uploaded as one zip or tar(.gz) archive, read as
records. Nothing is written to disk: members are read in memory, within the import body
limit once unpacked, and a member whose path would leave the folder refuses the upload."""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from bs4.dammit import UnicodeDammit

from app.articles.markdown import ArticleFileError, parse_text
from app.articles.sources.records import Record, source_of
from app.articles.sources.text import (
    Problem,
    html_title,
    html_to_markdown,
    markdown_to_markdown,
    named_modality,
    split,
)
from app.errors import InvalidInput, PayloadTooLarge

MARKDOWN = {".md", ".markdown"}
HTML = {".html", ".htm"}
MAX_FILES = 10_000


def files(payload: bytes, *, max_bytes: int) -> list[Record]:
    """Each file of the archive, in path order, as a record; files that are not
    Markdown or HTML are reported as skipped."""
    records = []
    for number, (path, data) in enumerate(sorted(_members(payload, max_bytes), key=_path), start=1):
        record = Record(number=number, name=path, source=source_of("file:", path))
        records.append(record)
        if data is None:
            record.skip = "not a regular file"
        elif any(p.startswith((".", "__MACOSX")) for p in PurePosixPath(path).parts):
            record.skip = "a hidden or system file"
        elif PurePosixPath(path).suffix.lower() not in MARKDOWN | HTML:
            record.skip = "not a Markdown (.md) or HTML (.html) file"
        elif record.source is None:
            record.problem = Problem("(file)", "the path is too long")
        else:
            _read(record, path, data)
    return records


def _read(record: Record, path: str, data: bytes) -> None:
    """A file's article: the seed library's format (front matter), else the rule."""
    folders = PurePosixPath(path).parts[:-1]
    record.modality = next(filter(None, map(named_modality, reversed(folders))), None)
    try:
        if PurePosixPath(path).suffix.lower() in HTML:
            html = UnicodeDammit(data, ["utf-8"], is_html=True).unicode_markup or ""
            record.parts = split(html_to_markdown(html), title=None, fallback=html_title(html))
            return
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Problem("(file)", "not UTF-8 text") from None
        if text.startswith("---"):
            try:
                record.article = parse_text(text, Path(path))
            except ArticleFileError as exc:
                raise Problem(exc.field, f"line {exc.line}: {exc.message}") from exc
            return
        record.parts = split(markdown_to_markdown(text), title=None)
    except Problem as problem:
        record.problem = problem
    except RecursionError:
        record.problem = Problem("(file)", "nested too deeply to read")


def _members(payload: bytes, max_bytes: int) -> list[tuple[str, bytes | None]]:
    """(path, content) of each file of a zip, tar or tar.gz archive (None for a link or
    device); 422 for anything else or an unsafe path, 413 when it unpacks too large."""
    if payload[:2] == b"\x1f\x8b":
        payload = _gunzip(payload, max_bytes)
    if payload[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip's first record, or an empty zip
        return _zip(payload, max_bytes)
    return _tar(payload)


def _tar(payload: bytes) -> list[tuple[str, bytes | None]]:
    found: list[tuple[str, bytes | None]] = []
    opened = False
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as archive:
            opened = True
            for member in archive:
                if member.isdir():
                    continue
                _check(member.name, len(found))
                handle = archive.extractfile(member) if member.isfile() else None
                found.append((_clean(member.name), handle.read() if handle else None))
    except tarfile.TarError as exc:
        if opened:
            raise _broken(str(exc)) from exc
        raise InvalidInput(
            "the body is not a zip or tar.gz archive",
            errors=[
                {
                    "field": "body",
                    "message": "send the archive itself as the body "
                    "(curl --data-binary @library.zip), not a form",
                }
            ],
        ) from None
    return found


def _zip(payload: bytes, max_bytes: int) -> list[tuple[str, bytes | None]]:
    found: list[tuple[str, bytes | None]] = []
    left = max_bytes
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                _check(info.filename, len(found))
                if (info.external_attr >> 16) & 0o170000 == 0o120000:  # a symbolic link
                    found.append((_clean(info.filename), None))
                    continue
                if PurePosixPath(info.filename).suffix.lower() not in MARKDOWN | HTML:
                    found.append((_clean(info.filename), b""))  # skipped: not read
                    continue
                with archive.open(info) as handle:
                    data = handle.read(left + 1)
                left -= len(data)
                if left < 0:
                    raise _too_large(max_bytes)
                found.append((_clean(info.filename), data))
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError) as exc:
        raise _broken(str(exc)) from exc  # corrupt, encrypted or an unknown compression
    return found


def _gunzip(payload: bytes, max_bytes: int) -> bytes:
    """A gzip body unpacked, refused (413) once past `max_bytes`."""
    unpacker = zlib.decompressobj(wbits=31)
    try:
        data = unpacker.decompress(payload, max_bytes + 1)
    except zlib.error as exc:
        raise _broken(str(exc)) from exc
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


def _check(name: str, count: int) -> None:
    """Refuse a path that would leave the archive's folder, and too many files."""
    if count >= MAX_FILES:
        raise InvalidInput(
            f"the archive holds more than {MAX_FILES} files",
            errors=[{"field": "body", "message": "split it into several imports"}],
        )
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise InvalidInput(
            f"the archive holds a path that leaves its folder: {name!r}; nothing was imported",
            errors=[{"field": name[:200], "message": "unsafe path (absolute, or with '..')"}],
        )


def _path(member: tuple[str, bytes | None]) -> str:
    return member[0]


def _clean(name: str) -> str:
    return str(PurePosixPath(name.replace("\\", "/")))


def _broken(reason: str) -> InvalidInput:
    return InvalidInput(
        "the archive cannot be read; nothing was imported",
        errors=[{"field": "body", "message": reason[:300] or "corrupt archive"}],
    )


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the archive unpacks to more than the import limit of {limit} bytes")
