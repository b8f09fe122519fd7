"""Undoing Content-Encoding a piece at a time: bombs stop at the cap, stacks are refused."""

from __future__ import annotations

import gzip
import zlib

import pytest

from heavy_engine.attachments._decode import PIECE, Decoder, EncodingRefused


def _read(decoder: Decoder, raw: bytes, cap: int, chunk: int = 16_384) -> tuple[bytes, int]:
    """What a capped reader keeps, and the most it ever held."""
    body, most = bytearray(), 0
    for at in range(0, len(raw), chunk):
        for piece in decoder.feed(raw[at:at + chunk]):
            assert len(piece) <= PIECE
            body += piece
            most = max(most, len(body))
            if len(body) > cap:
                return bytes(body), most
    decoder.finish()
    return bytes(body), most


def test_a_bomb_is_never_held_past_the_cap_plus_one_piece() -> None:
    bomb = gzip.compress(bytes(50_000_000), 9)  # ~50 KB
    body, most = _read(Decoder("gzip"), bomb, cap=100_000)
    assert len(body) > 100_000 and most <= 100_000 + PIECE


@pytest.mark.parametrize("header, says", [
    ("gzip, gzip", "stacked Content-Encoding (gzip, gzip) refused"),  # the 1 GB-from-1 KB bomb
    ("deflate,gzip", "stacked"),
    ("br", "unsupported Content-Encoding (br)"),  # never asked for: we send gzip, deflate
    ("compress", "unsupported"),
])
def test_encodings_not_undone_here_are_refused(header: str, says: str) -> None:
    with pytest.raises(EncodingRefused, match=says.replace("(", r"\(").replace(")", r"\)")):
        Decoder(header)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)  # the same bytes in every test process


@pytest.mark.parametrize("header, raw", [
    pytest.param("", b"plain text", id="none"),
    pytest.param("identity", b"plain text", id="identity"),
    pytest.param("gzip", _gz(b"plain text"), id="gzip"),
    pytest.param("gzip, identity", _gz(b"plain text"), id="gzip-identity"),
    # zlib-wrapped, as the RFC says; raw deflate, as some servers send
    pytest.param("deflate", zlib.compress(b"plain text"), id="deflate-zlib"),
    pytest.param("deflate", zlib.compress(b"plain text")[2:-4], id="deflate-raw"),
    pytest.param("gzip", _gz(b"plain ") + _gz(b"text"), id="gzip-two-members"),
])
def test_honest_bodies_decode(header: str, raw: bytes) -> None:
    assert _read(Decoder(header), raw, cap=1000, chunk=3)[0] == b"plain text"


@pytest.mark.parametrize("raw, says", [
    pytest.param(_gz(b"plain text")[:-6], "truncated gzip", id="truncated"),
    pytest.param(b"\x1f\x8b\x08\x00garbage-garbage", "damaged gzip", id="damaged"),
])
def test_broken_bodies_are_named(raw: bytes, says: str) -> None:
    with pytest.raises(EncodingRefused, match=says):
        _read(Decoder("gzip"), raw, cap=1000)
