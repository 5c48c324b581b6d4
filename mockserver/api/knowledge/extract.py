"""Which knowledge files are accepted (by name and content), and the text inside them."""

from __future__ import annotations

import codecs
import re
import zipfile
from html.parser import HTMLParser
from typing import BinaryIO, NamedTuple
from xml.etree import ElementTree

from mockserver.errors import BadRequest

__all__ = ["KINDS", "MAX_CHARS", "Extracted", "extract", "kind_of"]

# The documented types, and the MIME type each is reported with.
KINDS = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
# "Each file can contain up to 8 million characters" (Knowledge bases): the rest is not searched.
MAX_CHARS = 8_000_000
UNSUPPORTED = (
    "Unsupported file type: knowledge folders accept pdf, doc, docx, txt, md, html, ppt and pptx"
)

_HEAD = 8192
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # doc and ppt (Compound File Binary)
_ZIP = b"PK\x03\x04"  # docx and pptx (Office Open XML)
_OOXML_PART = {"docx": "word/document.xml", "pptx": "ppt/presentation.xml"}
_TAG = re.compile(rb"<\s*(!doctype|html|head|body|div|p|h[1-6]|span|table|a|meta|title)\b", re.I)
_DRAWING_TEXT = "{http://schemas.openxmlformats.org/drawingml/2006/main}t"
_SLIDE = re.compile(r"ppt/slides/slide(\d+)\.xml")


class Extracted(NamedTuple):
    """The text of a file (at most MAX_CHARS), its page count where it has pages, and whether
    reading it failed (a file whose type is right but whose content is broken)."""

    text: str
    pages: int | None = None
    failed: bool = False


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:  # an incremental decoder: a character cut by the head's end is not an error
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _has_part(file: BinaryIO, part: str) -> bool:
    try:
        with zipfile.ZipFile(file) as archive:
            return part in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    finally:
        file.seek(0)


def kind_of(name: str, file: BinaryIO) -> str:
    """The file's kind when its name and its content agree on a supported type; else 400.

    The content is judged by magic bytes (pdf, the OLE2 and ZIP containers, the part an Office
    Open XML file must have) or, for txt, md and html, by being UTF-8 text without NUL bytes
    (html also needs a tag near the start).
    """
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension == "htm":
        extension = "html"
    if extension not in KINDS:
        raise BadRequest(UNSUPPORTED)
    head = file.read(_HEAD)
    file.seek(0)
    if extension == "pdf":
        fits = head.startswith(b"%PDF-")
    elif extension in ("doc", "ppt"):
        fits = head.startswith(_OLE2)
    elif extension in _OOXML_PART:
        fits = head.startswith(_ZIP) and _has_part(file, _OOXML_PART[extension])
    elif extension == "html":
        fits = _is_text(head) and _TAG.search(head) is not None
    else:
        fits = _is_text(head)
    if not fits:
        raise BadRequest(f"{UNSUPPORTED} (the content of {name!r} is not {extension})")
    return extension


class _HtmlText(HTMLParser):
    """The visible text of an HTML page: script and style left out, blocks on their own lines."""

    _SKIP = frozenset({"script", "style", "noscript", "template"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _read_text(file: BinaryIO) -> str:
    # 4 bytes hold any UTF-8 character: enough bytes for MAX_CHARS, never the whole 256 MB.
    return file.read(MAX_CHARS * 4).decode("utf-8", errors="replace")[:MAX_CHARS]


def _pdf(file: BinaryIO) -> Extracted:
    import pypdf  # deferred: start-up stays light

    reader = pypdf.PdfReader(file)
    pages = [page.extract_text() or "" for page in reader.pages]
    return Extracted("\n\n".join(pages)[:MAX_CHARS], len(pages))


def _docx(file: BinaryIO) -> Extracted:
    import docx  # python-docx, deferred

    document = docx.Document(file)
    return Extracted("\n\n".join(p.text for p in document.paragraphs)[:MAX_CHARS])


def _pptx(file: BinaryIO) -> Extracted:
    # No python-pptx: a slide's text is its DrawingML <a:t> runs, which the stdlib reads.
    with zipfile.ZipFile(file) as archive:
        slides = sorted(
            (int(m.group(1)), n) for n in archive.namelist() if (m := _SLIDE.fullmatch(n))
        )
        texts = []
        for _, name in slides:
            root = ElementTree.fromstring(archive.read(name))
            texts.append(" ".join(t.text or "" for t in root.iter(_DRAWING_TEXT)))
    return Extracted("\n\n".join(texts)[:MAX_CHARS], len(slides))


def extract(kind: str, file: BinaryIO) -> Extracted:
    """The text of a file of an accepted kind; a broken file reads as failed, never a 500.

    doc and ppt (the binary Office formats) are accepted and stored, but no library we use
    reads them: they have no text to search.
    """
    try:
        if kind in ("txt", "md"):
            return Extracted(_read_text(file))
        if kind == "html":
            parser = _HtmlText()
            parser.feed(_read_text(file))
            parser.close()
            return Extracted("".join(parser.parts)[:MAX_CHARS])
        if kind == "pdf":
            return _pdf(file)
        if kind == "docx":
            return _docx(file)
        if kind == "pptx":
            return _pptx(file)
        return Extracted("")
    except Exception:  # a parser's own error on a broken file: the vendor says EXTRACTION_FAILED
        return Extracted("", failed=True)
