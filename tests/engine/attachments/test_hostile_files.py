"""Files made to hurt the reader, through the real download path (a local file server): bombs
stop at the cap, stacked encodings are refused, empty files and disguised names are handled."""

from __future__ import annotations

import tracemalloc

import httpx
import pytest

from heavy_engine.attachments import Attachment, AttachmentLimits, _fetch, fetch_attachments
from heavy_engine.attachments._types import clean_name

from .conftest import FileServer
from .test_fetch import att, slack


async def test_a_gzip_bomb_stops_at_the_cap_without_holding_it(files: FileServer) -> None:
    tracemalloc.start()
    try:
        got = await fetch_attachments([att(files, "bomb.txt")], slack(files),
                                      AttachmentLimits(max_text_bytes=100_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.notes == ["skipped bomb.txt: over 100 KB"]
    assert peak < 2_000_000  # 20 MB inflated: never held, nor one big chunk of it


@pytest.mark.parametrize("name, note", [
    ("bomb2.txt", "skipped bomb2.txt: stacked Content-Encoding (gzip, gzip) refused"),
    ("packed.txt", "skipped packed.txt: unsupported Content-Encoding (br)"),
    ("empty.txt", "skipped empty.txt: empty file (0 bytes)"),
])
async def test_hostile_bodies_are_skipped_with_a_reason(files: FileServer, name: str,
                                                        note: str) -> None:
    got = await fetch_attachments([att(files, name)], slack(files))
    assert got.notes == [note] and got.documents == []


async def test_an_empty_file_is_not_even_downloaded(files: FileServer) -> None:
    got = await fetch_attachments([att(files, "notes.txt", size=0)], slack(files))
    assert got.notes == ["skipped notes.txt: empty file (0 bytes)"] and files.seen == []


async def test_honest_encoded_files_are_read(files: FileServer) -> None:
    got = await fetch_attachments([att(files, "zipped.txt"), att(files, "deflated.txt")],
                                  slack(files))
    assert got.notes == []
    assert [d.text.splitlines()[0] for d in got.documents] == [
        "Compressed notes: ship on Friday.", "Deflated notes."]
    assert files.seen[0].headers["Accept-Encoding"] == "gzip, deflate"


async def test_one_tls_context_serves_every_message(
        files: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new TLS context per message read the CA bundle on the event loop each time."""
    built: list[object] = []
    real = httpx.create_ssl_context

    def counting() -> object:
        built.append(real())
        return built[-1]

    monkeypatch.setattr(_fetch, "_TLS", None)
    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    for _ in range(3):
        await fetch_attachments([att(files, "notes.txt")], slack(files))
    assert len(built) == 1


@pytest.mark.parametrize("raw, shown", [
    ("report\u202egnp.exe", "reportgnp.exe"),  # right-to-left override: "reportexe.png"
    ("a\u2066b\u2069c\u202ad\u202ce", "abcde"),  # isolates and embeddings
    ("line\u2028two\u2029three", "line two three"),  # line and paragraph separators
    ("zero\u200bwidth\u200d\ufeff.txt", "zerowidth.txt"),  # zero-width and BOM
    ("c1\x85next\x9b.txt", "c1 next .txt"),  # C1 controls (NEL, CSI)
    ("tab\tand\nnewline", "tab and newline"),  # C0 controls, as before
    ("\u202e\u200b", "unnamed file"),  # nothing visible left
])
def test_names_drop_invisible_and_direction_characters(raw: str, shown: str) -> None:
    assert clean_name(raw) == shown


async def test_a_disguised_name_is_clean_in_the_note(files: FileServer) -> None:
    got = await fetch_attachments([Attachment("evil\u202etxt.exe", f"{files.url}/files/x.exe")],
                                  slack(files))
    assert got.notes == ["skipped eviltxt.exe: unsupported type"]
