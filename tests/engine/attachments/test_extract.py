"""Kinds of files and PDF text: pure functions, no network."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter

from heavy_engine.attachments import Attachment, kind_of
from heavy_engine.attachments._extract import PdfUnreadable, decode_text, image_type, pdf_text

from .pdfs import make_pdf


@pytest.mark.parametrize(("name", "mimetype", "kind"), [
    ("notes.txt", None, "text"),  # by extension
    ("README", None, "text"),  # well-known names without an extension
    ("main.PY", None, "text"),  # extensions ignore case
    ("export", "text/csv", "text"),  # by declared type when the name says nothing
    ("data.json", "application/octet-stream", "text"),  # the extension wins over a vague type
    ("report.pdf", None, "pdf"),
    ("download", "application/pdf", "pdf"),
    ("photo.jpeg", None, "image"),
    ("photo.heic", "image/heic", None),  # images models do not take are unsupported
    ("data.bin", None, None),
    ("archive.zip", "application/zip", None),
])
def test_kind_of(name: str, mimetype: str | None, kind: str | None) -> None:
    assert kind_of(Attachment(name, "https://x/y", mimetype=mimetype)) == kind


@pytest.mark.parametrize(("data", "text"), [
    (b"plain", "plain"),
    (b"\xef\xbb\xbfwith BOM", "with BOM"),  # a UTF-8 byte order mark is dropped
    ("caf\u00e9".encode("cp1252"), "caf\u00e9"),  # legacy Windows text still reads
    (b"\x00\x01binary", None),  # NUL bytes: binary
])
def test_decode_text(data: bytes, text: str | None) -> None:
    assert decode_text(data) == text


@pytest.mark.parametrize(("data", "mime"), [
    (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
    (b"GIF89a...", "image/gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"<svg/>", None),
])
def test_image_type(data: bytes, mime: str | None) -> None:
    assert image_type(data) == mime


def _encrypted(user_password: str) -> bytes:
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf("Secret plans"))).pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_password_protected_pdf_is_named_encrypted() -> None:
    with pytest.raises(PdfUnreadable, match="encrypted"):
        pdf_text(_encrypted("secret"), 10)


def test_a_pdf_encrypted_without_a_user_password_is_read() -> None:
    assert pdf_text(_encrypted(""), 10) == ("Secret plans", 1)


def test_only_the_first_pages_are_read() -> None:
    text, pages = pdf_text(make_pdf("one", "two", "three"), 2)
    assert (text, pages) == ("one\n\ntwo", 3)


@pytest.mark.parametrize("data", [b"not a pdf", b"%PDF-1.7\n%%EOF", b""])
def test_unreadable_pdfs_raise_a_named_reason(data: bytes) -> None:
    with pytest.raises(PdfUnreadable):
        pdf_text(data, 10)


def test_public_surface() -> None:
    import heavy_engine.attachments as attachments
    import heavy_engine.conversations as conversations

    assert sorted(attachments.__all__) == sorted(
        name for name in dir(attachments) if not name.startswith("_")
        and name not in {"annotations"} and not _is_module(getattr(attachments, name)))
    assert "dm_context" in conversations.__all__


def _is_module(obj: object) -> bool:
    return type(obj).__name__ == "module"
