"""Plain data of attachments: what an adapter hands in, what extraction hands back.

`Attachments` is what a job carries (`as_dict`/`from_dict` for storage): labelled text of the
documents, image parts, and one note per file that was not used ("skipped data.bin: unsupported
type"). Figures live in `AttachmentLimits`; its defaults are the documented ones.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

# Breaks: C0/C1 controls, line and paragraph separators (become a space).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Invisible: zero-width characters, the BOM, bidi embeddings, overrides and isolates (dropped:
# "report\u202egnp.exe" would show as "reportexe.png").
_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\u202a-\u202e\u2066-\u2069]+")


def clean_name(name: str, limit: int = 100) -> str:
    """A file name safe to show and to label context with: no control, bidi or invisible
    characters, bounded."""
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", name or "")).strip() or "unnamed file"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def size_text(limit: int) -> str:
    """1_000_000 -> "1 MB", 3_000_000 -> "3 MB", 500_000 -> "500 KB"."""
    if limit >= 1_000_000:
        return f"{limit / 1_000_000:g} MB"
    return f"{limit / 1000:g} KB"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a chat message, as the platform describes it (nothing downloaded)."""

    name: str
    url: str
    size: int | None = None  # bytes, as the platform reports it (checked again while reading)
    mimetype: str | None = None
    platform: str = ""


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    """The figures. Text-like files <= 1 MB each, at most 5 files used per message."""

    max_files: int = 5  # files used per message (documents and images together)
    max_text_bytes: int = 1_000_000  # one text-like file
    max_pdf_bytes: int = 10_000_000  # one PDF download
    max_pdf_pages: int = 100  # pages whose text is read
    max_image_bytes: int = 3_000_000  # one image (under the 5 MB base64 limit of some APIs)
    max_images: int = 4
    max_total_chars: int = 40_000  # all documents' text together (each agent gets all of it)
    timeout: float = 20.0  # seconds for one download, connect to last byte


@dataclass(frozen=True, slots=True)
class Document:
    """The text of one used file; `truncated` when the total bound cut it."""

    name: str
    kind: str  # "text" | "pdf"
    text: str
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Image:
    name: str
    mimetype: str
    data: bytes

    def as_part(self) -> dict[str, Any]:
        """An OpenAI-style image content part (a data URL)."""
        b64 = base64.b64encode(self.data).decode("ascii")
        return {"type": "image_url", "image_url": {"url": f"data:{self.mimetype};base64,{b64}"}}


@dataclass(slots=True)
class Attachments:
    """What a question's files became: documents, images and notes about the rest."""

    documents: list[Document] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.documents or self.images or self.notes)

    def context_text(self) -> str:
        """Every document, each labelled with its file name ("" when there are none)."""
        blocks = []
        for doc in self.documents:
            label = "PDF text of" if doc.kind == "pdf" else "Contents of"
            cut = " (truncated)" if doc.truncated else ""
            blocks.append(f'--- {label} attached file "{doc.name}"{cut} ---\n{doc.text}\n'
                          f'--- end of "{doc.name}" ---')
        return "\n\n".join(blocks)

    def image_parts(self) -> list[dict[str, Any]]:
        return [image.as_part() for image in self.images]

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": [{"name": d.name, "kind": d.kind, "text": d.text,
                           "truncated": d.truncated} for d in self.documents],
            "images": [{"name": i.name, "mimetype": i.mimetype,
                        "data": base64.b64encode(i.data).decode("ascii")} for i in self.images],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Attachments:
        data = data or {}
        return cls(
            documents=[Document(str(d["name"]), str(d.get("kind", "text")), str(d["text"]),
                                bool(d.get("truncated"))) for d in data.get("documents", [])],
            images=[Image(str(i["name"]), str(i["mimetype"]), base64.b64decode(i["data"]))
                    for i in data.get("images", [])],
            notes=[str(n) for n in data.get("notes", [])],
        )
