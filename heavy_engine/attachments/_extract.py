"""What kind of file an attachment is, and its text: pure functions, no I/O.

Reading a file's text runs in a worker process (`_pool`, `_worker`), killed at the deadline;
everything here is synchronous.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the worker process loads this file alone, without the engine
    from ._types import Attachment

Kind = Literal["text", "pdf", "image"]

TEXT_EXTENSIONS = frozenset("""
    .txt .text .md .markdown .rst .csv .tsv .json .jsonl .ndjson .yaml .yml .toml .ini .cfg
    .conf .xml .html .htm .css .scss .py .pyi .ipynb .js .mjs .ts .tsx .jsx .java .kt .scala
    .c .h .cc .cpp .hpp .cs .go .rs .rb .php .pl .lua .swift .r .m .sh .bash .zsh .ps1 .bat
    .sql .graphql .proto .log .diff .patch .tex .srt .vtt .properties .gradle .tf .dockerfile
""".split())
TEXT_MIMETYPES = frozenset({
    "application/json", "application/xml", "application/x-yaml", "application/yaml",
    "application/toml", "application/x-sh", "application/javascript", "application/sql",
    "application/x-ndjson",
})
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp"}
_IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


def kind_of(att: Attachment) -> Kind | None:
    """`text`, `pdf` or `image` from the name and declared type; None when unsupported."""
    suffix = PurePosixPath(att.name.lower()).suffix
    mime = (att.mimetype or "").split(";")[0].strip().lower()
    if suffix == ".pdf" or mime == "application/pdf":
        return "pdf"
    if suffix in IMAGE_TYPES or mime in IMAGE_TYPES.values():
        return "image"
    if suffix in TEXT_EXTENSIONS or mime.startswith("text/") or mime in TEXT_MIMETYPES:
        return "text"
    if att.name.lower() in ("dockerfile", "makefile", "readme", "license"):
        return "text"
    return None


def decode_text(data: bytes) -> str | None:
    """The text of a text-like file, or None when the bytes are binary."""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    # Mostly replacement characters: binary that merely lacks NUL bytes.
    return None if text.count("\ufffd") > len(text) // 20 else text


def image_type(data: bytes) -> str | None:
    """The image MIME type from the first bytes (what the model will be told), or None."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class PdfUnreadable(Exception):
    """The bytes are not a PDF pypdf can read; the message is the reason for the note."""


def pdf_text(data: bytes, max_pages: int) -> tuple[str, int]:
    """(text layer of the first `max_pages` pages, page count). Raises `PdfUnreadable`, or
    MemoryError (the worker's address-space limit, named by the worker)."""
    from pypdf import PdfReader  # imported when a PDF arrives, not at engine start

    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise PdfUnreadable("not a PDF")
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed files log per object
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns about recoverable damage
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                try:
                    opened = bool(reader.decrypt(""))  # "encrypted" with an empty password
                except Exception:
                    opened = False
                if not opened:
                    raise PdfUnreadable("encrypted")
            pages = reader.pages
            count = len(pages)
            texts = []
            for i in range(min(count, max_pages)):
                texts.append((pages[i].extract_text() or "").strip())
    except (PdfUnreadable, MemoryError):
        raise
    except Exception as err:  # pypdf raises many types for damaged files
        raise PdfUnreadable("could not be parsed") from err
    return "\n\n".join(t for t in texts if t), count
