"""Undo a download's `Content-Encoding` a piece at a time, so a bomb is stopped at the cap.

httpx decodes each network chunk whole before the caller sees it: 64 KB of a gzip bomb became
hundreds of MB on the event loop. Here the raw bytes are inflated with `max_length`, at most
`PIECE` bytes per step, and the caller checks its cap after every piece: never more than the
cap plus one piece in memory, and no step long enough to stall the loop. One layer only: a
stacked encoding (`gzip, gzip`) has no honest use and is how the 1 GB-from-1 KB bomb is made.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

PIECE = 64 * 1024
ACCEPTED = "gzip, deflate"  # what we send as Accept-Encoding: the encodings undone here


class EncodingRefused(Exception):
    """The body's encoding is not one we undo; `str(err)` is the reason for the note."""


class Decoder:
    """`feed(raw)` yields the decoded pieces of `raw`; `finish()` checks the stream ended."""

    def __init__(self, content_encoding: str) -> None:
        layers = [e.strip().lower() for e in content_encoding.split(",")
                  if e.strip() and e.strip().lower() != "identity"]
        if len(layers) > 1:
            raise EncodingRefused(f"stacked Content-Encoding ({', '.join(layers)}) refused")
        self.encoding = layers[0] if layers else ""
        if self.encoding not in ("", "gzip", "x-gzip", "deflate"):
            raise EncodingRefused(f"unsupported Content-Encoding ({self.encoding[:40]})")
        self._inflate: zlib._Decompress | None = None
        if self.encoding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, raw: bytes) -> Iterator[bytes]:
        if not self.encoding:
            for at in range(0, len(raw), PIECE):
                yield raw[at:at + PIECE]
            return
        if self._inflate is None:  # deflate: zlib-wrapped as the RFC says, or raw as IIS sent
            zlib_header = len(raw) >= 2 and raw[0] & 0x0F == 8 and (raw[0] << 8 | raw[1]) % 31 == 0
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        data = raw
        while data:
            try:
                piece = self._inflate.decompress(data, PIECE)
            except zlib.error:
                raise EncodingRefused(f"damaged {self.encoding} data") from None
            if piece:
                yield piece
            data = self._inflate.unconsumed_tail
            if self._inflate.eof and self._inflate.unused_data:
                if self.encoding == "deflate":
                    return  # trailing bytes after a deflate stream: ignored, as browsers do
                # A gzip body may be several members end to end; each is inflated the same way.
                data = self._inflate.unused_data
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def finish(self) -> None:
        if self._inflate is not None and not self._inflate.eof:
            raise EncodingRefused(f"truncated {self.encoding} data")
